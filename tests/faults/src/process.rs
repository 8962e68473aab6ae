//! Scenarios that need more than one process or the machine itself: the CLI
//! killed with SIGKILL at random instants, the app and a cron CLI started
//! together, and the state on a filesystem that fills up.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use pcs_core::clock::SystemClock;
use pcs_core::paths::Paths;
use pcs_core::secrets::MemoryStore;
use pcs_core::settings::Settings;
use pcs_core::setup::{self, Overrides, SetupInput};
use pcs_core::sync::RunOptions;
use rand::{Rng, SeedableRng};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::outcome::Outcome;
use crate::world::{Spec, World};

/// Where the CLI keeps its state under `$XDG_DATA_HOME`.
const CLI_STATE: &str = "peloton-coda-sync/state.db";

/// The CLI binary: `PCS_CLI_BIN`, else next to this binary (same profile).
pub fn cli_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PCS_CLI_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.join("peloton-coda-sync");
    p.exists().then_some(p)
}

/// `peloton-coda-sync sync` for this world, in a clean environment (no
/// keychain, so the credentials come from the environment as on a server).
fn cli(bin: &Path, w: &World) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(bin);
    c.arg("sync")
        .env_clear()
        .envs(w.home.env())
        .env("PELOTON_USERNAME", w.peloton.email())
        .env("PELOTON_PASSWORD", w.peloton.password())
        .env("CODA_API_TOKEN", w.coda.token())
        .env("CODA_DOC", w.coda.doc_url())
        .env("PELOTON_API_URL", w.peloton.url())
        .env("PELOTON_AUTH_URL", w.peloton.url())
        .env("CODA_API_URL", w.coda.url())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// The last line of stderr: the CLI's one sentence.
fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The CLI is killed with SIGKILL at 20 random instants, with new workouts
/// arriving between kills; then one run to the end.
pub async fn cli_killed(bin: &Path) -> Outcome {
    let w = World::start(Spec {
        coda: fake_coda::Config::default(),
        state_db: Some(CLI_STATE.into()),
        ..Spec::default()
    })
    .await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let (mut killed, mut finished) = (0, 0);
    let mut o = Outcome {
        fault: "CLI killed (SIGKILL) at 20 random instants".into(),
        ..Outcome::default()
    };
    let mut dup_seen = 0;
    for _ in 0..20 {
        w.peloton.add_workouts(2);
        let at = Duration::from_millis(rng.gen_range(50..6_000));
        let Ok(mut child) = cli(bin, &w).spawn() else {
            return Outcome::skipped(&o.fault, "the CLI could not be started");
        };
        match tokio::time::timeout(at, child.wait()).await {
            Ok(_) => finished += 1,
            Err(_) => {
                // `start_kill` is SIGKILL on Unix: no handler, no cleanup.
                let _ = child.start_kill();
                let _ = child.wait().await;
                killed += 1;
            }
        }
        w.coda.wait_idle().await;
        dup_seen = dup_seen.max(w.tally().duplicated);
    }
    let last = cli(bin, &w).output().await;
    w.coda.wait_idle().await;
    o.reran = true;
    match last {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let s = last_line(&out.stderr);
            o.record(&w, &Err(s), false);
        }
        Err(e) => o.rerun_error = Some(format!("the CLI could not be started: {e}")),
    }
    o.first_label = Some(format!("{killed} runs killed"));
    o.notes.push(format!(
        "{killed} runs killed, {finished} finished before their instant"
    ));
    if dup_seen > 0 {
        o.notes
            .push(format!("{dup_seen} duplicate keys seen between kills"));
    }
    o.tally = w.tally();
    o.tally.duplicated = o.tally.duplicated.max(dup_seen);
    o.requests = w.requests();
    o
}

