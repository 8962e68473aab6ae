//! The Peloton Coda Sync tray app: a thin desktop shell over `pcs_core`.
//!
//! Map: [`tray`] (menu, tooltip and icon as data) and [`tray_adapter`] (the
//! one place that builds Tauri's tray); [`schedule`] (when to sync);
//! [`controller`] (the one task owning state, effects through [`controller::Shell`]);
//! [`commands`] (every command the windows call) over [`settings_flow`] and
//! [`view`] (view models); [`sync_task`] (one run, built like the CLI's);
//! [`shell`] and [`desktop`] (effects on the real desktop); [`memory`]
//! (what keeps the idle app light); `network`
//! (NetworkManager's "connected" signal, Linux); [`logging`].
//!
//! Invariants: no sync rule lives here (they are in core); no command
//! returns a secret; a window exists only while it is open (created on
//! show from its `tauri.conf.json` entry, destroyed on close, so an idle
//! tray app runs no WebKit process; under WebDriver, see
//! [`desktop::under_webdriver`]); the app leaves only through Quit.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod commands;
pub mod controller;
pub mod desktop;
pub mod logging;
pub mod login_item;
pub mod memory;
#[cfg(target_os = "linux")]
pub mod network;
pub mod schedule;
pub mod settings_flow;
pub mod shell;
pub mod state;
pub mod sync_task;
pub mod tray;
pub mod tray_adapter;
pub mod view;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pcs_core::clock::{SharedClock, SystemClock};
use pcs_core::paths::Paths;
use pcs_core::secrets::{KeyringStore, SecretStore};
use pcs_core::settings::Settings;
use pcs_core::setup::Overrides;
use pcs_core::store::Store;
use tauri::{AppHandle, Manager, RunEvent, WindowEvent, Wry};
use tokio::sync::mpsc;

use crate::controller::{AppSettings, Controller, Request, WindowKind};
use crate::state::AppState;
use crate::tray::Event;

/// How often the controller's timer fires (due syncs, sleep detection).
const TICK: Duration = Duration::from_secs(15);

/// The flag the login item passes: start in the tray, no window.
pub const MINIMIZED_FLAG: &str = "--minimized";

/// The flag `make demo-app` passes: the app keeps its keychain entries
/// under [`DEMO_KEYCHAIN_SERVICE`] and is its own single instance, so a
/// demo never reads or writes the person's real entries and runs beside an
/// installed app.
pub const DEMO_FLAG: &str = "--demo";

/// The keychain service of a demo's entries (the demo script clears it).
pub const DEMO_KEYCHAIN_SERVICE: &str = "peloton-coda-sync-demo";

/// The single-instance D-Bus name of a demo (the plugin appends `.SingleInstance`).
const DEMO_DBUS_ID: &str = "com.pelotoncodasync.desktop.demo";

const USAGE: &str = "\
Peloton Coda Sync (tray app)

Usage: peloton-coda-sync-app [--minimized] [--config FILE] [--demo]

  --minimized    start in the tray only (what launch at login uses)
  --config FILE  read and write another settings file
  --demo         keep credentials under the keychain service
                 peloton-coda-sync-demo, beside an installed app
                 (what `make demo-app` uses)
  --help         show this help
  --version      show the version

Environment: PELOTON_USERNAME, PELOTON_PASSWORD, CODA_API_TOKEN, CODA_DOC,
PELOTON_API_URL, PELOTON_AUTH_URL, CODA_API_URL override the settings as in
the command line; RUST_LOG also logs to stderr.";

/// The command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// Start in the tray only.
    pub minimized: bool,
    /// Another settings file.
    pub config: Option<PathBuf>,
    /// Run as the demo: keychain entries and single instance of its own.
    pub demo: bool,
    /// Print the help and leave.
    pub help: bool,
    /// Print the version and leave.
    pub version: bool,
    /// Flags this app does not know, left to others (logged).
    pub ignored: Vec<String>,
}

impl Args {
    /// Parses the arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut out = Args::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                MINIMIZED_FLAG => out.minimized = true,
                DEMO_FLAG => out.demo = true,
                "--config" => {
                    out.config = Some(PathBuf::from(
                        it.next().ok_or("--config needs a file name")?,
                    ))
                }
                "--help" | "-h" => out.help = true,
                "--version" | "-V" => out.version = true,
                other => match other.strip_prefix("--config=") {
                    Some(f) => out.config = Some(PathBuf::from(f)),
                    // WebKit's WebDriver starts the app with `--automation`;
                    // other launchers may add flags of their own too.
                    None if other.starts_with("--") => out.ignored.push(other.to_owned()),
                    None => return Err(format!("unknown argument {other}")),
                },
            }
        }
        Ok(out)
    }
}

/// What a tray menu click does.
fn on_tray_event(app: &AppHandle<Wry>, e: Event) {
    let state = app.state::<Arc<AppState>>();
    match e {
        Event::SyncNow => state.send(Request::SyncNow),
        Event::Pause => state.send(Request::Pause),
        Event::Resume => state.send(Request::Resume),
        Event::Quit => state.send(Request::Quit),
        Event::OpenWindow => desktop::show(app, WindowKind::Main),
        Event::OpenSettings => desktop::show(app, WindowKind::Settings),
        Event::OpenLogFolder => {
            use tauri_plugin_opener::OpenerExt;
            let dir = state.paths.log_dir.display().to_string();
            if let Err(e) = app.opener().open_path(dir, None::<&str>) {
                tracing::warn!(error = %e, "the log folder could not be opened");
            }
        }
    }
}

