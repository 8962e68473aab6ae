//! The Peloton side: login (Auth0), the API client and its data types.

mod auth;
pub mod browser_login;
pub mod client;
pub mod error;
pub mod types;

pub use auth::{LoginStopFile, MAX_PASSWORD_SUBMISSIONS, PASSWORD_PAUSE};
pub use browser_login::{BrowserSignIn, Navigation, SignInError, SignedIn};
pub use client::{Listed, PelotonClient, PelotonConfig, Skipped};
pub use error::PelotonError;
