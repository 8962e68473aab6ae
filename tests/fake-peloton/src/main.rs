//! `fake-peloton`: runs the fake Peloton server (auth host and API host on one port) until
//! interrupted. The first stdout line is `listening on http://127.0.0.1:PORT`; the next ones
//! give the test-only credentials it accepts.

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
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    drop(fake);
    Ok(())
}
