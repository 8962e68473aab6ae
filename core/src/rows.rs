//! Peloton JSON -> the rows of the Coda tables, exactly as
//! `shared/spec/coda-tables.md` says.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::tables::Table;

/// A cell's value as it is sent to Coda.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CellValue {
    /// Text, or a date-time already formatted `YYYY-MM-DDThh:mm:ss±hh:mm`.
    Text(String),
    /// A number.
    Number(f64),
    /// A checkbox.
    Bool(bool),
    /// A value Peloton does not have: sent as `""`, never as 0.
    #[serde(serialize_with = "empty_string")]
    Empty,
}

fn empty_string<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("")
}

/// One cell: a column name from [`Table::columns`] and its value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// Column name as in the spec.
    pub column: &'static str,
    /// The value.
    pub value: CellValue,
}

/// One row of one table, keyed by its key column's value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The table it belongs to.
    pub table: Table,
    /// The key column's value (a Peloton id).
    pub key: String,
    /// Every column of the table, in the table's column order.
    pub cells: Vec<Cell>,
}

impl Row {
    /// A stable hash of the row's content, to tell whether it changed since
    /// Coda last accepted it.
    pub fn content_hash(&self) -> String {
        let json = serde_json::to_vec(&self.cells).unwrap_or_default();
        let digest = Sha256::digest(&json);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The value of one column.
    pub fn get(&self, column: &str) -> Option<&CellValue> {
        self.cells
            .iter()
            .find(|c| c.column == column)
            .map(|c| &c.value)
    }
}
