//! Single flight: at most one sync runs at a time across every process of
//! this user (the tray app, the CLI, cron).
//!
//! The lock is an exclusive advisory lock (std's `File::try_lock`: `flock`
//! on Unix, `LockFileEx` on Windows) on a file in the data folder. The OS releases it
//! when the holder drops it or dies, so a killed sync never leaves a stale
//! lock behind. The file itself is never deleted: deleting it would let a
//! second process lock a new file while the first still holds the old one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often [`SyncLock::acquire_with_wait`] tries again.
const POLL: Duration = Duration::from_millis(100);

/// A held sync lock; dropping it releases the lock.
#[derive(Debug)]
pub struct SyncLock {
    // Held only for its lock: closing the file releases it.
    _file: File,
    path: PathBuf,
}

impl SyncLock {
    /// Takes the lock if nobody holds it: `Ok(None)` when another sync
    /// holds it. Creates the lock file and its folder when missing.
    pub fn try_acquire(path: &Path) -> io::Result<Option<SyncLock>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        // The holder's pid helps whoever looks at the file; failing to write it is harmless.
        let _ = file
            .set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(Some(SyncLock {
            _file: file,
            path: path.to_owned(),
        }))
    }

    /// Takes the lock, waiting up to `wait` for another sync to finish;
    /// `Ok(None)` when it is still held at the deadline ("a sync is already
    /// running"). Blocks the thread: async callers use `spawn_blocking`.
    pub fn acquire_with_wait(path: &Path, wait: Duration) -> io::Result<Option<SyncLock>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(lock) = Self::try_acquire(path)? {
                return Ok(Some(lock));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL.min(deadline - now));
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHILD_VAR: &str = "PCS_LOCK_TEST_CHILD_LOCK";

    #[test]
    fn a_second_holder_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/sync.lock");
        let first = SyncLock::try_acquire(&path).unwrap().expect("first lock");
        assert_eq!(first.path(), path);
        assert!(SyncLock::try_acquire(&path).unwrap().is_none());
        drop(first);
        // Waits a moment: another test of this process may be starting a
        // child, which holds a copy of every descriptor from fork to exec.
        assert!(SyncLock::acquire_with_wait(&path, Duration::from_secs(5))
            .unwrap()
            .is_some());
    }

    #[test]
    fn waiting_gives_up_at_the_deadline_while_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.lock");
        let _held = SyncLock::try_acquire(&path).unwrap().unwrap();
        let got = SyncLock::acquire_with_wait(&path, Duration::from_millis(250)).unwrap();
        assert!(got.is_none());
    }

    #[test]
    fn waiting_gets_the_lock_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.lock");
        let held = SyncLock::try_acquire(&path).unwrap().unwrap();
        let p = path.clone();
        let waiter =
            std::thread::spawn(move || SyncLock::acquire_with_wait(&p, Duration::from_secs(60)));
        drop(held);
        assert!(waiter.join().unwrap().unwrap().is_some());
    }

    /// Runs only as the child of `a_dead_process_releases_the_lock`: holds
    /// the lock, says so through a marker file, then waits to be killed.
    #[test]
    #[ignore = "child process of a_dead_process_releases_the_lock"]
    fn lock_holding_child() {
        let Some(path) = std::env::var_os(CHILD_VAR) else {
            return;
        };
        let path = PathBuf::from(path);
        let _lock = SyncLock::try_acquire(&path).unwrap().expect("child lock");
        std::fs::write(path.with_extension("held"), "").unwrap();
        // Blocks until the parent kills this process (stdin stays open until then).
        let _ = io::Read::read_to_end(&mut io::stdin(), &mut Vec::new());
    }

    #[test]
    fn a_dead_process_releases_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.lock");
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "lock::tests::lock_holding_child",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CHILD_VAR, &path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let marker = path.with_extension("held");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !marker.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the child exited ({status}) before taking the lock");
            }
            assert!(Instant::now() < deadline, "the child never took the lock");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            SyncLock::try_acquire(&path).unwrap().is_none(),
            "another process's lock must exclude this one"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        let got = SyncLock::acquire_with_wait(&path, Duration::from_secs(60)).unwrap();
        assert!(got.is_some(), "the lock must be free once its holder died");
    }
}