/// Starts the app; returns the process exit code.
#[allow(clippy::print_stdout)] // --help and --version answer on stdout
pub fn run() -> i32 {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return 2;
        }
    };
    if args.help {
        println!("{USAGE}");
        return 0;
    }
    if args.version {
        println!("peloton-coda-sync-app {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let paths = match Paths::from_env() {
        Ok(p) => match &args.config {
            Some(c) => p.with_config_file(c),
            None => p,
        },
        Err(e) => {
            eprintln!("{}", e.user_message());
            return 3;
        }
    };
    let _ = paths.create_dirs();
    let _log = logging::init(&paths.log_dir);
    if !args.ignored.is_empty() {
        tracing::info!(flags = ?args.ignored, "ignoring flags meant for others");
    }
    let settings = Settings::load(&paths.config_file).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "settings unreadable; starting from the defaults");
        Settings::default()
    });
    let secrets: Arc<dyn SecretStore> = Arc::new(if args.demo {
        KeyringStore::new(DEMO_KEYCHAIN_SERVICE)
    } else {
        KeyringStore::default()
    });
    let clock: SharedClock = Arc::new(SystemClock);
    let (tx, rx) = mpsc::unbounded_channel();
    // Each sync probes the keychain again (`secrets::store_for_run`): one
    // locked or slow at login must not hold for the whole session.
    let state = Arc::new(AppState::new(
        paths,
        Overrides::from_env(),
        secrets,
        clock,
        tx,
    ));
    let setup_state = state.clone();

    let single_instance =
        tauri_plugin_single_instance::Builder::new().callback(|app, _argv, _cwd| {
            desktop::show(app, WindowKind::Main);
        });
    let single_instance = if args.demo {
        single_instance.dbus_id(DEMO_DBUS_ID)
    } else {
        single_instance
    };
    let app = tauri::Builder::default()
        // First, so a second launch is caught before anything else starts.
        .plugin(single_instance.build())
        .plugin(
            tauri_plugin_window_state::Builder::new()
                // Windows start hidden; the app decides what to show.
                .with_state_flags(
                    tauri_plugin_window_state::StateFlags::all()
                        - tauri_plugin_window_state::StateFlags::VISIBLE,
                )
                .build(),
        )
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .args([MINIMIZED_FLAG])
                .app_name("peloton-coda-sync")
                .build(),
        )
        .plugin(tauri_plugin_opener::init())
        .manage(state.clone())
        .invoke_handler(commands::handler())
        .on_window_event(|window, event| {
            match event {
                WindowEvent::CloseRequested { api, .. } if desktop::under_webdriver() => {
                    api.prevent_close();
                    let _ = window.hide();
                }
                WindowEvent::Destroyed => memory::give_back_freed(),
                _ => {}
            }
        })
        .setup(move |app| {
            let state = setup_state;
            let handle = app.handle().clone();
            let _ = state
                .desktop
                .set(Box::new(desktop::TauriDesktop(handle.clone())));
            let tray = match tray_adapter::TrayAdapter::new(&handle, &tray::TrayState::default(), on_tray_event) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(error = %e, "no tray icon; the main window stays reachable by launching again");
                    None
                }
            };
            // The login item follows the settings at every start, so it names
            // this binary as installed now (the packaged /usr/bin one, not a
            // build folder) and a hand-edited settings file takes effect.
            if let Err(e) = desktop::TauriDesktop(handle.clone()).apply_launch_at_login(settings.launch_at_login) {
                tracing::warn!(error = %e, "launch at login could not follow the settings");
            }
            let needs_setup = !pcs_core::setup::missing(&settings, &state.overrides, state.secrets.as_ref()).is_empty();
            let initial = {
                let store = Store::open(&state.paths.state_db)
                    .inspect_err(|e| tracing::warn!(error = %e, "local state unreadable"))
                    .ok();
                sync_task::initial(store.as_ref(), needs_setup)
            };
            let controller = Controller::new(
                shell::TauriShell::new(handle.clone(), state.clone(), tray),
                state.clock.clone(),
                AppSettings {
                    interval_minutes: settings.interval_minutes,
                    notifications: settings.notifications.clone(),
                    credentials_changed: false,
                    needs_setup,
                },
                initial,
            );
            tauri::async_runtime::spawn(controller.run(rx));
            #[cfg(target_os = "linux")]
            tauri::async_runtime::spawn(network::watch(state.requests.clone()));
            let ticks = state.requests.clone();
            tauri::async_runtime::spawn(async move {
                let mut every = tokio::time::interval(TICK);
                loop {
                    every.tick().await;
                    if ticks.send(Request::Tick).is_err() {
                        break;
                    }
                }
            });
            if desktop::under_webdriver() {
                desktop::create_all_hidden(&handle);
            }
            if !args.minimized {
                desktop::show(&handle, WindowKind::Main);
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "the app could not start");
            eprintln!("Peloton Coda Sync could not start: {e}");
            return 1;
        }
    };
    app.run(|_app, event| {
        // Closing the last window is no reason to leave; Quit exits with a code.
        if let RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            api.prevent_exit();
        }
    });
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Result<Args, String> {
        Args::parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_parse() {
        assert_eq!(parse(&[]).unwrap(), Args::default());
        assert!(parse(&["--minimized"]).unwrap().minimized);
        assert_eq!(
            parse(&["--config", "/x.toml"]).unwrap().config,
            Some(PathBuf::from("/x.toml"))
        );
        assert_eq!(
            parse(&["--config=/y.toml"]).unwrap().config,
            Some(PathBuf::from("/y.toml"))
        );
        assert!(parse(&["--config"]).is_err());
        assert!(parse(&["stray"]).is_err());
        assert_eq!(parse(&["--automation"]).unwrap().ignored, ["--automation"]);
        assert!(parse(&["--demo"]).unwrap().demo);
        assert!(!parse(&[]).unwrap().demo);
    }
}
