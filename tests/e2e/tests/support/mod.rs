//! The plumbing behind the end-to-end tests, so that the tests read like a
//! user's steps: a [`World`] holds a fresh `HOME` (with the XDG folders inside
//! it), both fakes running in a Tokio runtime it owns, and runs the real
//! `peloton-coda-sync` binary as a child process against them.
//!
//! The binary is built once per test process with `cargo build`, and found
//! through cargo's own report of what it built (so `CARGO_TARGET_DIR` and any
//! `target-dir` setting are respected).

pub mod expect;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub use fake_coda::{Config as CodaConfig, FakeCoda};
pub use fake_peloton::{Config as PelotonConfig, FakePeloton, FriendSpec};
use serde_json::{Map, Value};
use testkit::home::Home;

/// The Peloton e-mail the fake accepts.
pub const EMAIL: &str = "rider@example.com";
/// The Peloton password the fake accepts.
pub const PASSWORD: &str = "correct horse";
/// The Coda token the fake accepts.
pub const CODA_TOKEN: &str = "coda-test-token";

/// The four tables and their key columns, as `coda-tables.md` names them.
pub const TABLES: [(&str, &str); 4] = [
    ("Workouts", "Workout ID"),
    ("Instructors", "Instructor ID"),
    ("Friends", "User ID"),
    ("Friend Workouts", "Workout ID"),
];

/// The longest a single CLI run may take before the test gives up on it.
const RUN_DEADLINE: Duration = Duration::from_secs(15 * 60);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `peloton-coda-sync` binary, built once per test process; or the one
/// `E2E_CLI_BIN` names (a copy taken right after building, where a target
/// folder shared by several worktrees may be rebuilt from another).
pub fn cli_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var_os("E2E_CLI_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(build_cli)
    })
}

fn build_cli() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "-p",
            "peloton-coda-sync",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .output()
        .expect("run `cargo build -p peloton-coda-sync`");
    assert!(
        out.status.success(),
        "`cargo build -p peloton-coda-sync` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Cargo says where it put the executable; that respects every way of
    // moving the target folder.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["target"]["name"] == "peloton-coda-sync")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no executable for peloton-coda-sync")
}

/// How a [`World`] is made.
pub struct WorldBuilder {
    peloton: PelotonConfig,
    coda: CodaConfig,
}

impl WorldBuilder {
    /// The user has `n` workouts.
    pub fn workouts(mut self, n: usize) -> Self {
        self.peloton.workouts = n;
        self
    }

    /// The user follows these people.
    pub fn friends(mut self, friends: Vec<FriendSpec>) -> Self {
        self.peloton.friends = friends;
        self
    }

    /// Changes the fake Coda's configuration (e.g. a missing column).
    pub fn coda(mut self, change: impl FnOnce(CodaConfig) -> CodaConfig) -> Self {
        self.coda = change(self.coda);
        self
    }

    /// Starts both fakes and makes a fresh home.
    pub fn start(self) -> World {
        // Built before the clock starts, so a test's time is its own.
        cli_binary();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime for the fakes");
        let friends = self.peloton.friends.clone();
        let peloton = rt.block_on(FakePeloton::start(self.peloton));
        let coda = rt.block_on(FakeCoda::start(self.coda));
        let home = Home::new("pcs-e2e-").expect("a temp home");
        std::fs::create_dir_all(home.root().join("runs")).expect("create the runs folder");
        let env = vec![
            ("PELOTON_USERNAME".to_string(), EMAIL.to_string()),
            ("PELOTON_PASSWORD".to_string(), PASSWORD.to_string()),
            ("CODA_API_TOKEN".to_string(), CODA_TOKEN.to_string()),
            ("CODA_DOC".to_string(), coda.doc_url()),
            ("PELOTON_API_URL".to_string(), peloton.url()),
            ("PELOTON_AUTH_URL".to_string(), peloton.url()),
            ("CODA_API_URL".to_string(), coda.url()),
        ];
        World {
            peloton,
            coda,
            friends: Mutex::new(friends),
            env: Mutex::new(env),
            secrets: Mutex::new(vec![PASSWORD.to_string(), CODA_TOKEN.to_string()]),
            outputs: Mutex::new(Vec::new()),
            runs: AtomicUsize::new(0),
            started: Instant::now(),
            home,
            rt,
        }
    }
}

