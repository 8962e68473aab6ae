//! Every command the windows can call, a few lines each: validate, send a
//! [`Request`] or call core, return a view model or a [`CommandError`]
//! (`error.rs`).
//!
//! Each is also listed in `build.rs` (which makes its permission) and
//! granted per window in `capabilities/main.json` and `capabilities/settings.json`
//! (each only what its script calls); [`handler`] registers them all.
//! No command returns a secret: credentials come back as set / not set.

use std::sync::Arc;

use pcs_core::dashboard;
use pcs_core::settings::Settings;
use pcs_core::setup;
use pcs_core::store::Store;
use tauri::State;

use crate::controller::{Request, WindowKind};
use crate::error::CommandError;
use crate::settings_flow::{self, TestResult};
use crate::state::AppState;
use crate::view::{self, DashboardView, SettingsInput, SettingsView};

/// Workouts and friends' rides the main window lists.
const LIST_LEN: usize = 10;
/// Weeks in the chart.
const CHART_WEEKS: usize = 12;

type Shared<'a> = State<'a, Arc<AppState>>;

/// The main window's content, from the local state (instant, offline).
/// Async so the reading happens off the window's thread.
#[tauri::command]
pub async fn get_dashboard(state: Shared<'_>) -> Result<DashboardView, CommandError> {
    let err = |e: pcs_core::store::StoreError| CommandError::msg(e.user_message());
    let store = Store::open(&state.paths.state_db).map_err(err)?;
    let now = state.clock.now();
    let live = state.live();
    let status =
        dashboard::status(&store, now, live.as_ref().and_then(|l| l.next_sync_at)).map_err(err)?;
    let avatars = state.avatar_dir();
    // A settings file that cannot be read is not a setup to start: the
    // status (the run at start) and Settings say what is wrong with it.
    let missing = match Settings::load(&state.paths.config_file) {
        Ok(settings) => setup::missing(&settings, &state.overrides, state.secrets.as_ref()),
        Err(_) => Vec::new(),
    };
    let (workouts_empty, friends_empty) = view::empty_texts(status.outcome);
    Ok(DashboardView {
        setup: view::setup_card(&missing),
        status: view::status_block(
            &status,
            live.as_ref(),
            !missing.is_empty(),
            now,
            &chrono::Local,
        ),
        workouts: view::workout_lines(&dashboard::recent_workouts(&store, LIST_LEN).map_err(err)?),
        workouts_empty,
        friends: view::friend_lines(
            &dashboard::friends_rides(&store, LIST_LEN, Some(&avatars)).map_err(err)?,
        ),
        friends_empty,
        chart: view::chart_if_any(
            &dashboard::weekly_totals(&store, now, CHART_WEEKS).map_err(err)?,
        ),
    })
}

/// The settings window's content; credentials only as set / not set.
#[tauri::command]
pub async fn get_settings(state: Shared<'_>) -> Result<SettingsView, CommandError> {
    settings_flow::load(&state)
}

/// Validates and saves the settings (all or nothing).
#[tauri::command]
pub async fn save_settings(
    state: Shared<'_>,
    input: SettingsInput,
) -> Result<SettingsView, CommandError> {
    settings_flow::save(&state, &input).await
}

/// Checks the typed values against Peloton and Coda; saves them when all is well.
#[tauri::command]
pub async fn test_connection(
    state: Shared<'_>,
    input: SettingsInput,
) -> Result<TestResult, CommandError> {
    settings_flow::test_and_save(&state, &input).await
}

/// Reads only the Coda doc again with the typed values (the checklist's
/// "Check the doc again"); saves nothing.
#[tauri::command]
pub async fn recheck_doc(
    state: Shared<'_>,
    input: SettingsInput,
) -> Result<TestResult, CommandError> {
    settings_flow::recheck_doc(&state, &input).await
}

/// Deletes every keychain entry of the app ("Forget credentials"); the
/// settings file and the local state stay. Answers the settings window's
/// new content (credentials then read as not set).
#[tauri::command]
pub async fn forget_credentials(state: Shared<'_>) -> Result<SettingsView, CommandError> {
    let _one_at_a_time = state.saving.lock().await;
    for key in pcs_core::secrets::SecretKey::ALL {
        state
            .secrets
            .delete(key)
            .map_err(|e| CommandError::msg(e.user_message()))?;
    }
    tracing::info!("credentials forgotten");
    settings_flow::credentials_forgotten(&state)?;
    settings_flow::load(&state)
}

/// Starts a sync now (nothing when one is running).
#[tauri::command]
pub fn sync_now(state: Shared<'_>) {
    state.send(Request::SyncNow);
}

