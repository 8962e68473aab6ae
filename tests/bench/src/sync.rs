//! The CLI half: the release `peloton-coda-sync` against the two fakes (as
//! child processes, with realistic latency and Coda's real rate limits), in a
//! temporary HOME. Counts come from the fakes' request logs, never from the
//! CLI's own report.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use testkit::home::Home;
use tokio::process::{Child, Command};

use crate::procs;

/// Latency the fake Peloton adds to every request (ms).
pub const PELOTON_LATENCY_MS: u64 = 80;
/// Latency the fake Coda adds to every request (ms).
pub const CODA_LATENCY_MS: u64 = 150;

/// The pacing the clients use (`PelotonConfig`, `CodaConfig` defaults) and
/// the fakes' latency: everything [`bound_s`] needs.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Peloton requests per second (API and login share one pacer).
    pub peloton_rate: f64,
    /// Peloton requests in flight at once.
    pub peloton_in_flight: f64,
    /// Seconds each Peloton request takes.
    pub peloton_latency: f64,
    /// Coda reads per second (60 per 6 s).
    pub coda_read_rate: f64,
    /// Coda reads in flight at once.
    pub coda_reads_in_flight: f64,
    /// Seconds between two Coda writes (one in flight).
    pub coda_write_spacing: f64,
    /// Seconds each Coda request takes.
    pub coda_latency: f64,
}

impl Default for Pacing {
    /// The clients' own defaults, so the bound follows any change to them.
    fn default() -> Self {
        use pcs_core::coda::CodaConfig;
        use pcs_core::net::RateLimit;
        use pcs_core::peloton::PelotonConfig;
        let per_s = |r: RateLimit| f64::from(r.requests) / r.per.as_secs_f64();
        let (peloton, coda) = (PelotonConfig::default(), CodaConfig::default());
        Self {
            peloton_rate: per_s(peloton.rate),
            peloton_in_flight: peloton.max_in_flight as f64,
            peloton_latency: PELOTON_LATENCY_MS as f64 / 1000.0,
            coda_read_rate: per_s(coda.read_rate),
            coda_reads_in_flight: pcs_core::coda::READS_IN_FLIGHT as f64,
            coda_write_spacing: coda.write_rate.spacing().as_secs_f64(),
            coda_latency: CODA_LATENCY_MS as f64 / 1000.0,
        }
    }
}

/// The least time, in seconds, the pacing allows for a run that makes
/// `peloton` Peloton requests (login included), `coda_reads` Coda reads and
/// `coda_writes` Coda writes, assuming perfect overlap of everything that
/// can overlap:
///
/// - Peloton: `P = max(N_p / rate, N_p · latency / in_flight)`: the pacer's
///   rate, or the in-flight cap when latency is the tighter limit.
/// - Coda writes: `W = (N_w − 1) · 3.5 s + latency` (one at a time, 3.5 s
///   apart), and before the first one the doc and schema must be read:
///   three dependent round trips (resolve doc, list tables, list columns).
/// - Coda reads: `R = max(N_r / 10, N_r · latency / 4)`.
/// - Sequential: the last write carries rows from the last Peloton answer,
///   so it ends at least one Coda latency after `P`.
///
/// `bound = max(P + L_c·[N_w > 0], 3·L_c + W, R)`.
pub fn bound_s(p: Pacing, peloton: u64, coda_reads: u64, coda_writes: u64) -> f64 {
    let (np, nr, nw) = (peloton as f64, coda_reads as f64, coda_writes as f64);
    let pel = (np / p.peloton_rate).max(np * p.peloton_latency / p.peloton_in_flight);
    let reads = (nr / p.coda_read_rate).max(nr * p.coda_latency / p.coda_reads_in_flight);
    if coda_writes == 0 {
        return pel.max(reads);
    }
    let writes = 3.0 * p.coda_latency + (nw - 1.0) * p.coda_write_spacing + p.coda_latency;
    (pel + p.coda_latency).max(writes).max(reads)
}

/// Requests one fake saw during one run, by kind.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Every request.
    pub total: u64,
    /// Peloton: `/api/...`; Coda: GETs.
    pub reads: u64,
    /// Peloton: the login and token hosts; Coda: row writes (POST/PUT/PATCH/DELETE on rows).
    pub other: u64,
    /// Requests no route serves (must be 0).
    pub unexpected: u64,
    /// Peloton: pages of the user's own workout list.
    pub own_list_pages: u64,
    /// Requests answered with 429.
    pub throttled: u64,
}

