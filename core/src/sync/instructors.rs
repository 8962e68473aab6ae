//! The Instructors table: read at most once a day (instructors change
//! rarely), and again at once when rows went missing from the doc.

use chrono::{DateTime, Utc};

use super::context::{Abort, Run};
use super::doc::META_INSTRUCTORS_AT;
use super::report::{Problem, ProblemArea};
use crate::rows::{self, Row};
use crate::tables::Table;

/// How often instructors are read again.
const DAILY: chrono::Duration = chrono::Duration::hours(24);

impl Run<'_> {
    /// Reads the instructors when due and writes their changed rows.
    pub(super) async fn sync_instructors(&mut self) -> Result<(), Abort> {
        if self.target(Table::Instructors).is_none() {
            return Ok(());
        }
        let now = self.now();
        let (last, written_any) = self.with_store(|s| {
            Ok((
                s.get_meta(META_INSTRUCTORS_AT)?,
                !s.written_keys(Table::Instructors)?.is_empty(),
            ))
        })?;
        let fresh = last
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc))
            .is_some_and(|t| now >= t && now - t < DAILY);
        if fresh && written_any && !self.opts.full {
            return Ok(());
        }
        let instructors = match self.svc.peloton.instructors().await {
            Ok(list) => {
                self.note_skipped(&list.skipped);
                list.items
            }
            Err(e) => {
                self.report_problem(Problem::from(&e));
                return Ok(());
            }
        };
        let rows: Vec<Row> = instructors
            .iter()
            .filter_map(rows::instructor_row)
            .collect();
        self.write_changed(Table::Instructors, rows).await?;
        let coda_failed = self
            .report
            .problems
            .iter()
            .any(|p| matches!(p.area, ProblemArea::Coda | ProblemArea::CodaToken));
        if !coda_failed {
            self.with_store(|s| s.set_meta(META_INSTRUCTORS_AT, &now.to_rfc3339()))?;
        }
        Ok(())
    }
}
