//! The Coda side: the REST client for one doc, finding the doc, checking its
//! tables and columns, and writing rows (`docs/coda-api.md`,
//! `docs/coda-tables.md`).
//!
//! Typical use:
//! 1. [`CodaClient::new`] with a [`CodaConfig`] and the API token;
//! 2. [`CodaClient::resolve_doc`] on what the user pasted;
//! 3. [`CodaClient::check_schema`], which gives a [`ResolvedTable`] (IDs of
//!    the table and its columns) for each table that passes and every
//!    [`SchemaProblem`] of those that do not;
//! 4. [`CodaClient::upsert_rows_with`] / [`CodaClient::delete_rows`], then
//!    optionally [`CodaClient::wait_for_mutations`].
//!
//! Invariant: every request goes through one private path in `client.rs`
//! that paces it and applies `crate::net`'s retry rules; paths use IDs, never
//! names; the token appears in no error, log line or `Debug` output.

mod client;
mod doc_ref;
mod error;
mod schema;
mod table;

pub use client::{
    CodaClient, CodaConfig, DocInfo, RemoteRow, WhoAmI, DEFAULT_API_URL, READS_IN_FLIGHT,
};
pub use doc_ref::parse_doc_id;
pub use error::CodaError;
pub use schema::{
    kind_accepts, Checklist, ColumnCheck, ColumnStatus, SchemaReport, TableCheck, TableChecklist,
    TableStatus,
};
pub use table::{ResolvedTable, SchemaProblem};
