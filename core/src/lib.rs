//! Peloton Coda Sync's core: every rule about syncing lives here, once.
//!
//! The desktop app (`src-tauri/`) and the CLI (`cli/`) are thin shells over
//! this crate. It has no GUI dependency. See `ARCHITECTURE.md` at the root
//! for the map of modules and the invariants each one keeps.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod avatars;
pub mod bests;
pub mod clock;
pub mod coda;
pub mod dashboard;
pub mod export;
pub mod fs;
pub mod lock;
pub mod logging;
pub mod net;
pub mod paths;
pub mod peloton;
pub mod rows;
pub mod secrets;
pub mod settings;
pub mod setup;
pub mod store;
pub mod sync;
pub mod tables;
pub mod wording;

/// The user agent every request to Peloton and Coda carries.
pub const USER_AGENT: &str = concat!("PelotonCodaSync/", env!("CARGO_PKG_VERSION"));
