//! A faithful, stateful fake of the Coda API v1 for tests, demos and benchmarks.
//!
//! It serves one doc under `http://127.0.0.1:PORT/apis/v1` with Coda's paths, bodies and
//! quirks as `docs/coda-api.md` §11 lists them: writes answered 202 and applied after
//! a delay, reads from a lagging snapshot, `X-Coda-Doc-Version`, per-token rate limits, the
//! 2 MB / 85 KB size limits, and faults switched on at runtime. It never imports core: its
//! own reading of the API is what checks core's.
//!
//! ```no_run
//! # async fn demo() {
//! use fake_coda::{Config, FakeCoda};
//! let coda = FakeCoda::start(Config::default().without_rate_limits()).await;
//! // point the client at coda.url() with token "coda-test-token", run it, then:
//! coda.wait_idle().await;
//! assert_eq!(coda.row_count("Workouts"), 0);
//! # }
//! ```
#![warn(missing_docs)]

mod config;
mod error;
mod faults;
mod inspect;
mod limits;
mod log;
mod model;
mod render;
mod routes;
mod state;
mod switches;

use std::io;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use crate::config::{
    default_tables, Bucket, ColumnFormat, ColumnSpec, Config, RateLimits, TableSpec,
};
pub use crate::faults::{
    ColumnFault, FaultSettings, Faults, FaultsUpdate, RowDeletion, TableRecreation,
};
pub use crate::log::Logged;
use crate::model::new_row_id;
use crate::state::{run_queue, Shared};
use testkit::conn::{KillSwitch, KillableListener};