/// The app (an engine built by `setup`, as the tray app builds it) and a
/// cron CLI start at the same instant on the same home.
pub async fn app_and_cron(bin: &Path) -> Outcome {
    let w = World::start(Spec {
        coda: fake_coda::Config::default(),
        state_db: Some(CLI_STATE.into()),
        ..Spec::default()
    })
    .await;
    let mut o = Outcome {
        fault: "app and a cron CLI started together".into(),
        ..Outcome::default()
    };
    let paths = match Paths::from_vars(|name| w.home.var(name)) {
        Ok(p) => p,
        Err(e) => return Outcome::skipped(&o.fault, &e.user_message()),
    };
    let overrides = Overrides {
        peloton_email: Some(w.peloton.email()),
        peloton_password: Some(SecretString::from(w.peloton.password())),
        coda_token: Some(SecretString::from(w.coda.token())),
        coda_doc: Some(w.coda.doc_url()),
        peloton_api_url: Some(w.peloton.url()),
        peloton_auth_url: Some(w.peloton.url()),
        coda_api_url: Some(w.coda.url()),
    };
    let settings = Settings::default();
    let engine = match setup::build_engine(SetupInput {
        paths: &paths,
        settings: &settings,
        overrides: &overrides,
        secrets: Arc::new(MemoryStore::new()),
        clock: Arc::new(SystemClock),
        lock_wait: Duration::ZERO,
    }) {
        Ok(e) => e,
        Err(e) => return Outcome::skipped(&o.fault, &e.user_message()),
    };
    let cancel = CancellationToken::new();
    let (app, cron) = tokio::join!(
        engine.run(RunOptions::default(), &|_| {}, &cancel),
        cli(bin, &w).output()
    );
    drop(engine);
    w.coda.wait_idle().await;
    let app_ran = app.is_ok();
    let cron_ran = matches!(&cron, Ok(out) if out.status.code() != Some(4));
    let app_said = match &app {
        Ok(r) if r.ok() => "app synced".to_string(),
        Ok(r) => format!(
            "app failed: {}",
            r.failure().map_or("", |p| p.message.as_str())
        ),
        Err(refused) => format!("app: {}", refused.user_message()),
    };
    let app_result = app.map_err(|refused| refused.user_message());
    o.record(&w, &app_result, true);
    let cron_said = match &cron {
        Ok(out) if out.status.success() => "cron synced".to_string(),
        Ok(out) => {
            let s = last_line(&out.stderr);
            o.record(&w, &Err(s.clone()), false);
            format!("cron exit {}: {s}", out.status.code().unwrap_or(-1))
        }
        Err(e) => format!("cron could not start: {e}"),
    };
    // One of them being skipped is the point; only what ran must be right.
    let busy = |e: &Option<String>| e.as_deref().is_some_and(|e| e.contains("already running"));
    if busy(&o.error) {
        o.error = None;
    }
    if busy(&o.rerun_error) {
        o.rerun_error = None;
    }
    o.notes.push(format!("{app_said}; {cron_said}"));
    if !app_ran && !cron_ran {
        o.unclear.push("neither the app nor the CLI ran".into());
    }
    o.tally = w.tally();
    o.requests = w.requests();
    o
}

/// Unmounts the tiny filesystem however the scenario ends.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn mount_tmpfs(at: &Path, size: &str, remount: bool) -> bool {
    let mut c = std::process::Command::new("mount");
    if remount {
        c.args(["-o", &format!("remount,size={size}")]);
    } else {
        c.args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]);
    }
    c.arg(at)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The state lives on a tmpfs too small for it: the store's writes get the
/// OS's ENOSPC. The fix is freeing space (a bigger filesystem).
pub async fn disk_full() -> Outcome {
    let fault = "disk full while writing state";
    let Ok(dir) = tempfile::tempdir() else {
        return Outcome::skipped(fault, "no temporary folder");
    };
    let mnt = dir.path().join("tiny");
    if std::fs::create_dir(&mnt).is_err() || !mount_tmpfs(&mnt, "160k", false) {
        return Outcome::skipped(fault, "needs root to mount a small tmpfs");
    }
    let mount = Mount(mnt.clone());
    let w = World::start(Spec {
        state_db: Some(mnt.join("state.db")),
        ..Spec::default()
    })
    .await;
    let first = w.run().await;
    let o = Outcome {
        fault: fault.into(),
        ..Outcome::default()
    };
    let o = o
        .settle(&w, first, || {
            mount_tmpfs(&mnt, "64m", true);
        })
        .await;
    drop(w);
    drop(mount);
    o
}
