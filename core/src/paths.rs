//! Where the app keeps its files: the settings file, the local state, the
//! logs and the sync lock.
//!
//! On Linux (and other Unix systems) this follows the XDG base directory
//! spec: `$XDG_CONFIG_HOME`, `$XDG_DATA_HOME` and `$XDG_STATE_HOME`, falling
//! back to `$HOME/.config`, `$HOME/.local/share` and `$HOME/.local/state`.
//! On macOS and Windows the platform folders come from
//! `directories::ProjectDirs`, unless an XDG variable is set, so that a test
//! can isolate everything the same way on every platform.
//!
//! The environment is read through a function passed in
//! ([`Paths::from_vars`]), so tests never change the process environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The folder name used under every base folder.
pub const APP_DIR: &str = "peloton-coda-sync";
/// The settings file's name inside the config folder.
pub const SETTINGS_FILE: &str = "settings.toml";
/// The local state's file name inside the data folder.
pub const STATE_DB_FILE: &str = "state.db";
/// The single-flight lock's file name inside the data folder.
pub const LOCK_FILE: &str = "sync.lock";

/// Every path the app reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `settings.toml`.
    pub config_file: PathBuf,
    /// The folder holding the local state and the lock.
    pub data_dir: PathBuf,
    /// The SQLite local state (`state.db`, inside `data_dir`).
    pub state_db: PathBuf,
    /// The folder log files go to.
    pub log_dir: PathBuf,
    /// The file the single-flight lock is taken on (inside `data_dir`).
    pub lock_file: PathBuf,
}

/// Why the app's folders could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    /// Neither `HOME` nor the XDG variable for this folder is set.
    #[error(
        "cannot locate the {what} folder: neither ${xdg_var} nor $HOME is set to an absolute path"
    )]
    NoHome {
        /// Which folder ("config", "data", "state").
        what: &'static str,
        /// The XDG variable that would have named it.
        xdg_var: &'static str,
    },
}

impl PathsError {
    /// One sentence a user can act on.
    pub fn user_message(&self) -> String {
        match self {
            PathsError::NoHome { what, xdg_var } => format!(
                "Cannot find your home folder for the {what} files: set HOME (or {xdg_var}) to an absolute path."
            ),
        }
    }
}

impl Paths {
    /// The paths for this user, from the process environment and the
    /// platform's conventions.
    pub fn from_env() -> Result<Paths, PathsError> {
        Self::from_env_with(|name| std::env::var_os(name))
    }

    /// [`Paths::from_env`] with the environment read through `var`: XDG
    /// rules on Linux, the platform folders elsewhere unless an XDG variable
    /// is set.
    pub fn from_env_with(var: impl Fn(&str) -> Option<OsString>) -> Result<Paths, PathsError> {
        #[cfg(any(target_os = "macos", windows))]
        {
            let xdg_set = ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"]
                .iter()
                .any(|n| absolute(var(n)).is_some());
            if !xdg_set {
                if let Some(p) = Self::platform() {
                    return Ok(p);
                }
            }
        }
        Self::from_vars(var)
    }

    /// The XDG layout, with the environment read through `var`. A relative
    /// or empty XDG variable is ignored, as the XDG spec requires.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Result<Paths, PathsError> {
        let home = absolute(var("HOME"));
        let base = |xdg_var: &'static str, what: &'static str, fallback: &[&str]| {
            absolute(var(xdg_var))
                .or_else(|| {
                    home.as_ref().map(|h| {
                        let mut p = h.clone();
                        p.extend(fallback);
                        p
                    })
                })
                .map(|p| p.join(APP_DIR))
                .ok_or(PathsError::NoHome { what, xdg_var })
        };
        let config_dir = base("XDG_CONFIG_HOME", "config", &[".config"])?;
        let data_dir = base("XDG_DATA_HOME", "data", &[".local", "share"])?;
        let state_dir = base("XDG_STATE_HOME", "state", &[".local", "state"])?;
        Ok(Self::from_dirs(
            &config_dir,
            data_dir,
            state_dir.join("logs"),
        ))
    }

    /// The platform folders of `directories::ProjectDirs` (macOS: under
    /// `~/Library/Application Support`, Windows: under `%APPDATA%`).
    #[cfg(any(target_os = "macos", windows))]
    fn platform() -> Option<Paths> {
        let dirs = directories::ProjectDirs::from("", "", APP_DIR)?;
        let data_dir = dirs.data_local_dir().to_path_buf();
        // ProjectDirs has no state folder on these platforms; logs sit beside the state.
        let log_dir = data_dir.join("logs");
        Some(Self::from_dirs(dirs.config_dir(), data_dir, log_dir))
    }

    fn from_dirs(config_dir: &Path, data_dir: PathBuf, log_dir: PathBuf) -> Paths {
        Paths {
            config_file: config_dir.join(SETTINGS_FILE),
            state_db: data_dir.join(STATE_DB_FILE),
            lock_file: data_dir.join(LOCK_FILE),
            data_dir,
            log_dir,
        }
    }

    /// The folder friends' avatars are cached in (inside `data_dir`).
    pub fn avatar_dir(&self) -> PathBuf {
        self.data_dir.join("avatars")
    }

    /// Where Peloton's refusal or block of the password is kept (inside
    /// `data_dir`): the same password is not sent again until the person
    /// acts (`peloton::LoginStopFile`).
    pub fn login_stop_file(&self) -> PathBuf {
        self.data_dir.join("peloton-login-stopped")
    }

    /// The file locked while Peloton's tokens are renewed (inside `data_dir`).
    pub fn token_lock_file(&self) -> PathBuf {
        self.data_dir.join("peloton-token.lock")
    }

    /// The same paths with another settings file (`--config FILE`).
    pub fn with_config_file(mut self, path: impl Into<PathBuf>) -> Paths {
        self.config_file = path.into();
        self
    }

    /// Creates the data and log folders (the settings folder is created when
    /// settings are saved).
    pub fn create_dirs(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.data_dir)?;
        std::fs::create_dir_all(&self.log_dir)
    }
}

