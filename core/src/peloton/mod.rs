//! The Peloton side: login (Auth0), the API client and its data types.

pub mod types;
