//! The Peloton Coda Sync tray app: a thin desktop shell over `pcs_core`.
//!
//! Map: [`tray`] (menu, tooltip and icon as data) and [`tray_adapter`] (the
//! one place that builds Tauri's tray); [`schedule`] (when to sync);
//! [`controller`] (the one task owning state, effects through [`controller::Shell`]);
//! [`commands`] (every command the windows call) over [`settings_flow`] and
//! [`view`] (view models); [`error`] (`AppError`, `CommandError`);
//! [`sync_task`] (one run, built like the CLI's); [`sign_in`] (Peloton's
//! sign-in window, untrusted content); [`shell`] and [`desktop`] (effects on the real desktop); [`memory`]
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
pub mod error;
pub mod logging;
pub mod login_item;
pub mod memory;
#[cfg(target_os = "linux")]
pub mod network;
pub mod schedule;
pub mod settings_flow;
pub mod shell;
pub mod sign_in;
pub mod state;
pub mod sync_task;
pub mod tray;
pub mod tray_adapter;
pub mod view;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use pcs_core::clock::{SharedClock, SystemClock};
use pcs_core::paths::Paths;
use pcs_core::secrets::{KeyringStore, SecretStore};
use pcs_core::settings::Settings;
use pcs_core::setup::Overrides;
use pcs_core::store::Store;
use tauri::{AppHandle, Manager, RunEvent, WindowEvent, Wry};
use tokio::sync::mpsc;

use crate::controller::{AppSettings, Controller, Request, WindowKind};
use crate::error::AppError;
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

/// The command line (README, "The tray app").
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(
    name = "peloton-coda-sync-app",
    version,
    about = "Peloton Coda Sync (tray app)",
    after_help = "Environment: PELOTON_USERNAME, PELOTON_PASSWORD, CODA_API_TOKEN, CODA_DOC,\n\
PELOTON_API_URL, PELOTON_AUTH_URL, CODA_API_URL override the settings as in\n\
the command line; RUST_LOG also logs to stderr."
)]
pub struct Args {
    /// Start in the tray only (what launch at login uses).
    #[arg(long)]
    pub minimized: bool,
    /// Read and write another settings file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Keep credentials under the keychain service peloton-coda-sync-demo,
    /// beside an installed app, as its own single instance (what `make
    /// demo-app` uses).
    #[arg(long)]
    pub demo: bool,
    /// WebKit's WebDriver starts the app with it (desktop tests); it
    /// changes nothing.
    #[arg(long, hide = true)]
    pub automation: bool,
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
        Event::Export => state.send(Request::Export),
        Event::OpenLogFolder => {
            use tauri_plugin_opener::OpenerExt;
            let dir = state.paths.log_dir.display().to_string();
            if let Err(e) = app.opener().open_path(dir, None::<&str>) {
                tracing::warn!(error = %e, "the log folder could not be opened");
            }
        }
    }
}

/// Starts the app; returns the process exit code. What follows is wiring:
/// [`start`] parses and sets up, [`builder`] holds the plugins and
/// commands, [`wire`] starts the controller once Tauri is up.
pub fn run() -> i32 {
    match start(std::env::args_os()) {
        Ok(()) => 0,
        // clap prints its own help, version and usage errors.
        Err(AppError::Args(e)) => {
            let _ = e.print();
            e.exit_code()
        }
        Err(e) => {
            tracing::error!(error = %e, "the app could not start");
            eprintln!("{}", e.user_message());
            e.exit_code()
        }
    }
}

/// Parses the arguments, sets up the shared state and runs the app until Quit.
fn start(argv: impl IntoIterator<Item = std::ffi::OsString>) -> Result<(), AppError> {
    let args = Args::try_parse_from(argv)?;
    let paths = match &args.config {
        Some(c) => Paths::from_env()?.with_config_file(c),
        None => Paths::from_env()?,
    };
    let _ = paths.create_dirs();
    let _log = logging::init(&paths.log_dir);
    let (settings, unreadable) = match Settings::load(&paths.config_file) {
        Ok(s) => (s, false),
        Err(e) => {
            tracing::warn!(error = %e, "settings unreadable; the first sync says so");
            (Settings::default(), true)
        }
    };
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
    let app = builder(state.clone(), args.demo)
        .setup(move |app| {
            wire(
                app.handle(),
                state,
                &settings,
                unreadable,
                rx,
                args.minimized,
            );
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|_app, event| {
        // Closing the last window is no reason to leave; Quit exits with a code.
        if let RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            api.prevent_exit();
        }
    });
    Ok(())
}

