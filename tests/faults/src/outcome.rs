//! One line of the matrix, how a scenario's runs turn into it, and the
//! markdown table.

use pcs_core::sync::RunReport;

use crate::sentence::judge;
use crate::world::{Tally, World};

/// What one scenario showed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The fault, as the table names it.
    pub fault: String,
    /// The first run under the fault: `None` when it synced, else its sentence.
    pub error: Option<String>,
    /// Whether a second run (fault gone, the user's fix made) was needed.
    pub reran: bool,
    /// The re-run's sentence when it failed too.
    pub rerun_error: Option<String>,
    /// The doc against Peloton after the last run.
    pub tally: Tally,
    /// Requests both fakes saw: (Peloton, Coda).
    pub requests: (usize, usize),
    /// Anything worth a word in the table.
    pub notes: Vec<String>,
    /// Sentences that fail [`judge`], and runs that claimed success with rows missing.
    pub unclear: Vec<String>,
    /// Set when the scenario could not run here (and why).
    pub skipped: Option<String>,
    /// Rows the fix cannot bring back in the fake (the user's own edit is
    /// needed) count as kept when the local state holds them for the next run.
    pub held_is_kept: bool,
    /// The re-run may still fail (the fake cannot undo the user's edit).
    pub final_error_expected: bool,
    /// Says what the faulty runs did when "synced" or "clear error" does
    /// not fit (runs killed before they could say anything).
    pub first_label: Option<String>,
}

impl Outcome {
    /// A scenario that needs something this machine lacks.
    pub fn skipped(fault: &str, why: &str) -> Self {
        Self {
            fault: fault.into(),
            skipped: Some(why.into()),
            ..Self::default()
        }
    }

    /// Rows lost, as the table counts them.
    pub fn lost(&self) -> usize {
        if self.held_is_kept {
            self.tally.lost - self.tally.held
        } else {
            self.tally.lost
        }
    }

    /// Whether this line meets the bar: nothing lost, nothing duplicated,
    /// no row left behind that should have been deleted, every sentence clear.
    pub fn passed(&self) -> bool {
        if self.skipped.is_some() {
            return true;
        }
        self.lost() == 0
            && self.tally.duplicated == 0
            && self.tally.stale == 0
            && self.unclear.is_empty()
            && (self.rerun_error.is_none() || self.final_error_expected)
    }

    /// Judges every sentence of a run and keeps the first-run headline.
    pub fn record(&mut self, w: &World, run: &Result<RunReport, String>, first: bool) {
        let secrets = [
            w.password.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            w.coda.token(),
        ];
        let (sentences, headline) = match run {
            Ok(r) => (
                r.problems.iter().map(|p| p.message.clone()).collect(),
                r.failure().map(|p| p.message.clone()),
            ),
            Err(s) => (vec![s.clone()], Some(s.clone())),
        };
        for s in sentences {
            if let Err(why) = judge(&s, &secrets) {
                if !self.unclear.contains(&why) {
                    self.unclear.push(why);
                }
            }
        }
        if first {
            self.error = headline;
        } else {
            self.rerun_error = headline;
        }
    }

    /// The first run is in: re-run once (after `fix`) when it failed or left
    /// rows out, then count.
    pub async fn settle(
        mut self,
        w: &World,
        first: Result<RunReport, String>,
        fix: impl FnOnce(),
    ) -> Self {
        self.record(w, &first, true);
        let mut tally = w.tally();
        let ok = matches!(&first, Ok(r) if r.ok());
        if ok && tally.lost > 0 {
            self.unclear.push(format!(
                "the run reported success with {} rows missing",
                tally.lost
            ));
        }
        if !ok || tally.lost > 0 {
            fix();
            let second = w.run().await;
            self.reran = true;
            self.record(w, &second, false);
            tally = w.tally();
        }
        self.tally = tally;
        self.requests = w.requests();
        if self.tally.stale > 0 {
            self.notes.push(format!(
                "{} friend workout rows left a window but stay in Coda",
                self.tally.stale
            ));
        }
        if self.held_is_kept && self.tally.held > 0 {
            self.notes.push(format!(
                "{} workouts wait in the local state until the column is fixed",
                self.tally.held
            ));
        }
        if self.tally.lost > 0 && !self.tally.lost_detail.is_empty() {
            self.notes
                .push(format!("missing: {}", self.tally.lost_detail.join(", ")));
        }
        self
    }

    fn outcome_cell(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("skipped: {why}");
        }
        let first = match (&self.first_label, &self.error) {
            (Some(label), _) => label.clone(),
            (None, None) => "synced".to_string(),
            (None, Some(_)) => "clear error".to_string(),
        };
        match (self.reran, &self.rerun_error) {
            (false, _) => first,
            (true, None) => format!("{first}; re-run synced"),
            (true, Some(_)) => format!("{first}; re-run: error"),
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The markdown table.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| fault | outcome | sentence | rows lost | rows duplicated | requests (Peloton / Coda) | notes |\n|---|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        let sentence = o
            .error
            .as_deref()
            .or(o.rerun_error.as_deref())
            .unwrap_or("");
        let mut notes = o.notes.clone();
        notes.extend(o.unclear.iter().map(|u| format!("UNCLEAR: {u}")));
        if let Some(e) = &o.rerun_error {
            if o.error.is_some() && o.error.as_deref() != Some(e) {
                notes.push(format!("re-run said: {e}"));
            }
        }
        let (lost, dup, req) = if o.skipped.is_some() {
            ("-".into(), "-".into(), "-".into())
        } else {
            (
                o.lost().to_string(),
                o.tally.duplicated.to_string(),
                format!("{} / {}", o.requests.0, o.requests.1),
            )
        };
        out.push_str(&format!(
            "| {} | {}{} | {} | {} | {} | {} | {} |\n",
            escape(&o.fault),
            if o.passed() { "" } else { "**FAIL** " },
            escape(&o.outcome_cell()),
            escape(sentence),
            lost,
            dup,
            req,
            escape(&notes.join("; ")),
        ));
    }
    out
}
