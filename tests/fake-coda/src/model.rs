//! The doc as Coda holds it: tables, columns and rows with their IDs, and the row
//! mutations (upsert, update, delete) applied to it once they leave the queue.

use std::collections::HashMap;

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::{ColumnFormat, Config};

/// A doc: the tables in order.
#[derive(Clone, Debug)]
pub(crate) struct Doc {
    pub id: String,
    pub name: String,
    pub tables: Vec<Table>,
    /// Order of creation and change, for `sortBy=createdAt|updatedAt`.
    next_seq: u64,
}

/// A table or view.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub id: String,
    pub name: String,
    pub view: bool,
    pub columns: Vec<Column>,
    /// Rows in creation order.
    pub rows: Vec<Row>,
    pub created_at: String,
    pub updated_at: String,
}

/// A column; its ID never changes, its name may.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    pub id: String,
    pub name: String,
    pub format: ColumnFormat,
    pub formula: Option<String>,
}

impl Column {
    /// True when the column has a formula and so cannot be written.
    pub fn calculated(&self) -> bool {
        self.formula.is_some()
    }
}

/// When a row was made or changed: a sequence number for ordering and the shown time.
#[derive(Clone, Debug)]
pub(crate) struct Stamp {
    pub seq: u64,
    pub at: String,
}

/// A row; `values` is keyed by column ID and holds only cells that were ever written.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub id: String,
    pub values: HashMap<String, Value>,
    pub created: Stamp,
    pub updated: Stamp,
}

/// Cells resolved to column IDs.
pub(crate) type Cells = Vec<(String, Value)>;

/// A row write accepted with 202 and applied later.
#[derive(Clone, Debug)]
pub(crate) enum Mutation {
    /// `POST …/rows`. `added_ids` holds one new ID per row when there are no key columns.
    Upsert {
        table_id: String,
        rows: Vec<Cells>,
        key_columns: Vec<String>,
        added_ids: Vec<String>,
    },
    /// `PUT …/rows/{rowId}`.
    Update {
        table_id: String,
        row_id: String,
        cells: Cells,
    },
    /// `DELETE …/rows` and `DELETE …/rows/{rowId}`.
    Delete {
        table_id: String,
        row_ids: Vec<String>,
    },
}

/// An ID like Coda's: a prefix and 10 letters or digits, the same for the same seed so a
/// restarted binary keeps its table and column IDs.
pub(crate) fn stable_id(prefix: &str, seed: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let digest = Sha256::digest(seed.as_bytes());
    let tail: String = digest
        .iter()
        .take(10)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    format!("{prefix}{tail}")
}

/// A fresh row ID, `i-` and 10 random characters.
pub(crate) fn new_row_id() -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(10)
        .map(char::from)
        .collect();
    format!("i-{tail}")
}

/// A cell's plain-text value: what `valueFormat=simple` shows, what `query` filters on and
/// what keyed upserts compare.
pub(crate) fn text_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(text_of).collect::<Vec<_>>().join(","),
        Value::Object(_) => value.to_string(),
    }
}

impl Doc {
    /// The doc a config describes, with no rows.
    pub fn new(config: &Config, at: &str) -> Self {
        let tables = config
            .tables
            .iter()
            .map(|spec| {
                let prefix = if spec.view { "table-" } else { "grid-" };
                let table_id = stable_id(prefix, &format!("{}/{}", config.doc_id, spec.name));
                let columns = spec
                    .columns
                    .iter()
                    .map(|c| Column {
                        id: stable_id("c-", &format!("{table_id}/{}", c.name)),
                        name: c.name.clone(),
                        format: c.format.clone(),
                        formula: c.formula.clone(),
                    })
                    .collect();
                Table {
                    id: table_id,
                    name: spec.name.clone(),
                    view: spec.view,
                    columns,
                    rows: Vec::new(),
                    created_at: at.to_owned(),
                    updated_at: at.to_owned(),
                }
            })
            .collect();
        Self {
            id: config.doc_id.clone(),
            name: config.doc_name.clone(),
            tables,
            next_seq: 1,
        }
    }

    /// A table by ID, else by exact (case-sensitive) name.
    pub fn table(&self, id_or_name: &str) -> Option<&Table> {
        self.table_index(id_or_name).map(|i| &self.tables[i])
    }

    /// Index of a table by ID, else by exact name.
    pub fn table_index(&self, id_or_name: &str) -> Option<usize> {
        let id_or_name = strip_url(id_or_name, "/tables/");
        self.tables
            .iter()
            .position(|t| t.id == id_or_name)
            .or_else(|| self.tables.iter().position(|t| t.name == id_or_name))
    }