/// The app's plugins, commands and window behaviour; a demo is its own
/// single instance.
fn builder(state: Arc<AppState>, demo: bool) -> tauri::Builder<Wry> {
    let single_instance =
        tauri_plugin_single_instance::Builder::new().callback(|app, _argv, _cwd| {
            desktop::show(app, WindowKind::Main);
        });
    let single_instance = if demo {
        single_instance.dbus_id(DEMO_DBUS_ID)
    } else {
        single_instance
    };
    tauri::Builder::default()
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
        // The tray's "Export..." folder chooser, called from Rust only: the
        // capability file grants the windows none of its commands.
        .plugin(tauri_plugin_dialog::init())
        .manage(state)
        .manage(sign_in::Slot::default())
        .invoke_handler(commands::handler())
        .on_window_event(|window, event| match event {
            WindowEvent::CloseRequested { api, .. } if desktop::under_webdriver() => {
                api.prevent_close();
                let _ = window.hide();
            }
            WindowEvent::Destroyed => memory::give_back_freed(),
            _ => {}
        })
}

/// Once Tauri is up: the tray, the login item, the controller and its
/// timer, the network watch, and the first window. `unreadable`: the
/// settings file could not be read, and `settings` are the defaults.
fn wire(
    handle: &AppHandle<Wry>,
    state: Arc<AppState>,
    settings: &Settings,
    unreadable: bool,
    rx: mpsc::UnboundedReceiver<Request>,
    minimized: bool,
) {
    let _ = state
        .desktop
        .set(Box::new(desktop::TauriDesktop(handle.clone())));
    let tray = match tray_adapter::TrayAdapter::new(
        handle,
        &tray::TrayState::default(),
        on_tray_event,
    ) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, "no tray icon; the main window stays reachable by launching again");
            None
        }
    };
    // The login item follows the settings at every start, so it names
    // this binary as installed now (the packaged /usr/bin one, not a
    // build folder) and a hand-edited settings file takes effect. A file
    // that cannot be read says nothing of it: the entry stays as it was
    // (the defaults would remove it).
    if unreadable {
        tracing::warn!("launch at login left as it was: the settings file is unreadable");
    } else if let Err(e) =
        desktop::TauriDesktop(handle.clone()).apply_launch_at_login(settings.launch_at_login)
    {
        tracing::warn!(error = %e, "launch at login could not follow the settings");
    }
    // An unreadable file is not a setup to start: the run below says what
    // is wrong with it.
    let needs_setup = !unreadable
        && !pcs_core::setup::missing(settings, &state.overrides, state.secrets.as_ref()).is_empty();
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
    if unreadable {
        // Said at once where the person looks (tray, window, notification),
        // as any run says it: the run reads the file again and names the
        // fault.
        let _ = state.requests.send(Request::SyncNow);
    }
    if desktop::under_webdriver() {
        desktop::create_all_hidden(handle);
    }
    if !minimized {
        desktop::show(handle, WindowKind::Main);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("peloton-coda-sync-app").chain(a.iter().copied()))
    }

    #[test]
    fn flags_parse() {
        assert_eq!(parse(&[]).unwrap(), Args::default());
        assert!(parse(&[MINIMIZED_FLAG]).unwrap().minimized);
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
        // WebKit's WebDriver adds it.
        assert!(parse(&["--automation", "--minimized"]).unwrap().minimized);
        assert!(parse(&["--demo"]).unwrap().demo);
        assert!(!parse(&[]).unwrap().demo);
    }

    #[test]
    fn help_and_version_leave_with_status_0_and_a_bad_flag_with_2() {
        let help = AppError::from(parse(&["--help"]).unwrap_err());
        assert_eq!(help.exit_code(), 0);
        assert!(help.to_string().contains("--minimized"), "{help}");
        assert_eq!(AppError::from(parse(&["-V"]).unwrap_err()).exit_code(), 0);
        assert_eq!(
            AppError::from(parse(&["--nope"]).unwrap_err()).exit_code(),
            2
        );
    }
}
