//! `peloton-coda-sync`: the headless sync, for servers and cron, and the
//! entry point of the end-to-end tests. Its contract is
//! `shared/spec/cli.md`. Thin: it reads arguments, builds the engine with
//! `pcs_core::setup`, and prints what the engine reports.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pcs_core::clock::{SharedClock, SystemClock};
use pcs_core::export::{ExportRequest, Format};
use pcs_core::paths::Paths;
use pcs_core::secrets::{
    KeyringStore, MemoryStore, SecretKey, SecretStore, SecretsError, TokenCacheFile,
};
use pcs_core::settings::Settings;
use pcs_core::setup::{self, Overrides, SetupInput};
use pcs_core::store::{RunRecord, Store};
use pcs_core::sync::{Engine, Progress, RunOptions};
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
    Check,
    /// The last run: when, what was written, what failed.
    Status {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask for the Peloton and Coda credentials and keep them in the OS keychain.
    Login,
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

fn fail(code: u8, sentence: &str) -> ExitCode {
    eprintln!("{sentence}");
    ExitCode::from(code)
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
            Command::Check => check(&paths, cli.token_cache.as_deref()).await,
            Command::Status { json } => status(&paths, json),
            Command::Login => login(&paths).await,
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
fn init_logging(paths: &Paths) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
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
                .with_writer(writer)
                .with_filter(EnvFilter::new("info"));
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    let stderr_layer = std::env::var("RUST_LOG").ok().map(|filter| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(EnvFilter::new(filter))
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
    let keyring = KeyringStore::default();
    let store: Arc<dyn SecretStore> = match keyring.get(SecretKey::CodaToken) {
        Err(SecretsError::Unavailable(reason)) => {
            tracing::info!(%reason, "no keychain");
            if token_cache.is_none() {
                eprintln!(
                    "No system keychain is available, so Peloton is logged in afresh each run; a daily schedule is best, or keep the login with --token-cache FILE."
                );
            }
            Arc::new(MemoryStore::new())
        }
        _ => Arc::new(keyring),
    };
    match token_cache {
        Some(file) => Arc::new(TokenCacheFile::new(file, store)),
        None => store,
    }
}

fn load_settings(paths: &Paths) -> Result<Settings, String> {
    Settings::load(&paths.config_file).map_err(|e| e.user_message())
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
    let settings = load_settings(paths).map_err(|sentence| fail(EXIT_SETUP, &sentence))?;
    let overrides = Overrides::from_env();
    setup::build_engine(SetupInput {
        paths,
        settings: &settings,
        overrides: &overrides,
        secrets: secret_store(token_cache),
        clock: clock(),
        lock_wait,
    })
    .map_err(|e| fail(EXIT_SETUP, &e.user_message()))
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
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });

    let result = engine.run(RunOptions { full }, &on_progress, &cancel).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(r) => r,
        Err(refused) => return fail(EXIT_BUSY, &refused.user_message()),
    };
    for note in &report.notes {
        say!("{note}");
    }
    say!("{}", report.summary());
    // Every problem is said; only core's failure sets the exit status and
    // comes last (friends' problems alone are no failure).
    let failure = report.failure();
    for p in &report.problems {
        if Some(p) != failure {
            eprintln!("{}", p.message);
        }
    }
    match failure {
        None => ExitCode::SUCCESS,
        Some(p) => fail(EXIT_FAILED, &p.message),
    }
}

async fn check(paths: &Paths, token_cache: Option<&Path>) -> ExitCode {
    let engine = match engine(paths, token_cache, Duration::ZERO) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let report = engine.check().await;
    if let Some(user) = &report.peloton_user {
        say!("Peloton: logged in as {user}");
    }
    if let Some(doc) = &report.doc_name {
        say!("Coda: doc \"{doc}\"");
    }
    for t in &report.tables_ok {
        say!("Table \"{t}\": ok");
    }
    for line in report.optional_summary().iter().chain(&report.notes) {
        say!("{line}");
    }
    if report.problems.is_empty() {
        say!("Everything is ready to sync.");
        ExitCode::SUCCESS
    } else {
        let (last, rest) = report
            .problems
            .split_last()
            .map(|(l, r)| (Some(l), r))
            .unwrap_or((None, &[]));
        for p in rest {
            eprintln!("{}", p.message);
        }
        fail(
            EXIT_FAILED,
            last.map(|p| p.message.as_str())
                .unwrap_or("The check failed."),
        )
    }
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
        out.push_str(&format!("\n  error: {e}"));
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
        Err(sentence) => return fail(EXIT_SETUP, &sentence),
    };
    let secrets = KeyringStore::default();
    if let Err(SecretsError::Unavailable(_)) = secrets.get(SecretKey::CodaToken) {
        return fail(
            EXIT_SETUP,
            "No system keychain is available to keep credentials; pass them in the environment instead (PELOTON_USERNAME, PELOTON_PASSWORD, CODA_API_TOKEN, CODA_DOC).",
        );
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
        Err(e) => return fail(EXIT_SETUP, &format!("Could not read the answers: {e}.")),
    };
    if email.is_empty() || password.is_empty() || token.is_empty() || doc.is_empty() {
        return fail(EXIT_SETUP, "Every answer is needed; nothing was saved.");
    }
    let changes = setup::credential_changes(
        settings.peloton_email != email,
        Some(SecretString::from(password)),
        Some(SecretString::from(token)),
    );
    let stored = changes.iter().try_for_each(|(key, value)| match value {
        Some(v) => secrets.set(*key, v),
        None => secrets.delete(*key),
    });
    if let Err(e) = stored {
        return fail(EXIT_SETUP, &e.user_message());
    }
    settings.peloton_email = email;
    settings.coda_doc = doc;
    if let Err(e) = settings.save(&paths.config_file) {
        return fail(EXIT_SETUP, &e.user_message());
    }
    say!("Saved. Run `peloton-coda-sync check` to test the connection.");
    ExitCode::SUCCESS
}