/// One CLI run, measured from outside.
#[derive(Debug, Clone)]
pub struct CliRun {
    /// Wall time from spawn to exit.
    pub seconds: f64,
    /// Peak RSS, kB (from `/proc` sampling; `getrusage` is read by the caller).
    pub sampled_peak_kb: u64,
    /// Peloton requests.
    pub peloton: Counts,
    /// Coda requests.
    pub coda: Counts,
    /// Rows the run reports as written (`status --json`).
    pub rows_written: u64,
}

/// The two fakes, a HOME, and how to call the CLI against them.
pub struct World {
    bin_dir: PathBuf,
    _peloton: Child,
    _coda: Child,
    peloton_url: String,
    coda_url: String,
    coda_control: String,
    email: String,
    password: String,
    user_id: String,
    home: Home,
    http: reqwest::Client,
}

impl World {
    /// Starts both fakes: `workouts` of the user's, `friends` public friends
    /// with `friend_workouts` each, the latencies above, Coda limits on.
    pub async fn start(
        bin_dir: &Path,
        workouts: usize,
        friends: usize,
        friend_workouts: usize,
    ) -> anyhow::Result<World> {
        let home = Home::new("pcs-bench-")?;
        let mut p = Command::new(bin_dir.join("fake-peloton"));
        p.args(["--workouts", &workouts.to_string()])
            .args(["--friends", &friends.to_string()])
            .args(["--friend-workouts", &friend_workouts.to_string()])
            .args(["--latency-ms", &PELOTON_LATENCY_MS.to_string()]);
        let (peloton, lines) =
            procs::start_with_lines(p, &home.root().join("fake-peloton.log"), 4).await?;
        let field = |prefix: &str| -> anyhow::Result<String> {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(prefix))
                .map(|s| s.trim().to_string())
                .with_context(|| format!("fake-peloton did not print {prefix:?}: {lines:?}"))
        };
        let peloton_url = field("listening on ")?;
        let email = field("email:")?;
        let password = field("password:")?;
        let user_id = field("user id:")?;

