//! Window and login-item effects on the real desktop.

use tauri::{AppHandle, Manager, Runtime, WebviewWindow, WebviewWindowBuilder};
use tauri_plugin_autostart::AutoLaunchManager;

use crate::controller::WindowKind;
use crate::error::AppError;
use crate::state::Desktop;

/// Shows, un-minimizes and focuses a window, creating it first when it is
/// not open. Windows exist only while shown: closing one destroys its
/// webview, so an idle tray app holds no WebKit process (issue 6).
pub fn show<R: Runtime>(app: &AppHandle<R>, w: WindowKind) {
    let win = match app.get_webview_window(w.label()) {
        Some(win) => win,
        None => match create(app, w) {
            Ok(win) => win,
            Err(e) => {
                tracing::warn!(label = w.label(), error = %e, "the window could not be opened");
                return;
            }
        },
    };
    let _ = win.show();
    let _ = win.unminimize();
    let _ = win.set_focus();
}

/// Whether the app runs under WebDriver (tauri-driver sets this variable).
/// WebKit's automation session sees only the webviews that exist when it
/// starts, so under WebDriver every window is created hidden at start and
/// closing one hides it, as the desktop tests need; a user's app never sets
/// it and keeps windows only while they are open.
pub fn under_webdriver() -> bool {
    std::env::var("TAURI_WEBVIEW_AUTOMATION").as_deref() == Ok("true")
}

/// Creates every window hidden (see [`under_webdriver`]).
pub fn create_all_hidden<R: Runtime>(app: &AppHandle<R>) {
    for w in [WindowKind::Main, WindowKind::Settings] {
        if app.get_webview_window(w.label()).is_none() {
            if let Err(e) = create(app, w) {
                tracing::warn!(label = w.label(), error = %e, "the window could not be created");
            }
        }
    }
}

/// Builds a window from its entry in `tauri.conf.json` (declared there with
/// `"create": false`, so the config stays the one place that describes it).
fn create<R: Runtime>(app: &AppHandle<R>, w: WindowKind) -> tauri::Result<WebviewWindow<R>> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|c| c.label == w.label())
        .ok_or_else(|| tauri::Error::WindowNotFound)?
        .clone();
    WebviewWindowBuilder::from_config(app, &config)?.build()
}

/// The desktop effects of commands, over a running app.
pub struct TauriDesktop<R: Runtime>(pub AppHandle<R>);

impl<R: Runtime> Desktop for TauriDesktop<R> {
    fn show_window(&self, w: WindowKind) {
        show(&self.0, w);
    }

    fn set_launch_at_login(&self, on: bool) -> Result<(), AppError> {
        self.apply_launch_at_login(on)
    }
}

impl<R: Runtime> TauriDesktop<R> {
    /// Makes the login item match `on`. On Linux the XDG autostart entry is
    /// written by [`crate::login_item`] (the plugin ignores
    /// `XDG_CONFIG_HOME`); elsewhere the autostart plugin does it.
    pub fn apply_launch_at_login(&self, on: bool) -> Result<(), AppError> {
        if cfg!(target_os = "linux") {
            return crate::login_item::set(on, crate::MINIMIZED_FLAG);
        }
        let Some(al) = self.0.try_state::<AutoLaunchManager>() else {
            return Ok(());
        };
        let result = match (on, al.is_enabled()) {
            (true, _) => al.enable(),
            (false, Ok(true)) => al.disable(),
            (false, _) => Ok(()),
        };
        result.map_err(|e| AppError::AutoLaunch(e.to_string()))
    }
}
