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

use serde::{Deserialize, Serialize};

use super::client::{Call, CodaClient, LIST_PAGE};
use super::error::CodaError;
use super::table::{describe_format, ResolvedTable, SchemaProblem};
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
    /// Every spec column as found in the doc (empty when the table is not).
    pub columns: Vec<ColumnCheck>,
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

    /// Every problem, table by table (an optional table's absence is none).
    pub fn problems(&self) -> impl Iterator<Item = &SchemaProblem> {
        self.tables.iter().flat_map(TableCheck::problems)
    }

    /// True when no table has a problem.
    pub fn is_ok(&self) -> bool {
        self.problems().next().is_none()
    }
}

impl TableCheck {
    /// An optional table (`Table::is_optional`) the doc does not have: it
    /// gets nothing written and that is no problem.
    pub fn is_absent_optional(&self) -> bool {
        self.table.is_optional()
            && matches!(
                self.result.as_ref().err().map(Vec::as_slice),
                Some([SchemaProblem::TableMissing { .. }])
            )
    }

    /// What is wrong with the table for the user to fix: nothing when it
    /// passed or is an absent optional table.
    pub fn problems(&self) -> &[SchemaProblem] {
        match &self.result {
            Err(problems) if !self.is_absent_optional() => problems.as_slice(),
            _ => &[],
        }
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

/// How one column of the spec fares in the doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnStatus {
    /// There, and of a kind that holds what the app writes.
    Ok,
    /// Not in the table (or the table itself is missing).
    Missing,
    /// There, but a formula column.
    Formula,
    /// There, but of a kind that cannot hold what the app writes.
    WrongKind,
}

/// One column of the spec, as the doc has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnCheck {
    /// The spec's column name.
    pub name: &'static str,
    /// What it must hold.
    pub kind: ColumnKind,
    /// Written when there, never required.
    pub optional: bool,
    /// How it fares.
    pub status: ColumnStatus,
    /// Coda's `format.type` for it, when it is there.
    pub found_kind: Option<String>,
}

impl ColumnCheck {
    /// Whether the column can be written.
    pub fn is_ok(&self) -> bool {
        self.status == ColumnStatus::Ok
    }

    /// The few words a checklist shows beside a column that is not ok
    /// ("missing", "a formula: make it a plain number column").
    pub fn note(&self) -> Option<String> {
        let kind = self.kind.describe();
        match (self.status, self.optional) {
            (ColumnStatus::Ok, _) => None,
            (ColumnStatus::Missing, false) => Some("missing: add it".into()),
            (ColumnStatus::Missing, true) => Some("optional: add it to fill it too".into()),
            (ColumnStatus::Formula, _) => Some(format!("a formula: make it a plain {kind} column")),
            (ColumnStatus::WrongKind, _) => Some(format!(
                "a {} column: change it to {kind}",
                describe_format(self.found_kind.as_deref().unwrap_or(""))
            )),
        }
    }
}

/// Every spec column of `table` against the doc's `columns`, for the
/// checklist (the same judgement as [`check_columns`], column by column).
fn column_checks(table: Table, columns: &[ColumnInfo]) -> Vec<ColumnCheck> {
    let key = table.key_column();
    table
        .columns()
        .iter()
        .map(|spec| {
            let is_key = spec.name == key;
            // With duplicate names, prefer a writable one.
            let found = columns
                .iter()
                .filter(|c| names_match(&c.name, spec.name))
                .min_by_key(|c| c.calculated);
            let format = found.map(|c| {
                c.format
                    .as_ref()
                    .map(|f| f.kind.clone())
                    .unwrap_or_default()
            });
            let status = match found {
                None => ColumnStatus::Missing,
                Some(c) if c.calculated => ColumnStatus::Formula,
                Some(_) if !kind_accepts(spec.kind, format.as_deref().unwrap_or(""), is_key) => {
                    ColumnStatus::WrongKind
                }
                Some(_) => ColumnStatus::Ok,
            };
            ColumnCheck {
                name: spec.name,
                kind: spec.kind,
                optional: spec.optional,
                status,
                found_kind: format,
            }
        })
        .collect()
}

