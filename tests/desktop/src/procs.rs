//! Child processes the tests start, each in a process group of its own so
//! that everything under it (tauri-driver, WebKitWebDriver, the app and its
//! WebKit helpers) is ended together, by that group's id, when the test ends.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Two distinct ports nobody listens on now: both are held until both are
/// known, so they cannot be the same port.
pub fn free_ports() -> Result<(u16, u16)> {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0");
    let (a, b) = (bind()?, bind()?);
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// A process started in its own group; dropping it ends the whole group.
pub struct Group {
    child: Child,
    what: String,
}

impl Group {
    /// Starts `cmd` in a new process group, its output appended to `log`.
    pub fn spawn(mut cmd: Command, what: &str, log: &Path) -> Result<Group> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {what} ({cmd:?})"))?;
        Ok(Group {
            child,
            what: what.to_owned(),
        })
    }

    /// The group's id (its leader's pid).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// How the group's leader exited, if it did.
    pub fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Whether any process of the group is still alive.
    pub fn alive(&self) -> bool {
        signal_group(self.id(), "0")
    }

    /// Ends the group: TERM, then KILL for what is left after a few seconds.
    pub fn end(&mut self) {
        let pgid = self.id();
        signal_group(pgid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.alive() && Instant::now() < deadline {
            let _ = self.child.try_wait();
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.alive() {
            eprintln!("{} (group {pgid}) ignored TERM; killing it", self.what);
            signal_group(pgid, "KILL");
        }
        let _ = self.child.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.end();
    }
}

/// Sends `signal` to process group `pgid` (by id, never by name); true when
/// the group exists. Goes through kill(1) because the workspace forbids
/// unsafe code.
fn signal_group(pgid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The pids of running processes whose executable is `exe`.
pub fn pids_of(exe: &Path) -> Vec<u32> {
    let Ok(exe) = exe.canonicalize() else {
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe)
                && !is_zombie(*pid)
        })
        .collect()
}

/// The file names of the shared objects `pid` has mapped (from
/// `/proc/PID/maps`) that contain any of `needles`.
pub fn mapped_files_containing(pid: u32, needles: &[&str]) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let mut found: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter_map(|path| path.rsplit('/').next())
        .filter(|name| needles.iter().any(|n| name.contains(n)))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The live descendants of `ancestor` (children, their children, ...) whose
/// name (`/proc/PID/comm`, at most 15 bytes) starts with `prefix`.
pub fn descendants_named(ancestor: u32, prefix: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parent_of: std::collections::HashMap<u32, u32> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            Some((pid, rest.split_whitespace().nth(1)?.parse().ok()?))
        })
        .collect();
    let descends = |mut pid: u32| {
        while let Some(&p) = parent_of.get(&pid) {
            if p == ancestor {
                return true;
            }
            if p <= 1 {
                return false;
            }
            pid = p;
        }
        false
    };
    parent_of
        .keys()
        .copied()
        .filter(|&pid| {
            descends(pid)
                && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.starts_with(prefix))
                && !is_zombie(pid)
        })
        .collect()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(false)
}
