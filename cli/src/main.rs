//! `peloton-coda-sync`: the headless sync, for servers and cron, and the
//! entry point of the end-to-end tests. Its contract is
//! `docs/cli.md`. Thin: it reads arguments, builds the engine with
//! `pcs_core::setup`, and prints what the engine reports.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pcs_core::clock::{SharedClock, SystemClock};
use pcs_core::coda::{TableChecklist, TableStatus};
use pcs_core::export::{ExportRequest, Format};
use pcs_core::paths::Paths;
use pcs_core::secrets::{
    apply_changes, probe, store_for_run, KeychainStatus, KeyringStore, SecretStore, TokenCacheFile,
};
use pcs_core::settings::{Settings, SettingsError, SignInWay};
use pcs_core::setup::{self, Overrides, SetupError, SetupInput};
use pcs_core::store::{RunRecord, Store};
use pcs_core::sync::{Engine, Progress, RunOptions, RunRefused, INTERRUPTED_SENTENCE};
use pcs_core::wording::{for_face, Face};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// Exit status when the run finished but something failed.
const EXIT_FAILED: u8 = 1;
/// Exit status when settings or credentials are missing.
const EXIT_SETUP: u8 = 3;
/// Exit status when another sync holds the lock.
const EXIT_BUSY: u8 = 4;

#[derive(Parser)]
#[command(
    name = "peloton-coda-sync",
    version,
    about = "Sync your Peloton workouts into a Coda doc."
)]
struct Cli {
    /// Read another settings file instead of the platform's.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Keep Peloton's refresh token in FILE (created 0600) where there is no
    /// keychain, so each run refreshes instead of logging in. Whoever can
    /// read FILE can use the Peloton account until the password is changed.
    #[arg(long, global = true, value_name = "FILE")]
    token_cache: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One sync run, then exit.
    Sync {
        /// Send every row again (still keyed, never duplicated).
        #[arg(long)]
        full: bool,
    },
    /// Log in to Peloton, open the Coda doc, check every table and column; write nothing.
    Check {
        /// One JSON object instead of text (for scripts): the checklist of
        /// every table and column, and every problem.
        #[arg(long)]
        json: bool,
    },
    /// The last run: when, what was written, what failed.
    Status {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask for the Peloton and Coda credentials and keep them in the OS keychain.
    Login {
        /// Sign in to Peloton on its own page in any browser instead: paste
        /// back the address the browser ends on. Keeps only Peloton's
        /// refresh token (keychain, or the --token-cache file), no password.
        #[arg(long)]
        browser: bool,
    },
    /// Write your workouts to files, from the local state only (no network).
    Export {
        /// tcx (one file a workout), gpx (outdoor workouts with GPS), csv
        /// (the Workouts table) or json (Peloton's raw answers).
        #[arg(long)]
        format: Format,
        /// The folder the files go to (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Only workouts from this local date on (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        since: Option<chrono::NaiveDate>,
        /// Only this discipline, e.g. cycling, running, rowing.
        #[arg(long, value_name = "D")]
        discipline: Option<String>,
    },
}

/// Prints to stdout; the CLI's output is its interface.
macro_rules! say {
    ($($arg:tt)*) => {{
        #[allow(clippy::print_stdout)]
        { println!($($arg)*); }
    }};
}

/// Says `sentence` on stderr in the CLI's words (`pcs_core::wording`) and
/// exits with `code`.
fn fail(code: u8, sentence: &str) -> ExitCode {
    say_err(sentence);
    ExitCode::from(code)
}

/// One sentence on stderr, its remedy named for the command line.
fn say_err(sentence: &str) {
    eprintln!("{}", for_face(Face::Cli, sentence));
}

/// The exit status of a setup failure: 3 only when something is missing
/// (cli.md: settings or credentials to give); a keychain, state or client
/// that fails is an ordinary failure.
fn setup_exit(e: &SetupError) -> u8 {
    match e {
        SetupError::MissingPelotonEmail
        | SetupError::MissingCodaToken
        | SetupError::MissingCodaDoc => EXIT_SETUP,
        _ => EXIT_FAILED,
    }
}

/// The exit status of a settings file that could not be loaded: 3 for a
/// file that does not parse (the user must fix it), 1 for one that cannot
/// be read.
fn settings_exit(e: &SettingsError) -> u8 {
    match e {
        SettingsError::Parse { .. } => EXIT_SETUP,
        _ => EXIT_FAILED,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = match Paths::from_env() {
        Ok(p) => match &cli.config {
            Some(file) => p.with_config_file(file.clone()),
            None => p,
        },
        Err(e) => return fail(EXIT_SETUP, &e.user_message()),
    };
    let _log_guard = init_logging(&paths);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(EXIT_FAILED, &format!("Could not start: {e}.")),
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Sync { full } => sync(&paths, cli.token_cache.as_deref(), full).await,
            Command::Check { json } => check(&paths, cli.token_cache.as_deref(), json).await,
            Command::Status { json } => status(&paths, json),
            Command::Login { browser: false } => login(&paths).await,
            Command::Login { browser: true } => {
                login_browser(&paths, cli.token_cache.as_deref()).await
            }
            Command::Export {
                format,
                out,
                since,
                discipline,
            } => export(
                &paths,
                ExportRequest {
                    format,
                    out_dir: out,
                    since,
                    discipline,
                },
            ),
        }
    })
}

