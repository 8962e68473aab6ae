//! The user's settings (`settings.toml`), shared by the CLI and the tray app.
//!
//! Every field has a default, so a partial file works and a missing file
//! means "all defaults"; unknown keys are ignored so an older app can read a
//! newer file. Invariant: a settings file never holds a secret; there is no
//! field for a password or a token (those live in the keychain, see
//! `secrets.rs`). Environment overrides (`CODA_DOC`, `*_API_URL`) are applied
//! by the binaries, not here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::tables::Table;

/// The shortest interval between automatic syncs, in minutes.
pub const MIN_INTERVAL_MINUTES: u32 = 15;
/// The longest interval between automatic syncs (a day), in minutes.
pub const MAX_INTERVAL_MINUTES: u32 = 1440;
/// The most workouts kept per friend.
pub const MAX_FRIEND_WORKOUTS: u32 = 100;

/// The two ways to sign in to Peloton (issue 18).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInWay {
    /// The e-mail in the settings and the password in the keychain; the app
    /// logs in by itself when the refresh token fails. Written `"email"`:
    /// the settings file names no secret, not even the word.
    #[default]
    #[serde(rename = "email")]
    Password,
    /// Peloton's own page in a browser or the app's sign-in window; only the
    /// refresh token is kept, and when it dies the person signs in again.
    Browser,
}

/// Everything the user can set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Minutes between automatic syncs (15..=1440).
    pub interval_minutes: u32,
    /// How many of each friend's latest workouts to keep (0..=100).
    pub friend_workouts_per_friend: u32,
    /// Which tables are written and what they are called in the doc.
    pub tables: TablesSettings,
    /// Which notifications the tray app shows.
    pub notifications: Notifications,
    /// Whether the tray app starts when the user logs in.
    pub launch_at_login: bool,
    /// The Coda doc: its ID or its browser URL.
    pub coda_doc: String,
    /// The Peloton account's e-mail (not a secret; the password is in the keychain).
    pub peloton_email: String,
    /// How Peloton is signed in to: the stored password, or a browser
    /// sign-in that left only a refresh token.
    pub peloton_sign_in: SignInWay,
    /// The Peloton username the last browser sign-in showed, for "Signed in as".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub peloton_username: String,
    /// Another Coda API base URL (tests and proxies; not documented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coda_api_url: Option<String>,
    /// Another Peloton API base URL (tests; not documented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peloton_api_url: Option<String>,
    /// Another Peloton auth base URL (tests; not documented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peloton_auth_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval_minutes: 60,
            friend_workouts_per_friend: 10,
            tables: TablesSettings::default(),
            notifications: Notifications::default(),
            launch_at_login: false,
            coda_doc: String::new(),
            peloton_email: String::new(),
            peloton_sign_in: SignInWay::default(),
            peloton_username: String::new(),
            coda_api_url: None,
            peloton_api_url: None,
            peloton_auth_url: None,
        }
    }
}

/// One table's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSettings {
    /// Whether a sync writes this table.
    pub enabled: bool,
    /// The table's name in the doc.
    pub name: String,
}

impl TableSettings {
    /// The defaults for `table`: enabled, under its default name.
    pub fn default_for(table: Table) -> Self {
        TableSettings {
            enabled: true,
            name: table.default_name().to_owned(),
        }
    }
}

/// The tables' settings, keyed as in `settings.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawTables")]
pub struct TablesSettings {
    /// `[tables.workouts]`.
    pub workouts: TableSettings,
    /// `[tables.instructors]`.
    pub instructors: TableSettings,
    /// `[tables.friends]`.
    pub friends: TableSettings,
    /// `[tables.friend_workouts]`.
    pub friend_workouts: TableSettings,
    /// `[tables.personal_bests]` (written only when the doc has it).
    pub personal_bests: TableSettings,
}

impl Default for TablesSettings {
    fn default() -> Self {
        RawTables::default().into()
    }
}

