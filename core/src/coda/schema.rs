//! The schema check: does the doc have the tables and columns of
//! `coda-tables.md`, and what are their IDs?
//!
//! Every problem of every table is reported at once, before anything is
//! written; a table that passes gets a [`ResolvedTable`] with the column IDs
//! all later requests use. Extra tables and columns are fine.
//!
//! Which Coda column formats can hold each kind (`format.type`, compared
//! loosely because it is a hint, `coda-api.md` §3), and why:
//! - text: `text`; also `select` (Coda adds or picks the option named by the
//!   text) and `link` (URLs such as "Image URL" are natural there). Not
//!   `email`, `person`, `lookup`: they would reinterpret the text. The key
//!   column must be plain `text`, the only kind documented to match exactly.
//! - number: `number`, `currency`, `slider`, `scale`. Not `percent` (45
//!   would show as 4500 %) nor `duration` (a bare number is read as days).
//! - date and time: `dateTime` only; a `date` column would drop the time.
//! - checkbox: `checkbox` only.

use std::collections::HashMap;

use serde::Deserialize;

use super::client::{Call, CodaClient, LIST_PAGE};
use super::error::CodaError;
use super::table::{ResolvedTable, SchemaProblem};
use crate::tables::{names_match, ColumnKind, Table};

/// Whether a column of Coda type `format_type` can hold `kind` (see the module doc).
pub fn kind_accepts(kind: ColumnKind, format_type: &str, is_key: bool) -> bool {
    match kind {
        ColumnKind::Text if is_key => format_type == "text",
        ColumnKind::Text => matches!(format_type, "text" | "select" | "link"),
        ColumnKind::Number => matches!(format_type, "number" | "currency" | "slider" | "scale"),
        ColumnKind::DateTime => format_type == "dateTime",
        ColumnKind::Checkbox => format_type == "checkbox",
    }
}

/// The outcome for one configured table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    /// Which table.
    pub table: Table,
    /// The name it is configured under.
    pub configured_name: String,
    /// The IDs to write it by, or everything wrong with it.
    pub result: Result<ResolvedTable, Vec<SchemaProblem>>,
}

/// The outcome of [`CodaClient::check_schema`], one entry per configured table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaReport {
    /// In the order they were asked for.
    pub tables: Vec<TableCheck>,
}

impl SchemaReport {
    /// The table if it passed.
    pub fn resolved(&self, table: Table) -> Option<&ResolvedTable> {
        self.tables
            .iter()
            .find(|c| c.table == table)
            .and_then(|c| c.result.as_ref().ok())
    }

    /// Every problem, table by table.
    pub fn problems(&self) -> impl Iterator<Item = &SchemaProblem> {
        self.tables
            .iter()
            .filter_map(|c| c.result.as_ref().err())
            .flatten()
    }

    /// True when every table passed.
    pub fn is_ok(&self) -> bool {
        self.tables.iter().all(|c| c.result.is_ok())
    }
}

/// A table or view in `GET /docs/{docId}/tables`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TableRef {
    id: String,
    name: String,
    #[serde(default)]
    table_type: Option<String>,
}

impl TableRef {
    fn is_view(&self) -> bool {
        match self.table_type.as_deref() {
            Some(t) => t == "view",
            None => self.id.starts_with("table-"),
        }
    }
}

/// A column in `GET …/columns`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ColumnInfo {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) calculated: bool,
    #[serde(default)]
    pub(super) format: Option<ColumnFormat>,
}

/// A column's `format`; only its type matters.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ColumnFormat {
    #[serde(rename = "type", default)]
    pub(super) kind: String,
}