/// Logs to a daily file in the log folder; to stderr only when `RUST_LOG`
/// asks, so that stderr's last line stays the one sentence that matters.
/// Both go through core's filter and scrubber (`pcs_core::logging`): the
/// HTTP stack stays at `info` unless `PCS_WIRE_LOG=1`.
fn init_logging(paths: &Paths) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use pcs_core::logging::{filter_directives, wire_opt_in, Scrubbing, WIRE_LOG_VAR};
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let wire = wire_opt_in(std::env::var(WIRE_LOG_VAR).ok().as_deref());
    let _ = std::fs::create_dir_all(&paths.log_dir);
    let file = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("peloton-coda-sync-cli")
        .filename_suffix("log")
        .max_log_files(7)
        .build(&paths.log_dir)
        .ok();
    let (file_layer, guard) = match file {
        Some(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(Scrubbing(writer))
                .with_filter(EnvFilter::new(filter_directives(None, wire)));
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    let stderr_layer = std::env::var("RUST_LOG").ok().map(|filter| {
        tracing_subscriber::fmt::layer()
            .with_writer(Scrubbing(std::io::stderr))
            .with_filter(EnvFilter::new(filter_directives(Some(&filter), wire)))
    });
    let _ = tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr_layer)
        .try_init();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        os = std::env::consts::OS,
        log_dir = %paths.log_dir.display(),
        "peloton-coda-sync CLI starting"
    );
    guard
}

/// The keychain when one answers; else memory, said once on stderr (cli.md,
/// "Secrets"). With `--token-cache FILE`, Peloton's refresh token lives in
/// that file whatever the keychain does.
fn secret_store(token_cache: Option<&Path>) -> Arc<dyn SecretStore> {
    let (store, status) = store_for_run(Arc::new(KeyringStore::default()));
    if let KeychainStatus::Unavailable(reason) = status {
        tracing::info!(%reason, "no keychain");
        if token_cache.is_none() {
            eprintln!(
                "No system keychain is available, so Peloton is logged in afresh each run; a daily schedule is best, or keep the login with --token-cache FILE."
            );
        }
    }
    match token_cache {
        Some(file) => Arc::new(TokenCacheFile::new(file, store)),
        None => store,
    }
}

fn load_settings(paths: &Paths) -> Result<Settings, ExitCode> {
    Settings::load(&paths.config_file).map_err(|e| fail(settings_exit(&e), &e.user_message()))
}

fn clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// The engine the settings, environment and keychain describe; a failure
/// has already been said on stderr.
fn engine(
    paths: &Paths,
    token_cache: Option<&Path>,
    lock_wait: Duration,
) -> Result<Engine, ExitCode> {
    let settings = load_settings(paths)?;
    let overrides = Overrides::from_env();
    setup::build_engine(SetupInput {
        paths,
        settings: &settings,
        overrides: &overrides,
        secrets: secret_store(token_cache),
        clock: clock(),
        lock_wait,
    })
    .map_err(|e| fail(setup_exit(&e), &e.user_message()))
}

