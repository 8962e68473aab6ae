//! Launch at login on Linux: an XDG autostart entry in
//! `$XDG_CONFIG_HOME/autostart` (else `~/.config/autostart`).
//!
//! Written here rather than through tauri-plugin-autostart because its
//! Linux backend always writes under `~/.config`, ignoring
//! `XDG_CONFIG_HOME`, so a session that sets it would never read the entry.

use std::io;
use std::path::{Path, PathBuf};

use crate::error::AppError;

/// The entry's file name.
const FILE_NAME: &str = "peloton-coda-sync.desktop";

/// Where the entry lives, from the environment lookup `var`
/// (`XDG_CONFIG_HOME` when absolute, else `$HOME/.config`).
pub fn entry_path(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let config = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| var("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(config.join("autostart").join(FILE_NAME))
}

/// Characters the Desktop Entry spec reserves in an `Exec` argument: an
/// argument holding one is quoted.
const RESERVED: &[char] = &[
    ' ', '\t', '\n', '"', '\'', '\\', '>', '<', '~', '|', '&', ';', '$', '*', '?', '#', '(', ')',
    '`',
];

/// One `Exec` argument as the Desktop Entry spec ("The Exec key") wants
/// it: quoted when it holds a reserved character, with `"`, `` ` ``, `$`
/// and `\` escaped inside the quotes; `%` doubled (it starts field codes);
/// then the value escapes of every string (`\\`, `\n`, `\t`, `\r`), which
/// are undone first when the entry is read.
pub fn exec_arg(arg: &str) -> String {
    let quoted = if arg.is_empty() || arg.contains(RESERVED) {
        let mut q = String::with_capacity(arg.len() + 2);
        q.push('"');
        for c in arg.chars() {
            if matches!(c, '"' | '`' | '$' | '\\') {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    } else {
        arg.to_owned()
    };
    quoted
        .replace('%', "%%")
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
        .replace('\r', "\\r")
}

/// The entry's text: starts `exe` in the tray only.
pub fn entry_text(exe: &Path, tray_only_flag: &str) -> String {
    let exe = exec_arg(&exe.display().to_string());
    let flag = exec_arg(tray_only_flag);
    format!(
        "[Desktop Entry]\nType=Application\nName=Peloton Coda Sync\nComment=Sync Peloton workouts into Coda\nExec={exe} {flag}\nIcon=peloton-coda-sync-app\nTerminal=false\nX-GNOME-Autostart-enabled=true\n"
    )
}

/// Writes (on) or removes (off) the entry at `path`.
pub fn apply(path: &Path, on: bool, exe: &Path, tray_only_flag: &str) -> io::Result<()> {
    if on {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, entry_text(exe, tray_only_flag))
    } else {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// Applies `on` for the running binary, with the process environment.
pub fn set(on: bool, tray_only_flag: &str) -> Result<(), AppError> {
    let path = entry_path(|name| std::env::var(name).ok()).ok_or(AppError::LoginItemNoHome)?;
    let exe = std::env::current_exe().map_err(AppError::LoginItemNoExe)?;
    apply(&path, on, &exe, tray_only_flag)
        .map_err(|source| AppError::LoginItemWrite { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_string())
        }
    }

    #[test]
    fn entry_follows_xdg_config_home_else_home() {
        assert_eq!(
            entry_path(vars(&[("XDG_CONFIG_HOME", "/x/cfg"), ("HOME", "/h")])),
            Some(PathBuf::from("/x/cfg/autostart/peloton-coda-sync.desktop"))
        );
        assert_eq!(
            entry_path(vars(&[("XDG_CONFIG_HOME", "relative"), ("HOME", "/h")])),
            Some(PathBuf::from(
                "/h/.config/autostart/peloton-coda-sync.desktop"
            ))
        );
        assert_eq!(entry_path(vars(&[])), None);
    }

    #[test]
    fn on_writes_the_installed_binary_off_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("autostart").join(FILE_NAME);
        let exe = Path::new("/usr/bin/peloton-coda-sync-app");
        apply(&path, true, exe, "--minimized").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\nExec=/usr/bin/peloton-coda-sync-app --minimized\n"),
            "{text}"
        );
        apply(&path, false, exe, "--minimized").unwrap();
        assert!(!path.exists());
        // Off twice is fine.
        apply(&path, false, exe, "--minimized").unwrap();
    }

    #[test]
    fn exec_arguments_are_escaped_as_the_spec_says() {
        let check = |arg: &str, expect: &str| assert_eq!(exec_arg(arg), expect, "{arg}");
        check("/usr/bin/app", "/usr/bin/app");
        check("/opt/My Apps/app", "\"/opt/My Apps/app\"");
        check("/opt/100%/app", "/opt/100%%/app");
        check("/opt/$HOME/a`b`", "\"/opt/\\\\$HOME/a\\\\`b\\\\`\"");
        check("/opt/say \"hi\"", "\"/opt/say \\\\\"hi\\\\\"\"");
        // A literal backslash takes four in the file (the spec's own example).
        check("/opt/a\\b", "\"/opt/a\\\\\\\\b\"");
        check("/opt/a\nb", "\"/opt/a\\nb\"");
        check("", "\"\"");
    }

    #[test]
    fn a_path_with_spaces_is_quoted() {
        let text = entry_text(Path::new("/opt/My Apps/app"), "--minimized");
        assert!(
            text.contains("Exec=\"/opt/My Apps/app\" --minimized"),
            "{text}"
        );
    }
}
