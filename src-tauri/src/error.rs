//! The app's errors: [`AppError`] for what fails in the shell itself (its
//! start, the login item), [`CommandError`] for what a command tells a
//! window. `Display` carries detail for the log; `user_message()` is the
//! one sentence a user sees.

use std::path::PathBuf;

use pcs_core::paths::PathsError;
use pcs_core::settings::FieldError;
use serde::Serialize;

/// What went wrong in the desktop shell.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The arguments could not be parsed (clap's message, usage included).
    #[error("{0}")]
    Args(#[from] clap::Error),
    /// No home folder to keep files in.
    #[error(transparent)]
    Paths(#[from] PathsError),
    /// Tauri could not build the app.
    #[error("the app could not start: {0}")]
    Start(#[from] tauri::Error),
    /// The login item's folder is unknown: no `HOME`.
    #[error("no HOME for the login item")]
    LoginItemNoHome,
    /// The running binary's own path is unknown, so no login item can name it.
    #[error("no path of the running binary: {0}")]
    LoginItemNoExe(std::io::Error),
    /// The login item could not be written or removed.
    #[error("the login item {} could not be changed: {source}", path.display())]
    LoginItemWrite {
        /// The entry's file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The autostart plugin (macOS, Windows) refused.
    #[error("the autostart plugin failed: {0}")]
    AutoLaunch(String),
}

impl AppError {
    /// The one sentence a user sees.
    pub fn user_message(&self) -> String {
        match self {
            AppError::Args(e) => e.to_string(),
            AppError::Paths(e) => e.user_message(),
            AppError::Start(e) => format!("Peloton Coda Sync could not start: {e}"),
            AppError::LoginItemNoHome => {
                "Launch at login could not be changed: HOME is not set.".to_owned()
            }
            AppError::LoginItemNoExe(_) => {
                "Launch at login could not be changed: the app's own path is unknown.".to_owned()
            }
            AppError::LoginItemWrite { path, .. } => format!(
                "Launch at login could not be changed; check that {} is writable.",
                path.parent().unwrap_or(path).display()
            ),
            AppError::AutoLaunch(_) => {
                "Launch at login could not be changed; check that the login items can be edited."
                    .to_owned()
            }
        }
    }

    /// The process's exit status when the app cannot start with it: 2 for
    /// bad arguments (0 for `--help` and `--version`), 3 for a missing home
    /// folder (as the CLI's setup errors), else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Args(e) => e.exit_code(),
            AppError::Paths(_) => 3,
            _ => 1,
        }
    }
}

/// What a failed command tells the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandError {
    /// One sentence: what happened and what to do.
    pub message: String,
    /// Errors to show beside their fields (settings window).
    pub fields: Vec<FieldError>,
}

impl CommandError {
    /// An error that is one sentence.
    pub fn msg(message: impl Into<String>) -> Self {
        CommandError {
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// Errors beside fields.
    pub fn fields(fields: Vec<FieldError>) -> Self {
        CommandError {
            message: "Some settings need a fix; see the messages beside them.".to_owned(),
            fields,
        }
    }
}

impl From<AppError> for CommandError {
    fn from(e: AppError) -> Self {
        tracing::warn!(error = %e, "a command failed");
        CommandError::msg(e.user_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_item_error_names_the_folder_to_fix_and_logs_the_cause() {
        let e = AppError::LoginItemWrite {
            path: PathBuf::from("/home/r/.config/autostart/x.desktop"), // outside-ok
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(
            e.user_message(),
            "Launch at login could not be changed; check that /home/r/.config/autostart is writable." // outside-ok
        );
        assert!(e.to_string().contains("permission denied"), "{e}");
        assert_eq!(CommandError::from(e).fields, []);
    }
}
