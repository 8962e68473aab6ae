//! The "Sign in with Peloton" window (issue 18): Peloton's own sign-in page
//! in a window of its own, so captcha and MFA work and no password is kept.
//! Core decides everything ([`BrowserSignIn`]: the URL, which page may load,
//! the callback, the exchange); this module opens the window, follows core's
//! navigation rule, and tells the settings window how it ended.
//!
//! Invariants: the sign-in window is untrusted content.
//! - Its label is in no capability (`capabilities/*.json`), so the IPC layer
//!   refuses every command and event from it; Tauri's JS globals are removed
//!   from it before the page runs ([`STRIP_GLOBALS`]).
//! - It is incognito: its cookies and storage go when it closes.
//! - It loads only the auth host's pages; the redirect URI is caught, never
//!   loaded, and its code goes straight to core (never to a log).

use std::sync::{Arc, Mutex};

use pcs_core::peloton::client::PelotonClient;
use pcs_core::peloton::{BrowserSignIn, Navigation};
use pcs_core::settings::Settings;
use pcs_core::setup::{self, SetupInput};
use serde::Serialize;
use tauri::webview::NewWindowResponse;
use tauri::{AppHandle, Emitter, Manager, Runtime, Url, WebviewUrl, WebviewWindowBuilder};

use crate::controller::WindowKind;
use crate::error::CommandError;
use crate::settings_flow;
use crate::state::AppState;

/// The sign-in window's label; no capability names it.
pub const LABEL: &str = "peloton-sign-in";
/// Its title.
pub const TITLE: &str = "Sign in to Peloton";
/// The event the settings window hears when a sign-in ends.
pub const EVENT: &str = "peloton-sign-in";

/// Runs before every page of the sign-in window: Tauri injects its JS API
/// (`withGlobalTauri`) into every webview, whatever the capabilities; an
/// untrusted page should not even see it. `window.__TAURI_INTERNALS__` is
/// not removable, and its invoke is refused by the ACL.
pub const STRIP_GLOBALS: &str = r"(() => {
  for (const k of Object.getOwnPropertyNames(window)) {
    if (k === '__TAURI__' || k === '__TAURI_IIFE__' || k.startsWith('__TAURI_PLUGIN_')) {
      try { delete window[k]; } catch (_) {}
      try { if (k in window) window[k] = undefined; } catch (_) {}
    }
  }
})();";

/// One sign-in under way: core's attempt and the client that finishes it.
struct Pending {
    attempt: BrowserSignIn,
    client: PelotonClient,
}

/// The sign-in under way, if any (managed by Tauri); a new one replaces it.
#[derive(Default)]
pub struct Slot(Mutex<Option<Pending>>);

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Pending>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How a sign-in ended, for the settings window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignInView {
    /// Whether the person is signed in now.
    pub ok: bool,
    /// "Signed in as fake_rider.", or what went wrong, one sentence.
    pub message: String,
}

/// Starts a sign-in: a fresh attempt from core, and the window on its
/// `/authorize` page (`PELOTON_AUTH_URL` names another auth host).
pub fn open<R: Runtime>(app: &AppHandle<R>) -> Result<(), CommandError> {
    let state = app.state::<Arc<AppState>>().inner().clone();
    let settings = Settings::load(&state.paths.config_file)
        .map_err(|e| CommandError::msg(e.user_message()))?;
    let (attempt, client) = setup::browser_sign_in(&SetupInput {
        paths: &state.paths,
        settings: &settings,
        overrides: &state.overrides,
        secrets: state.secrets.clone(),
        clock: state.clock.clone(),
        lock_wait: std::time::Duration::ZERO,
    })
    .map_err(|e| CommandError::msg(e.user_message()))?;
    let url: Url = attempt
        .authorize_url()
        .parse()
        .map_err(|_| CommandError::msg("The Peloton sign-in address is not valid."))?;
    *app.state::<Slot>().lock() = Some(Pending { attempt, client });
    let shown = match app.get_webview_window(LABEL) {
        Some(w) => w.navigate(url).map(|()| w),
        None => build(app, WebviewUrl::External(url)),
    };
    let w = shown.map_err(|e| {
        tracing::warn!(error = %e, "the sign-in window could not be opened");
        CommandError::msg("The sign-in window could not be opened; see the log.")
    })?;
    let _ = w.show();
    let _ = w.set_focus();
    tracing::info!("sign-in window opened");
    Ok(())
}