// A table's defaults depend on which table it is, which serde's per-type
// `default` cannot know; so a table is read with optional fields and filled
// in once the key tells which table it is.
#[derive(Default, Deserialize)]
#[serde(default)]
struct RawTables {
    workouts: RawTable,
    instructors: RawTable,
    friends: RawTable,
    friend_workouts: RawTable,
    personal_bests: RawTable,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawTable {
    enabled: Option<bool>,
    name: Option<String>,
}

impl RawTable {
    fn fill(self, table: Table) -> TableSettings {
        let d = TableSettings::default_for(table);
        TableSettings {
            enabled: self.enabled.unwrap_or(d.enabled),
            name: self.name.unwrap_or(d.name),
        }
    }
}

impl From<RawTables> for TablesSettings {
    fn from(r: RawTables) -> Self {
        TablesSettings {
            workouts: r.workouts.fill(Table::Workouts),
            instructors: r.instructors.fill(Table::Instructors),
            friends: r.friends.fill(Table::Friends),
            friend_workouts: r.friend_workouts.fill(Table::FriendWorkouts),
            personal_bests: r.personal_bests.fill(Table::PersonalBests),
        }
    }
}

/// The tray app's notification switches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Notifications {
    /// Tell the user when new workouts were synced.
    pub new_workouts: bool,
    /// Tell the user when a friend has a new ride.
    pub friends_new_rides: bool,
    /// Tell the user when a sync fails.
    pub failures: bool,
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            new_workouts: true,
            friends_new_rides: false,
            failures: true,
        }
    }
}

/// A setting that is not acceptable, for the settings window to show
/// beside the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's key as in `settings.toml` (`tables.workouts.name`).
    pub field: String,
    /// One sentence saying what is wrong and what is accepted.
    pub message: String,
}

