//! `fake-coda --port N`: runs the fake Coda server until Ctrl-C, for demos and manual runs.
//! The first stdout line is `listening on http://127.0.0.1:PORT/apis/v1`; faults are switched
//! with `POST /__control/faults` and the state read with `GET /__control/dump`.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use fake_coda::{Config, FakeCoda};

/// Command line.
#[derive(Parser)]
#[command(about = "A fake Coda API v1 server for tests and demos")]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The accepted token (default "coda-test-token").
    #[arg(long)]
    token: Option<String>,
    /// The doc ID (default "AbCDeFGH").
    #[arg(long)]
    doc_id: Option<String>,
    /// Turns rate limits off.
    #[arg(long)]
    no_rate_limits: bool,
    /// Delay added to every answer.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// How long after its 202 a write is applied.
    #[arg(long)]
    mutation_delay_ms: Option<u64>,
    /// How long reads lag applied writes.
    #[arg(long, default_value_t = 0)]
    read_lag_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = Config {
        port: args.port,
        ..Config::default()
    };
    if let Some(token) = args.token {
        config.token = token;
    }
    if let Some(doc_id) = args.doc_id {
        config.doc_id = doc_id;
    }
    config.rate_limits.enabled = !args.no_rate_limits;
    config.faults.latency_ms = args.latency_ms;
    if let Some(ms) = args.mutation_delay_ms {
        config.mutation_delay = Duration::from_millis(ms);
    }
    config.read_lag = Duration::from_millis(args.read_lag_ms);
    let coda = FakeCoda::try_start(config)
        .await
        .with_context(|| format!("cannot listen on port {}", args.port))?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", coda.url())?;
    out.flush()?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), doc_url = %coda.doc_url(), "fake-coda started");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
