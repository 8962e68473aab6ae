//! The view models the windows receive: core's dashboard data with every
//! date, number and chart coordinate already formatted, so the JavaScript
//! only places text. Serializable types are a boundary; these are the only
//! ones the webview sees, and none has a field for a secret.

use std::path::Path;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use pcs_core::coda::{Checklist, ColumnStatus, TableStatus};
use pcs_core::dashboard::{FriendRide, LastOutcome, StatusView, WeekTotal, WorkoutCard};
use pcs_core::settings::{FieldError, Notifications, Settings, SignInWay};
use pcs_core::setup::Missing;
use pcs_core::tables::Table;
use serde::{Deserialize, Serialize};

use crate::controller::LiveStatus;

/// The main window's whole content.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DashboardView {
    /// The set-up card, until Peloton and Coda are set up.
    pub setup: Option<SetupCard>,
    /// The status block.
    pub status: StatusBlock,
    /// The user's latest workouts.
    pub workouts: Vec<WorkoutLine>,
    /// What the workouts list says when it is empty.
    pub workouts_empty: String,
    /// Friends' latest rides.
    pub friends: Vec<FriendLine>,
    /// What the friends list says when it is empty.
    pub friends_empty: String,
    /// The 12-week chart; `None` when there is nothing to draw.
    pub chart: Option<ChartView>,
}

/// The first-run card: what the app does, what is still needed, and a
/// button to Settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupCard {
    /// What the app does, in one sentence.
    pub what: String,
    /// What is still needed ("Still needed: the Coda API token and the Coda doc.").
    pub needed: String,
}

/// What the app does, for the first-run card.
pub const WHAT_IT_DOES: &str = "Peloton Coda Sync copies every Peloton workout you do, with its numbers, into your Coda doc, and keeps it up to date from the tray.";

/// Why Sync now is disabled before setup (its tooltip).
pub const SYNC_NEEDS_SETUP: &str = "Connect Peloton and Coda in Settings first.";

/// The set-up card for what `pcs_core::setup::missing` found; `None`
/// once nothing is missing.
pub fn setup_card(missing: &[Missing]) -> Option<SetupCard> {
    let names: Vec<&str> = missing.iter().map(|m| m.label()).collect();
    let list = match names.as_slice() {
        [] => return None,
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    Some(SetupCard {
        what: WHAT_IT_DOES.to_owned(),
        needed: format!("To start, connect Peloton and Coda in Settings. Still needed: {list}."),
    })
}

/// What the two lists say when empty: before the first sync, that they
/// fill then; after it, that there is nothing yet.
pub fn empty_texts(outcome: LastOutcome) -> (String, String) {
    if outcome == LastOutcome::Never {
        (
            "Your workouts will appear here after the first sync.".to_owned(),
            "Rides of the people you follow will appear here after the first sync.".to_owned(),
        )
    } else {
        (
            "No workouts synced yet.".to_owned(),
            "Nothing from the people you follow yet.".to_owned(),
        )
    }
}

/// The status block of the main window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusBlock {
    /// "10:42 (12 min ago)", or "Never".
    pub last_sync: String,
    /// `ok`, `failed`, `interrupted`, `never`.
    pub outcome: LastOutcome,
    /// "2 new workouts, 14 rows written".
    pub summary: String,
    /// "11:42", "Paused", or "Running now"; `None` before setup, when
    /// nothing is planned.
    pub next_sync: Option<String>,
    /// Why Sync now cannot be used (its tooltip); `None` when it can.
    pub sync_disabled: Option<String>,
    /// The running sync's progress.
    pub progress: Option<String>,
    /// Whether a sync is running (the Sync now button is disabled).
    pub syncing: bool,
    /// The sentence saying what failed and what to do.
    pub error: Option<String>,
    /// Whether the fix is in the settings window.
    pub error_opens_settings: bool,
    /// Notes that are not failures.
    pub notes: Vec<String>,
    /// The live status's revision (the window reloads when it grows).
    pub revision: u64,
}

/// One of the user's workouts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkoutLine {
    /// Peloton's id.
    pub id: String,
    /// "45 min Power Zone Ride".
    pub title: String,
    /// "Matt Wilpers", or empty.
    pub instructor: String,
    /// "512.3 kJ", or empty.
    pub output: String,
    /// "45 min", or empty.
    pub minutes: String,
    /// "Mon 2 Mar, 08:00".
    pub date: String,
    /// "Cycling".
    pub discipline: String,
    /// "Strive 44.5", or empty.
    pub strive: String,
    /// Share of the heart-rate time in zones 1 to 5, in percent (empty
    /// without heart rate): the window draws them as one bar.
    pub zones: Vec<f64>,
    /// The bar's words: "Heart-rate zones: 0, 0.2, 2.6, 13.8, 3.4 min".
    pub zones_label: String,
}

/// One of a friend's workouts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FriendLine {
    /// Peloton's workout id.
    pub id: String,
    /// The friend's name.
    pub username: String,
    /// The avatar as a `data:` URL (the CSP allows no remote image), or
    /// `None` for the initial-letter placeholder.
    pub avatar: Option<String>,
    /// The first letter of the name, for the placeholder.
    pub initial: String,
    /// Class title.
    pub title: String,
    /// "Mon 2 Mar, 08:00".
    pub when: String,
    /// "300.0 kJ", or empty.
    pub output: String,
}

