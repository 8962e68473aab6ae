//! `fault-matrix`: runs the sync (the engine in-process, and the CLI binary)
//! against the fakes under every fault the issue lists, and prints one
//! markdown table: fault, outcome, the sentence the user saw, rows lost,
//! rows duplicated, requests made. Exits 1 when any line lost or duplicated
//! a row, or showed a sentence a user cannot act on.
//!
//! `fault-matrix [FILTER...]` runs only the faults whose name contains one
//! of the filters (case-insensitive).

mod outcome;
mod process;
mod proxy;
mod scenarios;
mod sentence;
mod world;

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Instant;

use outcome::Outcome;

/// Prints to stdout: the table is this binary's output.
macro_rules! say {
    ($($arg:tt)*) => {{
        #[allow(clippy::print_stdout)]
        { println!($($arg)*); }
    }};
}

type Scenario = Pin<Box<dyn Future<Output = Outcome>>>;

fn scenarios(cli: Option<std::path::PathBuf>) -> Vec<(&'static str, Scenario)> {
    use scenarios as s;
    let mut list: Vec<(&'static str, Scenario)> = vec![
        ("peloton 429", Box::pin(s::peloton_429_storm())),
        ("peloton 5xx", Box::pin(s::peloton_5xx())),
        ("peloton timeouts", Box::pin(s::peloton_timeouts())),
        ("peloton drops", Box::pin(s::peloton_drops())),
        ("peloton malformed", Box::pin(s::peloton_malformed_json())),
        (
            "peloton field removed",
            Box::pin(s::peloton_field_removed()),
        ),
        (
            "peloton field number",
            Box::pin(s::peloton_field_retyped_number()),
        ),
        (
            "peloton field object",
            Box::pin(s::peloton_field_retyped_object()),
        ),
        ("peloton token", Box::pin(s::peloton_token_expires())),
        ("peloton refresh", Box::pin(s::peloton_refresh_refused())),
        ("peloton password", Box::pin(s::peloton_password_changed())),
        ("coda 429 limit", Box::pin(s::coda_429_beyond_limit())),
        ("coda sticky", Box::pin(s::coda_sticky_429())),
        ("coda 5xx", Box::pin(s::coda_5xx())),
        ("coda drops", Box::pin(s::coda_drops())),
        ("coda 2mb", Box::pin(s::coda_over_2mb())),
        ("coda token", Box::pin(s::coda_token_revoked())),
        ("coda doc", Box::pin(s::coda_doc_deleted())),
        ("coda renamed", Box::pin(s::coda_column_renamed())),
        ("coda formula", Box::pin(s::coda_column_formula())),
        ("coda lag", Box::pin(s::coda_read_lag())),
        ("state deleted", Box::pin(s::state_deleted())),
        ("state corrupted", Box::pin(s::state_corrupted())),
        ("disk full", Box::pin(process::disk_full())),
        ("clock", Box::pin(s::clock_back())),
    ];
    match cli {
        Some(bin) => {
            let b2 = bin.clone();
            list.push((
                "kill",
                Box::pin(async move { process::cli_killed(&bin).await }),
            ));
            list.push((
                "app cron",
                Box::pin(async move { process::app_and_cron(&b2).await }),
            ));
        }
        None => {
            let why = "the CLI binary is not built (cargo build -p peloton-coda-sync)";
            list.push((
                "kill",
                Box::pin(async move {
                    Outcome::skipped("CLI killed (SIGKILL) at 20 random instants", why)
                }),
            ));
            list.push((
                "app cron",
                Box::pin(
                    async move { Outcome::skipped("app and a cron CLI started together", why) },
                ),
            ));
        }
    }
    list
}

fn main() -> ExitCode {
    let filters: Vec<String> = std::env::args().skip(1).map(|a| a.to_lowercase()).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("The runtime could not start: {e}.");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let outcomes = runtime.block_on(async {
        let mut outcomes = Vec::new();
        for (key, scenario) in scenarios(process::cli_binary()) {
            if !filters.is_empty() && !filters.iter().any(|f| key.contains(f.as_str())) {
                continue;
            }
            let t = Instant::now();
            let o = scenario.await;
            eprintln!(
                "fault-matrix: {:<60} {} in {:.1} s",
                o.fault,
                if o.passed() { "ok" } else { "FAILED" },
                t.elapsed().as_secs_f64()
            );
            outcomes.push(o);
        }
        outcomes
    });
    say!("{}", outcome::table(&outcomes));
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    say!(
        "{} faults, {} failed, {} skipped, in {:.0} s.",
        outcomes.len(),
        failed,
        outcomes.iter().filter(|o| o.skipped.is_some()).count(),
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
