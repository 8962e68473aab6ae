//! What one fake Coda server looks like before it starts: the doc, its tables and columns
//! (duplicated from `docs/coda-tables.md`, never imported from core), and the server's
//! limits and timings.

use std::time::Duration;

use serde::Serialize;

use crate::faults::FaultSettings;

/// A column's `format.type`, with the extra format fields the API adds for each kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ColumnFormat {
    /// `text`.
    Text,
    /// `number`.
    Number,
    /// `date`.
    Date,
    /// `dateTime`.
    DateTime,
    /// `checkbox`.
    Checkbox,
    /// `duration`.
    Duration,
    /// `select`.
    Select,
    /// Any other `format.type`, spelled as the API spells it (e.g. `"person"`).
    Other(String),
}

impl ColumnFormat {
    /// The `format.type` string the API sends.
    pub fn type_name(&self) -> &str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Date => "date",
            Self::DateTime => "dateTime",
            Self::Checkbox => "checkbox",
            Self::Duration => "duration",
            Self::Select => "select",
            Self::Other(name) => name,
        }
    }
}

/// One column of a configured table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColumnSpec {
    /// The column name as the user typed it.
    pub name: String,
    /// Its kind.
    pub format: ColumnFormat,
    /// The formula, when the column is calculated (`calculated: true` in the API).
    pub formula: Option<String>,
}

impl ColumnSpec {
    /// A column of `format` kind.
    pub fn new(name: &str, format: ColumnFormat) -> Self {
        Self {
            name: name.to_owned(),
            format,
            formula: None,
        }
    }

    /// A text column.
    pub fn text(name: &str) -> Self {
        Self::new(name, ColumnFormat::Text)
    }

    /// A number column.
    pub fn number(name: &str) -> Self {
        Self::new(name, ColumnFormat::Number)
    }

    /// A date-and-time column.
    pub fn date_time(name: &str) -> Self {
        Self::new(name, ColumnFormat::DateTime)
    }

    /// A checkbox column.
    pub fn checkbox(name: &str) -> Self {
        Self::new(name, ColumnFormat::Checkbox)
    }

    /// The same column turned into a formula column.
    pub fn with_formula(mut self, formula: &str) -> Self {
        self.formula = Some(formula.to_owned());
        self
    }
}

/// One configured table (or view).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableSpec {
    /// The table name.
    pub name: String,
    /// True when it is a view (`tableType: "view"`, ID prefix `table-`): upserts to it fail.
    pub view: bool,
    /// Columns in order; the first is the display column.
    pub columns: Vec<ColumnSpec>,
}

impl TableSpec {
    /// A base table.
    pub fn new(name: &str, columns: Vec<ColumnSpec>) -> Self {
        Self {
            name: name.to_owned(),
            view: false,
            columns,
        }
    }
}

/// One sliding-window rate-limit bucket: at most `limit` requests in any `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Requests allowed per window.
    pub limit: usize,
    /// Window length.
    pub window: Duration,
}

/// The rate limits, per token, as Coda publishes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RateLimits {
    /// False turns every limit off (fast tests).
    pub enabled: bool,
    /// Reading data: every GET. Published as 100 per 6 s.
    pub read: Bucket,
    /// Writing data: POST/PUT/PATCH/DELETE on rows. Published as 10 per 6 s.
    pub write: Bucket,
    /// Writing doc content: the same requests, also counted here. Published as 3 per 10 s
    /// (newer pages and staff) or 5 per 10 s (the 1.4.17 rendering); default 3.
    pub doc_write: Bucket,
    /// Listing docs (`GET /docs`), also a read. Published as 4 per 6 s.
    pub list_docs: Bucket,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            read: Bucket {
                limit: 100,
                window: Duration::from_secs(6),
            },
            write: Bucket {
                limit: 10,
                window: Duration::from_secs(6),
            },
            doc_write: Bucket {
                limit: 3,
                window: Duration::from_secs(10),
            },
            list_docs: Bucket {
                limit: 4,
                window: Duration::from_secs(6),
            },
        }
    }
}

/// Everything about one fake server. `Default` is the app's doc with all four tables,
/// limits on, writes applied after 100 ms and no read lag.
#[derive(Clone)]
pub struct Config {
    /// Port to bind on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The only token that is accepted.
    pub token: String,
    /// The doc ID.
    pub doc_id: String,
    /// The doc name; its browser URL is `/d/<name with spaces as dashes>_d<doc_id>`.
    pub doc_name: String,
    /// Tables in the doc, in order.
    pub tables: Vec<TableSpec>,
    /// The most rows one `listRows` page returns; a larger `limit` is silently cut to this.
    pub server_max_limit: usize,
    /// How long after its 202 a row mutation is applied.
    pub mutation_delay: Duration,
    /// `mutationStatus` answers 404 for this long after the write (Coda's replication delay).
    pub mutation_status_404_for: Duration,
    /// Reads come from a snapshot taken this long after a change is applied.
    pub read_lag: Duration,
    /// Whether a queued (not yet applied) write makes `X-Coda-Doc-Version: latest` fail.
    /// The spec reads Coda as saying no; the default says yes, which is the stricter choice.
    pub doc_version_counts_queued: bool,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Faults switched on from the start.
    pub faults: FaultSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: 0,
            token: "coda-test-token".to_owned(),
            doc_id: "AbCDeFGH".to_owned(),
            doc_name: "Training Log".to_owned(),
            tables: default_tables(),
            server_max_limit: 500,
            mutation_delay: Duration::from_millis(100),
            mutation_status_404_for: Duration::ZERO,
            read_lag: Duration::ZERO,
            doc_version_counts_queued: true,
            rate_limits: RateLimits::default(),
            faults: FaultSettings::default(),
        }
    }
}

