//! `fake-peloton`: runs the fake Peloton server (auth host and API host on one port) until
//! interrupted. The first stdout line is `listening on http://127.0.0.1:PORT`; the next ones
//! give the test-only credentials it accepts.
//!
//! For `make demo-app`: `--recent` moves every workout so the newest began three hours ago
//! (the app's 12-week chart counts back from today), and `--friend-ride-after SECS` has the
//! first friend finish a new ride that many seconds after the start.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Parser;
use fake_peloton::{Config, FakePeloton, FriendSpec};

/// Command-line options.
#[derive(Parser, Debug)]
#[command(about = "A fake Peloton server for tests and demos")]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Number of the user's workouts.
    #[arg(long, default_value_t = 10)]
    workouts: usize,
    /// Number of public friends.
    #[arg(long, default_value_t = 2)]
    friends: usize,
    /// Number of private friends.
    #[arg(long, default_value_t = 0)]
    private_friends: usize,
    /// Workouts per friend.
    #[arg(long, default_value_t = 5)]
    friend_workouts: usize,
    /// Minimum number of instructors.
    #[arg(long, default_value_t = 20)]
    instructors: usize,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Move every workout so the newest began three hours ago.
    #[arg(long)]
    recent: bool,
    /// The first friend finishes a new ride this many seconds after the start.
    #[arg(long, value_name = "SECS")]
    friend_ride_after: Option<u64>,
}

/// Seconds since the Unix epoch now (the demo's wall clock; the fake's own
/// data never reads it).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

const TIME_KEYS: [&str; 5] = [
    "start_time",
    "end_time",
    "created_at",
    "created",
    "device_time_created_at",
];

/// Moves the workout `id` by `shift` seconds, all its times alike.
fn shift_workout(fake: &FakePeloton, id: &str, shift: i64) {
    fake.update_workout(id, |w| {
        for key in TIME_KEYS {
            if let Some(t) = w[key].as_i64() {
                w[key] = serde_json::json!(t + shift);
            }
        }
    });
}

/// Every workout (the user's and friends') moved by one shift so the newest
/// began `ago` seconds before now.
fn make_recent(fake: &FakePeloton, ago: i64) {
    let mut ids = fake.workout_ids();
    for friend in fake.friend_ids() {
        ids.extend(fake.user_workout_ids(&friend));
    }
    let start = |id: &str| {
        fake.workout_json(id)
            .and_then(|w| w["start_time"].as_i64())
            .unwrap_or(0)
    };
    let Some(newest) = ids.iter().map(|id| start(id)).max() else {
        return;
    };
    let shift = unix_now() - ago - newest;
    for id in ids {
        shift_workout(fake, &id, shift);
    }
}

/// The first friend's new ride, finished a minute ago.
fn friend_rides_now(fake: &FakePeloton) -> Option<String> {
    let friend = fake.friend_ids().into_iter().next()?;
    let id = fake.add_friend_workouts(&friend, 1).into_iter().next()?;
    let w = fake.workout_json(&id)?;
    let (start, end) = (w["start_time"].as_i64()?, w["end_time"].as_i64()?);
    shift_workout(fake, &id, unix_now() - 60 - end.max(start));
    Some(id)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut friends: Vec<FriendSpec> = (1..=args.friends)
        .map(|i| FriendSpec::public(&format!("friend{i}"), args.friend_workouts))
        .collect();
    friends.extend(
        (1..=args.private_friends)
            .map(|i| FriendSpec::private(&format!("private{i}"), args.friend_workouts)),
    );
    let config = Config {
        workouts: args.workouts,
        friends,
        instructors: args.instructors,
        seed: args.seed,
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    let fake = FakePeloton::serve(config, listener);
    fake.faults().set_latency_ms(args.latency_ms);
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", fake.url())?;
        writeln!(out, "email: {}", fake.email())?;
        writeln!(out, "password: {}", fake.password())?;
        writeln!(out, "user id: {}", fake.user_id())?;
        out.flush()?;
    }
    if args.recent {
        make_recent(&fake, 3 * 3600);
    }
    let fake = std::sync::Arc::new(fake);
    if let Some(secs) = args.friend_ride_after {
        let fake = fake.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            if let Some(id) = friend_rides_now(&fake) {
                eprintln!("a friend finished a new ride: {id}");
            }
        });
    }
    // SIGTERM (the demo script ending it) as well as Ctrl-C.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    drop(fake);
    Ok(())
}
