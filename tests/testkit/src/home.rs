//! An isolated home for one test: a fresh HOME with its own XDG folders and
//! runtime folder, and the clean environment a process under test starts
//! with, so nothing of the developer's session leaks in (no settings, no
//! keychain, no `RUST_LOG`).

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// A temporary folder holding `home/` (HOME, with the XDG folders inside)
/// and `run/` (XDG_RUNTIME_DIR, 0700); removed on drop.
///
/// The XDG folders are on purpose not the defaults (`~/.config` ...), so a
/// file written to the default instead of the variable's folder is seen.
pub struct Home {
    root: TempDir,
}

impl Home {
    /// Makes the folders, under a temporary folder named `prefix...`.
    pub fn new(prefix: &str) -> io::Result<Home> {
        let root = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let home = Home { root };
        for (_, dir) in home.dirs() {
            std::fs::create_dir_all(dir)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(home.runtime_dir(), std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(home)
    }

    /// The temporary folder around HOME (for logs and files the user keeps
    /// outside HOME).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `HOME`.
    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// `XDG_CONFIG_HOME`.
    pub fn config_home(&self) -> PathBuf {
        self.home().join("xdg-config")
    }

    /// `XDG_DATA_HOME`.
    pub fn data_home(&self) -> PathBuf {
        self.home().join("xdg-data")
    }

    /// `XDG_STATE_HOME`.
    pub fn state_home(&self) -> PathBuf {
        self.home().join("xdg-state")
    }

    /// `XDG_CACHE_HOME`.
    pub fn cache_home(&self) -> PathBuf {
        self.home().join("xdg-cache")
    }

    /// `XDG_RUNTIME_DIR`.
    pub fn runtime_dir(&self) -> PathBuf {
        self.root.path().join("run")
    }

    fn dirs(&self) -> [(&'static str, PathBuf); 6] {
        [
            ("HOME", self.home()),
            ("XDG_CONFIG_HOME", self.config_home()),
            ("XDG_DATA_HOME", self.data_home()),
            ("XDG_STATE_HOME", self.state_home()),
            ("XDG_CACHE_HOME", self.cache_home()),
            ("XDG_RUNTIME_DIR", self.runtime_dir()),
        ]
    }

    /// One variable of [`Home::env`] (for code that takes a lookup, such as
    /// a paths builder).
    pub fn var(&self, name: &str) -> Option<OsString> {
        self.env()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into())
    }

    /// The whole environment of a process under test, to pass after
    /// `env_clear()`: `PATH` (to find helpers), HOME and the XDG folders.
    /// No D-Bus address: without one there is no keychain, as on a server;
    /// a desktop test adds its private bus with [`Home::with_bus`].
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![("PATH".to_owned(), std::env::var("PATH").unwrap_or_default())];
        env.extend(
            self.dirs()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.display().to_string())),
        );
        env
    }

    /// [`Home::env`] on a private session bus at `bus` (the desktop tests'),
    /// which also plays the system bus, so a test can be NetworkManager.
    pub fn with_bus(&self, bus: &str) -> Vec<(String, String)> {
        let mut env = self.env();
        env.push(("DBUS_SESSION_BUS_ADDRESS".to_owned(), bus.to_owned()));
        env.push(("DBUS_SYSTEM_BUS_ADDRESS".to_owned(), bus.to_owned()));
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_folder_is_made_inside_and_removed_with_it() {
        let h = Home::new("testkit-").unwrap();
        let root = h.root().to_owned();
        for (k, v) in h.env().into_iter().filter(|(k, _)| k != "PATH") {
            let p = PathBuf::from(&v);
            assert!(p.is_dir() && p.starts_with(&root), "{k}={v}");
            assert_eq!(h.var(&k), Some(OsString::from(&v)));
        }
        assert_ne!(h.config_home(), h.home().join(".config"));
        assert!(!h.env().iter().any(|(k, _)| k.starts_with("DBUS")));
        drop(h);
        assert!(!root.exists());
    }
}
