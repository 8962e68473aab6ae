//! The Coda tables and their columns, as `docs/coda-tables.md` specifies
//! them: four the schema check requires, and Personal Bests, written only
//! when the doc has it. The rows mapping fills these columns; the Coda
//! schema check compares a doc against them.

use serde::{Deserialize, Serialize};

/// One of the tables the app writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// The user's own workouts.
    Workouts,
    /// Peloton's instructors.
    Instructors,
    /// The people the user follows.
    Friends,
    /// Each friend's latest workouts.
    FriendWorkouts,
    /// The user's best output or distance per discipline and class length
    /// (an optional table: see [`Table::is_optional`]).
    PersonalBests,
}

/// What a column must be able to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Plain text.
    Text,
    /// A number.
    Number,
    /// A date and time.
    DateTime,
    /// A checkbox.
    Checkbox,
}

impl ColumnKind {
    /// How the kind is named to a user ("a date and time column").
    pub fn describe(self) -> &'static str {
        match self {
            ColumnKind::Text => "text",
            ColumnKind::Number => "number",
            ColumnKind::DateTime => "date and time",
            ColumnKind::Checkbox => "checkbox",
        }
    }
}

/// A column the app writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSpec {
    /// The column's name (matched ignoring case and surrounding spaces).
    pub name: &'static str,
    /// What it holds.
    pub kind: ColumnKind,
    /// Written when the user added it to the table; the schema check never
    /// asks for it.
    pub optional: bool,
}

const fn col(name: &'static str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        optional: false,
    }
}

const fn opt(name: &'static str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        optional: true,
    }
}

use ColumnKind::{Checkbox, DateTime, Number, Text};

const WORKOUTS: &[ColumnSpec] = &[
    col("Workout ID", Text),
    col("Start Time", DateTime),
    col("Discipline", Text),
    col("Title", Text),
    col("Instructor", Text),
    col("Duration (min)", Number),
    col("Total Output (kJ)", Number),
    col("Avg Output (W)", Number),
    col("Avg Cadence (rpm)", Number),
    col("Avg Resistance (%)", Number),
    col("Avg Speed", Number),
    col("Distance", Number),
    col("Distance Unit", Text),
    col("Elevation", Number),
    col("Calories (kcal)", Number),
    col("Avg Heart Rate (bpm)", Number),
    col("Leaderboard Rank", Number),
    col("Leaderboard Users", Number),
    col("Personal Record", Checkbox),
    // The deeper numbers (issue 17): filled only where the user added them.
    opt("Max Output (W)", Number),
    opt("Max Cadence (rpm)", Number),
    opt("Max Heart Rate (bpm)", Number),
    opt("Max Speed", Number),
    opt("Strive Score", Number),
    opt("HR Zone 1 (min)", Number),
    opt("HR Zone 2 (min)", Number),
    opt("HR Zone 3 (min)", Number),
    opt("HR Zone 4 (min)", Number),
    opt("HR Zone 5 (min)", Number),
    opt("FTP (W)", Number),
    opt("Achievements", Text),
    opt("Cadence in Target (%)", Number),
    opt("Resistance in Target (%)", Number),
];

const INSTRUCTORS: &[ColumnSpec] = &[
    col("Instructor ID", Text),
    col("Name", Text),
    col("Disciplines", Text),
    col("Image URL", Text),
];

const FRIENDS: &[ColumnSpec] = &[
    col("User ID", Text),
    col("Username", Text),
    col("Location", Text),
    col("Total Workouts", Number),
    col("Private Profile", Checkbox),
    col("Image URL", Text),
];

const FRIEND_WORKOUTS: &[ColumnSpec] = &[
    col("Workout ID", Text),
    col("User ID", Text),
    col("Username", Text),
    col("Start Time", DateTime),
    col("Discipline", Text),
    col("Title", Text),
    col("Instructor", Text),
    col("Duration (min)", Number),
    col("Total Output (kJ)", Number),
    col("Personal Record", Checkbox),
];

const PERSONAL_BESTS: &[ColumnSpec] = &[
    col("Best ID", Text),
    col("Discipline", Text),
    col("Length (min)", Number),
    col("Best Output (kJ)", Number),
    col("Best Distance", Number),
    col("Distance Unit", Text),
    col("Date", DateTime),
    col("Workout ID", Text),
];

