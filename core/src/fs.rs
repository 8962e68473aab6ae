//! Small file-system helpers shared by the modules that keep files.

use std::io::Write as _;
use std::path::Path;

/// Who may read a file [`write_replacing`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The platform's default (umask).
    Default,
    /// The owner only (mode 0600 on Unix), for a secret.
    OwnerOnly,
}

/// Replaces `path` with `bytes` so that a reader, or a process killed
/// midway, sees either the old file or the new one, never a torn one: the
/// bytes go to a temporary file beside it (same file system), are synced,
/// and the temporary file is renamed over `path`.
///
/// The temporary file (`tempfile`'s `NamedTempFile`) has a random name, is
/// created exclusively (`O_EXCL`, so a planted file or symlink is never
/// opened) and has its final mode from creation on, so a secret is never
/// readable by others, not even for a moment. On failure it is removed.
pub fn write_replacing(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{file_name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    let permissions = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(match access {
            // The umask still applies, as for any file created.
            Access::Default => 0o666,
            Access::OwnerOnly => 0o600,
        })
    };
    #[cfg(unix)]
    builder.permissions(permissions);
    #[cfg(not(unix))]
    let _ = access;
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_replacing(&path, b"old", Access::Default).unwrap();
        write_replacing(&path, b"new", Access::OwnerOnly).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_temporary_file_or_link_is_never_written() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, b"untouched").unwrap();
        // The names an older version used, planted by someone else.
        let pid = std::process::id();
        std::os::unix::fs::symlink(&elsewhere, dir.path().join(format!(".token.tmp-{pid}")))
            .unwrap();
        write_replacing(&path, b"secret", Access::OwnerOnly).unwrap();
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"untouched");
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder/f");
        assert!(write_replacing(&missing, b"x", Access::Default).is_err());
        assert!(!missing.exists());
    }
}
