//! The desktop end-to-end harness: a [`World`] per test with its own HOME
//! and XDG folders, both fakes in-process, the desktop's services played on
//! the private D-Bus session (a StatusNotifierWatcher the tray registers
//! with, a notification server recording every `Notify`), and the real
//! release app started through tauri-driver and driven through WebDriver.
//!
//! It needs what `scripts/e2e-desktop.sh` sets up: an X display (Xvfb), a
//! private session bus with an unlocked gnome-keyring, tauri-driver and
//! WebKitWebDriver, and the release app built. `make e2e` runs it.
#![warn(missing_docs)]

pub mod bus;
pub mod icons;
pub mod keychain;
pub mod procs;
pub mod screen;
pub mod world;

pub use world::{Credentials, World};
