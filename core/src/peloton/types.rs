//! Peloton's JSON, as far as the sync reads it.
//!
//! Tolerant of drift: unknown fields are ignored, every field Peloton has been
//! seen to omit or send as `null` is an `Option` (or an empty list). A field
//! of an unexpected type is an error that names its path (see
//! [`super::PelotonError::Decode`]).

use serde::{Deserialize, Deserializer, Serialize};

/// Treats `null` like a missing field, giving the type's default.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// For the fields only optional columns read: a value of an unexpected
/// shape gives the type's default instead of failing the whole answer, so
/// a drift there empties a few optional cells and never stops a workout.
fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + serde::de::DeserializeOwned,
{
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).unwrap_or_default())
}

/// The envelope of every paged list (`data, page, page_count, show_next, ...`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Page<T> {
    /// The items of this page.
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub data: Vec<T>,
    /// 0-based page number.
    #[serde(default)]
    pub page: Option<u32>,
    /// Number of pages in all.
    #[serde(default)]
    pub page_count: Option<u32>,
    /// Whether another page follows.
    #[serde(default)]
    pub show_next: Option<bool>,
    /// Items in all.
    #[serde(default)]
    pub total: Option<u64>,
}

impl<T> Page<T> {
    /// Whether a page follows this one: `show_next`, else `page + 1 < page_count`.
    pub fn has_next(&self) -> bool {
        match (self.show_next, self.page, self.page_count) {
            (Some(next), _, _) => next,
            (None, Some(p), Some(c)) => p + 1 < c,
            _ => false,
        }
    }
}

/// `GET /api/me`: the signed-in member.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Me {
    /// User id (32 hex characters).
    pub id: String,
    /// Leaderboard name.
    #[serde(default)]
    pub username: Option<String>,
    /// Never seen in a real response; read when present (coda-tables.md's fallback).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Workouts in all.
    #[serde(default)]
    pub total_workouts: Option<u64>,
}

/// A class's instructor, or the stand-in a free ride carries (no `id`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Instructor {
    /// Instructor id; absent on free rides' stand-ins ("JUST RIDE").
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Portrait.
    #[serde(default)]
    pub image_url: Option<String>,
    /// Disciplines the instructor teaches, in Peloton's order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub fitness_disciplines: Vec<String>,
}

/// The class a workout was taken in (`ride`, with `joins=ride,ride.instructor`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Ride {
    /// Class id; 32 zeros on free rides.
    #[serde(default)]
    pub id: Option<String>,
    /// Class title.
    #[serde(default)]
    pub title: Option<String>,
    /// Class length in seconds (not the workout's duration).
    #[serde(default)]
    pub duration: Option<f64>,
    /// The class's discipline.
    #[serde(default)]
    pub fitness_discipline: Option<String>,
    /// Peloton's own label for it.
    #[serde(default)]
    pub fitness_discipline_display_name: Option<String>,
    /// Set on classes with an instructor.
    #[serde(default)]
    pub instructor_id: Option<String>,
    /// Present with the `ride.instructor` join, and always on free rides.
    #[serde(default)]
    pub instructor: Option<Instructor>,
    /// Class artwork.
    #[serde(default)]
    pub image_url: Option<String>,
}

/// A workout, from the list (`/api/user/{id}/workouts`) or the detail
/// (`/api/workout/{id}`); the detail adds the leaderboard fields.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Workout {
    /// Workout id (32 hex characters).
    pub id: String,
    /// The member who did it.
    #[serde(default)]
    pub user_id: Option<String>,
    /// `COMPLETE` once finished.
    #[serde(default)]
    pub status: Option<String>,
    /// Epoch seconds, UTC.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Epoch seconds, UTC.
    #[serde(default)]
    pub start_time: Option<i64>,
    /// Epoch seconds, UTC.
    #[serde(default)]
    pub end_time: Option<i64>,
    /// IANA zone name (`Etc/GMT+5` means UTC-5).
    #[serde(default)]
    pub timezone: Option<String>,
    /// `cycling`, `running`, `caesar`, ...
    #[serde(default)]
    pub fitness_discipline: Option<String>,
    /// `class`, `freestyle`, `scenic`.
    #[serde(default)]
    pub workout_type: Option<String>,
    /// e.g. "Cycling Workout".
    #[serde(default)]
    pub name: Option<String>,
    /// Set on free rides ("27 sec Just Ride"); usually null.
    #[serde(default)]
    pub title: Option<String>,
    /// Joules.
    #[serde(default)]
    pub total_work: Option<f64>,
    /// Whether this workout set a total-output record.
    #[serde(default)]
    pub is_total_work_personal_record: Option<bool>,
    /// The class, when joined.
    #[serde(default)]
    pub ride: Option<Ride>,
    /// Detail only; null or 0 when there is no leaderboard.
    #[serde(default)]
    pub leaderboard_rank: Option<i64>,
    /// Detail only; 0 when there is no leaderboard.
    #[serde(default)]
    pub total_leaderboard_users: Option<i64>,
    /// Detail only: the FTP in force when the workout was taken.
    #[serde(default, deserialize_with = "lenient")]
    pub ftp_info: Option<FtpInfo>,
    /// Detail only: the badges the workout earned.
    #[serde(default, deserialize_with = "lenient")]
    pub achievement_templates: Vec<Achievement>,
}

/// `ftp_info` of a workout detail.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct FtpInfo {
    /// Watts; 0 when the member has no FTP.
    #[serde(default)]
    pub ftp: Option<f64>,
}

