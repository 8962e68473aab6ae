//! What tests read back from the fake: rows keyed by column name, duplicate keys, and a
//! full dump of the state.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::model::{text_of, Table};
use crate::state::Shared;

impl Shared {
    /// The live (applied) rows of a table, keyed by column name, each with `"@id"`.
    pub fn rows_by_name(&self, table: &str) -> Vec<Map<String, Value>> {
        let st = self.state();
        let t = st.live.tables.iter().find(|t| t.name == table);
        let t = t.unwrap_or_else(|| panic!("fake-coda: no table {table:?}"));
        rows_of(t)
    }

    /// Key values that more than one live row holds.
    pub fn duplicate_keys(&self, table: &str, key_column: &str) -> Vec<String> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for row in self.rows_by_name(table) {
            let key = row.get(key_column).map(text_of).unwrap_or_default();
            *counts.entry(key).or_default() += 1;
        }
        counts
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(k, _)| k)
            .collect()
    }

    /// The whole state as JSON: doc, tables with columns and live rows, queue, switches.
    pub fn dump(&self) -> Value {
        let faults = serde_json::to_value(self.faults().clone()).unwrap_or_default();
        let pending = self.has_pending_changes(tokio::time::Instant::now());
        let queued = self.queued();
        let st = self.state();
        let tables: Vec<Value> = st
            .live
            .tables
            .iter()
            .map(|t| {
                let columns: Vec<Value> = t
                    .columns
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id,
                            "name": c.name,
                            "format": c.format.type_name(),
                            "calculated": c.calculated(),
                            "formula": c.formula,
                        })
                    })
                    .collect();
                json!({
                    "id": t.id,
                    "name": t.name,
                    "tableType": if t.view { "view" } else { "table" },
                    "columns": columns,
                    "rows": rows_of(t),
                })
            })
            .collect();
        json!({
            "docId": st.live.id,
            "docName": st.live.name,
            "tables": tables,
            "queuedMutations": queued,
            "readsStale": pending,
            "faults": faults,
        })
    }
}

fn rows_of(t: &Table) -> Vec<Map<String, Value>> {
    t.rows
        .iter()
        .map(|r| {
            let mut m = Map::new();
            m.insert("@id".into(), json!(r.id));
            for c in &t.columns {
                m.insert(c.name.clone(), t.value(r, &c.id));
            }
            m
        })
        .collect()
}
