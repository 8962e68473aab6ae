//! `bench` (`make bench`): measures the release CLI and tray app against the
//! fake Peloton (80 ms a request) and fake Coda (150 ms a request, Coda's real
//! rate limits), prints a markdown table and writes
//! `target/bench/summary.json`. The binaries it drives sit next to it in the
//! target directory: build them in release first (the Makefile does).
//!
//! Usage: `bench [--workouts N] [--friends N] [--app PATH | --skip-app REASON] [--out FILE]`.

mod app;
mod procs;
mod report;
mod sync;

use std::path::PathBuf;

use anyhow::Context;

use report::{Metric, Target};
use sync::{bound_s, Pacing, World};

/// Prints the table; stdout is this binary's interface.
macro_rules! say {
    ($($arg:tt)*) => {{
        #[allow(clippy::print_stdout)]
        { println!($($arg)*); }
    }};
}

struct Args {
    workouts: usize,
    friends: usize,
    friend_workouts: usize,
    app: Result<PathBuf, String>,
    out: PathBuf,
}

fn parse_args(bin_dir: &std::path::Path) -> anyhow::Result<Args> {
    let target_dir = bin_dir.parent().unwrap_or(bin_dir).to_path_buf();
    let mut a = Args {
        workouts: 1000,
        friends: 10,
        friend_workouts: 10,
        app: Ok(bin_dir.join("peloton-coda-sync-app")),
        out: target_dir.join("bench").join("summary.json"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--workouts" => a.workouts = value()?.parse()?,
            "--friends" => a.friends = value()?.parse()?,
            "--friend-workouts" => a.friend_workouts = value()?.parse()?,
            "--app" => a.app = Ok(PathBuf::from(value()?)),
            "--skip-app" => a.app = Err(value()?),
            "--out" => a.out = PathBuf::from(value()?),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

/// The full-resolution archive the first sync left in the state, scaled to
/// 1000 workouts.
fn archive_size(world: &World) -> Metric {
    const NAME: &str = "archive_mb_per_1000_workouts";
    let db = world
        .data_home()
        .join("peloton-coda-sync")
        .join(pcs_core::paths::STATE_DB_FILE);
    let size = pcs_core::store::Store::open(&db).and_then(|s| s.archive_size());
    match size {
        Ok(a) if a.graphs > 0 => {
            let per = 1000.0 / a.graphs as f64;
            Metric::new(
                NAME,
                a.stored_bytes as f64 * per / 1e6,
                None,
                format!(
                    "{} graphs at every_n=1, deflated in the state: {:.1} MB from {:.1} MB as sent",
                    a.graphs,
                    a.stored_bytes as f64 / 1e6,
                    a.raw_bytes as f64 / 1e6
                ),
            )
        }
        Ok(_) => Metric::missing(NAME, None, "no graph was archived"),
        Err(e) => Metric::missing(NAME, None, format!("the state could not be read: {e}")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let bin_dir = exe.parent().context("no binary folder")?.to_path_buf();
    let args = parse_args(&bin_dir)?;
    for bin in ["peloton-coda-sync", "fake-peloton", "fake-coda"] {
        anyhow::ensure!(
            bin_dir.join(bin).exists(),
            "{} is missing: run `cargo build --release -p peloton-coda-sync -p fake-peloton -p fake-coda` first",
            bin_dir.join(bin).display()
        );
    }
    let n = args.workouts;
    let friends = args.friends;
    let mut metrics = Vec::new();

    eprintln!("bench: starting the fakes ({n} workouts, {friends} friends)");
    let world = World::start(&bin_dir, n, friends, args.friend_workouts).await?;
    let pacing = Pacing::default();

    eprintln!(
        "bench: first sync of {n} workouts (paced at {} Peloton requests a second: minutes)",
        pacing.peloton_rate
    );
    let initial = world.sync("initial").await?;
    let rusage_kb = procs::children_max_rss_kb();
    let np = initial.peloton.total;
    let bound = bound_s(pacing, np, initial.coda.reads, initial.coda.other);
    let per_workout = np as f64 / n as f64;
    let write_limit = (initial.rows_written as f64 / 100.0).ceil() + 4.0;
    metrics.push(Metric::new(
        "initial_1000_s",
        initial.seconds,
        None,
        format!("{n} workouts, {friends} friends, instructors; wall time of the release CLI"),
    ));
    metrics.push(Metric::new(
        "initial_1000_peloton_requests",
        np as f64,
        Some(Target::AtMost(2.05 * n as f64)),
        format!(
            "{per_workout:.3} a workout: {} API + {} login, {} list pages, {} throttled, {} unexpected",
            initial.peloton.reads,
            initial.peloton.other,
            initial.peloton.own_list_pages,
            initial.peloton.throttled,
            initial.peloton.unexpected
        ),
    ));
    metrics.push(Metric::new(
        "initial_1000_coda_requests",
        initial.coda.total as f64,
        None,
        format!(
            "{} reads, {} row writes for {} rows, {} throttled",
            initial.coda.reads, initial.coda.other, initial.rows_written, initial.coda.throttled
        ),
    ));
    metrics.push(Metric::new(
        "initial_1000_coda_writes",
        initial.coda.other as f64,
        Some(Target::AtMost(write_limit)),
        format!("target ceil({} rows / 100) + 4", initial.rows_written),
    ));
    metrics.push(Metric::new(
        "initial_1000_bound_s",
        bound,
        None,
        format!(
            "max(P + Lc, 3 Lc + W, R): P = max({np}/{}, {np}·{}/{}), W = ({}−1)·{} + {}, R = reads",
            pacing.peloton_rate,
            pacing.peloton_latency,
            pacing.peloton_in_flight,
            initial.coda.other,
            pacing.coda_write_spacing,
            pacing.coda_latency,
        ),
    ));
    metrics.push(Metric::new(
        "initial_1000_ratio",
        initial.seconds / bound,
        Some(Target::AtMost(1.2)),
        "measured / bound",
    ));
    let peak_kb = rusage_kb.unwrap_or(0).max(initial.sampled_peak_kb);
    metrics.push(Metric::new(
        "cli_peak_rss_mb",
        peak_kb as f64 / 1024.0,
        Some(Target::AtMost(60.0)),
        format!(
            "getrusage(RUSAGE_CHILDREN) ru_maxrss {} kB; VmHWM sampled every 20 ms {} kB",
            rusage_kb
                .map(|k| k.to_string())
                .unwrap_or_else(|| "n/a".into()),
            initial.sampled_peak_kb
        ),
    ));
    metrics.push(archive_size(&world));

    eprintln!("bench: quiet sync (nothing new)");
    let quiet = world.sync("quiet").await?;
    let quiet_bound = bound_s(
        pacing,
        quiet.peloton.total,
        quiet.coda.reads,
        quiet.coda.other,
    );
    metrics.push(Metric::new(
        "quiet_s",
        quiet.seconds,
        Some(Target::Below(1.5)),
        format!(
            "wall time; the pacing alone needs {quiet_bound:.2} s for its {} Peloton and {} Coda requests",
            quiet.peloton.total, quiet.coda.total
        ),
    ));
    metrics.push(Metric::new(
        "quiet_peloton_requests",
        quiet.peloton.reads as f64,
        Some(Target::AtMost(2.0 + friends as f64)),
        format!(
            "API requests; plus {} auth requests (the token cache's refresh: no login)",
            quiet.peloton.other
        ),
    ));
    metrics.push(Metric::new(
        "quiet_coda_writes",
        quiet.coda.other as f64,
        Some(Target::AtMost(0.0)),
        format!("{} Coda reads", quiet.coda.reads),
    ));
    metrics.push(Metric::new(
        "quiet_coda_reads",
        quiet.coda.reads as f64,
        None,
        "opening the doc (resolve, tables, columns) and one rowCount per table",
    ));
    metrics.push(Metric::new(
        "quiet_bound_s",
        quiet_bound,
        None,
        "same formula as initial_1000_bound_s",
    ));
    let seed = initial.peloton.own_list_pages + 2 * n as u64;
    metrics.push(Metric::new(
        "seed_style_requests_per_run",
        seed as f64,
        None,
        format!(
            "{} list pages + detail and graph of each of {n} workouts, every run (login not counted)",
            initial.peloton.own_list_pages
        ),
    ));
    metrics.push(Metric::new(
        "quiet_request_ratio",
        seed as f64 / quiet.peloton.total.max(1) as f64,
        None,
        format!(
            "seed_style_requests_per_run / our quiet run's {} Peloton requests, login included",
            quiet.peloton.total
        ),
    ));

    eprintln!("bench: tray app");
    metrics.extend(app::measure(args.app, &world).await);

    let cli_mb =
        std::fs::metadata(bin_dir.join("peloton-coda-sync")).map(|m| m.len() as f64 / 1_048_576.0);
    if let Ok(mb) = cli_mb {
        metrics.push(Metric::new(
            "cli_release_binary_mb",
            mb,
            None,
            "size of the release CLI (MiB)",
        ));
    }

    let machine = report::machine();
    say!(
        "Machine: {} CPUs ({}), {} GiB RAM\n",
        machine["cpus"],
        machine["cpu_model"].as_str().unwrap_or("?"),
        machine["ram_gib"]
    );
    say!("{}", report::table(&metrics));
    report::write_summary(&args.out, &metrics)?;
    eprintln!("bench: wrote {}", args.out.display());
    Ok(())
}