/// One of a workout's `achievement_templates`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Achievement {
    /// The badge's name ("Best Output").
    #[serde(default)]
    pub name: Option<String>,
}

/// One summary or average summary of a performance graph.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Summary {
    /// What it is (`total_output`, `distance`, `avg_speed`, ...): match on this.
    #[serde(default)]
    pub slug: Option<String>,
    /// Label as Peloton shows it.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Unit as Peloton shows it (`mi`, `km`, `m`, `kj`, `mph`, ...), or null.
    #[serde(default)]
    pub display_unit: Option<String>,
    /// Value, rounded for display.
    #[serde(default)]
    pub value: Option<f64>,
}

/// One metric series of a performance graph (its samples are not kept).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Metric {
    /// What it is (`output`, `heart_rate`, ...): match on this.
    #[serde(default)]
    pub slug: Option<String>,
    /// Label as Peloton shows it.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Unit.
    #[serde(default)]
    pub display_unit: Option<String>,
    /// Average over the workout; can be null.
    #[serde(default)]
    pub average_value: Option<f64>,
    /// Maximum over the workout.
    #[serde(default)]
    pub max_value: Option<f64>,
    /// Heart rate only: seconds spent in each zone (`zone1` ... `zone5`).
    #[serde(default, deserialize_with = "lenient")]
    pub zones: Vec<Zone>,
    /// The same series in another unit (pace also comes as `speed`).
    #[serde(default, deserialize_with = "lenient")]
    pub alternatives: Vec<Metric>,
}

/// One heart-rate zone of a metric.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Zone {
    /// `zone1` ... `zone5`.
    #[serde(default)]
    pub slug: Option<String>,
    /// Seconds spent in the zone.
    #[serde(default)]
    pub duration: Option<f64>,
}

/// `effort_zones` of a performance graph (2022 on): the Strive score.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct EffortZones {
    /// The Strive score.
    #[serde(default)]
    pub total_effort_points: Option<f64>,
    /// Seconds per heart-rate zone, `heart_rate_z1_duration` ... `_z5_`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub heart_rate_zone_durations: std::collections::BTreeMap<String, Option<f64>>,
}

/// `target_metrics_performance_data`: a class's targets and how long the
/// member kept to them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct TargetPerformance {
    /// The class plan's segments, each with its targets by metric name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub target_metrics: Vec<TargetSegment>,
    /// Percent of the targeted time spent inside each metric's range.
    #[serde(default, deserialize_with = "null_as_default")]
    pub time_in_metric: Vec<TimeInMetric>,
}

/// One segment of a class plan.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct TargetSegment {
    /// Targets (`cadence`, `resistance`, `speed`, ...) for the segment.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metrics: Vec<TargetRange>,
}

/// One target of a segment; only its name matters here.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct TargetRange {
    /// `cadence`, `resistance`, `speed`, `incline`, ...
    #[serde(default)]
    pub name: Option<String>,
}

/// One entry of `time_in_metric`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct TimeInMetric {
    /// The metric's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Percent of the targeted time in range.
    #[serde(default)]
    pub value: Option<f64>,
}

/// `GET /api/workout/{id}/performance_graph`: the aggregates the sync reads.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct PerformanceGraph {
    /// Totals (`total_output`, `distance`, `elevation`, `calories`, ...).
    #[serde(default, deserialize_with = "null_as_default")]
    pub summaries: Vec<Summary>,
    /// Averages (`avg_output`, `avg_cadence`, `avg_speed`, ...).
    #[serde(default, deserialize_with = "null_as_default")]
    pub average_summaries: Vec<Summary>,
    /// Series (`heart_rate`, ...), without their samples.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metrics: Vec<Metric>,
    /// The Strive score and zone times, on workouts since 2022.
    #[serde(default, deserialize_with = "lenient")]
    pub effort_zones: Option<EffortZones>,
    /// The class's targets, when it has a plan.
    #[serde(default, deserialize_with = "lenient")]
    pub target_metrics_performance_data: Option<TargetPerformance>,
}

impl PerformanceGraph {
    /// The summary with this slug.
    pub fn summary(&self, slug: &str) -> Option<&Summary> {
        self.summaries
            .iter()
            .find(|s| s.slug.as_deref() == Some(slug))
    }

    /// The average summary with this slug.
    pub fn average(&self, slug: &str) -> Option<&Summary> {
        self.average_summaries
            .iter()
            .find(|s| s.slug.as_deref() == Some(slug))
    }

    /// The metric with this slug.
    pub fn metric(&self, slug: &str) -> Option<&Metric> {
        self.metrics
            .iter()
            .find(|m| m.slug.as_deref() == Some(slug))
    }

    /// The metric with this slug, or an alternative of another metric with
    /// it (a run's `speed` is an alternative of its `pace`).
    pub fn metric_or_alternative(&self, slug: &str) -> Option<&Metric> {
        self.metric(slug).or_else(|| {
            self.metrics
                .iter()
                .flat_map(|m| &m.alternatives)
                .find(|m| m.slug.as_deref() == Some(slug))
        })
    }
}

/// A member the user follows (`/api/user/{id}/following`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct FollowedUser {
    /// User id.
    pub id: String,
    /// Leaderboard name.
    #[serde(default)]
    pub username: Option<String>,
    /// Free text, as the member typed it.
    #[serde(default)]
    pub location: Option<String>,
    /// Avatar.
    #[serde(default)]
    pub image_url: Option<String>,
    /// Private profiles cannot be read.
    #[serde(default)]
    pub is_profile_private: Option<bool>,
    /// Null when hidden.
    #[serde(default)]
    pub total_workouts: Option<i64>,
}