impl Config {
    /// Removes a table from the doc.
    pub fn without_table(mut self, table: &str) -> Self {
        self.tables.retain(|t| t.name != table);
        self
    }

    /// Adds a table at the end.
    pub fn with_table(mut self, table: TableSpec) -> Self {
        self.tables.push(table);
        self
    }

    /// Makes a configured table a view.
    pub fn with_table_as_view(mut self, table: &str) -> Self {
        self.table_mut(table).view = true;
        self
    }

    /// Adds a user column at the end of a table.
    pub fn with_extra_column(mut self, table: &str, column: ColumnSpec) -> Self {
        self.table_mut(table).columns.push(column);
        self
    }

    /// Removes a column from a table.
    pub fn without_column(mut self, table: &str, column: &str) -> Self {
        self.table_mut(table).columns.retain(|c| c.name != column);
        self
    }

    /// Changes the kind of a column.
    pub fn with_column_format(mut self, table: &str, column: &str, format: ColumnFormat) -> Self {
        self.column_mut(table, column).format = format;
        self
    }

    /// Turns a column into a formula column.
    pub fn with_formula_column(mut self, table: &str, column: &str, formula: &str) -> Self {
        self.column_mut(table, column).formula = Some(formula.to_owned());
        self
    }

    /// Turns every rate limit off.
    pub fn without_rate_limits(mut self) -> Self {
        self.rate_limits.enabled = false;
        self
    }

    /// Sets the read lag.
    pub fn with_read_lag(mut self, lag: Duration) -> Self {
        self.read_lag = lag;
        self
    }

    /// Sets the mutation delay.
    pub fn with_mutation_delay(mut self, delay: Duration) -> Self {
        self.mutation_delay = delay;
        self
    }

    /// Sets the server's maximum `listRows` page size.
    pub fn with_server_max_limit(mut self, max: usize) -> Self {
        self.server_max_limit = max;
        self
    }

    fn table_mut(&mut self, table: &str) -> &mut TableSpec {
        self.tables
            .iter_mut()
            .find(|t| t.name == table)
            .unwrap_or_else(|| panic!("fake-coda config has no table {table:?}"))
    }

    fn column_mut(&mut self, table: &str, column: &str) -> &mut ColumnSpec {
        self.table_mut(table)
            .columns
            .iter_mut()
            .find(|c| c.name == column)
            .unwrap_or_else(|| panic!("fake-coda config has no column {column:?} in {table:?}"))
    }
}

/// The tables of `coda-tables.md`, column for column, the optional
/// Personal Bests included. Kept as a copy on purpose:
/// if core's list drifts from the spec, the fake catches it.
pub fn default_tables() -> Vec<TableSpec> {
    use ColumnSpec as C;
    let workouts = vec![
        C::text("Workout ID"),
        C::date_time("Start Time"),
        C::text("Discipline"),
        C::text("Title"),
        C::text("Instructor"),
        C::number("Duration (min)"),
        C::number("Total Output (kJ)"),
        C::number("Avg Output (W)"),
        C::number("Avg Cadence (rpm)"),
        C::number("Avg Resistance (%)"),
        C::number("Avg Speed"),
        C::number("Distance"),
        C::text("Distance Unit"),
        C::number("Elevation"),
        C::number("Calories (kcal)"),
        C::number("Avg Heart Rate (bpm)"),
        C::number("Leaderboard Rank"),
        C::number("Leaderboard Users"),
        C::checkbox("Personal Record"),
    ];
    let instructors = vec![
        C::text("Instructor ID"),
        C::text("Name"),
        C::text("Disciplines"),
        C::text("Image URL"),
    ];
    let friends = vec![
        C::text("User ID"),
        C::text("Username"),
        C::text("Location"),
        C::number("Total Workouts"),
        C::checkbox("Private Profile"),
        C::text("Image URL"),
    ];
    let friend_workouts = vec![
        C::text("Workout ID"),
        C::text("User ID"),
        C::text("Username"),
        C::date_time("Start Time"),
        C::text("Discipline"),
        C::text("Title"),
        C::text("Instructor"),
        C::number("Duration (min)"),
        C::number("Total Output (kJ)"),
        C::checkbox("Personal Record"),
    ];
    // The optional table (issue 17): a doc set up in full has it.
    let personal_bests = vec![
        C::text("Best ID"),
        C::text("Discipline"),
        C::number("Length (min)"),
        C::number("Best Output (kJ)"),
        C::number("Best Distance"),
        C::text("Distance Unit"),
        C::date_time("Date"),
        C::text("Workout ID"),
    ];
    vec![
        TableSpec::new("Workouts", workouts),
        TableSpec::new("Instructors", instructors),
        TableSpec::new("Friends", friends),
        TableSpec::new("Friend Workouts", friend_workouts),
        TableSpec::new("Personal Bests", personal_bests),
    ]
}