/// The 12-week chart, drawn by the window as SVG from these numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartView {
    /// The SVG's width.
    pub width: f64,
    /// The SVG's height.
    pub height: f64,
    /// One bar per week (minutes), oldest first.
    pub bars: Vec<ChartBar>,
    /// The output line's points, `x,y x,y ...`, for a `<polyline>`.
    pub output_points: String,
    /// "Most: 240 min", for the minutes axis.
    pub max_minutes_label: String,
    /// "Most: 2100 kJ".
    pub max_output_label: String,
    /// An accessible description of the whole chart.
    pub summary: String,
    /// Some week has minutes per heart-rate zone: the window offers its
    /// "Heart-rate zones" view (each bar stacked by zone).
    pub has_zones: bool,
}

/// One heart-rate zone's part of a week's bar, on the bar's minutes scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneSegment {
    /// 1 to 5.
    pub zone: u8,
    /// Top edge.
    pub y: f64,
    /// Height.
    pub height: f64,
}

/// One week's bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartBar {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
    /// "2 Mar", under the bar (every other week is empty to keep room).
    pub label: String,
    /// "Week of 2 Mar: 65 min, 550.0 kJ, 2 workouts" (the bar's tooltip).
    pub title: String,
    /// The week's minutes per heart-rate zone stacked from the bottom,
    /// zone 1 first (empty without zones; they may sum to less than the
    /// bar: workouts without heart rate have no zones).
    pub zones: Vec<ZoneSegment>,
    /// "Week of 2 Mar, heart-rate zones 1 to 5: 1, 2.2, 7.6, 23.8, 3.9 min".
    pub zones_title: String,
}

const CHART_W: f64 = 360.0;
const CHART_H: f64 = 140.0;
const CHART_TOP: f64 = 8.0;
const CHART_BOTTOM: f64 = 20.0;

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn kj(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1} kJ")).unwrap_or_default()
}

fn minutes(x: Option<f64>) -> String {
    x.map(|m| format!("{} min", m.round())).unwrap_or_default()
}

/// `2026-03-02T08:00:00+01:00` as "Mon 2 Mar, 08:00" in the workout's own
/// zone (where the rider was), or the text as it is when it is no date.
pub fn workout_date(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|d| d.format("%a %-d %b, %H:%M").to_string())
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// A time in `tz`: "10:42" when it is on `now`'s day, else "Mon 2 Mar, 10:42".
pub fn local_time<Tz: TimeZone>(t: DateTime<Utc>, now: DateTime<Utc>, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let local = t.with_timezone(tz);
    if local.date_naive() == now.with_timezone(tz).date_naive() {
        local.format("%H:%M").to_string()
    } else {
        local.format("%a %-d %b, %H:%M").to_string()
    }
}

/// The status block from the last run and the live state; `setup_needed`
/// when something a sync needs is not set.
pub fn status_block<Tz: TimeZone>(
    s: &StatusView,
    live: Option<&LiveStatus>,
    setup_needed: bool,
    now: DateTime<Utc>,
    tz: &Tz,
) -> StatusBlock
where
    Tz::Offset: std::fmt::Display,
{
    let last_sync = match (s.last_sync_at, &s.last_sync_ago) {
        (Some(at), Some(ago)) => format!("{} ({ago})", local_time(at, now, tz)),
        (Some(at), None) => local_time(at, now, tz),
        _ => "Never".to_owned(),
    };
    let syncing = live.is_some_and(|l| l.syncing);
    let paused = live.is_some_and(|l| l.paused);
    let next = live.and_then(|l| l.next_sync_at).or(s.next_sync_at);
    let next_sync = if syncing {
        Some("Running now".to_owned())
    } else if setup_needed {
        None
    } else if paused {
        Some("Paused".to_owned())
    } else {
        Some(
            next.map(|t| local_time(t, now, tz))
                .unwrap_or_else(|| "Not planned".to_owned()),
        )
    };
    // The controller's sentence is the newest (it knows runs that could not
    // even start); the stored one covers a fresh start.
    let error = live
        .and_then(|l| l.error.clone())
        .or_else(|| s.error.clone());
    let error_opens_settings = matches!(
        live.map(|l| &l.phase),
        Some(crate::tray::Phase::NeedsAttention { .. })
    );
    StatusBlock {
        last_sync,
        outcome: s.outcome,
        summary: s.summary.clone(),
        next_sync,
        sync_disabled: setup_needed.then(|| SYNC_NEEDS_SETUP.to_owned()),
        progress: live.and_then(|l| l.progress.clone()),
        syncing,
        error,
        error_opens_settings,
        notes: s.notes.clone(),
        revision: live.map(|l| l.revision).unwrap_or(0),
    }
}

