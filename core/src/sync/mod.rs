//! The sync engine: one run takes what is new at Peloton and writes it to Coda.
//!
//! Order of a run: lock, Peloton login, Coda schema check, own workouts
//! (list until a page holds only known ones, fetch detail + graph of new or
//! changed ones, keep their raw JSON and the full graph), the archive
//! backfill of older workouts (`archive`), instructors (at most daily), friends
//! and their latest workouts, then rows: derived from the local state,
//! compared with the hash of what Coda last accepted, and only the
//! difference is sent.
//!
//! Invariants:
//! - A workout is kept in the state before any row of it is sent; a row is
//!   marked written only after Coda accepted its batch. So a run killed at any
//!   instant resumes without losing a workout and, rows being keyed, without
//!   a duplicate.
//! - Tables are independent: a table that fails its check, or a friend whose
//!   list fails, is reported and everything else still syncs.
//! - Only rows the app itself wrote are ever deleted; a table is never wiped.

mod archive;
mod context;
mod doc;
mod engine;
mod friends;
mod instructors;
mod problems;
pub mod report;
mod workouts;
mod writer;

pub use context::{EngineConfig, RunOptions, TableTarget};
pub use engine::{CheckReport, Engine, RunRefused, FULL_RESEND_SENTENCE, INTERRUPTED_SENTENCE};
pub use report::{NewWorkout, Problem, ProblemArea, Progress, RunReport};
pub(crate) use workouts::META_ME;