/// A running fake Coda server. Dropping it stops the server.
pub struct FakeCoda {
    shared: Arc<Shared>,
    faults: Faults,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FakeCoda {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl FakeCoda {
    /// Starts a server on 127.0.0.1. Panics if the port cannot be bound (tests want that).
    pub async fn start(config: Config) -> FakeCoda {
        Self::try_start(config)
            .await
            .expect("fake-coda: cannot bind 127.0.0.1")
    }

    /// Starts a server on 127.0.0.1, port `config.port` (0 picks a free one).
    pub async fn try_start(config: Config) -> io::Result<FakeCoda> {
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let origin = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let (shared, queue) = Shared::new(config, origin);
        let app =
            routes::router(shared.clone()).into_make_service_with_connect_info::<KillSwitch>();
        let server = tokio::spawn(async move {
            // The listener never fails after binding; serve only returns on shutdown.
            let _ = axum::serve(KillableListener(listener), app).await;
        });
        let worker = tokio::spawn(run_queue(shared.clone(), queue));
        let faults = Faults {
            shared: shared.clone(),
        };
        Ok(FakeCoda {
            shared,
            faults,
            tasks: vec![server, worker],
        })
    }

    /// The API base URL, `http://127.0.0.1:PORT/apis/v1`.
    pub fn url(&self) -> String {
        format!("{}/apis/v1", self.shared.origin)
    }

    /// The accepted token.
    pub fn token(&self) -> String {
        self.shared.config.token.clone()
    }

    /// The doc ID.
    pub fn doc_id(&self) -> String {
        self.shared.config.doc_id.clone()
    }

    /// The doc's browser URL, `http://127.0.0.1:PORT/d/Training-Log_dAbCDeFGH`.
    /// `resolveBrowserLink` also accepts it on `https://coda.io`.
    pub fn doc_url(&self) -> String {
        let slug = self.shared.config.doc_name.replace(' ', "-");
        format!(
            "{}/d/{slug}_d{}",
            self.shared.origin, self.shared.config.doc_id
        )
    }

    /// The fault switches.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The names of the doc's tables and views, in the doc's order.
    pub fn table_names(&self) -> Vec<String> {
        let st = self.shared.state();
        st.live.tables.iter().map(|t| t.name.clone()).collect()
    }

    /// A table's ID (`grid-…`, or `table-…` for a view).
    pub fn table_id(&self, table: &str) -> String {
        let st = self.shared.state();
        let t = st.live.tables.iter().find(|t| t.name == table);
        t.unwrap_or_else(|| panic!("fake-coda: no table {table:?}"))
            .id
            .clone()
    }

    /// A column's ID (`c-…`).
    pub fn column_id(&self, table: &str, column: &str) -> String {
        let st = self.shared.state();
        let t = st.live.tables.iter().find(|t| t.name == table);
        let t = t.unwrap_or_else(|| panic!("fake-coda: no table {table:?}"));
        let c = t.columns.iter().find(|c| c.name == column);
        c.unwrap_or_else(|| panic!("fake-coda: no column {column:?} in {table:?}"))
            .id
            .clone()
    }

    /// The applied rows of a table, keyed by column name, each with `"@id"` (the row ID).
    /// Cells never written read `""`, as in the API.
    pub fn rows(&self, table_name: &str) -> Vec<Map<String, Value>> {
        self.shared.rows_by_name(table_name)
    }

    /// Number of applied rows in a table.
    pub fn row_count(&self, table: &str) -> usize {
        self.rows(table).len()
    }

    /// Values of `key_column` held by more than one row (should stay empty).
    pub fn duplicate_keys(&self, table: &str, key_column: &str) -> Vec<String> {
        self.shared.duplicate_keys(table, key_column)
    }

    /// Every API request so far (control requests excluded).
    pub fn requests(&self) -> Vec<Logged> {
        self.shared.log().clone()
    }

    /// Requests no route serves; a correct client makes none.
    pub fn unexpected_requests(&self) -> Vec<Logged> {
        self.requests()
            .into_iter()
            .filter(|l| l.unexpected)
            .collect()
    }

    /// Row writes sent (POST/PUT/PATCH/DELETE on rows), whatever their answer.
    pub fn write_request_count(&self) -> usize {
        self.shared
            .log()
            .iter()
            .filter(|l| l.is_row_write())
            .count()
    }

    /// Row writes accepted with 202.
    pub fn accepted_write_count(&self) -> usize {
        self.shared
            .log()
            .iter()
            .filter(|l| l.is_row_write() && l.status == 202)
            .count()
    }

    /// Forgets the request log (e.g. between two runs of the client).
    pub fn reset_log(&self) {
        self.shared.log().clear();
    }

    /// The full state as JSON (doc, tables, columns, rows, queue, switches).
    pub fn dump(&self) -> Value {
        self.shared.dump()
    }

    /// Writes accepted but not applied yet.
    pub fn queued_mutations(&self) -> usize {
        self.shared.queued()
    }

    /// Waits until every accepted write is applied.
    pub async fn wait_idle(&self) {
        self.shared.wait_idle().await;
    }

    /// Deletes a column, as a user would. See [`Faults::drop_column`].
    pub fn drop_column(&self, table: &str, column: &str) {
        self.faults.drop_column(table, column);
    }

    /// Deletes a column and makes it again, empty, with a new ID. See
    /// [`Faults::recreate_column`].
    pub fn recreate_column(&self, table: &str, column: &str) {
        self.faults.recreate_column(table, column);
    }

    /// Renames a column. See [`Faults::rename_column`].
    pub fn rename_column(&self, table: &str, column: &str, new_name: &str) {
        self.faults.rename_column(table, column, new_name);
    }

    /// Turns a column into a formula column. See [`Faults::make_formula`].
    pub fn make_formula(&self, table: &str, column: &str, formula: &str) {
        self.faults.make_formula(table, column, formula);
    }

    /// Deletes rows by key, as a user would. See [`Faults::delete_rows_by_key`].
    pub fn delete_rows_by_key(&self, table: &str, column: &str, keys: &[&str]) -> usize {
        self.faults.delete_rows_by_key(table, column, keys)
    }

    /// Deletes the first `count` rows, as a user would. See [`Faults::delete_first_rows`].
    pub fn delete_first_rows(&self, table: &str, count: usize) -> usize {
        self.faults.delete_first_rows(table, count)
    }

    /// Deletes every row of a table, as a user would. See [`Faults::delete_all_rows`].
    pub fn delete_all_rows(&self, table: &str) -> usize {
        self.faults.delete_all_rows(table)
    }

    /// Deletes a table and makes it again with a new ID. See [`Faults::recreate_table`].
    pub fn recreate_table(&self, table: &str, without_column: Option<&str>) -> String {
        self.faults.recreate_table(table, without_column)
    }

    /// Adds a row as if the user typed it in the doc (visible at once, not a mutation).
    /// `cells` is keyed by column name; unknown names panic. Returns the row ID.
    pub fn insert_user_row(&self, table: &str, cells: &[(&str, Value)]) -> String {
        let id = new_row_id();
        let mut st = self.shared.state();
        let at = self.shared.time_text(tokio::time::Instant::now());
        for doc in st.docs_mut() {
            let index = doc.tables.iter().position(|t| t.name == table);
            let index = index.unwrap_or_else(|| panic!("fake-coda: no table {table:?}"));
            let t = &doc.tables[index];
            let resolved = cells
                .iter()
                .map(|(name, v)| {
                    let c = t.columns.iter().find(|c| c.name == *name);
                    let c =
                        c.unwrap_or_else(|| panic!("fake-coda: no column {name:?} in {table:?}"));
                    (c.id.clone(), v.clone())
                })
                .collect();
            doc.insert_row(index, id.clone(), &resolved, &at);
        }
        id
    }
}
