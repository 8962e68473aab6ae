//! Window and login-item effects on the real desktop.

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_autostart::AutoLaunchManager;

use crate::controller::WindowKind;
use crate::state::Desktop;

/// Shows, un-minimizes and focuses a window.
pub fn show<R: Runtime>(app: &AppHandle<R>, w: WindowKind) {
    match app.get_webview_window(w.label()) {
        Some(win) => {
            let _ = win.show();
            let _ = win.unminimize();
            let _ = win.set_focus();
        }
        None => tracing::warn!(label = w.label(), "no such window"),
    }
}

/// The desktop effects of commands, over a running app.
pub struct TauriDesktop<R: Runtime>(pub AppHandle<R>);

impl<R: Runtime> Desktop for TauriDesktop<R> {
    fn show_window(&self, w: WindowKind) {
        show(&self.0, w);
    }

    fn set_launch_at_login(&self, on: bool) -> Result<(), String> {
        self.apply_launch_at_login(on)
    }
}

impl<R: Runtime> TauriDesktop<R> {
    /// Makes the login item match `on`. On Linux the XDG autostart entry is
    /// written by [`crate::login_item`] (the plugin ignores
    /// `XDG_CONFIG_HOME`); elsewhere the autostart plugin does it.
    pub fn apply_launch_at_login(&self, on: bool) -> Result<(), String> {
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
        result.map_err(|e| {
            tracing::warn!(error = %e, on, "launch at login could not be changed");
            "Launch at login could not be changed; check that the login items can be edited."
                .to_owned()
        })
    }
}
