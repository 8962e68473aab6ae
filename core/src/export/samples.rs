//! The archived performance graph as time series: what a TCX or GPX file
//! needs, read by slug, in SI units.
//!
//! Peloton sends one array per metric beside `seconds_since_pedaling_start`;
//! they should be as long as each other. When they are not, every series
//! is cut to the shortest and the log says so: a point with a value from
//! another second would be a wrong number.

use serde_json::Value;

/// Metres in one unit of Peloton's `display_unit` for distance.
pub(crate) fn metres_per(unit: &str) -> Option<f64> {
    match unit.trim().to_ascii_lowercase().as_str() {
        "mi" => Some(1609.344),
        "km" => Some(1000.0),
        "m" => Some(1.0),
        "ft" => Some(0.3048),
        _ => None,
    }
}

/// Metres a second in one unit of a speed's `display_unit`.
fn mps_per(unit: &str) -> Option<f64> {
    match unit.trim().to_ascii_lowercase().as_str() {
        "mph" => Some(1609.344 / 3600.0),
        "kph" | "km/h" => Some(1000.0 / 3600.0),
        "m/s" => Some(1.0),
        _ => None,
    }
}

/// One GPS fix of `location_data`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fix {
    /// Seconds since the start.
    pub offset: i64,
    /// Degrees.
    pub lat: f64,
    /// Degrees.
    pub lon: f64,
}

/// The series of one workout, every one as long as `offsets`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Samples {
    /// Seconds since the start, one per sample.
    pub offsets: Vec<i64>,
    /// Beats a minute.
    pub heart_rate: Option<Vec<Option<f64>>>,
    /// Revolutions (or strokes) a minute.
    pub cadence: Option<Vec<Option<f64>>>,
    /// Watts.
    pub output: Option<Vec<Option<f64>>>,
    /// Metres a second.
    pub speed: Option<Vec<Option<f64>>>,
    /// Metres above sea level.
    pub altitude: Option<Vec<Option<f64>>>,
    /// GPS segments (a gap starts a new one), each with its fixes in order.
    pub track: Vec<Vec<Fix>>,
    /// Whether some series was cut to the shortest.
    pub cut: bool,
}

fn values(metric: &Value, factor: f64) -> Vec<Option<f64>> {
    metric["values"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|v| v.as_f64().filter(|x| x.is_finite()).map(|x| x * factor))
                .collect()
        })
        .unwrap_or_default()
}

/// The metric with `slug`, or an alternative of another metric with it.
fn metric<'a>(graph: &'a Value, slug: &str) -> Option<&'a Value> {
    let metrics = graph["metrics"].as_array()?;
    let is = |m: &&Value| m["slug"].as_str() == Some(slug);
    metrics.iter().find(is).or_else(|| {
        metrics
            .iter()
            .filter_map(|m| m["alternatives"].as_array())
            .flatten()
            .find(is)
    })
}

