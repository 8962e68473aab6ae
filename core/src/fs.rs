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
/// and the temporary file is renamed over `path`. On failure the temporary
/// file is removed.
pub fn write_replacing(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if access == Access::OwnerOnly {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = access;
    let result = options
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder/f");
        assert!(write_replacing(&missing, b"x", Access::Default).is_err());
        assert!(!missing.exists());
    }
}
