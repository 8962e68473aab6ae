//! The tray icon's menu, tooltip and icon, as pure functions of one
//! [`TrayState`].
//!
//! The menu is data ([`Menu`]); [`crate::tray_adapter`] alone turns it into a
//! `tauri::menu`. Each clickable item's id is its serialized [`Event`], so a
//! click decodes back into a typed event and a typo cannot route a click to
//! nowhere.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// What the tray shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrayState {
    /// What the app is doing.
    pub phase: Phase,
    /// When the next automatic sync is planned (none while paused).
    pub next_sync_at: Option<DateTime<Utc>>,
    /// Automatic syncs are paused (also true during a "Sync now" while
    /// paused, so the menu keeps offering Resume).
    pub paused: bool,
    /// An export is under way (its folder chooser open or files being
    /// written): "Export..." waits for it.
    pub exporting: bool,
}

impl Default for TrayState {
    fn default() -> Self {
        TrayState {
            phase: Phase::Idle { last_ok_at: None },
            next_sync_at: None,
            paused: false,
            exporting: false,
        }
    }
}

/// What the app is doing, as the tray tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for the next sync; the last one worked (if there was one).
    Idle {
        /// When the last successful sync ended.
        last_ok_at: Option<DateTime<Utc>>,
    },
    /// A sync is running.
    Syncing {
        /// A short phrase from the engine ("Syncing 120/300 workouts").
        progress: String,
    },
    /// The user paused automatic syncs.
    Paused,
    /// The last sync could not reach Peloton or Coda; it is retried.
    Offline {
        /// When it is retried.
        retry_at: DateTime<Utc>,
    },
    /// Peloton or Coda is not set up yet (first run): nothing is planned.
    SetupNeeded,
    /// The user must act (fix a password, a token, the doc).
    NeedsAttention {
        /// A short sentence naming what and where ("Peloton login refused - open Settings").
        sentence: String,
    },
}

/// What a tray menu item does when clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Start a sync now.
    SyncNow,
    /// Stop automatic syncs.
    Pause,
    /// Start automatic syncs again.
    Resume,
    /// Show the main window.
    OpenWindow,
    /// Show the settings window.
    OpenSettings,
    /// Choose a folder and export every workout into it.
    Export,
    /// Open the folder holding the log files.
    OpenLogFolder,
    /// Leave the app.
    Quit,
}

impl Event {
    /// The menu item id of this event (its JSON form, e.g. `"sync_now"`).
    pub fn id(self) -> String {
        serde_json::to_string(&self).unwrap_or_default()
    }

    /// The event a menu item id stands for; `None` for any other id (the
    /// status line, separators).
    pub fn from_id(id: &str) -> Option<Event> {
        serde_json::from_str(id).ok()
    }
}

/// One line of the menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// What the line says.
    pub title: String,
    /// What a click does; `None` for a line that only informs.
    pub event: Option<Event>,
    /// Whether it can be clicked.
    pub enabled: bool,
}

/// A menu entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Entry {
    /// A line.
    Item(Item),
    /// A separating rule.
    Separator,
}

/// The tray menu, top to bottom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Menu {
    /// The entries in order.
    pub entries: Vec<Entry>,
}

impl Menu {
    /// The lines, without separators.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Item(i) => Some(i),
            Entry::Separator => None,
        })
    }

    /// The line a click on `event` comes from.
    pub fn item(&self, event: Event) -> Option<&Item> {
        self.items().find(|i| i.event == Some(event))
    }
}

/// The id of the status line (it has no event).
pub const STATUS_ITEM_ID: &str = "status";

/// Which icon the tray shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IconKind {
    /// The last sync worked.
    UpToDate,
    /// A sync is running.
    Syncing,
    /// Automatic syncs are paused.
    Paused,
    /// Peloton or Coda could not be reached.
    Offline,
    /// The user must act.
    NeedsAttention,
}

impl IconKind {
    /// The icon's file stem in `icons/` (`tray-<stem>.png`).
    pub fn file_stem(self) -> &'static str {
        match self {
            IconKind::UpToDate => "tray-up-to-date",
            IconKind::Syncing => "tray-syncing",
            IconKind::Paused => "tray-paused",
            IconKind::Offline => "tray-offline",
            IconKind::NeedsAttention => "tray-needs-attention",
        }
    }
}

fn item(title: &str, event: Event, enabled: bool) -> Entry {
    Entry::Item(Item {
        title: title.to_owned(),
        event: Some(event),
        enabled,
    })
}

/// The first, disabled line of the menu: what the app is doing, without
/// times (the tooltip carries those).
pub fn status_line(state: &TrayState) -> String {
    match &state.phase {
        Phase::Idle {
            last_ok_at: Some(_),
        } => "Up to date".to_owned(),
        Phase::Idle { last_ok_at: None } => "Not synced yet".to_owned(),
        Phase::Syncing { progress } => syncing_text(progress),
        Phase::Paused => "Paused".to_owned(),
        Phase::Offline { .. } => "Offline".to_owned(),
        Phase::SetupNeeded => SETUP_NEEDED.to_owned(),
        Phase::NeedsAttention { sentence } => sentence.clone(),
    }
}