impl Samples {
    /// Reads the series out of a whole performance graph (as archived).
    /// `workout` names it in the log.
    pub(crate) fn from_graph(graph: &Value, workout: &str) -> Samples {
        let offsets: Vec<i64> = graph["seconds_since_pedaling_start"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let series = |slug: &str, unit_factor: &dyn Fn(&str) -> Option<f64>| {
            let m = metric(graph, slug)?;
            let factor = unit_factor(m["display_unit"].as_str().unwrap_or(""))?;
            Some(values(m, factor))
        };
        let same = |_: &str| Some(1.0);
        let mut s = Samples {
            heart_rate: series("heart_rate", &same),
            cadence: series("cadence", &same).or_else(|| series("stroke_rate", &same)),
            output: series("output", &same),
            speed: series("speed", &mps_per),
            altitude: series("altitude", &metres_per),
            track: track(graph),
            offsets,
            cut: false,
        };
        let lengths = [
            Some(s.offsets.len()),
            s.heart_rate.as_ref().map(Vec::len),
            s.cadence.as_ref().map(Vec::len),
            s.output.as_ref().map(Vec::len),
            s.speed.as_ref().map(Vec::len),
            s.altitude.as_ref().map(Vec::len),
        ];
        let shortest = lengths.iter().flatten().min().copied().unwrap_or(0);
        if lengths.iter().flatten().any(|&n| n != shortest) {
            tracing::warn!(
                workout,
                ?lengths,
                shortest,
                "performance graph arrays of unequal length; every series cut to the shortest"
            );
            s.cut = true;
            s.offsets.truncate(shortest);
            for v in [
                &mut s.heart_rate,
                &mut s.cadence,
                &mut s.output,
                &mut s.speed,
                &mut s.altitude,
            ]
            .into_iter()
            .flatten()
            {
                v.truncate(shortest);
            }
        }
        s
    }

    /// The fix at `offset`, if the track has one.
    pub(crate) fn fix_at(&self, offset: i64) -> Option<&Fix> {
        self.track.iter().flatten().find(|f| f.offset == offset)
    }

    /// Whether the workout has a GPS track.
    pub(crate) fn has_track(&self) -> bool {
        self.track.iter().any(|seg| !seg.is_empty())
    }

    /// Metres from the start at each sample, from the speed, scaled so the
    /// last equals `total_m` when that is known (Peloton's own total).
    pub(crate) fn distances(&self, total_m: Option<f64>) -> Option<Vec<f64>> {
        let speed = self.speed.as_ref()?;
        let mut out = Vec::with_capacity(speed.len());
        let mut d = 0.0;
        let mut last_t = self.offsets.first().copied().unwrap_or(0);
        for (t, v) in self.offsets.iter().zip(speed) {
            let dt = (t - last_t).max(0) as f64;
            d += v.unwrap_or(0.0).max(0.0) * dt;
            last_t = *t;
            out.push(d);
        }
        if let (Some(total), Some(&end)) = (total_m, out.last()) {
            if end > 0.0 && total.is_finite() && total > 0.0 {
                let k = total / end;
                out.iter_mut().for_each(|x| *x *= k);
            }
        }
        Some(out)
    }
}

fn track(graph: &Value) -> Vec<Vec<Fix>> {
    let Some(segments) = graph["location_data"].as_array() else {
        return Vec::new();
    };
    segments
        .iter()
        .map(|seg| {
            seg["coordinates"]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| {
                            let lat = c["latitude"].as_f64()?;
                            let lon = c["longitude"].as_f64()?;
                            let ok =
                                (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
                            ok.then_some(Fix {
                                offset: c["seconds_offset_from_start"].as_i64()?,
                                lat,
                                lon,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .filter(|seg: &Vec<Fix>| !seg.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unequal_arrays_are_cut_to_the_shortest() {
        let g = json!({
            "seconds_since_pedaling_start": [1, 2, 3, 4],
            "metrics": [
                {"slug": "output", "display_unit": "watts", "values": [100, 110, 120]},
                {"slug": "heart_rate", "display_unit": "bpm", "values": [90, null, 92, 93, 94]}
            ]
        });
        let s = Samples::from_graph(&g, "w");
        assert!(s.cut);
        assert_eq!(s.offsets, [1, 2, 3]);
        assert_eq!(s.heart_rate.unwrap(), [Some(90.0), None, Some(92.0)]);
        assert_eq!(s.output.unwrap().len(), 3);
    }

    #[test]
    fn speed_comes_in_metres_a_second_from_a_pace_alternative() {
        let g = json!({
            "seconds_since_pedaling_start": [0, 10],
            "metrics": [{"slug": "pace", "display_unit": "min/mi", "values": [10, 10],
                "alternatives": [{"slug": "speed", "display_unit": "mph", "values": [3.6, 3.6]}]}]
        });
        let s = Samples::from_graph(&g, "w");
        assert!(!s.cut);
        let v = s.speed.as_ref().unwrap()[0].unwrap();
        assert!((v - 1.609344).abs() < 1e-9, "{v}");
        let d = s.distances(None).unwrap();
        assert!((d[1] - 16.09344).abs() < 1e-9, "{d:?}");
        assert_eq!(s.distances(Some(20.0)).unwrap()[1], 20.0);
    }
}
