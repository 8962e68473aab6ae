//! The bench's output: one [`Metric`] per measured name, printed as a
//! markdown table and written as `summary.json` (one number, or null, per name).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Map, Value};

/// What a metric must stay under.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// Value ≤ limit.
    AtMost(f64),
    /// Value < limit.
    Below(f64),
}

impl Target {
    fn holds(self, v: f64) -> bool {
        match self {
            Target::AtMost(l) => v <= l,
            Target::Below(l) => v < l,
        }
    }

    fn describe(self) -> String {
        match self {
            Target::AtMost(l) => format!("≤ {}", num(l)),
            Target::Below(l) => format!("< {}", num(l)),
        }
    }
}

/// One measured number.
#[derive(Debug, Clone)]
pub struct Metric {
    /// The name in `summary.json`.
    pub name: String,
    /// The value; `None` when it could not be measured (then `note` says why).
    pub value: Option<f64>,
    /// Its target, if the issue sets one.
    pub target: Option<Target>,
    /// How it was measured, or why it is missing.
    pub note: String,
}

impl Metric {
    /// A measured value.
    pub fn new(name: &str, value: f64, target: Option<Target>, note: impl Into<String>) -> Self {
        Self {
            name: name.to_string(),
            value: Some(value),
            target,
            note: note.into(),
        }
    }

    /// A value that could not be measured, and why.
    pub fn missing(name: &str, target: Option<Target>, why: impl Into<String>) -> Self {
        Self {
            name: name.to_string(),
            value: None,
            target,
            note: why.into(),
        }
    }

    /// True or false against the target; `None` without a target or a value.
    pub fn pass(&self) -> Option<bool> {
        Some(self.target?.holds(self.value?))
    }
}

/// Three significant decimals at most, no trailing zeros.
fn num(v: f64) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    };
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The markdown table: name, value, target, result, how.
pub fn table(metrics: &[Metric]) -> String {
    let mut out =
        String::from("| name | value | target | result | notes |\n|---|---|---|---|---|\n");
    for m in metrics {
        let value = m.value.map(num).unwrap_or_else(|| "null".into());
        let target = m.target.map(Target::describe).unwrap_or_default();
        let result = match (m.value, m.pass()) {
            (None, _) => "not measured",
            (_, Some(true)) => "pass",
            (_, Some(false)) => "**FAIL**",
            (_, None) => "",
        };
        let _ = writeln!(
            out,
            "| `{}` | {value} | {target} | {result} | {} |",
            m.name,
            one_line(&m.note)
        );
    }
    out
}

/// A note fit for one table cell: one line, no pipes, at most 300 characters.
fn one_line(note: &str) -> String {
    let flat = note
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "/");
    match flat.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

/// The machine the numbers come from.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    json!({ "cpus": cpus, "cpu_model": model, "ram_gib": mem_gib, "os": std::env::consts::OS })
}

/// Writes `summary.json`: each metric's number (or null) by name, plus the
/// machine and each metric's note.
pub fn write_summary(path: &Path, metrics: &[Metric]) -> anyhow::Result<()> {
    let mut top = Map::new();
    let mut notes = Map::new();
    for m in metrics {
        let v = m
            .value
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null);
        top.insert(m.name.clone(), v);
        notes.insert(m.name.clone(), Value::String(m.note.clone()));
    }
    top.insert("machine".into(), machine());
    top.insert("notes".into(), Value::Object(notes));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(&Value::Object(top))?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_judge_and_missing_values_say_so() {
        let ok = Metric::new("a", 1.2, Some(Target::AtMost(1.2)), "");
        let bad = Metric::new("b", 1.5, Some(Target::Below(1.5)), "");
        let none = Metric::missing("c", Some(Target::AtMost(1.0)), "no display");
        assert_eq!(ok.pass(), Some(true));
        assert_eq!(bad.pass(), Some(false));
        assert_eq!(none.pass(), None);
        let t = table(&[ok, bad, none]);
        assert!(t.contains("| `b` | 1.5 | < 1.5 | **FAIL** |"), "{t}");
        assert!(
            t.contains("| `c` | null | ≤ 1 | not measured | no display |"),
            "{t}"
        );
    }
}