/// "Write every row again": the next sync (started now, or the one after
/// a sync in progress) sends every row; keyed, so nothing is duplicated.
/// Returns the sentence that says so.
#[tauri::command]
pub fn write_every_row_again(state: Shared<'_>) -> String {
    state
        .full_next
        .store(true, std::sync::atomic::Ordering::SeqCst);
    state.send(Request::SyncNow);
    pcs_core::sync::FULL_RESEND_SENTENCE.to_string()
}

/// Opens the settings window (from the main window's error line).
#[tauri::command]
pub fn open_settings(state: Shared<'_>) {
    state.show_window(WindowKind::Settings);
}

/// "Sign in with Peloton": opens Peloton's sign-in page in a window of its
/// own (`sign_in.rs`); how it ends comes as the `peloton-sign-in` event.
#[tauri::command]
pub fn sign_in_with_peloton<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
) -> Result<(), CommandError> {
    crate::sign_in::open(&app)
}

/// Every command, for `Builder::invoke_handler`.
pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static
{
    tauri::generate_handler![
        get_dashboard,
        get_settings,
        save_settings,
        test_connection,
        recheck_doc,
        sync_now,
        open_settings,
        forget_credentials,
        write_every_row_again,
        sign_in_with_peloton
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcs_core::clock::ManualClock;
    use pcs_core::paths::Paths;
    use pcs_core::secrets::MemoryStore;
    use pcs_core::setup::Overrides;
    use std::ffi::OsString;
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
    use tauri::webview::InvokeRequest;
    use tauri::{Manager, WebviewWindowBuilder};
    use tokio::sync::mpsc;

    struct App {
        app: tauri::App<MockRuntime>,
        secrets: Arc<MemoryStore>,
        requests: mpsc::UnboundedReceiver<Request>,
        _dir: tempfile::TempDir,
    }

    fn app() -> App {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_owned();
        let paths = Paths::from_vars(|k| (k == "HOME").then(|| OsString::from(&home))).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let secrets = Arc::new(MemoryStore::new());
        let state = AppState::new(
            paths,
            Overrides::default(),
            secrets.clone(),
            Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH)),
            tx,
        );
        // The real configuration and capabilities, so the ACL is the shipped one.
        let app = mock_builder()
            .manage(Arc::new(state))
            .invoke_handler(handler())
            .build(tauri::generate_context!(test = true))
            .unwrap();
        App {
            app,
            secrets,
            requests: rx,
            _dir: dir,
        }
    }

    fn invoke(
        w: &tauri::WebviewWindow<MockRuntime>,
        cmd: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, serde_json::Value> {
        invoke_from(w, "tauri://localhost", cmd, body)
    }

    /// An invoke as if made by the page at `origin` in window `w`.
    fn invoke_from(
        w: &tauri::WebviewWindow<MockRuntime>,
        origin: &str,
        cmd: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, serde_json::Value> {
        get_ipc_response(
            w,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: origin.parse().unwrap(),
                body: InvokeBody::Json(body),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<serde_json::Value>().unwrap())
    }

    fn window(a: &App, label: &str) -> tauri::WebviewWindow<MockRuntime> {
        a.app.get_webview_window(label).unwrap_or_else(|| {
            WebviewWindowBuilder::new(&a.app, label, Default::default())
                .build()
                .unwrap()
        })
    }

    #[test]
    fn get_settings_answers_without_any_secret() {
        let a = app();
        let v = invoke(
            &window(&a, "settings"),
            "get_settings",
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(v["interval_minutes"], 60);
        assert_eq!(v["peloton_password_set"], false);
        assert!(v.get("peloton_password").is_none());
    }

    #[test]
    fn sync_now_sends_one_request() {
        let mut a = app();
        invoke(&window(&a, "main"), "sync_now", serde_json::json!({})).unwrap();
        assert_eq!(a.requests.try_recv().unwrap(), Request::SyncNow);
        assert!(a.requests.try_recv().is_err());
    }

    #[test]
    fn write_every_row_again_marks_the_next_run_full_and_starts_it() {
        let mut a = app();
        let v = invoke(
            &window(&a, "settings"),
            "write_every_row_again",
            serde_json::json!({}),
        )
        .unwrap();
        assert!(v.as_str().unwrap().contains("nothing is duplicated"));
        assert_eq!(a.requests.try_recv().unwrap(), Request::SyncNow);
        let state = a.app.state::<Arc<AppState>>();
        assert!(state.full_next.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn the_dashboard_of_a_fresh_install_is_empty_not_an_error() {
        let a = app();
        let v = invoke(&window(&a, "main"), "get_dashboard", serde_json::json!({})).unwrap();
        assert_eq!(v["status"]["last_sync"], "Never");
        assert_eq!(v["workouts"], serde_json::json!([]));
        assert_eq!(
            v["workouts_empty"],
            "Your workouts will appear here after the first sync."
        );
        // Nothing to draw: no chart at all.
        assert_eq!(v["chart"], serde_json::Value::Null);
    }

    #[test]
    fn until_setup_is_complete_the_dashboard_guides_to_settings() {
        use pcs_core::secrets::{SecretKey, SecretStore};
        let a = app();
        let main = window(&a, "main");
        let v = invoke(&main, "get_dashboard", serde_json::json!({})).unwrap();
        assert!(v["setup"]["what"].as_str().unwrap().contains("Coda doc"));
        assert_eq!(v["status"]["next_sync"], serde_json::Value::Null);
        assert_eq!(v["status"]["sync_disabled"], view::SYNC_NEEDS_SETUP);

        // Everything set: the card goes, and Sync now is on.
        let settings = Settings {
            peloton_email: "rider@example.com".into(),
            coda_doc: "AbC123".into(),
            ..Settings::default()
        };
        let state = a.app.state::<Arc<AppState>>();
        settings.save(&state.paths.config_file).unwrap();
        for key in [SecretKey::PelotonPassword, SecretKey::CodaToken] {
            a.secrets
                .set(key, &secrecy::SecretString::from("x"))
                .unwrap();
        }
        let v = invoke(&main, "get_dashboard", serde_json::json!({})).unwrap();
        assert_eq!(v["setup"], serde_json::Value::Null);
        assert_eq!(v["status"]["sync_disabled"], serde_json::Value::Null);
        assert!(v["status"]["next_sync"].is_string());
    }

    #[test]
    fn save_settings_returns_field_errors_beside_fields() {
        let a = app();
        let input = serde_json::json!({"input": {
            "peloton_email": "rider@example.com", "coda_doc": "AbC123",
            "interval_minutes": 5, "friend_workouts_per_friend": 10, "tables": [],
            "notifications": {"new_workouts": true, "friends_new_rides": false, "failures": true},
            "launch_at_login": false}});
        let err = invoke(&window(&a, "settings"), "save_settings", input).unwrap_err();
        assert_eq!(err["fields"][0]["field"], "interval_minutes");
    }

    #[test]
    fn forget_credentials_deletes_every_keychain_entry() {
        use pcs_core::secrets::{SecretKey, SecretStore};
        let a = app();
        for key in SecretKey::ALL {
            a.secrets
                .set(key, &secrecy::SecretString::from("kept"))
                .unwrap();
        }
        let v = invoke(
            &window(&a, "settings"),
            "forget_credentials",
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(v["peloton_password_set"], false);
        assert_eq!(v["coda_token_set"], false);
        for key in SecretKey::ALL {
            assert!(a.secrets.get(key).unwrap().is_none(), "{key:?} still there");
        }
        // The controller goes back to waiting for setup.
        let mut a = a;
        match a.requests.try_recv().unwrap() {
            Request::SettingsChanged(s) => assert!(s.needs_setup),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn commands_and_plugins_not_granted_are_refused() {
        let a = app();
        // The app's own window may not reach plugin commands it was not granted.
        let main = window(&a, "main");
        let err = invoke(&main, "plugin:autostart|enable", serde_json::json!({})).unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{err}");
        let err = invoke(
            &main,
            "plugin:opener|open_url",
            serde_json::json!({"url": "https://example.com"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{err}");
        // Each window may call only what its own script calls.
        for cmd in ["save_settings", "forget_credentials", "get_settings"] {
            let err = invoke(&main, cmd, serde_json::json!({})).unwrap_err();
            assert!(err.to_string().contains("not allowed"), "{cmd}: {err}");
        }
        let settings = window(&a, "settings");
        for cmd in ["sync_now", "get_dashboard"] {
            let err = invoke(&settings, cmd, serde_json::json!({})).unwrap_err();
            assert!(err.to_string().contains("not allowed"), "{cmd}: {err}");
        }
        // A window the capability does not name may not call even the app's commands.
        // Peloton's sign-in page, in the sign-in window, may call nothing.
        let sign_in = window(&a, crate::sign_in::LABEL);
        for cmd in [
            "get_settings",
            "sign_in_with_peloton",
            "sync_now",
            "plugin:event|listen",
        ] {
            for origin in ["http://127.0.0.1:9/login", "tauri://localhost"] {
                let err = invoke_from(&sign_in, origin, cmd, serde_json::json!({})).unwrap_err();
                assert!(
                    err.to_string().contains("not allowed"),
                    "{cmd} {origin}: {err}"
                );
            }
        }
        let stranger = window(&a, "stranger");
        let err = invoke(&stranger, "get_settings", serde_json::json!({})).unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{err}");
    }
}