/// The status line before Peloton and Coda are set up.
pub const SETUP_NEEDED: &str = "Set up needed";

fn syncing_text(progress: &str) -> String {
    if progress.trim().is_empty() {
        "Syncing".to_owned()
    } else {
        progress.to_owned()
    }
}

/// The tray menu for `state`.
pub fn menu(state: &TrayState) -> Menu {
    // Before setup a sync can only fail; Settings is where to go.
    let can_sync = !matches!(state.phase, Phase::Syncing { .. } | Phase::SetupNeeded);
    let paused = state.paused || matches!(state.phase, Phase::Paused);
    let pause_or_resume = if paused {
        item("Resume syncing", Event::Resume, true)
    } else {
        item("Pause syncing", Event::Pause, true)
    };
    Menu {
        entries: vec![
            Entry::Item(Item {
                title: status_line(state),
                event: None,
                enabled: false,
            }),
            Entry::Separator,
            item("Sync now", Event::SyncNow, can_sync),
            pause_or_resume,
            Entry::Separator,
            item("Open Peloton Coda Sync", Event::OpenWindow, true),
            item("Settings...", Event::OpenSettings, true),
            item("Export...", Event::Export, !state.exporting),
            item("Open log folder", Event::OpenLogFolder, true),
            Entry::Separator,
            item("Quit", Event::Quit, true),
        ],
    }
}

fn clock_time<Tz: TimeZone>(t: DateTime<Utc>, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.with_timezone(tz).format("%H:%M").to_string()
}

/// The tooltip for `state`, with times in `tz`.
pub fn tooltip<Tz: TimeZone>(state: &TrayState, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let next = state
        .next_sync_at
        .map(|t| format!(" · next sync {}", clock_time(t, tz)))
        .unwrap_or_default();
    match &state.phase {
        Phase::Idle {
            last_ok_at: Some(at),
        } => format!("Up to date as of {}{next}", clock_time(*at, tz)),
        Phase::Idle { last_ok_at: None } => format!("Not synced yet{next}"),
        Phase::Syncing { progress } => syncing_text(progress),
        Phase::Paused => "Paused".to_owned(),
        Phase::Offline { retry_at } => {
            format!("Offline · will retry at {}", clock_time(*retry_at, tz))
        }
        Phase::SetupNeeded => format!("{SETUP_NEEDED}: connect Peloton and Coda in Settings"),
        Phase::NeedsAttention { sentence } => sentence.clone(),
    }
}