/// One test's world: the fakes, a fresh home, and the CLI pointed at both.
pub struct World {
    /// The fake Peloton (auth and API host).
    pub peloton: FakePeloton,
    /// The fake Coda.
    pub coda: FakeCoda,
    friends: Mutex<Vec<FriendSpec>>,
    env: Mutex<Vec<(String, String)>>,
    secrets: Mutex<Vec<String>>,
    outputs: Mutex<Vec<String>>,
    runs: AtomicUsize,
    started: Instant,
    home: Home,
    // Last: the fakes' tasks live in it, so it is dropped after them.
    rt: tokio::runtime::Runtime,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl World {
    /// A world with the fakes' defaults (10 workouts, two public friends).
    pub fn builder() -> WorldBuilder {
        WorldBuilder {
            peloton: PelotonConfig::default(),
            coda: CodaConfig::default(),
        }
    }

    /// The CLI's local state (SQLite) in this world's `HOME`.
    pub fn state_db(&self) -> PathBuf {
        self.home.data_home().join("peloton-coda-sync/state.db")
    }

    /// The CLI's settings file in this world's `HOME` (under the testkit's
    /// `XDG_CONFIG_HOME`).
    pub fn settings_file(&self) -> PathBuf {
        self.home
            .config_home()
            .join("peloton-coda-sync/settings.toml")
    }

    /// A path outside `HOME` in this test's folder (for files the user
    /// names, such as a token cache).
    pub fn outside_home(&self, name: &str) -> PathBuf {
        self.home.root().join(name)
    }

    /// Sets an environment variable for the following runs (a secret given
    /// here is also looked for by [`World::assert_no_secrets`]).
    pub fn set_env(&self, name: &str, value: &str) {
        if matches!(name, "PELOTON_PASSWORD" | "CODA_API_TOKEN") {
            lock(&self.secrets).push(value.to_string());
        }
        let mut env = lock(&self.env);
        env.retain(|(k, _)| k != name);
        env.push((name.to_string(), value.to_string()));
    }

    /// Removes an environment variable for the following runs.
    pub fn remove_env(&self, name: &str) {
        lock(&self.env).retain(|(k, _)| k != name);
    }

    /// Starts `peloton-coda-sync ARGS` with its stdin a pipe, for answers
    /// given once it has asked ([`Running::type_line`]).
    pub fn spawn_with_stdin<I, S>(&self, args: I) -> Running<'_>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let (mut cmd, args, stdout, stderr) = self.command(args);
        cmd.stdin(Stdio::piped());
        let child = cmd.spawn().expect("start peloton-coda-sync");
        Running {
            world: self,
            child,
            args,
            stdout,
            stderr,
            started: Instant::now(),
        }
    }

    /// What a person does in a browser with a sign-in address: opens it,
    /// fills in the fake's sign-in page (and the one-time code when asked),
    /// and ends on the callback address, which is never loaded. Returns it.
    pub fn sign_in_in_browser(&self, authorize_url: &str, otp: Option<&str>) -> String {
        self.rt.block_on(async {
            let http = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a browser-like client");
            let mut url = url::Url::parse(authorize_url).expect("the sign-in address is a URL");
            let mut form: Option<(url::Url, Vec<(String, String)>)> = None;
            for _ in 0..10 {
                let resp = match form.take() {
                    Some((action, fields)) => http.post(action).form(&fields).send().await,
                    None => http.get(url.clone()).send().await,
                }
                .expect("the fake answers");
                if let Some(loc) = resp.headers().get("location") {
                    url = url
                        .join(loc.to_str().expect("an ASCII Location"))
                        .expect("a Location URL");
                    if url.as_str().starts_with(fake_peloton::REDIRECT_URI) {
                        return url.to_string();
                    }
                    continue;
                }
                assert_eq!(resp.status(), 200, "the sign-in stopped at {url}");
                let html = resp.text().await.expect("the page");
                let action = between(&html, "action=\"", "\"").replace("&amp;", "&");
                let state = between(&html, "name=\"state\" value=\"", "\"");
                let mut fields = vec![("state".to_string(), state)];
                if html.contains("name=\"password\"") {
                    fields.push(("username".into(), EMAIL.into()));
                    fields.push(("password".into(), PASSWORD.into()));
                } else {
                    let code = otp.expect("the page asked for a one-time code");
                    fields.push(("code".into(), code.into()));
                }
                form = Some((url.join(&action).expect("the form's action"), fields));
            }
            panic!("the sign-in never reached the callback");
        })
    }