async fn sync(paths: &Paths, token_cache: Option<&Path>, full: bool) -> ExitCode {
    let engine = match engine(paths, token_cache, Duration::from_secs(10)) {
        Ok(e) => e,
        Err(code) => return code,
    };

    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let progress_bar = bar.clone();
    let on_progress = move |p: Progress| {
        if let Some(bar) = &progress_bar {
            bar.set_message(p.describe());
        }
    };
    if full {
        say!("{}", pcs_core::sync::FULL_RESEND_SENTENCE);
    }
    let cancel = CancellationToken::new();
    let signal = Arc::new(AtomicU8::new(0));
    tokio::spawn(stop_on_signal(cancel.clone(), signal.clone()));

    let result = engine.run(RunOptions { full }, &on_progress, &cancel).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(r) => r,
        Err(refused @ RunRefused::AlreadyRunning) => {
            return fail(EXIT_BUSY, &refused.user_message())
        }
        // A lock file that cannot be opened is no other sync running.
        Err(refused) => return fail(EXIT_FAILED, &refused.user_message()),
    };
    for note in &report.notes {
        say!("{note}");
    }
    say!("{}", report.summary());
    if report.interrupted {
        // 128 + the signal's number, as shells report a process it stopped.
        let code = 128 + signal.load(Ordering::SeqCst).max(SIGINT);
        eprintln!("{INTERRUPTED_SENTENCE}");
        return ExitCode::from(code);
    }
    // Every problem is said; only core's failure sets the exit status and
    // comes last (friends' problems alone are no failure).
    let failure = report.failure();
    for p in &report.problems {
        if Some(p) != failure {
            say_err(&p.message);
        }
    }
    match failure {
        None => ExitCode::SUCCESS,
        Some(p) => fail(EXIT_FAILED, &p.message),
    }
}

const SIGINT: u8 = 2;
const SIGTERM: u8 = 15;

/// Cancels the run on SIGINT (Ctrl-C) or SIGTERM and remembers which came,
/// for the exit status (130 or 143).
async fn stop_on_signal(cancel: CancellationToken, which: Arc<AtomicU8>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let got = tokio::select! {
            _ = int.recv() => SIGINT,
            _ = term.recv() => SIGTERM,
        };
        which.store(got, Ordering::SeqCst);
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        which.store(SIGINT, Ordering::SeqCst);
    }
    cancel.cancel();
}

async fn check(paths: &Paths, token_cache: Option<&Path>, json: bool) -> ExitCode {
    let engine = match engine(paths, token_cache, Duration::ZERO) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let report = engine.check().await;
    let ok = report.problems.is_empty();
    if json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert("ok".into(), ok.into());
        }
        say!("{value:#}");
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_FAILED)
        };
    }
    if let Some(user) = &report.peloton_user {
        say!("Peloton: logged in as {user}");
    }
    if let Some(doc) = &report.doc_name {
        say!("Coda: doc \"{doc}\"");
    }
    match &report.checklist {
        Some(list) => {
            for table in &list.tables {
                for line in checklist_lines(table) {
                    say!("{line}");
                }
            }
        }
        None => {
            for t in &report.tables_ok {
                say!("Table \"{t}\": ok");
            }
        }
    }
    for line in report.optional_summary().iter().chain(&report.notes) {
        say!("{line}");
    }
    if ok {
        say!("Everything is ready to sync.");
        ExitCode::SUCCESS
    } else {
        let (last, rest) = report
            .problems
            .split_last()
            .map(|(l, r)| (Some(l), r))
            .unwrap_or((None, &[]));
        for p in rest {
            say_err(&p.message);
        }
        fail(
            EXIT_FAILED,
            last.map(|p| p.message.as_str())
                .unwrap_or("The check failed."),
        )
    }
}

/// One table of the checklist as text: a heading, then each column with
/// ✓ or ✗, the kind it must be and what to do.
fn checklist_lines(table: &TableChecklist) -> Vec<String> {
    let heading = match table.status {
        TableStatus::Ok => "ok".to_owned(),
        TableStatus::Missing => {
            "not in the doc: add a table of this name with these columns".to_owned()
        }
        TableStatus::IsView => {
            "a view, not a table: name its base table in the settings".to_owned()
        }
        TableStatus::Optional => {
            "optional, not in the doc: add a table of this name with these columns to fill it too"
                .to_owned()
        }
        TableStatus::NeedsColumns => {
            let n = table
                .columns
                .iter()
                .filter(|c| !c.is_ok() && !c.optional)
                .count();
            format!("{n} column{} to fix", if n == 1 { "" } else { "s" })
        }
    };
    let mut lines = vec![format!("Table \"{}\": {heading}", table.name)];
    let width = table
        .columns
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for c in &table.columns {
        let mark = if c.is_ok() {
            "✓"
        } else if c.optional {
            "-"
        } else {
            "✗"
        };
        let mut line = format!("  {mark} {:width$}  {:13}", c.name, c.kind.describe());
        if let Some(note) = c.note() {
            line.push_str("  ");
            line.push_str(&note);
        } else if c.optional {
            line.push_str("  optional");
        }
        lines.push(line.trim_end().to_owned());
    }
    lines
}