/// The icon for `state`.
pub fn icon(state: &TrayState) -> IconKind {
    match state.phase {
        Phase::Idle { .. } => IconKind::UpToDate,
        Phase::Syncing { .. } => IconKind::Syncing,
        Phase::Paused => IconKind::Paused,
        Phase::Offline { .. } => IconKind::Offline,
        Phase::SetupNeeded | Phase::NeedsAttention { .. } => IconKind::NeedsAttention,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn at(hh: u32, mm: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, hh, mm, 0).unwrap()
    }

    fn state(phase: Phase) -> TrayState {
        TrayState {
            phase,
            next_sync_at: Some(at(11, 42)),
            paused: false,
            exporting: false,
        }
    }

    fn idle() -> TrayState {
        state(Phase::Idle {
            last_ok_at: Some(at(10, 42)),
        })
    }

    fn syncing() -> TrayState {
        state(Phase::Syncing {
            progress: "Syncing 120/300 workouts".into(),
        })
    }

    fn titles(m: &Menu) -> Vec<&str> {
        m.items().map(|i| i.title.as_str()).collect()
    }

    #[test]
    fn the_menu_lists_every_action_under_a_disabled_status_line() {
        let m = menu(&idle());
        assert_eq!(
            titles(&m),
            [
                "Up to date",
                "Sync now",
                "Pause syncing",
                "Open Peloton Coda Sync",
                "Settings...",
                "Export...",
                "Open log folder",
                "Quit"
            ]
        );
        let first = m.items().next().unwrap();
        assert!(!first.enabled);
        assert_eq!(first.event, None);
        assert!(m.items().skip(1).all(|i| i.enabled && i.event.is_some()));
    }

    #[test]
    fn export_waits_while_an_export_is_under_way() {
        assert!(menu(&idle()).item(Event::Export).unwrap().enabled);
        // During a sync too: the export reads the state as it stands.
        assert!(menu(&syncing()).item(Event::Export).unwrap().enabled);
        let busy = TrayState {
            exporting: true,
            ..idle()
        };
        assert!(!menu(&busy).item(Event::Export).unwrap().enabled);
        assert_eq!(Event::Export.id(), "\"export\"");
    }

    #[test]
    fn sync_now_is_disabled_while_syncing() {
        let m = menu(&syncing());
        assert!(!m.item(Event::SyncNow).unwrap().enabled);
        assert_eq!(m.items().next().unwrap().title, "Syncing 120/300 workouts");
        assert!(menu(&idle()).item(Event::SyncNow).unwrap().enabled);
    }

    #[test]
    fn before_setup_the_tray_says_so_without_a_time_and_cannot_sync() {
        let s = TrayState {
            phase: Phase::SetupNeeded,
            next_sync_at: None,
            paused: false,
            exporting: false,
        };
        let m = menu(&s);
        assert_eq!(m.items().next().unwrap().title, "Set up needed");
        assert!(!m.item(Event::SyncNow).unwrap().enabled);
        assert!(m.item(Event::OpenSettings).unwrap().enabled);
        let tip = tooltip(&s, &Utc);
        assert_eq!(tip, "Set up needed: connect Peloton and Coda in Settings");
        assert!(!tip.contains(':') || !tip.chars().any(|c| c.is_ascii_digit()));
        assert_eq!(icon(&s), IconKind::NeedsAttention);
    }

    #[test]
    fn paused_offers_resume_and_running_offers_pause() {
        let paused = menu(&state(Phase::Paused));
        assert!(paused.item(Event::Resume).is_some());
        assert!(paused.item(Event::Pause).is_none());
        assert_eq!(paused.item(Event::Resume).unwrap().title, "Resume syncing");
        let running = menu(&idle());
        assert!(running.item(Event::Pause).is_some());
        assert!(running.item(Event::Resume).is_none());
        // A "Sync now" while paused: still Resume, and Sync now disabled.
        let manual = menu(&TrayState {
            paused: true,
            ..syncing()
        });
        assert!(manual.item(Event::Resume).is_some());
        assert!(!manual.item(Event::SyncNow).unwrap().enabled);
    }

    #[test]
    fn the_status_line_names_what_needs_attention() {
        let m = menu(&state(Phase::NeedsAttention {
            sentence: "Peloton login refused - open Settings".into(),
        }));
        assert_eq!(
            m.items().next().unwrap().title,
            "Peloton login refused - open Settings"
        );
    }

    #[test]
    fn item_ids_round_trip_to_their_events() {
        for e in [
            Event::SyncNow,
            Event::Pause,
            Event::Resume,
            Event::OpenWindow,
            Event::OpenSettings,
            Event::Export,
            Event::OpenLogFolder,
            Event::Quit,
        ] {
            assert_eq!(Event::from_id(&e.id()), Some(e), "{e:?}");
        }
        assert_eq!(Event::SyncNow.id(), "\"sync_now\"");
        assert_eq!(Event::from_id(STATUS_ITEM_ID), None);
        assert_eq!(Event::from_id("\"format_disk\""), None);
    }

    #[test]
    fn tooltips_read_like_the_issue() {
        let utc = Utc;
        let check = |s: TrayState, want: &str| assert_eq!(tooltip(&s, &utc), want);
        check(idle(), "Up to date as of 10:42 · next sync 11:42");
        check(syncing(), "Syncing 120/300 workouts");
        check(
            state(Phase::Syncing {
                progress: String::new(),
            }),
            "Syncing",
        );
        check(
            TrayState {
                phase: Phase::Paused,
                next_sync_at: None,
                paused: true,
                exporting: false,
            },
            "Paused",
        );
        check(
            state(Phase::Offline {
                retry_at: at(10, 50),
            }),
            "Offline · will retry at 10:50",
        );
        check(
            state(Phase::NeedsAttention {
                sentence: "Peloton login refused - open Settings".into(),
            }),
            "Peloton login refused - open Settings",
        );
        check(
            state(Phase::Idle { last_ok_at: None }),
            "Not synced yet · next sync 11:42",
        );
    }

    #[test]
    fn tooltip_times_are_in_the_given_zone() {
        let berlin_winter = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            tooltip(&idle(), &berlin_winter),
            "Up to date as of 11:42 · next sync 12:42"
        );
    }

    #[test]
    fn each_phase_has_its_icon() {
        assert_eq!(icon(&idle()), IconKind::UpToDate);
        assert_eq!(icon(&syncing()), IconKind::Syncing);
        assert_eq!(icon(&state(Phase::Paused)), IconKind::Paused);
        assert_eq!(
            icon(&state(Phase::Offline { retry_at: at(1, 0) })),
            IconKind::Offline
        );
        assert_eq!(
            icon(&state(Phase::NeedsAttention {
                sentence: "x".into()
            })),
            IconKind::NeedsAttention
        );
    }

    #[test]
    fn every_icon_file_exists() {
        for k in [
            IconKind::UpToDate,
            IconKind::Syncing,
            IconKind::Paused,
            IconKind::Offline,
            IconKind::NeedsAttention,
        ] {
            for suffix in ["", "@2x"] {
                let p = format!(
                    "{}/../icons/{}{suffix}.png",
                    env!("CARGO_MANIFEST_DIR"),
                    k.file_stem()
                );
                assert!(std::path::Path::new(&p).exists(), "{p}");
            }
        }
    }
}
