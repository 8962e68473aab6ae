//! The Workouts table as CSV (RFC 4180): a header of every column the app
//! can write, optional ones included, then one line a workout.

use crate::rows::{CellValue, Row};
use crate::tables::Table;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn value(v: Option<&CellValue>) -> String {
    match v {
        Some(CellValue::Text(s)) => field(s),
        Some(CellValue::Number(x)) => x.to_string(),
        Some(CellValue::Bool(b)) => b.to_string(),
        Some(CellValue::Empty) | None => String::new(),
    }
}

/// The whole file.
pub(super) fn write(rows: &[&Row]) -> String {
    let columns = Table::Workouts.columns();
    let mut out = columns
        .iter()
        .map(|c| field(c.name))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    for row in rows {
        let line = columns
            .iter()
            .map(|c| value(row.get(c.name)))
            .collect::<Vec<_>>()
            .join(",");
        out.push_str(&line);
        out.push_str("\r\n");
    }
    out
}