    /// A mutable table by exact name, for the test API.
    pub fn table_by_name_mut(&mut self, name: &str) -> Option<&mut Table> {
        self.tables.iter_mut().find(|t| t.name == name)
    }

    fn stamp(&mut self, at: &str) -> Stamp {
        self.next_seq += 1;
        Stamp {
            seq: self.next_seq,
            at: at.to_owned(),
        }
    }

    /// Adds a row with a known ID; cells aimed at unknown or calculated columns are dropped.
    pub fn insert_row(&mut self, table: usize, id: String, cells: &Cells, at: &str) {
        let stamp = self.stamp(at);
        let t = &mut self.tables[table];
        let mut row = Row {
            id,
            values: HashMap::new(),
            created: stamp.clone(),
            updated: stamp,
        };
        set_cells(&t.columns, &mut row, cells);
        t.rows.push(row);
        t.updated_at = at.to_owned();
    }

    /// Replaces the table named `name` with a new, empty one called the same, as a user who
    /// deletes a table and makes it again: new table ID `new_id`, new column IDs, the same
    /// columns less `without_column`, placed last. False when there is no such table.
    pub fn recreate_table(
        &mut self,
        name: &str,
        new_id: &str,
        without_column: Option<&str>,
        at: &str,
    ) -> bool {
        let Some(i) = self.tables.iter().position(|t| t.name == name) else {
            return false;
        };
        let old = self.tables.remove(i);
        let columns = old
            .columns
            .into_iter()
            .filter(|c| Some(c.name.as_str()) != without_column)
            .map(|c| Column {
                id: stable_id("c-", &format!("{new_id}/{}", c.name)),
                ..c
            })
            .collect();
        self.tables.push(Table {
            id: new_id.to_owned(),
            name: old.name,
            view: old.view,
            columns,
            rows: Vec::new(),
            created_at: at.to_owned(),
            updated_at: at.to_owned(),
        });
        true
    }

    /// Applies one queued mutation. Tables, rows or columns that vanished since the 202 are
    /// skipped silently, as Coda reports nothing after a 202.
    pub fn apply(&mut self, mutation: Mutation, at: &str) {
        match mutation {
            Mutation::Upsert {
                table_id,
                rows,
                key_columns,
                added_ids,
            } => {
                let Some(t) = self.table_index(&table_id) else {
                    return;
                };
                for (i, cells) in rows.iter().enumerate() {
                    if key_columns.is_empty() {
                        let id = added_ids.get(i).cloned().unwrap_or_else(new_row_id);
                        self.insert_row(t, id, cells, at);
                        continue;
                    }
                    let matches = self.tables[t].matching_rows(&key_columns, cells);
                    if matches.is_empty() {
                        self.insert_row(t, new_row_id(), cells, at);
                    }
                    for r in matches {
                        self.update_row(t, r, cells, at);
                    }
                }
            }
            Mutation::Update {
                table_id,
                row_id,
                cells,
            } => {
                let Some(t) = self.table_index(&table_id) else {
                    return;
                };
                if let Some(r) = self.tables[t].rows.iter().position(|r| r.id == row_id) {
                    self.update_row(t, r, &cells, at);
                }
            }
            Mutation::Delete { table_id, row_ids } => {
                let Some(t) = self.table_index(&table_id) else {
                    return;
                };
                let table = &mut self.tables[t];
                table.rows.retain(|r| !row_ids.contains(&r.id));
                table.updated_at = at.to_owned();
            }
        }
    }

    fn update_row(&mut self, table: usize, row: usize, cells: &Cells, at: &str) {
        let stamp = self.stamp(at);
        let Table {
            columns,
            rows,
            updated_at,
            ..
        } = &mut self.tables[table];
        set_cells(columns, &mut rows[row], cells);
        rows[row].updated = stamp;
        *updated_at = at.to_owned();
    }
}

impl Table {
    /// A column by ID, else by URL ending in its ID, else by exact name.
    pub fn column(&self, id_or_name: &str) -> Option<&Column> {
        let key = strip_url(id_or_name, "/columns/");
        self.columns
            .iter()
            .find(|c| c.id == key)
            .or_else(|| self.columns.iter().find(|c| c.name == id_or_name))
    }

    /// The display column: the first one.
    pub fn display_column(&self) -> Option<&Column> {
        self.columns.first()
    }

    /// A row by ID, else the first row whose display value equals the name (Coda picks an
    /// arbitrary one when names repeat).
    pub fn row_index(&self, id_or_name: &str) -> Option<usize> {
        self.rows
            .iter()
            .position(|r| r.id == id_or_name)
            .or_else(|| {
                let display = self.display_column()?;
                self.rows.iter().position(|r| {
                    self.value(r, &display.id) == Value::String(id_or_name.to_owned())
                })
            })
    }