/// Compares one table's columns with the spec. An optional column that is
/// missing or unusable is no problem: it is left out of the writes.
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

/// Whether a configured table is in the doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableStatus {
    /// Found, and every required column is ok.
    Ok,
    /// Found, but some required column needs a fix.
    NeedsColumns,
    /// No table has the configured name.
    Missing,
    /// The configured name is a view, not a table.
    IsView,
    /// An optional table the doc does not have: nothing is written to it,
    /// and nothing is wrong.
    Optional,
}

/// One configured table in the set-up checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableChecklist {
    /// Which table.
    pub table: Table,
    /// Its name in the doc (as configured).
    pub name: String,
    /// How it fares.
    pub status: TableStatus,
    /// Every column of the spec, in the spec's order.
    pub columns: Vec<ColumnCheck>,
}

impl TableChecklist {
    /// The names of the required columns still to add, for "Copy all
    /// missing column names" (one per line, as Coda takes a paste).
    pub fn missing_names(&self) -> Vec<&'static str> {
        self.columns
            .iter()
            .filter(|c| !c.optional && c.status == ColumnStatus::Missing)
            .map(|c| c.name)
            .collect()
    }
}

/// What a person setting up the doc works through: every configured table
/// and every column, with what each must be and how it fares. Built from a
/// [`SchemaReport`], so it says exactly what the sync checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checklist {
    /// The configured tables, in the order they were checked.
    pub tables: Vec<TableChecklist>,
}