fn status(paths: &Paths, json: bool) -> ExitCode {
    if !paths.state_db.exists() {
        if json {
            say!("{}", serde_json::json!({ "ok": null }));
        } else {
            say!("No sync has run yet.");
        }
        return ExitCode::SUCCESS;
    }
    let store = match Store::open(&paths.state_db) {
        Ok(s) => s,
        Err(e) => return fail(EXIT_FAILED, &e.user_message()),
    };
    let last = match store.last_run() {
        Ok(r) => r,
        Err(e) => return fail(EXIT_FAILED, &e.user_message()),
    };
    let Some(run) = last else {
        if json {
            say!("{}", serde_json::json!({ "ok": null }));
        } else {
            say!("No sync has run yet.");
        }
        return ExitCode::SUCCESS;
    };
    if json {
        say!("{}", status_json(&run));
    } else {
        say!("{}", describe_run(&run));
    }
    ExitCode::SUCCESS
}

/// Writes the files from the local state; never touches the network.
fn export(paths: &Paths, request: ExportRequest) -> ExitCode {
    if !paths.state_db.exists() {
        return fail(
            EXIT_FAILED,
            "Nothing to export yet: run `peloton-coda-sync sync` first.",
        );
    }
    let store = match Store::open(&paths.state_db) {
        Ok(s) => s,
        Err(e) => return fail(EXIT_FAILED, &e.user_message()),
    };
    match pcs_core::export::export(&store, &request) {
        Ok(report) => {
            for note in &report.notes {
                say!("{note}");
            }
            say!("{}", report.summary());
            ExitCode::SUCCESS
        }
        Err(e) => fail(EXIT_FAILED, &e.user_message()),
    }
}

/// The `status --json` object of cli.md.
fn status_json(run: &RunRecord) -> serde_json::Value {
    serde_json::json!({
        "started_at": run.started_at.to_rfc3339(),
        "finished_at": run.finished_at.map(|t| t.to_rfc3339()),
        "ok": run.ok,
        "seconds": run.seconds,
        "written": run.written,
        "deleted": run.deleted,
        "errors": run.errors,
        "notes": run.notes,
        "interrupted": run.interrupted,
    })
}

/// The same, for a person.
fn describe_run(run: &RunRecord) -> String {
    let mut out = String::new();
    let when = run
        .finished_at
        .unwrap_or(run.started_at)
        .with_timezone(&chrono::Local);
    let outcome = match (run.interrupted, run.ok) {
        (true, _) => "was interrupted",
        (false, Some(true)) => "succeeded",
        (false, Some(false)) => "failed",
        (false, None) => "is still running",
    };
    out.push_str(&format!(
        "Last sync {outcome} at {}",
        when.format("%Y-%m-%d %H:%M")
    ));
    if let Some(s) = run.seconds {
        out.push_str(&format!(" ({s:.1} s)"));
    }
    out.push('.');
    for (table, n) in &run.written {
        out.push_str(&format!("\n  {table}: {n} written"));
    }
    for (table, n) in &run.deleted {
        out.push_str(&format!("\n  {table}: {n} deleted"));
    }
    for note in &run.notes {
        out.push_str(&format!("\n  note: {note}"));
    }
    for e in &run.errors {
        out.push_str(&format!("\n  error: {}", for_face(Face::Cli, e)));
    }
    out
}

