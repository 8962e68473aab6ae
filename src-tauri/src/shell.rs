//! The controller's effects on the real desktop: tray, notifications,
//! windows, status events, sync tasks and exports (the folder chooser is
//! the dialog plugin's, called from Rust only, so no window is granted it).

use std::sync::Arc;

use tauri::{AppHandle, Emitter, Runtime};
use tokio_util::sync::CancellationToken;

use crate::controller::{ExportOutcome, LiveStatus, Notification, Request, Shell, WindowKind};
use crate::state::AppState;
use crate::tray::TrayState;
use crate::tray_adapter::TrayAdapter;

/// The event name windows listen to for [`LiveStatus`].
pub const STATUS_EVENT: &str = "status";

/// The name notifications are filed under.
const APP_NAME: &str = "Peloton Coda Sync";

/// The [`Shell`] of the running app.
pub struct TauriShell<R: Runtime> {
    app: AppHandle<R>,
    state: Arc<AppState>,
    tray: Option<TrayAdapter<R>>,
    cancel: Option<CancellationToken>,
    /// The running sync, so quitting lets it record itself as interrupted.
    running: Option<tauri::async_runtime::JoinHandle<()>>,
}

/// How long quitting waits for a cancelled sync to record itself (the
/// engine stops within a few seconds).
const QUIT_WAIT: std::time::Duration = std::time::Duration::from_secs(8);

impl<R: Runtime> TauriShell<R> {
    /// A shell over the app, its shared state and its tray icon (none where
    /// the desktop has no tray).
    pub fn new(app: AppHandle<R>, state: Arc<AppState>, tray: Option<TrayAdapter<R>>) -> Self {
        TauriShell {
            app,
            state,
            tray,
            cancel: None,
            running: None,
        }
    }
}

impl<R: Runtime> Shell for TauriShell<R> {
    fn set_tray(&mut self, s: &TrayState) {
        if let Some(t) = &mut self.tray {
            if let Err(e) = t.show(s) {
                tracing::warn!(error = %e, "the tray could not be updated");
            }
        }
    }

    fn notify(&mut self, n: Notification) {
        tracing::info!(title = %n.title, "notification");
        // A D-Bus round trip; never on the controller's task.
        std::thread::spawn(move || {
            let shown = notify_rust::Notification::new()
                .appname(APP_NAME)
                .summary(&n.title)
                .body(&n.body)
                .show();
            if let Err(e) = shown {
                tracing::warn!(error = %e, "the notification could not be shown");
            }
        });
    }

    fn show_window(&mut self, w: WindowKind) {
        crate::desktop::show(&self.app, w);
    }

    fn emit_status(&mut self, s: &LiveStatus) {
        self.state.set_live(s);
        if let Err(e) = self.app.emit(STATUS_EVENT, s) {
            tracing::warn!(error = %e, "the status event could not be sent");
        }
    }

    fn start_sync(&mut self) {
        let token = CancellationToken::new();
        self.cancel = Some(token.clone());
        let state = self.state.clone();
        tracing::info!("sync starting");
        self.running = Some(tauri::async_runtime::spawn(async move {
            let result = crate::sync_task::run_once(state.clone(), token).await;
            crate::memory::give_back_freed();
            state.send(Request::SyncFinished(result));
        }));
    }

    fn cancel_sync(&mut self) {
        if let Some(t) = self.cancel.take() {
            t.cancel();
        }
    }

    fn start_export(&mut self) {
        let app = self.app.clone();
        let state = self.state.clone();
        // The chooser blocks until it is closed: never on the controller's
        // task nor on the main thread, which draws it.
        std::thread::spawn(move || {
            let outcome = export_to_chosen_folder(&app, &state);
            state.send(Request::ExportFinished(outcome));
        });
    }

    fn quit(&mut self) {
        tracing::info!("quitting");
        let app = self.app.clone();
        match self.running.take() {
            // A cancelled sync records itself as interrupted (not ok, one
            // sentence) before the app leaves; the next run resumes.
            Some(run) => {
                tauri::async_runtime::spawn(async move {
                    let _ = tokio::time::timeout(QUIT_WAIT, run).await;
                    app.exit(0);
                });
            }
            None => app.exit(0),
        }
    }
}

/// Asks for a folder, then writes core's app export there.
fn export_to_chosen_folder<R: Runtime>(app: &AppHandle<R>, state: &AppState) -> ExportOutcome {
    use pcs_core::export::{export_formats, APP_FORMATS};
    use tauri_plugin_dialog::DialogExt;
    let Some(chosen) = app
        .dialog()
        .file()
        .set_title("Export your workouts to a folder")
        .blocking_pick_folder()
    else {
        return ExportOutcome::Cancelled;
    };
    let Ok(folder) = chosen.into_path() else {
        return ExportOutcome::Failed {
            sentence:
                "That place cannot hold files; choose a folder on this computer and export again."
                    .to_owned(),
        };
    };
    tracing::info!(folder = %folder.display(), "exporting");
    let exported = pcs_core::store::Store::open(&state.paths.state_db)
        .map_err(|e| e.user_message())
        .and_then(|store| {
            export_formats(&store, &folder, &APP_FORMATS).map_err(|e| {
                tracing::warn!(error = %e, "export failed");
                e.user_message()
            })
        });
    match exported {
        Ok(report) => ExportOutcome::Written {
            summary: report.summary(),
        },
        Err(sentence) => ExportOutcome::Failed { sentence },
    }
}