/// The workout lines.
pub fn workout_lines(cards: &[WorkoutCard]) -> Vec<WorkoutLine> {
    cards
        .iter()
        .map(|c| WorkoutLine {
            id: c.id.clone(),
            title: c.title.clone(),
            instructor: c.instructor.clone().unwrap_or_default(),
            output: kj(c.output_kj),
            minutes: minutes(c.minutes),
            date: workout_date(&c.start_time),
            discipline: c.discipline.clone().unwrap_or_default(),
            strive: c
                .strive
                .map(|x| format!("Strive {x:.1}"))
                .unwrap_or_default(),
            zones: c
                .hr_zone_minutes
                .map(|z| {
                    let total: f64 = z.iter().sum();
                    z.iter()
                        .map(|m| (m / total * 1000.0).round() / 10.0)
                        .collect()
                })
                .unwrap_or_default(),
            zones_label: c
                .hr_zone_minutes
                .map(|z| {
                    let mins: Vec<String> = z.iter().map(|m| format!("{m}")).collect();
                    format!("Heart-rate zones 1 to 5: {} min", mins.join(", "))
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// A cached avatar as a `data:` URL; `None` when missing or not an image.
pub fn avatar_data_url(path: &Path) -> Option<String> {
    use base64::Engine as _;
    let bytes = std::fs::read(path).ok()?;
    let mime = pcs_core::avatars::image_mime(&bytes)?;
    Some(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    ))
}

/// The friends' lines.
pub fn friend_lines(rides: &[FriendRide]) -> Vec<FriendLine> {
    rides
        .iter()
        .map(|r| FriendLine {
            id: r.id.clone(),
            username: r.username.clone(),
            avatar: r.avatar.as_deref().and_then(avatar_data_url),
            initial: r
                .username
                .chars()
                .next()
                .map(|c| c.to_uppercase().to_string())
                .unwrap_or_default(),
            title: r.title.clone(),
            when: workout_date(&r.when),
            output: kj(r.output_kj),
        })
        .collect()
}

fn day_month(d: NaiveDate) -> String {
    d.format("%-d %b").to_string()
}

/// The chart, or `None` when every week is empty (a flat line of zeros
/// says nothing a newcomer can use).
pub fn chart_if_any(weeks: &[WeekTotal]) -> Option<ChartView> {
    weeks
        .iter()
        .any(|w| w.minutes > 0.0 || w.output_kj > 0.0 || w.workouts > 0)
        .then(|| chart(weeks))
}

/// The chart's geometry: bars for minutes, a line for output, each scaled
/// to its own maximum.
pub fn chart(weeks: &[WeekTotal]) -> ChartView {
    let n = weeks.len().max(1) as f64;
    let slot = CHART_W / n;
    let plot_h = CHART_H - CHART_TOP - CHART_BOTTOM;
    let max_min = weeks.iter().map(|w| w.minutes).fold(0.0, f64::max);
    let max_kj = weeks.iter().map(|w| w.output_kj).fold(0.0, f64::max);
    let scale = |v: f64, max: f64| if max > 0.0 { v / max * plot_h } else { 0.0 };
    let base = CHART_TOP + plot_h;
    let bars = weeks
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let h = round1(scale(w.minutes, max_min));
            let mut top = base;
            let zones: Vec<ZoneSegment> = if w.hr_zone_minutes.iter().sum::<f64>() > 0.0 {
                (1u8..)
                    .zip(w.hr_zone_minutes)
                    .map(|(zone, m)| {
                        let height = round1(scale(m, max_min));
                        top -= height;
                        ZoneSegment {
                            zone,
                            y: round1(top),
                            height,
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let zones_title = if zones.is_empty() {
                format!("Week of {}: no heart-rate zones", day_month(w.week_start))
            } else {
                let mins: Vec<String> = w.hr_zone_minutes.iter().map(|m| m.to_string()).collect();
                format!(
                    "Week of {}, heart-rate zones 1 to 5: {} min",
                    day_month(w.week_start),
                    mins.join(", ")
                )
            };
            ChartBar {
                x: round1(i as f64 * slot + slot * 0.15),
                y: round1(base - h),
                width: round1(slot * 0.7),
                height: h,
                label: if (weeks.len() - 1 - i).is_multiple_of(2) {
                    day_month(w.week_start)
                } else {
                    String::new()
                },
                title: format!(
                    "Week of {}: {} min, {:.1} kJ, {} workout{}",
                    day_month(w.week_start),
                    w.minutes.round(),
                    w.output_kj,
                    w.workouts,
                    if w.workouts == 1 { "" } else { "s" }
                ),
                zones,
                zones_title,
            }
        })
        .collect::<Vec<ChartBar>>();
    let has_zones = bars.iter().any(|b| !b.zones.is_empty());
    let output_points = weeks
        .iter()
        .enumerate()
        .map(|(i, w)| {
            format!(
                "{},{}",
                round1(i as f64 * slot + slot / 2.0),
                round1(base - scale(w.output_kj, max_kj))
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let total_min: f64 = weeks.iter().map(|w| w.minutes).sum();
    let total_kj: f64 = weeks.iter().map(|w| w.output_kj).sum();
    ChartView {
        width: CHART_W,
        height: CHART_H,
        bars,
        output_points,
        max_minutes_label: format!("Most: {} min", max_min.round()),
        max_output_label: format!("Most: {max_kj:.0} kJ"),
        summary: format!(
            "Last {} weeks: {} min and {:.0} kJ in all",
            weeks.len(),
            total_min.round(),
            total_kj
        ),
        has_zones,
    }
}

/// The Coda set-up checklist as Settings shows it after "Test connection":
/// every configured table and column, ✓ or ✗, the kind each must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecklistView {
    /// The configured tables, in the order they were checked.
    pub tables: Vec<ChecklistTableView>,
}

/// One table of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecklistTableView {
    /// `workouts`, `friend_workouts`, ...
    pub key: String,
    /// Its name in the doc.
    pub name: String,
    /// Every required column is there and right.
    pub ok: bool,
    /// "ready", "2 columns to fix", "not in the doc: add a table of this name".
    pub state: String,
    /// The table itself must be made (its name gets a copy button).
    pub table_missing: bool,
    /// Never required: an optional table the doc does not have.
    pub optional: bool,
    /// Every column of the spec.
    pub columns: Vec<ChecklistColumnView>,
    /// The missing required names, one per line, for "Copy all missing
    /// column names"; empty when none is missing.
    pub missing_names: String,
}

/// One column of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecklistColumnView {
    /// The column's name.
    pub name: String,
    /// "text", "number", "date and time", "checkbox".
    pub kind: String,
    /// There and right.
    pub ok: bool,
    /// Never required.
    pub optional: bool,
    /// What to do ("missing: add it"), or `None` when ok.
    pub note: Option<String>,
    /// Not in the doc, so its name gets a copy button.
    pub missing: bool,
}

/// The checklist core computed, for the window.
pub fn checklist_view(list: &Checklist) -> ChecklistView {
    let tables = list
        .tables
        .iter()
        .map(|t| {
            let to_fix = t
                .columns
                .iter()
                .filter(|c| !c.optional && !c.is_ok())
                .count();
            let state = match t.status {
                TableStatus::Ok => "ready".to_owned(),
                TableStatus::Missing => {
                    "not in the doc: add a table of this name with these columns".to_owned()
                }
                TableStatus::IsView => {
                    "a view, not a table: enter the name of its base table below".to_owned()
                }
                TableStatus::Optional => {
                    "optional, not in the doc: add a table of this name with these columns to fill it too"
                        .to_owned()
                }
                TableStatus::NeedsColumns => {
                    format!(
                        "{to_fix} column{} to fix",
                        if to_fix == 1 { "" } else { "s" }
                    )
                }
            };
            ChecklistTableView {
                key: t.table.key().to_owned(),
                name: t.name.clone(),
                ok: t.status == TableStatus::Ok,
                state,
                table_missing: matches!(t.status, TableStatus::Missing | TableStatus::Optional),
                optional: t.status == TableStatus::Optional,
                columns: t
                    .columns
                    .iter()
                    .map(|c| ChecklistColumnView {
                        name: c.name.to_owned(),
                        kind: c.kind.describe().to_owned(),
                        ok: c.is_ok(),
                        optional: c.optional,
                        note: c.note(),
                        missing: c.status == ColumnStatus::Missing,
                    })
                    .collect(),
                missing_names: t.missing_names().join("\n"),
            }
        })
        .collect();
    ChecklistView { tables }
}

/// One table's settings as the window shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableView {
    /// `workouts`, `instructors`, `friends`, `friend_workouts`.
    pub key: String,
    /// "Workouts", "Friend Workouts".
    pub label: String,
    /// Whether it is written.
    pub enabled: bool,
    /// Its name in the doc.
    pub name: String,
}

/// The settings window's content. Credentials appear only as set or not set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsView {
    /// The Peloton e-mail.
    pub peloton_email: String,
    /// Whether a Peloton password (or a login kept from it) is stored.
    pub peloton_password_set: bool,
    /// Whether a Coda token is stored.
    pub coda_token_set: bool,
    /// Which way Peloton is signed in to, in a sentence ("Signed in as …").
    pub peloton_sign_in: String,
    /// Whether that way is Peloton's sign-in window (no password kept).
    pub peloton_sign_in_window: bool,
    /// The doc's ID or URL.
    pub coda_doc: String,
    /// Minutes between syncs.
    pub interval_minutes: u32,
    /// Below this many minutes the window warns that Peloton may frown on it.
    pub interval_warning_below: u32,
    /// Latest workouts kept per friend.
    pub friend_workouts_per_friend: u32,
    /// The four tables.
    pub tables: Vec<TableView>,
    /// The notification switches.
    pub notifications: Notifications,
    /// Start at login, tray only.
    pub launch_at_login: bool,
    /// Why the keychain cannot be used, when it cannot.
    pub keychain_error: Option<String>,
    /// Environment variables that override settings in this session.
    pub env_overrides: Vec<String>,
    /// Values of the settings file that were out of range and brought into
    /// it, one sentence each (saving writes the corrected values).
    pub notices: Vec<String>,
}

/// The interval below which the settings window warns.
pub const RECOMMENDED_MIN_INTERVAL: u32 = 60;

/// Which credentials are stored (never their values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CredentialsSet {
    /// A Peloton password or refresh token is stored.
    pub peloton: bool,
    /// A Coda token is stored.
    pub coda: bool,
}

/// The settings window's content.
pub fn settings_view(
    s: &Settings,
    creds: CredentialsSet,
    keychain_error: Option<String>,
    env_overrides: Vec<String>,
) -> SettingsView {
    SettingsView {
        peloton_email: s.peloton_email.clone(),
        peloton_password_set: creds.peloton,
        coda_token_set: creds.coda,
        peloton_sign_in: sign_in_line(s, creds),
        peloton_sign_in_window: s.peloton_sign_in == SignInWay::Browser,
        coda_doc: s.coda_doc.clone(),
        interval_minutes: s.interval_minutes,
        interval_warning_below: RECOMMENDED_MIN_INTERVAL,
        friend_workouts_per_friend: s.friend_workouts_per_friend,
        tables: Table::ALL
            .iter()
            .map(|t| TableView {
                key: t.key().to_owned(),
                label: t.default_name().to_owned(),
                enabled: s.table(*t).enabled,
                name: s.table(*t).name.clone(),
            })
            .collect(),
        notifications: s.notifications.clone(),
        launch_at_login: s.launch_at_login,
        keychain_error,
        env_overrides,
        notices: Vec::new(),
    }
}

/// The settings window's line saying which way Peloton is signed in to.
pub fn sign_in_line(s: &Settings, creds: CredentialsSet) -> String {
    match (s.peloton_sign_in, creds.peloton) {
        (SignInWay::Browser, true) if !s.peloton_username.is_empty() => format!(
            "Signed in as {} with Peloton's sign-in window; no password is kept.",
            s.peloton_username
        ),
        (SignInWay::Browser, true) => {
            "Signed in with Peloton's sign-in window; no password is kept.".to_owned()
        }
        (SignInWay::Browser, false) => {
            "Signed out of Peloton: sign in again with the button below.".to_owned()
        }
        (SignInWay::Password, true) => "Signed in with the e-mail and password below.".to_owned(),
        (SignInWay::Password, false) => {
            "Sign in with Peloton, or type your e-mail and password.".to_owned()
        }
    }
}

/// One table as the settings window sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TableInput {
    /// `workouts`, ...
    pub key: String,
    /// Whether to write it.
    pub enabled: bool,
    /// Its name in the doc.
    pub name: String,
}

/// What the settings window sends. An empty password or token keeps the
/// stored one.
#[derive(Clone, PartialEq, Deserialize)]
pub struct SettingsInput {
    /// The Peloton e-mail.
    pub peloton_email: String,
    /// A new Peloton password, or empty.
    #[serde(default)]
    pub peloton_password: String,
    /// A new Coda token, or empty.
    #[serde(default)]
    pub coda_token: String,
    /// The doc's ID or URL.
    pub coda_doc: String,
    /// Minutes between syncs, as typed (`null` when the field is not a number).
    pub interval_minutes: Option<f64>,
    /// Workouts kept per friend, as typed.
    pub friend_workouts_per_friend: Option<f64>,
    /// The tables.
    pub tables: Vec<TableInput>,
    /// The notification switches.
    pub notifications: Notifications,
    /// Start at login.
    pub launch_at_login: bool,
}

impl std::fmt::Debug for SettingsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsInput")
            .field("peloton_email", &self.peloton_email)
            .field("peloton_password", &redacted(&self.peloton_password))
            .field("coda_token", &redacted(&self.coda_token))
            .field("coda_doc", &self.coda_doc)
            .field("interval_minutes", &self.interval_minutes)
            .finish_non_exhaustive()
    }
}