/// Reads one line: hidden when typing at a terminal, plain from a pipe.
fn prompt(label: &str, secret: bool) -> std::io::Result<String> {
    let stdin = std::io::stdin();
    if secret && stdin.is_terminal() {
        return rpassword::prompt_password(label).map(|s| s.trim().to_string());
    }
    eprint!("{label}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

async fn login(paths: &Paths) -> ExitCode {
    let mut settings = match load_settings(paths) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let secrets = KeyringStore::default();
    match probe(&secrets) {
        KeychainStatus::Ready => {}
        KeychainStatus::Unavailable(_) => return fail(
            EXIT_FAILED,
            "No system keychain is available to keep credentials; pass them in the environment instead (PELOTON_USERNAME, PELOTON_PASSWORD, CODA_API_TOKEN, CODA_DOC).",
        ),
        KeychainStatus::Locked(e) => return fail(EXIT_FAILED, &e.user_message()),
    }
    let answers = (|| -> std::io::Result<_> {
        let email = prompt("Peloton e-mail: ", false)?;
        let password = prompt("Peloton password: ", true)?;
        let token = prompt("Coda API token: ", true)?;
        let doc = prompt("Coda doc URL or ID: ", false)?;
        Ok((email, password, token, doc))
    })();
    let (email, password, token, doc) = match answers {
        Ok(a) => a,
        Err(e) => return fail(EXIT_FAILED, &format!("Could not read the answers: {e}.")),
    };
    if email.is_empty() || password.is_empty() || token.is_empty() || doc.is_empty() {
        return fail(EXIT_SETUP, "Every answer is needed; nothing was saved.");
    }
    let changes = setup::credential_changes(
        settings.peloton_email != email,
        Some(SecretString::from(password)),
        Some(SecretString::from(token)),
    );
    let undo = match apply_changes(&secrets, &changes) {
        Ok(undo) => undo,
        Err(e) => return fail(EXIT_FAILED, &e.user_message()),
    };
    // The person typed the login again: it may be sent once more, even if
    // Peloton refused or blocked it before.
    setup::lift_login_stop(paths);
    settings.peloton_email = email;
    settings.peloton_sign_in = SignInWay::Password;
    settings.peloton_username.clear();
    settings.coda_doc = doc;
    if let Err(e) = settings.save(&paths.config_file) {
        // Nothing half-saved: the keychain goes back to what it held.
        undo.run(&secrets);
        return fail(EXIT_FAILED, &e.user_message());
    }
    say!("Saved. Run `peloton-coda-sync check` to test the connection.");
    ExitCode::SUCCESS
}

/// `login --browser`: the sign-in happens on Peloton's page in whatever
/// browser the person has; this side prints the address, reads back the one
/// the browser ended on, and lets core finish (issue 18).
async fn login_browser(paths: &Paths, token_cache: Option<&Path>) -> ExitCode {
    let mut settings = match load_settings(paths) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let no_keychain = matches!(
        probe(&KeyringStore::default()),
        KeychainStatus::Unavailable(_)
    );
    if no_keychain && token_cache.is_none() {
        return fail(
            EXIT_SETUP,
            "No system keychain is available to keep the sign-in; name a file for it with --token-cache FILE.",
        );
    }
    let secrets = secret_store(token_cache);
    let overrides = Overrides::from_env();
    let input = SetupInput {
        paths,
        settings: &settings,
        overrides: &overrides,
        secrets: secrets.clone(),
        clock: clock(),
        lock_wait: Duration::ZERO,
    };
    let (attempt, client) = match setup::browser_sign_in(&input) {
        Ok(pair) => pair,
        Err(e) => return fail(EXIT_SETUP, &e.user_message()),
    };
    say!("Open this address in a browser and sign in to Peloton:");
    say!();
    say!("  {}", attempt.authorize_url());
    say!();
    say!(
        "The browser then ends on a page that does not load, at an address starting with \
         https://members.onepeloton.com/callback. Copy that whole address and paste it here."
    );
    let pasted = prompt("Address: ", false);
    if !std::io::stdin().is_terminal() {
        // A piped answer is not echoed: end the prompt's line, so the last
        // line of stderr stays the one sentence that matters.
        eprintln!();
    }
    let pasted = match pasted {
        Ok(line) if !line.is_empty() => line,
        Ok(_) => return fail(EXIT_SETUP, "Nothing was pasted; nothing was saved."),
        Err(e) => return fail(EXIT_SETUP, &format!("Could not read the address: {e}.")),
    };
    let signed_in = match attempt.finish(&client, secrets.as_ref(), &pasted).await {
        Ok(who) => who,
        Err(e) => return fail(EXIT_FAILED, &e.user_message()),
    };
    signed_in.record(&mut settings);
    if let Err(e) = settings.save(&paths.config_file) {
        return fail(EXIT_SETUP, &e.user_message());
    }
    say!(
        "Signed in to Peloton as {}; no password is kept.",
        signed_in.username
    );
    ExitCode::SUCCESS
}
