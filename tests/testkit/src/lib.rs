//! The scaffolding every test crate shares, written once: [`home`] (an
//! isolated HOME with its XDG folders, and the clean environment a process
//! under test gets), [`wait`] (polling with a deadline), [`conn`] (a TCP
//! listener whose connections a fake can cut) and [`tray`] (the
//! StatusNotifierWatcher a panel runs).
//!
//! Invariant: it never imports core (the fakes use it, and they must follow
//! the APIs on their own).
#![cfg_attr(test, allow(clippy::unwrap_used))]

#[cfg(feature = "conn")]
pub mod conn;
pub mod home;
#[cfg(feature = "tray")]
pub mod tray;
pub mod wait;
