//! Faults switched on at runtime: random errors, latency, dropped connections, a revoked
//! token, a deleted doc, sticky 429s, and the doc edits a user can make under the app
//! (dropping, renaming or turning a column into a formula, deleting rows by hand, deleting
//! a table and making it again).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::model::{text_of, Row};
use crate::state::Shared;
pub use crate::switches::FaultSettings;

/// A column edit a user makes in the doc, as sent to `POST /__control/faults`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ColumnFault {
    /// Table name.
    pub table: String,
    /// Column name.
    pub column: String,
    /// New name (rename only).
    #[serde(default)]
    pub new_name: Option<String>,
    /// Formula (make formula only).
    #[serde(default)]
    pub formula: Option<String>,
}

/// Rows a user deletes by hand in the Coda UI, as sent to `POST /__control/faults`: the
/// rows whose `column` holds one of `keys`, or the first `count` rows, or `all` of them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RowDeletion {
    /// Table name.
    pub table: String,
    /// Key column name (with `keys`).
    pub column: Option<String>,
    /// Key values, compared as the cells' plain text.
    pub keys: Vec<String>,
    /// Deletes the first this many rows, in the table's order.
    pub count: Option<usize>,
    /// Deletes every row.
    pub all: bool,
}

/// A table a user deletes and makes again, as sent to `POST /__control/faults`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TableRecreation {
    /// Table name.
    pub table: String,
    /// A column the new table lacks.
    #[serde(default)]
    pub without_column: Option<String>,
}

/// Body of `POST /__control/faults`: switches to change (absent ones stay) and column edits.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultsUpdate {
    /// Turn every switch off first.
    pub reset: bool,
    /// See [`FaultSettings::error_429_fraction`].
    pub error_429_fraction: Option<f64>,
    /// See [`FaultSettings::error_5xx_fraction`].
    pub error_5xx_fraction: Option<f64>,
    /// See [`FaultSettings::latency_ms`].
    pub latency_ms: Option<u64>,
    /// See [`FaultSettings::drop_fraction`].
    pub drop_fraction: Option<f64>,
    /// See [`FaultSettings::token_revoked`].
    pub token_revoked: Option<bool>,
    /// See [`FaultSettings::doc_deleted`].
    pub doc_deleted: Option<bool>,
    /// See [`FaultSettings::sticky_429`].
    pub sticky_429: Option<bool>,
    /// See [`FaultSettings::next_429s`].
    pub next_429s: Option<u32>,
    /// See [`FaultSettings::retry_after_secs`]; 0 removes the header.
    pub retry_after_secs: Option<u64>,
    /// Turns rate limits on or off.
    pub rate_limits: Option<bool>,
    /// Deletes a column.
    pub drop_column: Option<ColumnFault>,
    /// Renames a column (`newName`).
    pub rename_column: Option<ColumnFault>,
    /// Turns a column into a formula (`formula`, optional).
    pub make_formula: Option<ColumnFault>,
    /// Deletes rows as a user would.
    pub delete_rows: Option<RowDeletion>,
    /// Deletes a table and makes it again with a new ID.
    pub recreate_table: Option<TableRecreation>,
}

/// Handle to switch faults on and off while the server runs.
#[derive(Clone)]
pub struct Faults {
    pub(crate) shared: Arc<Shared>,
}

impl Faults {
    /// The current switches.
    pub fn settings(&self) -> FaultSettings {
        self.shared.faults().clone()
    }

    /// Replaces every switch.
    pub fn set(&self, settings: FaultSettings) {
        *self.shared.faults() = settings;
    }

    /// Changes some switches.
    pub fn update(&self, change: impl FnOnce(&mut FaultSettings)) {
        change(&mut self.shared.faults());
    }

    /// Turns every switch off.
    pub fn clear(&self) {
        self.set(FaultSettings::default());
    }

    /// See [`FaultSettings::error_429_fraction`].
    pub fn set_error_429_fraction(&self, fraction: f64) {
        self.update(|f| f.error_429_fraction = fraction);
    }

    /// See [`FaultSettings::error_5xx_fraction`].
    pub fn set_error_5xx_fraction(&self, fraction: f64) {
        self.update(|f| f.error_5xx_fraction = fraction);
    }

    /// See [`FaultSettings::next_429s`].
    pub fn set_next_429s(&self, n: u32) {
        self.update(|f| f.next_429s = n);
    }

