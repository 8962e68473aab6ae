//! A table of the doc as the app writes it: which of the four it is, the
//! IDs the schema check resolved for it, and what can be wrong with it.
//! Below both the client (which writes by these IDs) and the schema check
//! (which finds them).

use std::collections::HashMap;

use serde::Serialize;

use crate::rows::Row;
use crate::tables::{ColumnKind, Table};

/// A table that passed the check, with the IDs to write it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTable {
    /// Which table it is.
    pub table: Table,
    /// Coda's table ID (`grid-…`).
    pub id: String,
    /// The table's name as the doc spells it.
    pub name: String,
    /// Column ID by spec column name, for every column of [`Table::columns`].
    pub columns: HashMap<&'static str, String>,
    /// The key column's ID (`keyColumns` in upserts).
    pub key_column_id: String,
    /// Optional columns the doc has but the app cannot write (a formula,
    /// or a kind that cannot hold the value): left alone, and said by `check`.
    pub optional_skipped: Vec<SchemaProblem>,
}

impl ResolvedTable {
    /// A fingerprint of the columns written, by name and Coda ID: a column
    /// deleted and made again, or one added, changes it (the state then
    /// writes every row again, [`crate::store::Store::bind_table`]).
    pub fn columns_fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut pairs: Vec<String> = self
            .columns
            .iter()
            .map(|(name, id)| format!("{name}={id}"))
            .collect();
        pairs.sort();
        let digest = Sha256::digest(pairs.join("\n").as_bytes());
        digest[..12].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The optional columns the doc has and the app writes, in spec order.
    pub fn optional_found(&self) -> Vec<&'static str> {
        self.table
            .optional_columns()
            .filter(|c| self.columns.contains_key(c.name))
            .map(|c| c.name)
            .collect()
    }

    /// `row` with only the cells this table has: optional columns the user
    /// did not add are dropped, so that the content hash covers exactly
    /// what is sent (adding a column later changes it, and the rows are
    /// sent again with the new cells filled).
    pub fn fit(&self, mut row: Row) -> Row {
        row.cells.retain(|c| self.columns.contains_key(c.column));
        row
    }
}

/// One thing wrong with the doc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum SchemaProblem {
    /// No base table or view has the configured name.
    TableMissing {
        /// The configured name.
        table_name: String,
    },
    /// The configured name is a view; rows can only be upserted into base tables.
    TableIsView {
        /// The configured name.
        table_name: String,
    },
    /// A column the app writes is not there.
    ColumnMissing {
        /// The table's name.
        table_name: String,
        /// The spec's column name.
        column: &'static str,
        /// What it must hold.
        kind: ColumnKind,
    },
    /// The column has a formula, so it cannot be written.
    ColumnIsFormula {
        /// The table's name.
        table_name: String,
        /// The spec's column name.
        column: &'static str,
        /// What it must hold.
        kind: ColumnKind,
    },
    /// The column's type cannot hold what the app writes.
    ColumnWrongKind {
        /// The table's name.
        table_name: String,
        /// The spec's column name.
        column: &'static str,
        /// What it must hold.
        expected: ColumnKind,
        /// Coda's `format.type` for it.
        found: String,
    },
}

impl SchemaProblem {
    /// One sentence a user can act on.
    pub fn user_message(&self) -> String {
        match self {
            SchemaProblem::TableMissing { table_name } => format!(
                "The Coda doc has no table \"{table_name}\"; add it (or fix the table name in Settings), then sync again."
            ),
            SchemaProblem::TableIsView { table_name } => format!(
                "\"{table_name}\" in the Coda doc is a view, not a table; enter the name of its base table in Settings, then sync again."
            ),
            SchemaProblem::ColumnMissing {
                table_name,
                column,
                kind,
            } => format!(
                "The Coda table \"{table_name}\" has no column \"{column}\" (a {} column). Add it, then sync again.",
                kind.describe()
            ),
            SchemaProblem::ColumnIsFormula {
                table_name,
                column,
                kind,
            } => format!(
                "The column \"{column}\" in the Coda table \"{table_name}\" is a formula, which the app cannot write; make it a plain {} column, then sync again.",
                kind.describe()
            ),
            SchemaProblem::ColumnWrongKind {
                table_name,
                column,
                expected,
                found,
            } => format!(
                "The column \"{column}\" in the Coda table \"{table_name}\" is a {} column; change it to a {} column, then sync again.",
                describe_format(found),
                expected.describe()
            ),
        }
    }

    /// The table name the problem is about.
    pub fn table_name(&self) -> &str {
        match self {
            SchemaProblem::TableMissing { table_name }
            | SchemaProblem::TableIsView { table_name }
            | SchemaProblem::ColumnMissing { table_name, .. }
            | SchemaProblem::ColumnIsFormula { table_name, .. }
            | SchemaProblem::ColumnWrongKind { table_name, .. } => table_name,
        }
    }
}

/// How a Coda `format.type` reads in a sentence.
pub(super) fn describe_format(format_type: &str) -> String {
    match format_type {
        "dateTime" => "date and time".into(),
        "imageReference" => "image".into(),
        "packObject" => "Pack".into(),
        "" => "untyped".into(),
        other => other.to_string(),
    }
}