impl SchemaReport {
    /// The report as a set-up checklist.
    pub fn checklist(&self) -> Checklist {
        let tables = self
            .tables
            .iter()
            .map(|c| {
                let not_found = match &c.result {
                    Err(p) => p.iter().find_map(|p| match p {
                        SchemaProblem::TableMissing { .. } => Some(TableStatus::Missing),
                        SchemaProblem::TableIsView { .. } => Some(TableStatus::IsView),
                        _ => None,
                    }),
                    Ok(_) => None,
                };
                let not_found = if c.is_absent_optional() {
                    Some(TableStatus::Optional)
                } else {
                    not_found
                };
                let status = not_found.unwrap_or(if c.result.is_ok() {
                    TableStatus::Ok
                } else {
                    TableStatus::NeedsColumns
                });
                // A table not found needs every column: list them all as missing.
                let columns = if not_found.is_some() {
                    column_checks(c.table, &[])
                } else {
                    c.columns.clone()
                };
                TableChecklist {
                    table: c.table,
                    name: c.configured_name.trim().to_string(),
                    status,
                    columns,
                }
            })
            .collect();
        Checklist { tables }
    }
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
        let found: Vec<Option<&TableRef>> = wanted
            .iter()
            .map(|(_, configured)| find_base(configured))
            .collect();
        // Every found table's columns, read together (the read pacer still
        // spaces the requests): opening the doc is most of a quiet run, and
        // one table after another would wait out each answer in turn.
        let listed = futures::future::try_join_all(found.iter().map(|t| async move {
            match t {
                Some(t) => self.list_columns(doc_id, t).await.map(Some),
                None => Ok(None),
            }
        }))
        .await?;
        let mut views: Option<Vec<TableRef>> = None;
        let mut tables = Vec::with_capacity(wanted.len());
        for ((table, configured), (base, cols)) in wanted.iter().zip(found.iter().zip(listed)) {
            let mut columns = Vec::new();
            let result = match (base, cols) {
                (Some(t), Some(cols)) => {
                    columns = column_checks(*table, &cols);
                    check_columns(*table, &t.id, &t.name, &cols)
                }
                _ => {
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
                columns,
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

    fn report_for(table: Table, name: &str, cols: &[ColumnInfo]) -> SchemaReport {
        SchemaReport {
            tables: vec![TableCheck {
                table,
                configured_name: name.into(),
                result: check_columns(table, "grid-1", name, cols),
                columns: column_checks(table, cols),
            }],
        }
    }

    #[test]
    fn the_checklist_lists_every_column_with_its_kind_and_fate() {
        let mut cols = friends_ok();
        cols.retain(|c| c.name != "Username" && c.name != "Image URL");
        cols[2] = col("Total Workouts", "number", true);
        cols[3] = col("Private Profile", "date", false);
        let list = report_for(Table::Friends, "Friends", &cols).checklist();
        let t = &list.tables[0];
        assert_eq!(t.status, TableStatus::NeedsColumns);
        let seen: Vec<(&str, ColumnStatus, Option<String>)> = t
            .columns
            .iter()
            .map(|c| (c.name, c.status, c.note()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("User ID", ColumnStatus::Ok, None),
                (
                    "Username",
                    ColumnStatus::Missing,
                    Some("missing: add it".into())
                ),
                ("Location", ColumnStatus::Ok, None),
                (
                    "Total Workouts",
                    ColumnStatus::Formula,
                    Some("a formula: make it a plain number column".into())
                ),
                (
                    "Private Profile",
                    ColumnStatus::WrongKind,
                    Some("a date column: change it to checkbox".into())
                ),
                (
                    "Image URL",
                    ColumnStatus::Missing,
                    Some("missing: add it".into())
                ),
            ]
        );
        assert_eq!(t.missing_names(), ["Username", "Image URL"]);
        let json = serde_json::to_value(&list).unwrap();
        assert_eq!(json["tables"][0]["table"], "friends");
        assert_eq!(json["tables"][0]["columns"][1]["kind"], "text");
        assert_eq!(json["tables"][0]["columns"][1]["status"], "missing");
        assert_eq!(json["tables"][0]["columns"][1]["optional"], false);
    }

    #[test]
    fn a_missing_table_needs_every_column() {
        let report = SchemaReport {
            tables: vec![TableCheck {
                table: Table::Instructors,
                configured_name: "Instructors ".into(),
                result: Err(vec![SchemaProblem::TableMissing {
                    table_name: "Instructors".into(),
                }]),
                columns: vec![],
            }],
        };
        let t = &report.checklist().tables[0];
        assert_eq!(t.status, TableStatus::Missing);
        assert_eq!(t.name, "Instructors");
        assert_eq!(
            t.missing_names(),
            ["Instructor ID", "Name", "Disciplines", "Image URL"]
        );
    }

    #[test]
    fn an_absent_optional_table_is_no_problem_and_listed_as_optional() {
        let missing = |table: Table| TableCheck {
            table,
            configured_name: table.default_name().into(),
            result: Err(vec![SchemaProblem::TableMissing {
                table_name: table.default_name().into(),
            }]),
            columns: vec![],
        };
        let report = SchemaReport {
            tables: vec![missing(Table::PersonalBests)],
        };
        assert!(report.is_ok());
        assert_eq!(report.problems().count(), 0);
        assert_eq!(report.resolved(Table::PersonalBests), None);
        let t = &report.checklist().tables[0];
        assert_eq!(t.status, TableStatus::Optional);
        assert_eq!(
            t.missing_names().len(),
            Table::PersonalBests.columns().len()
        );
        // A required table missing is still a problem; an optional table
        // that is there must have its columns.
        let report = SchemaReport {
            tables: vec![missing(Table::PersonalBests), missing(Table::Friends)],
        };
        assert!(!report.is_ok());
        assert_eq!(report.problems().count(), 1);
        let bests = report_for(
            Table::PersonalBests,
            "Personal Bests",
            &[col("Best ID", "text", false)],
        );
        assert!(!bests.is_ok());
        assert_eq!(
            bests.checklist().tables[0].status,
            TableStatus::NeedsColumns
        );
    }

    #[test]
    fn a_ready_table_has_every_column_ticked() {
        let list = report_for(Table::Friends, "Friends", &friends_ok()).checklist();
        assert_eq!(list.tables[0].status, TableStatus::Ok);
        assert!(list.tables[0].columns.iter().all(ColumnCheck::is_ok));
        assert!(list.tables[0].missing_names().is_empty());
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