    /// A cell's value; a cell never written reads as `""`.
    pub fn value(&self, row: &Row, column_id: &str) -> Value {
        row.values
            .get(column_id)
            .cloned()
            .unwrap_or_else(|| Value::String(String::new()))
    }

    /// The row's display value.
    pub fn row_name(&self, row: &Row) -> String {
        self.display_column()
            .map(|c| text_of(&self.value(row, &c.id)))
            .unwrap_or_default()
    }

    /// Rows whose key cells equal the incoming ones, compared as plain text.
    fn matching_rows(&self, key_columns: &[String], cells: &Cells) -> Vec<usize> {
        let wanted: Vec<(&String, String)> = key_columns
            .iter()
            .map(|k| {
                let v = cells
                    .iter()
                    .rev()
                    .find(|(c, _)| c == k)
                    .map(|(_, v)| text_of(v))
                    .unwrap_or_default();
                (k, v)
            })
            .collect();
        self.rows
            .iter()
            .enumerate()
            .filter(|(_, r)| wanted.iter().all(|(k, v)| text_of(&self.value(r, k)) == *v))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Writes cells into a row, skipping columns that are gone or calculated.
fn set_cells(columns: &[Column], row: &mut Row, cells: &Cells) {
    for (column_id, value) in cells {
        if columns
            .iter()
            .any(|c| &c.id == column_id && !c.calculated())
        {
            row.values.insert(column_id.clone(), value.clone());
        }
    }
}

/// Takes the ID out of an API URL (`…/columns/c-abc` gives `c-abc`); anything else as is.
fn strip_url<'a>(id_or_url: &'a str, marker: &str) -> &'a str {
    if id_or_url.starts_with("http") {
        if let Some(pos) = id_or_url.rfind(marker) {
            return id_or_url[pos + marker.len()..]
                .split('/')
                .next()
                .unwrap_or(id_or_url);
        }
    }
    id_or_url
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc() -> Doc {
        Doc::new(&Config::default(), "2025-01-01T00:00:00.000Z")
    }

    fn cell(t: &Table, name: &str, v: Value) -> (String, Value) {
        (t.column(name).unwrap().id.clone(), v)
    }

    #[test]
    fn ids_have_coda_prefixes_and_are_stable() {
        let a = doc();
        let b = doc();
        let w = a.table("Workouts").unwrap();
        assert!(w.id.starts_with("grid-") && w.id.len() == 15, "{}", w.id);
        assert!(w.columns.iter().all(|c| c.id.starts_with("c-")));
        assert_eq!(w.id, b.table("Workouts").unwrap().id);
        assert!(a.table("workouts").is_none(), "names are case-sensitive");
        assert_eq!(a.table(&w.id).unwrap().name, "Workouts");
    }

    #[test]
    fn keyed_upsert_updates_every_match_and_inserts_otherwise() {
        let mut d = doc();
        let t = d.table_index("Instructors").unwrap();
        let (key, name) = {
            let table = &d.tables[t];
            (
                table.column("Instructor ID").unwrap().id.clone(),
                table.column("Name").unwrap().id.clone(),
            )
        };
        for id in ["i-aaaaaaaaaa", "i-bbbbbbbbbb"] {
            d.insert_row(t, id.into(), &vec![(key.clone(), json!("x"))], "t0");
        }
        let row = vec![(key.clone(), json!("x")), (name.clone(), json!("Ann"))];
        let other = vec![(key.clone(), json!("y")), (name.clone(), json!("Bo"))];
        d.apply(
            Mutation::Upsert {
                table_id: d.tables[t].id.clone(),
                rows: vec![row, other],
                key_columns: vec![key],
                added_ids: vec![],
            },
            "t1",
        );
        let table = &d.tables[t];
        assert_eq!(table.rows.len(), 3);
        let names: Vec<String> = table
            .rows
            .iter()
            .map(|r| text_of(&table.value(r, &name)))
            .collect();
        assert_eq!(names, ["Ann", "Ann", "Bo"]);
    }

    #[test]
    fn calculated_columns_are_never_written() {
        let config = Config::default().with_formula_column("Friends", "Location", "1");
        let mut d = Doc::new(&config, "t0");
        let t = d.table_index("Friends").unwrap();
        let c = cell(&d.tables[t], "Location", json!("Paris"));
        d.insert_row(t, "i-cccccccccc".into(), &vec![c.clone()], "t1");
        assert_eq!(d.tables[t].value(&d.tables[t].rows[0], &c.0), json!(""));
    }

    #[test]
    fn text_of_joins_arrays_and_prints_numbers() {
        assert_eq!(text_of(&json!(["a", 1, true])), "a,1,true");
        assert_eq!(text_of(&json!(30.5)), "30.5");
        assert_eq!(text_of(&json!("")), "");
    }
}