fn build<R: Runtime>(
    app: &AppHandle<R>,
    url: WebviewUrl,
) -> tauri::Result<tauri::WebviewWindow<R>> {
    let handle = app.clone();
    WebviewWindowBuilder::new(app, LABEL, url)
        .title(TITLE)
        .inner_size(480.0, 720.0)
        .center()
        // Incognito: Peloton's cookies go with the window. wry gives an
        // incognito webview an ephemeral WebKit context without automation
        // (WebKitGTK allows one automation context), so under WebDriver
        // alone (the desktop tests) the window shares the app's context,
        // which WebKitWebDriver can drive.
        .incognito(!crate::desktop::under_webdriver())
        .initialization_script(STRIP_GLOBALS)
        .on_navigation(move |url| allow(&handle, url))
        .on_new_window(|_, _| NewWindowResponse::Deny)
        .build()
}

/// The navigation handler: core's rule for the attempt under way. The
/// callback is not loaded; it finishes the sign-in in the background.
fn allow<R: Runtime>(app: &AppHandle<R>, url: &Url) -> bool {
    let slot = app.state::<Slot>();
    let mut pending = slot.lock();
    let Some(p) = pending.as_ref() else {
        // Nothing under way: the window has nothing to load.
        return false;
    };
    match p.attempt.navigation(url.as_str()) {
        Navigation::Peloton => true,
        Navigation::Callback => {
            if let Some(p) = pending.take() {
                let app = app.clone();
                let callback = url.to_string();
                tauri::async_runtime::spawn(finish(app, p, callback));
            }
            false
        }
        Navigation::Refused => {
            tracing::warn!(host = ?url.host_str(), "the sign-in window may not leave Peloton's sign-in");
            false
        }
    }
}

/// Trades the callback's code (core keeps the refresh token and removes the
/// password), records who signed in, closes the window and tells Settings.
async fn finish<R: Runtime>(app: AppHandle<R>, p: Pending, callback: String) {
    let state = app.state::<Arc<AppState>>().inner().clone();
    let ended = match p
        .attempt
        .finish(&p.client, state.secrets.as_ref(), &callback)
        .await
    {
        Ok(who) => match settings_flow::signed_in(&state, &who).await {
            Ok(()) => SignInView {
                ok: true,
                message: format!("Signed in as {}.", who.username),
            },
            Err(e) => SignInView {
                ok: false,
                message: e.message,
            },
        },
        Err(e) => {
            tracing::warn!(error = %e, "the sign-in did not finish");
            SignInView {
                ok: false,
                message: e.user_message(),
            }
        }
    };
    if let Some(w) = app.get_webview_window(LABEL) {
        let _ = w.close();
    }
    state.show_window(WindowKind::Settings);
    if let Err(e) = app.emit_to(WindowKind::Settings.label(), EVENT, &ended) {
        tracing::warn!(error = %e, "the sign-in event could not be sent");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_capability_names_the_sign_in_window() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/capabilities");
        for f in std::fs::read_dir(dir).unwrap() {
            let path = f.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let cap: serde_json::Value = serde_json::from_str(&text).unwrap();
            let windows = cap["windows"].as_array().unwrap();
            assert!(
                windows
                    .iter()
                    .all(|w| w != super::LABEL && w != "*" && !w.as_str().unwrap().contains('*')),
                "{}: {windows:?}",
                path.display()
            );
            assert!(cap.get("remote").is_none(), "{}", path.display());
        }
    }
}