fn absolute(v: Option<OsString>) -> Option<PathBuf> {
    v.map(PathBuf::from).filter(|p| p.is_absolute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn home_only_uses_the_xdg_fallbacks() {
        let p = Paths::from_vars(vars(&[("HOME", "/home/ann")])).unwrap();
        assert_eq!(
            p.config_file,
            PathBuf::from("/home/ann/.config/peloton-coda-sync/settings.toml")
        );
        assert_eq!(
            p.data_dir,
            PathBuf::from("/home/ann/.local/share/peloton-coda-sync")
        );
        assert_eq!(
            p.state_db,
            PathBuf::from("/home/ann/.local/share/peloton-coda-sync/state.db")
        );
        assert_eq!(
            p.lock_file,
            PathBuf::from("/home/ann/.local/share/peloton-coda-sync/sync.lock")
        );
        assert_eq!(
            p.log_dir,
            PathBuf::from("/home/ann/.local/state/peloton-coda-sync/logs")
        );
    }

    #[test]
    fn xdg_variables_win_over_home() {
        let p = Paths::from_vars(vars(&[
            ("HOME", "/home/ann"),
            ("XDG_CONFIG_HOME", "/x/conf"),
            ("XDG_DATA_HOME", "/x/data"),
            ("XDG_STATE_HOME", "/x/state"),
        ]))
        .unwrap();
        assert_eq!(
            p.config_file,
            PathBuf::from("/x/conf/peloton-coda-sync/settings.toml")
        );
        assert_eq!(
            p.state_db,
            PathBuf::from("/x/data/peloton-coda-sync/state.db")
        );
        assert_eq!(p.log_dir, PathBuf::from("/x/state/peloton-coda-sync/logs"));
    }

    #[test]
    fn relative_or_empty_xdg_variables_are_ignored() {
        let p = Paths::from_vars(vars(&[
            ("HOME", "/home/ann"),
            ("XDG_CONFIG_HOME", "relative/conf"),
            ("XDG_DATA_HOME", ""),
        ]))
        .unwrap();
        assert_eq!(
            p.config_file,
            PathBuf::from("/home/ann/.config/peloton-coda-sync/settings.toml")
        );
        assert_eq!(
            p.data_dir,
            PathBuf::from("/home/ann/.local/share/peloton-coda-sync")
        );
    }

    #[test]
    fn all_xdg_variables_make_home_unnecessary() {
        let p = Paths::from_vars(vars(&[
            ("XDG_CONFIG_HOME", "/c"),
            ("XDG_DATA_HOME", "/d"),
            ("XDG_STATE_HOME", "/s"),
        ]))
        .unwrap();
        assert_eq!(p.data_dir, PathBuf::from("/d/peloton-coda-sync"));
    }

    #[test]
    fn no_home_is_an_error_naming_the_variable() {
        let err = Paths::from_vars(vars(&[("XDG_CONFIG_HOME", "/c")])).unwrap_err();
        assert!(err.user_message().contains("XDG_DATA_HOME"), "{err}");
    }

    #[cfg(not(any(target_os = "macos", windows)))]
    #[test]
    fn from_env_with_follows_xdg_on_linux() {
        let p = Paths::from_env_with(vars(&[("HOME", "/h")])).unwrap();
        assert_eq!(
            p.state_db,
            PathBuf::from("/h/.local/share/peloton-coda-sync/state.db")
        );
    }

    #[test]
    fn config_flag_replaces_only_the_settings_file() {
        let p = Paths::from_vars(vars(&[("HOME", "/h")])).unwrap();
        let q = p.clone().with_config_file("/elsewhere/s.toml");
        assert_eq!(q.config_file, PathBuf::from("/elsewhere/s.toml"));
        assert_eq!(q.state_db, p.state_db);
    }

    #[test]
    fn create_dirs_makes_data_and_log_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().to_str().unwrap().to_owned();
        let p = Paths::from_vars(vars(&[("HOME", &home)])).unwrap();
        p.create_dirs().unwrap();
        assert!(p.data_dir.is_dir());
        assert!(p.log_dir.is_dir());
    }
}
