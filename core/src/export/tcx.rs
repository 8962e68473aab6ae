//! One workout as a Garmin Training Center (TCX v2) file: one activity, one
//! lap with Peloton's totals, one trackpoint a sample with time, heart
//! rate, cadence, distance, position where GPS has it, and speed and watts
//! in the `ns3:TPX` extension (Garmin's ActivityExtension v2).
//!
//! Element order and ranges follow `TrainingCenterDatabasev2.xsd` (the
//! tests validate against it with xmllint): heart rates are 1 to 255,
//! cadence 0 to 254, calories 0 to 65535; a value outside is left out.

use std::fmt::Write;

use super::samples::Samples;
use super::xml_escape;
use super::Totals;

const HEADER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2" xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2">
"#;

/// TCX's sports: what Peloton's discipline is closest to.
fn sport(discipline: &str) -> &'static str {
    match discipline {
        "cycling" | "bike_bootcamp" => "Biking",
        "running" | "walking" | "circuit" => "Running",
        _ => "Other",
    }
}

fn bpm(x: Option<f64>) -> Option<u8> {
    let r = x?.round();
    (1.0..=255.0).contains(&r).then_some(r as u8)
}

fn cadence(x: Option<f64>) -> Option<u8> {
    let r = x?.round();
    (0.0..=254.0).contains(&r).then_some(r as u8)
}

/// An instant `offset` seconds after `start` (epoch seconds), in UTC.
pub(super) fn time(start: i64, offset: i64) -> String {
    chrono::DateTime::from_timestamp(start.saturating_add(offset), 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The whole file. (About 100 lines: it reads as the document it writes,
/// element by element in the schema's order, which splitting would hide.)
pub(super) fn write(t: &Totals, s: &Samples) -> String {
    let mut x = String::with_capacity(200 + s.offsets.len() * 260);
    let start = time(t.start, 0);
    x.push_str(HEADER);
    let _ = writeln!(
        x,
        "  <Activities>\n    <Activity Sport=\"{}\">\n      <Id>{start}</Id>\n      <Lap StartTime=\"{start}\">",
        sport(&t.discipline)
    );
    let _ = writeln!(
        x,
        "        <TotalTimeSeconds>{}</TotalTimeSeconds>",
        t.seconds
    );
    let _ = writeln!(
        x,
        "        <DistanceMeters>{}</DistanceMeters>",
        t.distance_m.unwrap_or(0.0)
    );
    let max_speed = s
        .speed
        .iter()
        .flatten()
        .flatten()
        .copied()
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    if let Some(v) = max_speed {
        let _ = writeln!(x, "        <MaximumSpeed>{v}</MaximumSpeed>");
    }
    let calories = t
        .calories
        .map(|c| c.round().clamp(0.0, 65535.0) as u16)
        .unwrap_or(0);
    let _ = writeln!(x, "        <Calories>{calories}</Calories>");
    if let Some(v) = bpm(t.avg_heart_rate) {
        let _ = writeln!(
            x,
            "        <AverageHeartRateBpm><Value>{v}</Value></AverageHeartRateBpm>"
        );
    }
    if let Some(v) = bpm(t.max_heart_rate) {
        let _ = writeln!(
            x,
            "        <MaximumHeartRateBpm><Value>{v}</Value></MaximumHeartRateBpm>"
        );
    }
    x.push_str("        <Intensity>Active</Intensity>\n");
    if let Some(v) = cadence(t.avg_cadence) {
        let _ = writeln!(x, "        <Cadence>{v}</Cadence>");
    }
    x.push_str("        <TriggerMethod>Manual</TriggerMethod>\n");
    if !s.offsets.is_empty() {
        let distances = s.distances(t.distance_m);
        let at = |v: &Option<Vec<Option<f64>>>, i: usize| v.as_ref().and_then(|v| v[i]);
        x.push_str("        <Track>\n");
        for (i, &offset) in s.offsets.iter().enumerate() {
            let _ = write!(
                x,
                "          <Trackpoint><Time>{}</Time>",
                time(t.start, offset)
            );
            if let Some(f) = s.fix_at(offset) {
                let _ = write!(
                    x,
                    "<Position><LatitudeDegrees>{}</LatitudeDegrees><LongitudeDegrees>{}</LongitudeDegrees></Position>",
                    f.lat, f.lon
                );
            }
            if let Some(a) = at(&s.altitude, i) {
                let _ = write!(x, "<AltitudeMeters>{a}</AltitudeMeters>");
            }
            if let Some(d) = distances.as_ref().map(|d| d[i]) {
                let _ = write!(x, "<DistanceMeters>{d}</DistanceMeters>");
            }
            if let Some(v) = bpm(at(&s.heart_rate, i)) {
                let _ = write!(x, "<HeartRateBpm><Value>{v}</Value></HeartRateBpm>");
            }
            if let Some(v) = cadence(at(&s.cadence, i)) {
                let _ = write!(x, "<Cadence>{v}</Cadence>");
            }
            let speed = at(&s.speed, i);
            let watts = at(&s.output, i)
                .map(|w| w.round())
                .filter(|w| (0.0..=65535.0).contains(w));
            if speed.is_some() || watts.is_some() {
                x.push_str("<Extensions><ns3:TPX>");
                if let Some(v) = speed {
                    let _ = write!(x, "<ns3:Speed>{v}</ns3:Speed>");
                }
                if let Some(w) = watts {
                    let _ = write!(x, "<ns3:Watts>{}</ns3:Watts>", w as u16);
                }
                x.push_str("</ns3:TPX></Extensions>");
            }
            x.push_str("</Trackpoint>\n");
        }
        x.push_str("        </Track>\n");
    }
    x.push_str("      </Lap>\n");
    if !t.title.is_empty() {
        let _ = writeln!(x, "      <Notes>{}</Notes>", xml_escape(&t.title));
    }
    x.push_str("    </Activity>\n  </Activities>\n</TrainingCenterDatabase>\n");
    x
}