    /// See [`FaultSettings::latency_ms`].
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.update(|f| f.latency_ms = ms);
    }

    /// See [`FaultSettings::drop_fraction`].
    pub fn set_drop_fraction(&self, fraction: f64) {
        self.update(|f| f.drop_fraction = fraction);
    }

    /// See [`FaultSettings::token_revoked`].
    pub fn set_token_revoked(&self, revoked: bool) {
        self.update(|f| f.token_revoked = revoked);
    }

    /// See [`FaultSettings::doc_deleted`].
    pub fn set_doc_deleted(&self, deleted: bool) {
        self.update(|f| f.doc_deleted = deleted);
    }

    /// See [`FaultSettings::sticky_429`].
    pub fn set_sticky_429(&self, sticky: bool) {
        self.update(|f| f.sticky_429 = sticky);
    }

    /// See [`FaultSettings::retry_after_secs`].
    pub fn set_retry_after(&self, secs: Option<u64>) {
        self.update(|f| f.retry_after_secs = secs);
    }

    /// Turns the rate limits on or off.
    pub fn set_rate_limits_enabled(&self, enabled: bool) {
        self.shared.limiter().enabled = enabled;
    }

    /// Deletes a column, with its values, as a user would in the doc. Panics if there is no
    /// such column (a mistake in the test).
    pub fn drop_column(&self, table: &str, column: &str) {
        expect_column(self.try_drop_column(table, column), table, column);
    }

    /// Deletes a column and makes it again under the same name and format, as a user
    /// would in the doc: it gets a new ID and every cell is empty. Panics if there is no
    /// such column.
    pub fn recreate_column(&self, table: &str, column: &str) {
        expect_column(self.try_recreate_column(table, column), table, column);
    }

    /// Renames a column; its ID stays. Panics if there is no such column.
    pub fn rename_column(&self, table: &str, column: &str, new_name: &str) {
        expect_column(
            self.try_rename_column(table, column, new_name),
            table,
            column,
        );
    }

    /// Turns a column into a formula column (`calculated: true`). Panics if there is no
    /// such column.
    pub fn make_formula(&self, table: &str, column: &str, formula: &str) {
        expect_column(self.try_make_formula(table, column, formula), table, column);
    }

    /// Deletes, as a user would in the Coda UI, the rows of `table` whose `column` holds
    /// one of `keys` (as plain text). Reads see it after the read lag. Returns how many rows
    /// went. Panics if there is no such table or column.
    pub fn delete_rows_by_key(&self, table: &str, column: &str, keys: &[&str]) -> usize {
        self.expect_deleted(RowDeletion {
            table: table.to_owned(),
            column: Some(column.to_owned()),
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            ..RowDeletion::default()
        })
    }

    /// Deletes the first `count` rows of `table` (fewer if it has fewer), as a user would.
    /// Returns how many went. Panics if there is no such table.
    pub fn delete_first_rows(&self, table: &str, count: usize) -> usize {
        self.expect_deleted(RowDeletion {
            table: table.to_owned(),
            count: Some(count),
            ..RowDeletion::default()
        })
    }

    /// Deletes every row of `table`, as a user would. Returns how many went. Panics if there
    /// is no such table.
    pub fn delete_all_rows(&self, table: &str) -> usize {
        self.expect_deleted(RowDeletion {
            table: table.to_owned(),
            all: true,
            ..RowDeletion::default()
        })
    }

    /// Deletes `table` and makes it again under the same name, as a user would: new table
    /// and column IDs, no rows, every column but `without_column`. Returns the new table ID.
    /// Panics if there is no such table.
    pub fn recreate_table(&self, table: &str, without_column: Option<&str>) -> String {
        self.shared
            .recreate_table(table, without_column)
            .unwrap_or_else(|| panic!("fake-coda: no table {table:?}"))
    }

    fn expect_deleted(&self, deletion: RowDeletion) -> usize {
        self.try_delete_rows(&deletion)
            .unwrap_or_else(|e| panic!("fake-coda: {e}"))
    }

    fn try_delete_rows(&self, d: &RowDeletion) -> Result<usize, String> {
        self.shared.user_change(|doc, at| {
            let t = doc
                .table_by_name_mut(&d.table)
                .ok_or_else(|| format!("no table {:?}", d.table))?;
            let before = t.rows.len();
            if d.all {
                t.rows.clear();
            } else if let Some(n) = d.count {
                t.rows.drain(..n.min(before));
            } else {
                let name = d.column.as_deref().unwrap_or_default();
                let c = t
                    .columns
                    .iter()
                    .find(|c| c.name == name)
                    .ok_or_else(|| format!("no column {name:?} in table {:?}", d.table))?
                    .id
                    .clone();
                let keep = |r: &Row| {
                    let v = r.values.get(&c).map(text_of).unwrap_or_default();
                    !d.keys.contains(&v)
                };
                t.rows.retain(keep);
            }
            let gone = before - t.rows.len();
            if gone > 0 {
                t.updated_at = at.to_owned();
            }
            Ok(gone)
        })
    }

    fn try_drop_column(&self, table: &str, column: &str) -> bool {
        self.shared.edit_schema(table, column, |t, i| {
            let id = t.columns.remove(i).id;
            for row in &mut t.rows {
                row.values.remove(&id);
            }
        })
    }

    fn try_recreate_column(&self, table: &str, column: &str) -> bool {
        // One new ID for every copy of the doc (the live one and the snapshot reads see).
        let id = crate::model::stable_id("c-", &uuid::Uuid::new_v4().to_string());
        self.shared.edit_schema(table, column, |t, i| {
            let old = std::mem::replace(&mut t.columns[i].id, id.clone());
            for row in &mut t.rows {
                row.values.remove(&old);
            }
        })
    }

    fn try_rename_column(&self, table: &str, column: &str, new_name: &str) -> bool {
        self.shared.edit_schema(table, column, |t, i| {
            t.columns[i].name = new_name.to_owned()
        })
    }

    fn try_make_formula(&self, table: &str, column: &str, formula: &str) -> bool {
        self.shared.edit_schema(table, column, |t, i| {
            t.columns[i].formula = Some(formula.to_owned())
        })
    }

    /// Applies a `POST /__control/faults` body; fails, after applying the switches, when a
    /// column edit names a column that does not exist.
    pub fn apply(&self, update: FaultsUpdate) -> Result<(), String> {
        self.update(|f| {
            if update.reset {
                *f = FaultSettings::default();
            }
            if let Some(v) = update.error_429_fraction {
                f.error_429_fraction = v;
            }
            if let Some(v) = update.error_5xx_fraction {
                f.error_5xx_fraction = v;
            }
            if let Some(v) = update.latency_ms {
                f.latency_ms = v;
            }
            if let Some(v) = update.drop_fraction {
                f.drop_fraction = v;
            }
            if let Some(v) = update.token_revoked {
                f.token_revoked = v;
            }
            if let Some(v) = update.doc_deleted {
                f.doc_deleted = v;
            }
            if let Some(v) = update.sticky_429 {
                f.sticky_429 = v;
            }
            if let Some(v) = update.next_429s {
                f.next_429s = v;
            }
            if let Some(v) = update.retry_after_secs {
                f.retry_after_secs = (v > 0).then_some(v);
            }
        });
        if let Some(enabled) = update.rate_limits {
            self.set_rate_limits_enabled(enabled);
        }
        let mut missing = Vec::new();
        if let Some(c) = update.drop_column {
            if !self.try_drop_column(&c.table, &c.column) {
                missing.push(c);
            }
        }
        if let Some(c) = update.rename_column {
            let new_name = c
                .new_name
                .clone()
                .unwrap_or_else(|| format!("{} (renamed)", c.column));
            if !self.try_rename_column(&c.table, &c.column, &new_name) {
                missing.push(c);
            }
        }
        if let Some(c) = update.make_formula {
            let formula = c
                .formula
                .clone()
                .unwrap_or_else(|| "thisRow.Created()".to_owned());
            if !self.try_make_formula(&c.table, &c.column, &formula) {
                missing.push(c);
            }
        }
        if let Some(c) = missing.first() {
            return Err(format!("no column {:?} in table {:?}", c.column, c.table));
        }
        if let Some(d) = update.delete_rows {
            self.try_delete_rows(&d)?;
        }
        if let Some(r) = update.recreate_table {
            self.shared
                .recreate_table(&r.table, r.without_column.as_deref())
                .ok_or_else(|| format!("no table {:?}", r.table))?;
        }
        Ok(())
    }
}

fn expect_column(found: bool, table: &str, column: &str) {
    assert!(found, "fake-coda: no column {column:?} in table {table:?}");
}