    fn command<I, S>(&self, args: I) -> (Command, String, PathBuf, PathBuf)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<String> = args
            .into_iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        let out = self.home.root().join("runs").join(format!("{n}.stdout"));
        let err = self.home.root().join("runs").join(format!("{n}.stderr"));
        let mut cmd = Command::new(cli_binary());
        cmd.args(&args);
        // Nothing leaks in from the developer's session: no keychain (no
        // D-Bus address), no RUST_LOG, no real credentials or settings.
        cmd.env_clear().envs(self.home.env());
        for (k, v) in lock(&self.env).iter() {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("create stdout file"))
            .stderr(std::fs::File::create(&err).expect("create stderr file"));
        (cmd, args.join(" "), out, err)
    }

    /// Runs `peloton-coda-sync ARGS` to its end.
    pub fn cli<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.spawn(args).wait()
    }

    /// Starts `peloton-coda-sync ARGS` without waiting for it.
    pub fn spawn<I, S>(&self, args: I) -> Running<'_>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let (mut cmd, args, stdout, stderr) = self.command(args);
        let child = cmd.spawn().expect("start peloton-coda-sync");
        Running {
            world: self,
            child,
            args,
            stdout,
            stderr,
            started: Instant::now(),
        }
    }

    /// `status --json`, parsed.
    pub fn status_json(&self) -> Value {
        self.cli(["status", "--json"]).succeeds().json()
    }

    /// Waits until the fake Coda applied every write it accepted.
    pub fn coda_idle(&self) {
        self.rt.block_on(self.coda.wait_idle());
    }

    /// A table's rows once every accepted write is applied.
    pub fn rows(&self, table: &str) -> Vec<Map<String, Value>> {
        self.coda_idle();
        self.coda.rows(table)
    }

    /// A table's rows by key.
    pub fn rows_by_key(
        &self,
        table: &str,
        key_column: &str,
    ) -> std::collections::BTreeMap<String, Map<String, Value>> {
        self.rows(table)
            .into_iter()
            .map(|r| (expect::text(&r[key_column]), r))
            .collect()
    }

    /// The people the user follows, as the test last set them.
    pub fn friends(&self) -> Vec<FriendSpec> {
        lock(&self.friends).clone()
    }

    /// Replaces the people the user follows (unfollowing the others).
    pub fn set_friends(&self, friends: Vec<FriendSpec>) {
        self.peloton.set_friends(friends.clone());
        *lock(&self.friends) = friends;
    }

    /// A friend turns their profile private (or public again).
    pub fn set_friend_private(&self, username: &str, private: bool) {
        let id = self
            .peloton
            .friend_id(username)
            .unwrap_or_else(|| panic!("no friend {username}"));
        assert!(self.peloton.set_friend_private(&id, private));
        for f in lock(&self.friends).iter_mut() {
            if f.username == username {
                f.private = private;
            }
        }
    }

    /// The friends whose avatar is cached for the window, by file name
    /// (the friend's id, without the `.img`), each checked to be a PNG.
    pub fn cached_avatars(&self) -> BTreeSet<String> {
        let dir = self.home.data_home().join("peloton-coda-sync/avatars");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return BTreeSet::new();
        };
        entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension() == Some(OsStr::new("img")))
            .map(|p| {
                let bytes = std::fs::read(&p).expect("read a cached avatar");
                assert!(
                    bytes.starts_with(b"\x89PNG"),
                    "{} is not a PNG",
                    p.display()
                );
                p.file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    /// Asserts no table holds a key twice.
    pub fn assert_no_duplicates(&self) {
        self.coda_idle();
        for (table, key) in TABLES {
            let dups = self.coda.duplicate_keys(table, key);
            assert!(dups.is_empty(), "{table} holds these keys twice: {dups:?}");
        }
    }

    /// Asserts every table holds exactly what Peloton has (see [`expect`]).
    pub fn assert_tables_exact(&self) {
        self.assert_no_duplicates();
        expect::assert_workouts(self);
        expect::assert_instructors(self);
        expect::assert_friends(self);
        expect::assert_friend_workouts(self);
    }

    /// Asserts that no password or token appears in any file under `HOME`
    /// (settings, the SQLite state, logs) nor in any run's output.
    pub fn assert_no_secrets(&self) {
        let mut needles: Vec<String> = lock(&self.secrets).clone();
        // Every token, code, cookie value and `_csrf` the fake handed out,
        // and any JWT with the fake's header.
        needles.extend(self.peloton.issued_secrets());
        needles.push(expect::FAKE_JWT_HEADER.to_string());
        let mut files = Vec::new();
        collect_files(&self.home.home(), &mut files);
        assert!(
            files
                .iter()
                .any(|f| f.extension() == Some(OsStr::new("log"))),
            "no log file under {}: is the scan looking in the right place? {files:?}",
            self.home.home().display()
        );
        let mut haystacks: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|f| {
                (
                    f.display().to_string(),
                    std::fs::read(f).unwrap_or_default(),
                )
            })
            .collect();
        for (i, out) in lock(&self.outputs).iter().enumerate() {
            haystacks.push((format!("output of run {i}"), out.clone().into_bytes()));
        }
        for (place, bytes) in &haystacks {
            for needle in &needles {
                assert!(
                    !contains(bytes, needle.as_bytes()),
                    "a secret ({}...) is in {place}",
                    &needle[..needle.len().min(4)]
                );
            }
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Seen with `--nocapture`: what each test costs (never asserted).
        eprintln!(
            "e2e timing: {} took {:.1} s",
            std::thread::current().name().unwrap_or("a test"),
            self.started.elapsed().as_secs_f64()
        );
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn between(s: &str, start: &str, end: &str) -> String {
    let i = s
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the page: {s}"))
        + start.len();
    let j = i + s[i..].find(end).expect("the value ends");
    s[i..j].to_string()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// A CLI process still running.
pub struct Running<'w> {
    world: &'w World,
    child: Child,
    args: String,
    stdout: PathBuf,
    stderr: PathBuf,
    started: Instant,
}

impl Running<'_> {
    /// Waits for the end (at most [`RUN_DEADLINE`], then kills it and fails).
    pub fn wait(mut self) -> Run {
        loop {
            match self.child.try_wait().expect("wait for peloton-coda-sync") {
                Some(status) => return self.finish(status),
                None if self.started.elapsed() > RUN_DEADLINE => {
                    let _ = self.child.kill();
                    let run = self.finish_after_kill();
                    panic!("`{}` still ran after {RUN_DEADLINE:?}:\n{run}", run.args);
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// The first line of stdout holding `needle`, once the process printed
    /// it (fails after 30 s, or if the process ends first).
    pub fn stdout_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
            if let Some(line) = out.lines().find(|l| l.contains(needle)) {
                return line.trim().to_string();
            }
            if let Some(status) = self.child.try_wait().expect("wait for peloton-coda-sync") {
                let run = self.finish(status);
                panic!("`{}` ended before printing {needle:?}:\n{run}", run.args);
            }
            assert!(
                Instant::now() < deadline,
                "`{}` printed no line with {needle:?} in 30 s:\n{out}",
                self.args
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `line` and Enter on stdin, then closes it.
    pub fn type_line(&mut self, line: &str) {
        use std::io::Write as _;
        let mut stdin = self.child.stdin.take().expect("started with a stdin pipe");
        writeln!(stdin, "{line}").expect("write to stdin");
    }

    /// Lets the process run for `after` (or less, if it ends by itself),
    /// then kills it with SIGKILL. The deliberate kill instant is the one
    /// sleep these tests use.
    pub fn kill9_at(mut self, after: Duration) -> Run {
        while self.started.elapsed() < after {
            if let Some(status) = self.child.try_wait().expect("wait for peloton-coda-sync") {
                return self.finish(status);
            }
            std::thread::sleep(Duration::from_millis(5).min(after));
        }
        self.kill9()
    }

    /// Lets the process run for `after`, sends it `signal` (`INT`, `TERM`)
    /// as Ctrl-C or a service manager would, and waits for its end.
    pub fn signal_at(mut self, signal: &str, after: Duration) -> Run {
        while self.started.elapsed() < after {
            if let Some(status) = self.child.try_wait().expect("wait for peloton-coda-sync") {
                return self.finish(status);
            }
            std::thread::sleep(Duration::from_millis(5).min(after));
        }
        let sent = std::process::Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -s {signal} failed");
        self.wait()
    }

    /// Kills the process with SIGKILL (`kill -9`), as a power cut would.
    pub fn kill9(mut self) -> Run {
        let _ = self.child.kill();
        self.finish_after_kill()
    }

    fn finish_after_kill(&mut self) -> Run {
        let status = self.child.wait().expect("reap peloton-coda-sync");
        self.finish(status)
    }

    fn finish(&mut self, status: ExitStatus) -> Run {
        let stdout = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        lock(&self.world.outputs).push(format!("{stdout}\n{stderr}"));
        Run {
            args: self.args.clone(),
            status,
            stdout,
            stderr,
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// A finished CLI run.
pub struct Run {
    /// The arguments, for messages.
    pub args: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
    /// Wall time, for the report only (never asserted).
    pub seconds: f64,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`peloton-coda-sync {}` ended with {} after {:.1} s\n--- stdout\n{}--- stderr\n{}---",
            self.args, self.status, self.seconds, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// Asserts exit status 0.
    #[track_caller]
    pub fn succeeds(self) -> Self {
        assert!(self.status.success(), "expected success:\n{self}");
        self
    }

    /// Asserts a non-zero exit status (not a crash by signal).
    #[track_caller]
    pub fn fails(self) -> Self {
        assert!(
            matches!(self.status.code(), Some(c) if c != 0),
            "expected a non-zero exit status:\n{self}"
        );
        self
    }

    /// The last non-empty line on stderr: the one sentence a user acts on.
    pub fn last_stderr_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }

    /// Asserts that stderr holds no stack trace or panic.
    #[track_caller]
    pub fn no_panic(self) -> Self {
        for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
            assert!(!self.stderr.contains(bad), "a panic on stderr:\n{self}");
        }
        self
    }

    /// stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

/// The set of a table's keys.
pub fn keys(rows: &[Map<String, Value>], key_column: &str) -> BTreeSet<String> {
    rows.iter().map(|r| expect::text(&r[key_column])).collect()
}