/// Why the settings could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file exists but could not be read.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// The settings file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or a value has the wrong type.
    #[error("settings file {path} is not valid: {detail}")]
    Parse {
        /// The settings file.
        path: PathBuf,
        /// The parser's explanation (line, key, what was expected).
        detail: String,
    },
    /// The file could not be written.
    #[error("cannot write settings file {path}: {source}")]
    Write {
        /// The settings file (or the temporary file beside it).
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The settings could not be turned into TOML (a bug).
    #[error("cannot serialize settings: {0}")]
    Serialize(#[from] toml::ser::Error),
}

impl SettingsError {
    /// One sentence a user can act on.
    pub fn user_message(&self) -> String {
        match self {
            SettingsError::Read { path, source } => format!(
                "The settings file {} could not be read ({source}); check its permissions.",
                path.display()
            ),
            SettingsError::Parse { path, detail } => format!(
                "The settings file {} is not valid ({}); fix it, or delete it to start from the defaults.",
                path.display(),
                one_line(detail)
            ),
            SettingsError::Write { path, source }
                if source.kind() == std::io::ErrorKind::StorageFull =>
            {
                format!(
                    "The disk is full, so the settings file {} could not be saved; free some space and save again.",
                    path.display()
                )
            }
            SettingsError::Write { path, source } => format!(
                "The settings file {} could not be saved ({source}); check the folder's permissions.",
                path.display()
            ),
            SettingsError::Serialize(e) => {
                format!("The settings could not be saved ({e}); please report this.")
            }
        }
    }
}

// TOML errors span several lines (a source excerpt with a caret); a user
// sentence needs one.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Settings {
    /// Reads `path`; a missing file gives the defaults. Values out of range
    /// (a hand edit) are brought into range and logged; see
    /// [`Settings::load_with_notes`] for the sentences.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let (settings, notes) = Self::load_with_notes(path)?;
        for note in notes {
            tracing::warn!(path = %path.display(), "{note}");
        }
        Ok(settings)
    }

    /// [`Settings::load`], with one sentence per value that was out of range
    /// and brought into it (for the settings window). A file that does not
    /// parse is an error naming its line, never replaced by the defaults.
    pub fn load_with_notes(path: &Path) -> Result<(Settings, Vec<String>), SettingsError> {
        let mut settings = Self::read(path)?;
        let notes = settings.clamp();
        Ok((settings, notes))
    }

    /// Brings hand-edited values into their ranges; one sentence for each.
    pub fn clamp(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        let interval = self
            .interval_minutes
            .clamp(MIN_INTERVAL_MINUTES, MAX_INTERVAL_MINUTES);
        if interval != self.interval_minutes {
            notes.push(format!(
                "The settings file asked for a sync every {} minutes; the app uses {interval}, as syncs run every {MIN_INTERVAL_MINUTES} to {MAX_INTERVAL_MINUTES} minutes.",
                self.interval_minutes
            ));
            self.interval_minutes = interval;
        }
        if self.friend_workouts_per_friend > MAX_FRIEND_WORKOUTS {
            notes.push(format!(
                "The settings file asked for {} workouts per friend; the app keeps {MAX_FRIEND_WORKOUTS}, the most allowed.",
                self.friend_workouts_per_friend
            ));
            self.friend_workouts_per_friend = MAX_FRIEND_WORKOUTS;
        }
        notes
    }

    fn read(path: &Path) -> Result<Settings, SettingsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Self::from_toml(&text).map_err(|e| SettingsError::Parse {
            path: path.to_owned(),
            detail: e.to_string(),
        })
    }

    /// Parses settings from TOML text.
    pub fn from_toml(text: &str) -> Result<Settings, toml::de::Error> {
        toml::from_str(text)
    }

    /// The settings as TOML text.
    pub fn to_toml(&self) -> Result<String, SettingsError> {
        Ok(toml::to_string_pretty(self)?)
    }

    /// Writes the settings to `path` atomically: a reader sees the old file
    /// or the new one, never half of one, even if the process dies midway.
    /// Creates the parent folders.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let text = self.to_toml()?;
        let write_err = |p: &Path| {
            let p = p.to_owned();
            move |source| SettingsError::Write { path: p, source }
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
        crate::fs::write_replacing(path, text.as_bytes(), crate::fs::Access::Default).map_err(
            |source| SettingsError::Write {
                path: path.to_owned(),
                source,
            },
        )?;
        // Persist the rename itself; not every platform can open a folder, and
        // the file is already complete, so a failure here is not reported.
        #[cfg(unix)]
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// What is wrong with these settings; empty when they are all acceptable.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut push = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.to_owned(),
                message,
            })
        };
        if !(MIN_INTERVAL_MINUTES..=MAX_INTERVAL_MINUTES).contains(&self.interval_minutes) {
            push(
                "interval_minutes",
                format!(
                    "The sync interval must be between {MIN_INTERVAL_MINUTES} and {MAX_INTERVAL_MINUTES} minutes (it is {}).",
                    self.interval_minutes
                ),
            );
        }
        if self.friend_workouts_per_friend > MAX_FRIEND_WORKOUTS {
            push(
                "friend_workouts_per_friend",
                format!(
                    "Workouts per friend must be between 0 and {MAX_FRIEND_WORKOUTS} (it is {}).",
                    self.friend_workouts_per_friend
                ),
            );
        }
        let any_enabled = Table::ALL.iter().any(|t| self.table(*t).enabled);
        if any_enabled && self.coda_doc.trim().is_empty() {
            push(
                "coda_doc",
                "Enter the Coda doc to sync to (its ID or its browser URL).".to_owned(),
            );
        }
        let mut seen: Vec<(String, Table)> = Vec::new();
        for t in Table::ALL {
            let s = self.table(t);
            let field = format!("tables.{}.name", t.key());
            let name = s.name.trim();
            if name.is_empty() {
                push(
                    &field,
                    format!(
                        "Enter a name for the {} table (the default is \"{}\").",
                        t.default_name(),
                        t.default_name()
                    ),
                );
                continue;
            }
            if !s.enabled {
                continue;
            }
            // Coda matches table names ignoring case, so two tables differing only in case collide.
            let folded = name.to_lowercase();
            if let Some((_, other)) = seen.iter().find(|(n, _)| *n == folded) {
                push(
                    &field,
                    format!(
                        "The {} and {} tables cannot both be named \"{name}\".",
                        other.default_name(),
                        t.default_name()
                    ),
                );
            } else {
                seen.push((folded, t));
            }
        }
        errors
    }

    /// The settings of one table.
    pub fn table(&self, t: Table) -> &TableSettings {
        match t {
            Table::Workouts => &self.tables.workouts,
            Table::Instructors => &self.tables.instructors,
            Table::Friends => &self.tables.friends,
            Table::FriendWorkouts => &self.tables.friend_workouts,
            Table::PersonalBests => &self.tables.personal_bests,
        }
    }

    /// The settings of one table, to change them.
    pub fn table_mut(&mut self, t: Table) -> &mut TableSettings {
        match t {
            Table::Workouts => &mut self.tables.workouts,
            Table::Instructors => &mut self.tables.instructors,
            Table::Friends => &mut self.tables.friends,
            Table::FriendWorkouts => &mut self.tables.friend_workouts,
            Table::PersonalBests => &mut self.tables.personal_bests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Settings {
        Settings {
            coda_doc: "AbCDeFGH".into(),
            ..Settings::default()
        }
    }

    fn fields(s: &Settings) -> Vec<String> {
        s.validate().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn defaults_match_the_spec() {
        let s = Settings::default();
        assert_eq!(s.interval_minutes, 60);
        assert_eq!(s.friend_workouts_per_friend, 10);
        for t in Table::ALL {
            assert!(s.table(t).enabled);
            assert_eq!(s.table(t).name, t.default_name());
        }
        assert!(s.notifications.new_workouts);
        assert!(!s.notifications.friends_new_rides);
        assert!(s.notifications.failures);
        assert!(!s.launch_at_login);
        assert_eq!(s.coda_doc, "");
        assert_eq!(s.peloton_email, "");
        assert_eq!(s.coda_api_url, None);
    }

    #[test]
    fn missing_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(&dir.path().join("nope.toml")).unwrap();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn partial_file_keeps_defaults_for_the_rest() {
        let s = Settings::from_toml(
            r#"
            interval_minutes = 30
            some_future_key = "ignored"
            [tables.friend_workouts]
            enabled = false
            [tables.instructors]
            name = "Coaches"
            [notifications]
            friends_new_rides = true
            "#,
        )
        .unwrap();
        assert_eq!(s.interval_minutes, 30);
        assert_eq!(s.friend_workouts_per_friend, 10);
        assert!(!s.tables.friend_workouts.enabled);
        assert_eq!(s.tables.friend_workouts.name, "Friend Workouts");
        assert!(s.tables.instructors.enabled);
        assert_eq!(s.tables.instructors.name, "Coaches");
        assert_eq!(
            s.tables.workouts,
            TableSettings::default_for(Table::Workouts)
        );
        assert!(s.notifications.friends_new_rides);
        assert!(s.notifications.new_workouts);
    }

    #[test]
    fn round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/settings.toml");
        let mut s = valid();
        s.interval_minutes = 120;
        s.peloton_email = "ann@example.com".into();
        s.table_mut(Table::Friends).name = "Pals".into();
        s.peloton_api_url = Some("http://127.0.0.1:9".into());
        s.save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap(), s);
    }

    #[test]
    fn saved_file_has_no_secret_field_and_no_unset_urls() {
        let text = valid().to_toml().unwrap();
        for word in ["password", "token", "secret"] {
            assert!(!text.to_lowercase().contains(word), "{text}");
        }
        assert!(!text.contains("api_url"), "{text}");
        assert!(text.contains("interval_minutes = 60"), "{text}");
    }

    #[test]
    fn save_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        std::fs::write(&path, "interval_minutes = 15\n").unwrap();
        let mut s = valid();
        s.interval_minutes = 45;
        s.save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap().interval_minutes, 45);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["settings.toml".to_owned()]);
    }

    #[test]
    fn save_into_an_unwritable_place_is_a_write_error() {
        let dir = tempfile::tempdir().unwrap();
        // A file where a folder should be makes creating the folder fail on every platform.
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "x").unwrap();
        let err = valid().save(&blocker.join("settings.toml")).unwrap_err();
        assert!(matches!(err, SettingsError::Write { .. }), "{err:?}");
        assert!(err.user_message().contains("could not be saved"));
    }

    #[test]
    fn invalid_toml_names_the_file_in_one_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        std::fs::write(&path, "interval_minutes = \"often\"\n").unwrap();
        let err = Settings::load(&path).unwrap_err();
        let msg = err.user_message();
        assert!(matches!(err, SettingsError::Parse { .. }));
        assert!(msg.contains("settings.toml"), "{msg}");
        assert!(msg.contains("interval_minutes"), "{msg}");
        assert!(msg.contains("line 1"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        // Still there, as the user wrote it: never replaced by the defaults.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "interval_minutes = \"often\"\n"
        );
    }

    #[test]
    fn values_out_of_range_are_brought_in_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        std::fs::write(
            &path,
            "interval_minutes = 1\nfriend_workouts_per_friend = 500\n",
        )
        .unwrap();
        let (s, notes) = Settings::load_with_notes(&path).unwrap();
        assert_eq!(s.interval_minutes, MIN_INTERVAL_MINUTES);
        assert_eq!(s.friend_workouts_per_friend, MAX_FRIEND_WORKOUTS);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].contains("every 1 minutes") && notes[0].contains("uses 15"),
            "{notes:?}"
        );
        assert!(notes[1].contains("500"), "{notes:?}");
        assert_eq!(Settings::load(&path).unwrap().interval_minutes, 15);
        std::fs::write(&path, "interval_minutes = 99999\n").unwrap();
        assert_eq!(
            Settings::load(&path).unwrap().interval_minutes,
            MAX_INTERVAL_MINUTES
        );
        assert!(valid().clone().clamp().is_empty());
    }

    #[test]
    fn valid_settings_have_no_errors() {
        assert!(valid().validate().is_empty());
    }

    #[test]
    fn interval_bounds() {
        for (minutes, ok) in [
            (14, false),
            (15, true),
            (1440, true),
            (1441, false),
            (0, false),
        ] {
            let s = Settings {
                interval_minutes: minutes,
                ..valid()
            };
            assert_eq!(fields(&s).is_empty(), ok, "{minutes}");
        }
        let s = Settings {
            interval_minutes: 5,
            ..valid()
        };
        let e = &s.validate()[0];
        assert_eq!(e.field, "interval_minutes");
        assert!(e.message.contains("between 15 and 1440"), "{}", e.message);
    }

    #[test]
    fn friend_workouts_bounds() {
        let s = Settings {
            friend_workouts_per_friend: 0,
            ..valid()
        };
        assert!(fields(&s).is_empty());
        let s = Settings {
            friend_workouts_per_friend: 101,
            ..valid()
        };
        assert_eq!(fields(&s), vec!["friend_workouts_per_friend"]);
    }

    #[test]
    fn coda_doc_is_needed_only_while_a_table_is_enabled() {
        let mut s = Settings::default();
        assert_eq!(fields(&s), vec!["coda_doc"]);
        for t in Table::ALL {
            s.table_mut(t).enabled = false;
        }
        assert!(fields(&s).is_empty());
    }

    #[test]
    fn table_names_must_not_be_empty_or_shared() {
        let mut s = valid();
        s.table_mut(Table::Instructors).name = "  ".into();
        s.table_mut(Table::FriendWorkouts).name = "workouts".into();
        let errs = s.validate();
        assert_eq!(
            errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            vec!["tables.instructors.name", "tables.friend_workouts.name"]
        );
        assert!(
            errs[1].message.contains("Workouts and Friend Workouts"),
            "{}",
            errs[1].message
        );
        // A disabled table's name may repeat an enabled one's: nothing is written to it.
        s.table_mut(Table::Instructors).name = "Instructors".into();
        s.table_mut(Table::FriendWorkouts).enabled = false;
        assert!(s.validate().is_empty());
    }
}