        let mut c = Command::new(bin_dir.join("fake-coda"));
        c.args(["--latency-ms", &CODA_LATENCY_MS.to_string()]);
        let (coda, lines) =
            procs::start_with_lines(c, &home.root().join("fake-coda.log"), 1).await?;
        let coda_url = lines[0]
            .strip_prefix("listening on ")
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .with_context(|| format!("fake-coda printed {lines:?}"))?;
        let coda_control = coda_url
            .strip_suffix("/apis/v1")
            .unwrap_or(&coda_url)
            .to_string();
        Ok(World {
            bin_dir: bin_dir.to_path_buf(),
            _peloton: peloton,
            _coda: coda,
            peloton_url,
            coda_url,
            coda_control,
            email,
            password,
            user_id,
            home,
            http: reqwest::Client::new(),
        })
    }

    /// `XDG_DATA_HOME`, where both binaries keep their state.
    pub fn data_home(&self) -> PathBuf {
        self.home.data_home()
    }

    /// The temporary folder around HOME (logs and the app's files).
    pub fn dir(&self) -> &Path {
        self.home.root()
    }

    /// The environment both binaries run with: the temporary HOME and XDG
    /// folders, the fakes' URLs, the test credentials. No session bus, so no
    /// keychain: credentials come from the environment as on a headless server.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.home.env();
        env.extend([
            ("PELOTON_USERNAME".into(), self.email.clone()),
            ("PELOTON_PASSWORD".into(), self.password.clone()),
            ("PELOTON_API_URL".into(), self.peloton_url.clone()),
            ("PELOTON_AUTH_URL".into(), self.peloton_url.clone()),
            ("CODA_API_URL".into(), self.coda_url.clone()),
            ("CODA_API_TOKEN".into(), "coda-test-token".into()),
            ("CODA_DOC".into(), "AbCDeFGH".into()),
        ]);
        env
    }

    fn cli(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.bin_dir.join("peloton-coda-sync"));
        c.args(args).env_clear().envs(self.env()).kill_on_drop(true);
        c
    }

    /// `status --json` of the CLI in this HOME.
    pub async fn status(&self) -> anyhow::Result<Value> {
        let out = self.cli(&["status", "--json"]).output().await?;
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    async fn post(&self, url: String) -> anyhow::Result<()> {
        self.http.post(url).send().await?.error_for_status()?;
        Ok(())
    }

    async fn get(&self, url: String) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Empties both fakes' request logs.
    pub async fn reset_logs(&self) -> anyhow::Result<()> {
        self.post(format!("{}/__control/reset_log", self.peloton_url))
            .await?;
        self.post(format!("{}/__control/reset-log", self.coda_control))
            .await
    }

    /// Peloton requests logged since the last reset.
    pub async fn peloton_counts(&self) -> anyhow::Result<Counts> {
        let log = self
            .get(format!("{}/__control/requests", self.peloton_url))
            .await?;
        let own_list = format!("/api/user/{}/workouts", self.user_id);
        let mut c = Counts::default();
        for r in log["requests"].as_array().into_iter().flatten() {
            let path = r["path"].as_str().unwrap_or("");
            c.total += 1;
            if path.starts_with("/api/") {
                c.reads += 1;
            } else {
                c.other += 1;
            }
            c.own_list_pages += u64::from(path == own_list);
            c.unexpected += u64::from(r["unexpected"].as_bool() == Some(true));
            c.throttled += u64::from(r["status"].as_u64() == Some(429));
        }
        Ok(c)
    }

    /// Coda requests logged since the last reset.
    pub async fn coda_counts(&self) -> anyhow::Result<Counts> {
        let log = self
            .get(format!("{}/__control/requests", self.coda_control))
            .await?;
        let mut c = Counts::default();
        for r in log.as_array().into_iter().flatten() {
            let method = r["method"].as_str().unwrap_or("");
            let path = r["path"].as_str().unwrap_or("");
            c.total += 1;
            let row_path = path.contains("/tables/")
                && path.trim_end_matches('/').split('/').any(|s| s == "rows");
            if method == "GET" {
                c.reads += 1;
            } else if row_path {
                c.other += 1;
            }
            c.unexpected += u64::from(r["unexpected"].as_bool() == Some(true));
            c.throttled += u64::from(r["status"].as_u64() == Some(429));
        }
        Ok(c)
    }

    /// One `sync` with the release CLI: wall time, peak RSS sampled from
    /// `/proc`, and both fakes' counts. Fails unless it exits 0.
    pub async fn sync(&self, label: &str) -> anyhow::Result<CliRun> {
        self.reset_logs().await?;
        let started = Instant::now();
        // A headless server's setup (cli.md "Secrets"): no keychain, so the
        // refresh token is kept in a token cache and later runs refresh it
        // instead of logging in.
        let cache = self.home.root().join("peloton.token");
        let cache = cache.to_str().context("a UTF-8 temporary path")?;
        let mut child = self
            .cli(&["sync", "--token-cache", cache])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .context("starting peloton-coda-sync")?;
        let pid = child.id().context("no pid")?;
        let mut peak = 0u64;
        let mut every = tokio::time::interval(Duration::from_millis(20));
        let mut last_note = Instant::now();
        let status = loop {
            tokio::select! {
                s = child.wait() => break s?,
                _ = every.tick() => {
                    if let Some(kb) = procs::status_kb(pid, "VmHWM") {
                        peak = peak.max(kb);
                    }
                    if last_note.elapsed() >= Duration::from_secs(30) {
                        last_note = Instant::now();
                        let n = self.peloton_counts().await.map(|c| c.total).unwrap_or(0);
                        eprintln!("  {label}: {:>4.0} s, {n} Peloton requests so far", started.elapsed().as_secs_f64());
                    }
                }
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        let out = child.wait_with_output().await?;
        if !status.success() {
            bail!(
                "{label}: the CLI exited with {status}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let peloton = self.peloton_counts().await?;
        let coda = self.coda_counts().await?;
        let status = self.status().await?;
        let rows_written = status["written"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        Ok(CliRun {
            seconds,
            sampled_peak_kb: peak,
            peloton,
            coda,
            rows_written,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_is_the_slowest_paced_resource() {
        let p = Pacing::default();
        // 2000 Peloton requests at 10/s dominate 11 writes (35 s of spacing).
        let b = bound_s(p, 2000, 10, 11);
        assert!((b - (200.0 + 0.15)).abs() < 1e-9, "{b}");
        // Writes dominate when there is little to fetch: 3 schema reads + 10 gaps + the last one.
        let b = bound_s(p, 10, 6, 11);
        assert!((b - (0.45 + 35.0 + 0.15)).abs() < 1e-9, "{b}");
        // Nothing written: Peloton pacing or Coda reads.
        assert!((bound_s(p, 12, 6, 0) - 1.2).abs() < 1e-9);
    }
}