fn redacted(s: &str) -> &'static str {
    if s.is_empty() {
        "<empty>"
    } else {
        "<redacted>"
    }
}

fn whole(x: Option<f64>) -> Option<u32> {
    x.filter(|v| v.fract() == 0.0 && *v >= 0.0 && *v <= f64::from(u32::MAX))
        .map(|v| v as u32)
}

impl SettingsInput {
    /// The settings this input describes, on top of `base` (which keeps the
    /// keys the window does not show), or every field error at once.
    pub fn apply(&self, base: &Settings) -> Result<Settings, Vec<FieldError>> {
        let mut s = base.clone();
        let mut errors = Vec::new();
        s.peloton_email = self.peloton_email.trim().to_owned();
        if !self.peloton_password.is_empty() {
            // A typed password is the password way, whatever was before.
            s.peloton_sign_in = SignInWay::Password;
            s.peloton_username.clear();
        }
        s.coda_doc = self.coda_doc.trim().to_owned();
        match whole(self.interval_minutes) {
            Some(m) => s.interval_minutes = m,
            None => errors.push(FieldError {
                field: "interval_minutes".into(),
                message: "Enter a whole number of minutes between 15 and 1440.".into(),
            }),
        }
        match whole(self.friend_workouts_per_friend) {
            Some(n) => s.friend_workouts_per_friend = n,
            None => errors.push(FieldError {
                field: "friend_workouts_per_friend".into(),
                message: "Enter a whole number of workouts between 0 and 100.".into(),
            }),
        }
        for t in &self.tables {
            match Table::ALL.iter().find(|k| k.key() == t.key) {
                Some(table) => {
                    let ts = s.table_mut(*table);
                    ts.enabled = t.enabled;
                    ts.name = t.name.trim().to_owned();
                }
                None => errors.push(FieldError {
                    field: format!("tables.{}", t.key),
                    message: format!("There is no table \"{}\".", t.key),
                }),
            }
        }
        s.notifications = self.notifications.clone();
        s.launch_at_login = self.launch_at_login;
        // The number fields' own errors replace core's range message for them.
        let core_errors: Vec<FieldError> = s
            .validate()
            .into_iter()
            .filter(|e| !errors.iter().any(|x| x.field == e.field))
            .collect();
        errors.extend(core_errors);
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tray::Phase;
    use chrono::FixedOffset;

    fn t(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap()
    }

    fn status(error: Option<&str>) -> StatusView {
        StatusView {
            last_sync_at: Some(t(2, 10, 42)),
            last_sync_ago: Some("12 min ago".into()),
            outcome: if error.is_some() {
                LastOutcome::Failed
            } else {
                LastOutcome::Ok
            },
            counts: vec![],
            summary: "2 new workouts, 14 rows written".into(),
            error: error.map(str::to_owned),
            notes: vec![],
            failure_streak: 0,
            next_sync_at: None,
        }
    }

    fn live(phase: Phase, syncing: bool) -> LiveStatus {
        LiveStatus {
            phase,
            syncing,
            paused: false,
            progress: syncing.then(|| "Syncing 1/2 workouts".to_owned()),
            next_sync_at: Some(t(2, 11, 42)),
            error: None,
            revision: 3,
        }
    }

    #[test]
    fn the_status_block_reads_in_local_time() {
        let tz = FixedOffset::east_opt(3600).unwrap();
        let b = status_block(
            &status(None),
            Some(&live(Phase::Idle { last_ok_at: None }, false)),
            false,
            t(2, 10, 54),
            &tz,
        );
        assert_eq!(b.last_sync, "11:42 (12 min ago)");
        assert_eq!(b.next_sync.as_deref(), Some("12:42"));
        assert_eq!(b.sync_disabled, None);
        assert_eq!(b.revision, 3);
        assert!(!b.syncing);
        // Another day shows the date.
        let b = status_block(&status(None), None, false, t(4, 10, 0), &Utc);
        assert_eq!(b.last_sync, "Mon 2 Mar, 10:42 (12 min ago)");
        assert_eq!(b.next_sync.as_deref(), Some("Not planned"));
    }

    #[test]
    fn a_running_sync_shows_progress_and_running_now() {
        let b = status_block(
            &status(None),
            Some(&live(
                Phase::Syncing {
                    progress: "x".into(),
                },
                true,
            )),
            false,
            t(2, 11, 0),
            &Utc,
        );
        assert_eq!(b.next_sync.as_deref(), Some("Running now"));
        assert_eq!(b.progress.as_deref(), Some("Syncing 1/2 workouts"));
        assert!(b.syncing);
    }

    #[test]
    fn an_error_that_needs_the_user_points_at_settings() {
        let mut l = live(
            Phase::NeedsAttention {
                sentence: "Peloton login refused - open Settings".into(),
            },
            false,
        );
        l.error = Some("Peloton refused the e-mail or password; fix them in Settings.".into());
        let b = status_block(&status(Some("old")), Some(&l), false, t(2, 11, 0), &Utc);
        assert_eq!(
            b.error.as_deref(),
            Some("Peloton refused the e-mail or password; fix them in Settings.")
        );
        assert!(b.error_opens_settings);
        let b = status_block(&status(Some("stored")), None, false, t(2, 11, 0), &Utc);
        assert_eq!(b.error.as_deref(), Some("stored"));
        assert!(!b.error_opens_settings);
    }

    #[test]
    fn before_setup_nothing_is_planned_and_sync_now_says_why_it_is_off() {
        let b = status_block(
            &status(None),
            Some(&live(Phase::SetupNeeded, false)),
            true,
            t(2, 10, 54),
            &Utc,
        );
        assert_eq!(b.next_sync, None);
        assert_eq!(b.sync_disabled.as_deref(), Some(SYNC_NEEDS_SETUP));
    }

    #[test]
    fn the_setup_card_names_what_is_still_needed() {
        assert_eq!(setup_card(&[]), None);
        let card = setup_card(&[Missing::CodaToken]).unwrap();
        assert_eq!(
            card.needed,
            "To start, connect Peloton and Coda in Settings. Still needed: Coda API token."
        );
        assert_eq!(card.what, WHAT_IT_DOES);
        let card = setup_card(&[
            Missing::PelotonEmail,
            Missing::PelotonPassword,
            Missing::CodaDoc,
        ])
        .unwrap();
        assert!(
            card.needed
                .ends_with("Still needed: Peloton e-mail, Peloton password and Coda doc."),
            "{}",
            card.needed
        );
    }

    #[test]
    fn empty_lists_say_they_fill_after_the_first_sync() {
        let (workouts, friends) = empty_texts(LastOutcome::Never);
        assert_eq!(
            workouts,
            "Your workouts will appear here after the first sync."
        );
        assert!(friends.ends_with("after the first sync."));
        let (workouts, _) = empty_texts(LastOutcome::Ok);
        assert_eq!(workouts, "No workouts synced yet.");
    }

    #[test]
    fn the_checklist_view_marks_each_column_and_gathers_the_missing_names() {
        use pcs_core::coda::{ColumnCheck, TableChecklist};
        use pcs_core::tables::ColumnKind;
        let column = |name: &'static str, kind, status| ColumnCheck {
            name,
            kind,
            optional: false,
            status,
            found_kind: None,
        };
        let list = Checklist {
            tables: vec![TableChecklist {
                table: Table::Friends,
                name: "Friends".into(),
                status: TableStatus::NeedsColumns,
                columns: vec![
                    column("User ID", ColumnKind::Text, ColumnStatus::Ok),
                    column("Username", ColumnKind::Text, ColumnStatus::Missing),
                    column("Total Workouts", ColumnKind::Number, ColumnStatus::Formula),
                    column(
                        "Private Profile",
                        ColumnKind::Checkbox,
                        ColumnStatus::Missing,
                    ),
                    ColumnCheck {
                        optional: true,
                        ..column("Strive Score", ColumnKind::Number, ColumnStatus::Missing)
                    },
                ],
            }],
        };
        let v = checklist_view(&list);
        let t = &v.tables[0];
        assert_eq!(t.key, "friends");
        assert_eq!(t.state, "3 columns to fix");
        assert!(!t.ok && !t.table_missing);
        assert_eq!(t.missing_names, "Username\nPrivate Profile");
        assert!(t.columns[0].ok && t.columns[0].note.is_none());
        assert_eq!(t.columns[3].kind, "checkbox");
        assert!(t.columns[3].missing);
        assert!(
            !t.columns[2].missing,
            "a formula column is there: nothing to copy"
        );
        assert!(t.columns[4].optional && t.columns[4].missing);
    }

