//! Child processes and what `/proc` says about them: start a server and read
//! its first lines, peak and current RSS, CPU time of a process tree.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts `cmd` (its stderr to `log`), and returns it with the first `lines`
/// lines of its stdout. The child is killed when dropped.
pub async fn start_with_lines(
    mut cmd: Command,
    log: &Path,
    lines: usize,
) -> anyhow::Result<(Child, Vec<String>)> {
    let err = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::from(err))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut reader = BufReader::new(stdout).lines();
    let mut out = Vec::new();
    let read = async {
        while out.len() < lines {
            match reader.next_line().await? {
                Some(l) => out.push(l),
                None => bail!("exited after {} lines: {out:?}", out.len()),
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .with_context(|| format!("waiting for {lines} lines from {cmd:?}"))??;
    // Keep draining stdout so a chatty child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = reader.next_line().await {} });
    Ok((child, out))
}

/// A `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`), in kB.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `(ppid, utime + stime in ticks)` from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; fields follow the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15), 1-based in proc(5).
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// `pid` and every process below it.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            if let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) {
                if let Some((ppid, _)) = stat(p) {
                    children.entry(ppid).or_default().push(p);
                }
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c);
        }
        i += 1;
    }
    out
}

/// The command name of a process.
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Sum of `VmRSS` over the tree under `pid`, in kB, and the processes counted.
pub fn tree_rss_kb(pid: u32) -> (u64, Vec<(String, u64)>) {
    let mut total = 0;
    let mut each = Vec::new();
    for p in tree(pid) {
        if let Some(kb) = status_kb(p, "VmRSS") {
            total += kb;
            each.push((comm(p), kb));
        }
    }
    (total, each)
}

/// Sum of `Pss` (`/proc/<pid>/smaps_rollup`) over the tree under `pid`, in
/// kB: each shared page counted once across the processes sharing it.
pub fn tree_pss_kb(pid: u32) -> u64 {
    tree(pid)
        .into_iter()
        .filter_map(|p| {
            let s = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok()?;
            s.lines()
                .find(|l| l.starts_with("Pss:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Where the resident memory of the tree under `pid` lives: RSS in kB by
/// mapping (a file's name, or `[anon]`, `[heap]`, `[stack]`), largest first.
/// This is the profile behind `app_idle_rss_mb`.
pub fn tree_rss_by_mapping(pid: u32) -> Vec<(String, u64)> {
    let mut by: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for p in tree(pid) {
        let Ok(s) = std::fs::read_to_string(format!("/proc/{p}/smaps")) else {
            continue;
        };
        let mut current = String::from("[anon]");
        for line in s.lines() {
            let mut f = line.split_whitespace();
            let first = f.next().unwrap_or_default();
            if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                // A mapping header: address perms offset dev inode [path].
                let path = f.nth(4).unwrap_or("[anon]");
                current = path.rsplit('/').next().unwrap_or(path).to_string();
            } else if first == "Rss:" {
                let kb: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                *by.entry(current.clone()).or_default() += kb;
            }
        }
    }
    let mut v: Vec<_> = by.into_iter().filter(|(_, kb)| *kb > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Sum of user + system CPU ticks over the tree under `pid`.
pub fn tree_cpu_ticks(pid: u32) -> u64 {
    tree(pid)
        .into_iter()
        .filter_map(|p| stat(p).map(|s| s.1))
        .sum()
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux in use).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The largest `ru_maxrss` among the children waited for so far, in kB.
pub fn children_max_rss_kb() -> Option<u64> {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .ok()
        .and_then(|u| u64::try_from(u.max_rss()).ok())
}