impl Table {
    /// Every table: the four the check requires, in the order a sync
    /// writes them, then the optional one (written after Workouts).
    pub const ALL: [Table; 5] = [
        Table::Workouts,
        Table::Instructors,
        Table::Friends,
        Table::FriendWorkouts,
        Table::PersonalBests,
    ];

    /// Written only when the doc has a table of this name: its absence is
    /// no problem and the check never asks for it (a table that is there
    /// must still have its columns).
    pub fn is_optional(self) -> bool {
        matches!(self, Table::PersonalBests)
    }

    /// The table's default name in the doc.
    pub fn default_name(self) -> &'static str {
        match self {
            Table::Workouts => "Workouts",
            Table::Instructors => "Instructors",
            Table::Friends => "Friends",
            Table::FriendWorkouts => "Friend Workouts",
            Table::PersonalBests => "Personal Bests",
        }
    }

    /// The key used in settings.toml and in the local state.
    pub fn key(self) -> &'static str {
        match self {
            Table::Workouts => "workouts",
            Table::Instructors => "instructors",
            Table::Friends => "friends",
            Table::FriendWorkouts => "friend_workouts",
            Table::PersonalBests => "personal_bests",
        }
    }

    /// The inverse of [`Table::key`].
    pub fn from_key(key: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.key() == key)
    }

    /// The columns the schema check asks for, key column first.
    pub fn required_columns(self) -> impl Iterator<Item = &'static ColumnSpec> {
        self.columns().iter().filter(|c| !c.optional)
    }

    /// The columns the app writes when the user added them.
    pub fn optional_columns(self) -> impl Iterator<Item = &'static ColumnSpec> {
        self.columns().iter().filter(|c| c.optional)
    }

    /// Every column the app can write, key column first, the required
    /// ones before the optional ones.
    pub fn columns(self) -> &'static [ColumnSpec] {
        match self {
            Table::Workouts => WORKOUTS,
            Table::Instructors => INSTRUCTORS,
            Table::Friends => FRIENDS,
            Table::FriendWorkouts => FRIEND_WORKOUTS,
            Table::PersonalBests => PERSONAL_BESTS,
        }
    }

    /// The column rows are keyed by (`keyColumns` in an upsert).
    pub fn key_column(self) -> &'static str {
        self.columns()[0].name
    }
}

/// Whether a column's name in the doc matches a spec name: case and
/// surrounding spaces ignored, nothing else.
pub fn names_match(in_doc: &str, spec: &str) -> bool {
    in_doc.trim().to_lowercase() == spec.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_columns_follow_the_spec() {
        assert_eq!(Table::Workouts.key_column(), "Workout ID");
        assert_eq!(Table::Instructors.key_column(), "Instructor ID");
        assert_eq!(Table::Friends.key_column(), "User ID");
        assert_eq!(Table::FriendWorkouts.key_column(), "Workout ID");
        assert_eq!(Table::PersonalBests.key_column(), "Best ID");
    }

    #[test]
    fn only_personal_bests_is_an_optional_table() {
        let optional: Vec<Table> = Table::ALL.into_iter().filter(|t| t.is_optional()).collect();
        assert_eq!(optional, [Table::PersonalBests]);
        assert_eq!(
            Table::from_key("personal_bests"),
            Some(Table::PersonalBests)
        );
    }

    #[test]
    fn optional_columns_follow_the_required_ones() {
        for table in Table::ALL {
            let first_optional = table.columns().iter().position(|c| c.optional);
            if let Some(i) = first_optional {
                assert!(table.columns()[i..].iter().all(|c| c.optional), "{table:?}");
            }
            assert!(
                !table.columns()[0].optional,
                "{table:?}: the key is required"
            );
        }
        let names: Vec<&str> = Table::Workouts.optional_columns().map(|c| c.name).collect();
        assert_eq!(names.len(), 14);
        assert_eq!(names[4], "Strive Score");
        assert_eq!(Table::Workouts.required_columns().count(), 19);
        assert_eq!(Table::Friends.optional_columns().count(), 0);
    }

    #[test]
    fn names_match_ignores_case_and_outer_spaces_only() {
        assert!(names_match("  workout id ", "Workout ID"));
        assert!(!names_match("WorkoutID", "Workout ID"));
    }
}