/// Compares one table's columns with the spec.
pub(super) fn check_columns(
    table: Table,
    id: &str,
    name: &str,
    columns: &[ColumnInfo],
) -> Result<ResolvedTable, Vec<SchemaProblem>> {
    let mut problems = Vec::new();
    let mut optional_skipped = Vec::new();
    let mut ids = HashMap::new();
    let key = table.key_column();
    for spec in table.columns() {
        let is_key = spec.name == key;
        // With duplicate names, prefer a writable one.
        let found = columns
            .iter()
            .filter(|c| names_match(&c.name, spec.name))
            .min_by_key(|c| c.calculated);
        // An optional column's problems never fail the table.
        let problems = if spec.optional {
            &mut optional_skipped
        } else {
            &mut problems
        };
        let Some(col) = found else {
            if spec.optional {
                continue;
            }
            problems.push(SchemaProblem::ColumnMissing {
                table_name: name.to_string(),
                column: spec.name,
                kind: spec.kind,
            });
            continue;
        };
        let format = col.format.as_ref().map(|f| f.kind.as_str()).unwrap_or("");
        if col.calculated {
            problems.push(SchemaProblem::ColumnIsFormula {
                table_name: name.to_string(),
                column: spec.name,
                kind: spec.kind,
            });
        } else if !kind_accepts(spec.kind, format, is_key) {
            problems.push(SchemaProblem::ColumnWrongKind {
                table_name: name.to_string(),
                column: spec.name,
                expected: spec.kind,
                found: format.to_string(),
            });
        } else {
            ids.insert(spec.name, col.id.clone());
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ResolvedTable {
        table,
        id: id.to_string(),
        name: name.to_string(),
        key_column_id: ids[key].clone(),
        columns: ids,
        optional_skipped,
    })
}

impl CodaClient {
    /// Checks the doc against `coda-tables.md` for each `(table, configured
    /// name)`: lists the base tables (and, only when a name is missing
    /// there, the views, to say "is a view"), then every column of each
    /// found table. Fails only when Coda cannot be asked; what is wrong with
    /// the doc is in the report.
    pub async fn check_schema(
        &self,
        doc_id: &str,
        wanted: &[(Table, String)],
    ) -> Result<SchemaReport, CodaError> {
        let doc_not_found = || CodaError::DocNotFound {
            doc: doc_id.to_string(),
        };
        let segments = ["docs", doc_id, "tables"];
        let all: Vec<TableRef> = self
            .list_all(
                Call::get("GET /docs/{docId}/tables", &segments)
                    .doc(doc_id)
                    .query(&[("tableTypes", "table"), ("limit", LIST_PAGE)]),
                doc_not_found,
            )
            .await?;
        // The filter is applied again here in case a server ignores it.
        let bases: Vec<&TableRef> = all.iter().filter(|t| !t.is_view()).collect();
        let find_base = |name: &str| bases.iter().find(|t| names_match(&t.name, name)).copied();
        let mut views: Option<Vec<TableRef>> = None;
        let mut tables = Vec::with_capacity(wanted.len());
        for (table, configured) in wanted {
            let result = match find_base(configured) {
                Some(t) => {
                    let cols = self.list_columns(doc_id, t).await?;
                    check_columns(*table, &t.id, &t.name, &cols)
                }
                None => {
                    if views.is_none() {
                        views = Some(
                            self.list_all(
                                Call::get("GET /docs/{docId}/tables", &segments)
                                    .doc(doc_id)
                                    .query(&[("tableTypes", "view"), ("limit", LIST_PAGE)]),
                                doc_not_found,
                            )
                            .await?,
                        );
                    }
                    let is_view = views
                        .iter()
                        .flatten()
                        .chain(all.iter())
                        .any(|v| v.is_view() && names_match(&v.name, configured));
                    let table_name = configured.trim().to_string();
                    Err(vec![if is_view {
                        SchemaProblem::TableIsView { table_name }
                    } else {
                        SchemaProblem::TableMissing { table_name }
                    }])
                }
            };
            tables.push(TableCheck {
                table: *table,
                configured_name: configured.clone(),
                result,
            });
        }
        Ok(SchemaReport { tables })
    }

    /// Every column of a table, all pages.
    async fn list_columns(
        &self,
        doc_id: &str,
        table: &TableRef,
    ) -> Result<Vec<ColumnInfo>, CodaError> {
        let segments = ["docs", doc_id, "tables", &table.id, "columns"];
        self.list_all(
            Call::get("GET /docs/{docId}/tables/{tableId}/columns", &segments)
                .doc(doc_id)
                .query(&[("limit", LIST_PAGE)]),
            || CodaError::TableNotFound {
                doc_id: doc_id.to_string(),
                table: table.name.clone(),
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::Row;

    fn col(name: &str, kind: &str, calculated: bool) -> ColumnInfo {
        ColumnInfo {
            id: format!("c-{}", name.replace(' ', "")),
            name: name.into(),
            calculated,
            format: Some(ColumnFormat { kind: kind.into() }),
        }
    }

    fn friends_ok() -> Vec<ColumnInfo> {
        vec![
            col("User ID", "text", false),
            col("Username", "text", false),
            col("location ", "text", false),
            col("Total Workouts", "number", false),
            col("Private Profile", "checkbox", false),
            col("Image URL", "link", false),
            col("Notes", "canvas", false),
        ]
    }

    #[test]
    fn a_matching_table_resolves_every_column() {
        let t = check_columns(Table::Friends, "grid-1", "Friends", &friends_ok()).unwrap();
        assert_eq!(t.key_column_id, "c-UserID");
        assert_eq!(t.columns.len(), Table::Friends.columns().len());
        assert_eq!(t.columns["Location"], "c-location");
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let mut cols = friends_ok();
        cols.retain(|c| c.name != "Username" && c.name != "Image URL");
        cols[2] = col("Total Workouts", "number", true);
        cols[3] = col("Private Profile", "text", false);
        let problems = check_columns(Table::Friends, "grid-1", "Friends", &cols).unwrap_err();
        assert_eq!(
            problems,
            vec![
                SchemaProblem::ColumnMissing {
                    table_name: "Friends".into(),
                    column: "Username",
                    kind: ColumnKind::Text
                },
                SchemaProblem::ColumnIsFormula {
                    table_name: "Friends".into(),
                    column: "Total Workouts",
                    kind: ColumnKind::Number
                },
                SchemaProblem::ColumnWrongKind {
                    table_name: "Friends".into(),
                    column: "Private Profile",
                    expected: ColumnKind::Checkbox,
                    found: "text".into()
                },
                SchemaProblem::ColumnMissing {
                    table_name: "Friends".into(),
                    column: "Image URL",
                    kind: ColumnKind::Text
                },
            ]
        );
    }

    fn workouts_required() -> Vec<ColumnInfo> {
        Table::Workouts
            .required_columns()
            .map(|c| {
                let kind = match c.kind {
                    ColumnKind::Text => "text",
                    ColumnKind::Number => "number",
                    ColumnKind::DateTime => "dateTime",
                    ColumnKind::Checkbox => "checkbox",
                };
                col(c.name, kind, false)
            })
            .collect()
    }

    #[test]
    fn optional_columns_are_never_required_and_written_when_found() {
        let t = check_columns(Table::Workouts, "g", "Workouts", &workouts_required()).unwrap();
        assert!(t.optional_found().is_empty());
        assert!(t.optional_skipped.is_empty());

        let mut cols = workouts_required();
        cols.push(col("strive score ", "number", false));
        cols.push(col("Achievements", "select", false));
        cols.push(col("HR Zone 1 (min)", "number", true));
        cols.push(col("FTP (W)", "percent", false));
        let t = check_columns(Table::Workouts, "g", "Workouts", &cols).unwrap();
        assert_eq!(t.optional_found(), ["Strive Score", "Achievements"]);
        let skipped: Vec<&str> = t
            .optional_skipped
            .iter()
            .map(|p| match p {
                SchemaProblem::ColumnIsFormula { column, .. }
                | SchemaProblem::ColumnWrongKind { column, .. } => *column,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(skipped, ["HR Zone 1 (min)", "FTP (W)"]);

        // A row keeps only the cells of columns the table has.
        let row = Row {
            table: Table::Workouts,
            key: "w".into(),
            cells: Table::Workouts
                .columns()
                .iter()
                .map(|c| crate::rows::Cell {
                    column: c.name,
                    value: crate::rows::CellValue::Empty,
                })
                .collect(),
        };
        let fitted = t.fit(row);
        assert_eq!(fitted.cells.len(), 19 + 2);
        assert!(fitted.get("Strive Score").is_some());
        assert!(fitted.get("FTP (W)").is_none());
        assert!(fitted.get("Max Speed").is_none());
    }

    #[test]
    fn kinds_are_compared_loosely_but_not_blindly() {
        use ColumnKind::*;
        let cases = [
            (Text, "text", false, true),
            (Text, "select", false, true),
            (Text, "link", false, true),
            (Text, "email", false, false),
            (Text, "lookup", false, false),
            (Text, "select", true, false),
            (Number, "number", false, true),
            (Number, "currency", false, true),
            (Number, "slider", false, true),
            (Number, "scale", false, true),
            (Number, "percent", false, false),
            (Number, "duration", false, false),
            (Number, "text", false, false),
            (DateTime, "dateTime", false, true),
            (DateTime, "date", false, false),
            (DateTime, "time", false, false),
            (Checkbox, "checkbox", false, true),
            (Checkbox, "select", false, false),
        ];
        for (kind, format, is_key, expect) in cases {
            assert_eq!(
                kind_accepts(kind, format, is_key),
                expect,
                "{kind:?} <- {format} (key: {is_key})"
            );
        }
    }

    #[test]
    fn a_key_column_of_another_kind_fails() {
        let mut cols = friends_ok();
        cols[0] = col("User ID", "number", false);
        let problems = check_columns(Table::Friends, "grid-1", "Friends", &cols).unwrap_err();
        assert!(matches!(
            &problems[..],
            [SchemaProblem::ColumnWrongKind {
                column: "User ID",
                ..
            }]
        ));
    }

    #[test]
    fn messages_name_table_column_and_kind() {
        let p = SchemaProblem::ColumnMissing {
            table_name: "Workouts".into(),
            column: "Avg Output (W)",
            kind: ColumnKind::Number,
        };
        assert_eq!(
            p.user_message(),
            "The Coda table \"Workouts\" has no column \"Avg Output (W)\" (a number column). Add it, then sync again."
        );
        let p = SchemaProblem::ColumnWrongKind {
            table_name: "Workouts".into(),
            column: "Start Time",
            expected: ColumnKind::DateTime,
            found: "date".into(),
        };
        assert_eq!(
            p.user_message(),
            "The column \"Start Time\" in the Coda table \"Workouts\" is a date column; change it to a date and time column, then sync again."
        );
        let p = SchemaProblem::TableIsView {
            table_name: "Workouts".into(),
        };
        assert!(p.user_message().contains("is a view"));
    }
}
