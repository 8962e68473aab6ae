//! What the commands and the sync task share: where files are, the
//! environment's overrides, the keychain, the clock, the controller's
//! channel and the latest live status.

use std::sync::{Arc, Mutex, OnceLock};

use pcs_core::clock::SharedClock;
use pcs_core::paths::Paths;
use pcs_core::secrets::SecretStore;
use pcs_core::setup::Overrides;
use tokio::sync::mpsc;

use crate::controller::{LiveStatus, Request, WindowKind};
use crate::error::AppError;

/// The desktop effects commands cause directly (the controller's go through
/// its `Shell`): set once the app is up, so commands stay independent of
/// the Tauri runtime and test alike under the mock runtime.
pub trait Desktop: Send + Sync {
    /// Shows and focuses a window.
    fn show_window(&self, w: WindowKind);
    /// Turns launching at login on or off.
    fn set_launch_at_login(&self, on: bool) -> Result<(), AppError>;
}

/// The app's shared state (managed by Tauri, handed to every command).
pub struct AppState {
    /// Where files live.
    pub paths: Paths,
    /// The environment's overrides (`PELOTON_API_URL` ...), as in the CLI.
    pub overrides: Overrides,
    /// The keychain (settings are saved here, and only here).
    pub secrets: Arc<dyn SecretStore>,
    /// The clock.
    pub clock: SharedClock,
    /// The controller's requests.
    pub requests: mpsc::UnboundedSender<Request>,
    /// The controller's latest live status, for windows that open later.
    pub live: Mutex<Option<LiveStatus>>,
    /// Serializes saving settings, so two saves never interleave their files.
    pub saving: tokio::sync::Mutex<()>,
    /// The desktop, once the app is up.
    pub desktop: OnceLock<Box<dyn Desktop>>,
    /// "Write every row again" was asked for: the next run sends every row.
    pub full_next: std::sync::atomic::AtomicBool,
}

impl AppState {
    /// A state over these parts.
    pub fn new(
        paths: Paths,
        overrides: Overrides,
        secrets: Arc<dyn SecretStore>,
        clock: SharedClock,
        requests: mpsc::UnboundedSender<Request>,
    ) -> Self {
        AppState {
            paths,
            overrides,
            secrets,
            clock,
            requests,
            live: Mutex::new(None),
            saving: tokio::sync::Mutex::new(()),
            desktop: OnceLock::new(),
            full_next: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Shows a window (nothing before the app is up).
    pub fn show_window(&self, w: WindowKind) {
        if let Some(d) = self.desktop.get() {
            d.show_window(w);
        }
    }

    /// Turns launching at login on or off (nothing before the app is up).
    pub fn set_launch_at_login(&self, on: bool) -> Result<(), AppError> {
        match self.desktop.get() {
            Some(d) => d.set_launch_at_login(on),
            None => Ok(()),
        }
    }

    /// The folder friends' avatars are cached in.
    pub fn avatar_dir(&self) -> std::path::PathBuf {
        self.paths.avatar_dir()
    }

    /// The latest live status.
    pub fn live(&self) -> Option<LiveStatus> {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records the latest live status.
    pub fn set_live(&self, s: &LiveStatus) {
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) = Some(s.clone());
    }

    /// Sends a request to the controller; a controller that is gone means
    /// the app is quitting, so there is nobody left to tell.
    pub fn send(&self, r: Request) {
        let _ = self.requests.send(r);
    }
}