    #[test]
    fn workout_lines_are_formatted() {
        let lines = workout_lines(&[WorkoutCard {
            id: "a".into(),
            title: "45 min Power Zone Ride".into(),
            instructor: Some("Matt Wilpers".into()),
            output_kj: Some(512.34),
            minutes: Some(45.0),
            start_time: "2026-03-02T08:00:00+01:00".into(),
            discipline: Some("Cycling".into()),
            strive: Some(44.5),
            hr_zone_minutes: Some([0.0, 0.2, 2.6, 13.8, 3.4]),
        }]);
        assert_eq!(lines[0].strive, "Strive 44.5");
        assert_eq!(lines[0].zones, [0.0, 1.0, 13.0, 69.0, 17.0]);
        assert_eq!(
            lines[0].zones_label,
            "Heart-rate zones 1 to 5: 0, 0.2, 2.6, 13.8, 3.4 min"
        );
        assert_eq!(lines[0].output, "512.3 kJ");
        assert_eq!(lines[0].minutes, "45 min");
        assert_eq!(lines[0].date, "Mon 2 Mar, 08:00");
        assert_eq!(lines[0].instructor, "Matt Wilpers");
    }

    #[test]
    fn avatars_become_data_urls_only_when_they_are_images() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("a.img");
        std::fs::write(&png, [0x89, b'P', b'N', b'G', 1, 2, 3]).unwrap();
        let html = dir.path().join("b.img");
        std::fs::write(&html, b"<script>alert(1)</script>").unwrap();
        assert!(avatar_data_url(&png)
            .unwrap()
            .starts_with("data:image/png;base64,"));
        assert_eq!(avatar_data_url(&html), None);
        assert_eq!(avatar_data_url(&dir.path().join("missing")), None);
        let lines = friend_lines(&[FriendRide {
            id: "w".into(),
            friend_id: "f".into(),
            username: "alice".into(),
            avatar: Some(png),
            title: "Ride".into(),
            discipline: None,
            when: "2026-03-02T08:00:00+00:00".into(),
            output_kj: None,
            minutes: None,
        }]);
        assert_eq!(lines[0].initial, "A");
        assert!(lines[0].avatar.is_some());
        assert_eq!(lines[0].output, "");
    }

    #[test]
    fn the_chart_scales_bars_and_line_to_their_maxima() {
        let week = |d: u32, minutes: f64, kj: f64| WeekTotal {
            week_start: NaiveDate::from_ymd_opt(2026, 2, d).unwrap(),
            minutes,
            output_kj: kj,
            workouts: 1,
            hr_zone_minutes: [0.0; 5],
        };
        let c = chart(&[
            week(16, 30.0, 100.0),
            week(23, 0.0, 0.0),
            week(2, 60.0, 400.0),
        ]);
        assert_eq!(c.bars.len(), 3);
        let plot_h = CHART_H - CHART_TOP - CHART_BOTTOM;
        assert_eq!(c.bars[2].height, plot_h);
        assert_eq!(c.bars[0].height, plot_h / 2.0);
        assert_eq!(c.bars[1].height, 0.0);
        assert_eq!(c.bars[2].y, CHART_TOP);
        assert_eq!(c.bars[2].label, "2 Feb");
        assert_eq!(c.bars[1].label, "");
        assert_eq!(c.output_points.split(' ').count(), 3);
        assert!(c.output_points.ends_with(&format!(",{CHART_TOP}")));
        assert_eq!(c.max_minutes_label, "Most: 60 min");
        assert_eq!(c.summary, "Last 3 weeks: 90 min and 500 kJ in all");
        // No data at all draws flat, never NaN; and the window draws nothing.
        let empty = chart(&[week(2, 0.0, 0.0)]);
        assert!(!empty.output_points.contains("NaN"));
        let none = WeekTotal {
            workouts: 0,
            ..week(2, 0.0, 0.0)
        };
        assert_eq!(chart_if_any(&[none.clone(), none]), None);
        assert!(chart_if_any(&[week(2, 30.0, 0.0)]).is_some());
        assert!(!c.has_zones && c.bars.iter().all(|b| b.zones.is_empty()));
    }

    #[test]
    fn the_chart_stacks_zone_minutes_on_the_minutes_scale() {
        let week = |d: u32, minutes: f64, zones: [f64; 5]| WeekTotal {
            week_start: NaiveDate::from_ymd_opt(2026, 2, d).unwrap(),
            minutes,
            output_kj: 0.0,
            workouts: 1,
            hr_zone_minutes: zones,
        };
        // 60 min is the full plot height; the first week's 40 zone minutes
        // (a 20-minute ride without heart rate beside) stack to two thirds.
        let c = chart(&[
            week(16, 60.0, [0.0, 10.0, 10.0, 15.0, 5.0]),
            week(23, 30.0, [0.0; 5]),
        ]);
        assert!(c.has_zones);
        let plot_h = CHART_H - CHART_TOP - CHART_BOTTOM;
        let base = CHART_TOP + plot_h;
        let z = &c.bars[0].zones;
        assert_eq!(
            z.iter().map(|s| s.zone).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(z[0].height, 0.0);
        assert_eq!(z[0].y, base);
        assert_eq!(z[1].height, round1(plot_h / 6.0));
        assert_eq!(z[1].y, round1(base - plot_h / 6.0));
        let stacked: f64 = z.iter().map(|s| s.height).sum();
        assert!((stacked - plot_h * 40.0 / 60.0).abs() < 0.3, "{stacked}");
        assert_eq!(
            c.bars[0].zones_title,
            "Week of 16 Feb, heart-rate zones 1 to 5: 0, 10, 10, 15, 5 min"
        );
        assert!(c.bars[1].zones.is_empty());
        assert_eq!(c.bars[1].zones_title, "Week of 23 Feb: no heart-rate zones");
    }

    fn input() -> SettingsInput {
        SettingsInput {
            peloton_email: " rider@example.com ".into(),
            peloton_password: String::new(),
            coda_token: "secret-token".into(),
            coda_doc: "https://coda.io/d/Doc_dAbc123".into(),
            interval_minutes: Some(30.0),
            friend_workouts_per_friend: Some(5.0),
            tables: vec![TableInput {
                key: "friends".into(),
                enabled: false,
                name: "People".into(),
            }],
            notifications: Notifications::default(),
            launch_at_login: true,
        }
    }

    #[test]
    fn input_applies_on_top_of_the_saved_settings() {
        let base = Settings {
            peloton_api_url: Some("http://127.0.0.1:9".into()),
            ..Settings::default()
        };
        let s = input().apply(&base).unwrap();
        assert_eq!(s.peloton_email, "rider@example.com");
        assert_eq!(s.interval_minutes, 30);
        assert_eq!(s.friend_workouts_per_friend, 5);
        assert!(!s.tables.friends.enabled);
        assert_eq!(s.tables.friends.name, "People");
        assert!(s.launch_at_login);
        assert_eq!(s.peloton_api_url.as_deref(), Some("http://127.0.0.1:9"));
    }

    #[test]
    fn bad_input_gives_every_field_error_at_once() {
        let mut i = input();
        i.interval_minutes = Some(5.0);
        i.friend_workouts_per_friend = None;
        i.coda_doc = " ".into();
        let errors = i.apply(&Settings::default()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["friend_workouts_per_friend", "interval_minutes", "coda_doc"]
        );
        i.interval_minutes = Some(12.5);
        let errors = i.apply(&Settings::default()).unwrap_err();
        assert!(errors
            .iter()
            .any(|e| e.field == "interval_minutes" && e.message.contains("whole number")));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut i = input();
        i.peloton_password = "hunter2".into();
        let dbg = format!("{i:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!dbg.contains("secret-token"), "{dbg}");
    }

    #[test]
    fn the_settings_view_says_set_or_not_set_only() {
        let v = settings_view(
            &Settings::default(),
            CredentialsSet {
                peloton: true,
                coda: false,
            },
            None,
            vec![],
        );
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["peloton_password_set"], true);
        assert_eq!(json["coda_token_set"], false);
        assert!(json.get("peloton_password").is_none());
        assert!(json.get("coda_token").is_none());
        assert_eq!(v.tables.len(), 5);
        assert_eq!(v.tables[3].key, "friend_workouts");
        assert_eq!(v.tables[4].key, "personal_bests");
    }

    #[test]
    fn settings_say_which_way_peloton_is_signed_in_to() {
        let set = CredentialsSet {
            peloton: true,
            coda: true,
        };
        let unset = CredentialsSet::default();
        let mut s = Settings::default();
        assert!(sign_in_line(&s, set).contains("e-mail and password"));
        assert!(!settings_view(&s, set, None, vec![]).peloton_sign_in_window);
        s.peloton_sign_in = SignInWay::Browser;
        s.peloton_username = "fake_rider".into();
        let v = settings_view(&s, set, None, vec![]);
        assert!(v.peloton_sign_in_window);
        assert_eq!(
            v.peloton_sign_in,
            "Signed in as fake_rider with Peloton's sign-in window; no password is kept."
        );
        assert!(sign_in_line(&s, unset).starts_with("Signed out of Peloton: sign in again"));

        // Typing a password goes back to the password way.
        let mut i = input();
        i.peloton_password = "hunter2".into();
        let after = i.apply(&s).unwrap();
        assert_eq!(after.peloton_sign_in, SignInWay::Password);
        assert_eq!(after.peloton_username, "");
        // Saving other fields keeps the window way.
        let after = input().apply(&s).unwrap();
        assert_eq!(after.peloton_sign_in, SignInWay::Browser);
    }
}
