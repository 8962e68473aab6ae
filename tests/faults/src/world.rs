//! One scenario's world: a fake Peloton, a fake Coda, a temporary home with
//! the state database, and an engine built over them with fast pacing. It
//! also counts what matters afterwards: rows lost, rows duplicated,
//! requests made.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fake_coda::FakeCoda;
use fake_peloton::{FakePeloton, FriendSpec};
use pcs_core::clock::{SharedClock, SystemClock};
use pcs_core::coda::{CodaClient, CodaConfig};
use pcs_core::net::{RateLimit, RetryBudget, RetryPolicy};
use pcs_core::peloton::client::{PelotonClient, PelotonConfig};
use pcs_core::secrets::{MemoryStore, SecretStore};
use pcs_core::store::Store;
use pcs_core::sync::{Engine, EngineConfig, RunOptions, RunReport, TableTarget};
use pcs_core::tables::Table;
use secrecy::SecretString;
use testkit::home::Home;
use testkit::wait::until_every;
use tokio_util::sync::CancellationToken;

/// Latest workouts kept per friend (the settings' default).
pub const PER_FRIEND: usize = 10;
/// The user's own workouts in every world.
pub const WORKOUTS: usize = 30;

/// What differs between worlds.
pub struct Spec {
    /// Fake Coda's configuration.
    pub coda: fake_coda::Config,
    /// The clock the engine reads.
    pub clock: SharedClock,
    /// Where the state database lives, relative to XDG_DATA_HOME or absolute (a
    /// tiny filesystem for "disk full").
    pub state_db: Option<PathBuf>,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            coda: fake_coda::Config::default().without_rate_limits(),
            clock: Arc::new(SystemClock),
            state_db: None,
        }
    }
}

/// The fakes, the home folder and the secrets of one scenario.
pub struct World {
    /// The fake Peloton.
    pub peloton: FakePeloton,
    /// The fake Coda.
    pub coda: FakeCoda,
    /// The temporary home (state, lock, logs).
    pub home: Home,
    /// The keychain stand-in, shared by every engine of the scenario.
    pub secrets: Arc<MemoryStore>,
    /// The clock every engine reads.
    pub clock: SharedClock,
    /// The password the engine is given (the user's Settings).
    pub password: std::sync::Mutex<String>,
    /// Overrides the Peloton API URL (a corrupting proxy).
    pub api_url: std::sync::Mutex<Option<String>>,
    /// Changes the clients' configuration (shorter timeouts, faster writes).
    pub tune: std::sync::Mutex<Option<Tune>>,
    state_db: PathBuf,
    private_friends: Vec<String>,
}

/// A change to the clients' configuration.
pub type Tune = Box<dyn Fn(&mut PelotonConfig, &mut CodaConfig) + Send + Sync>;

/// What the doc holds compared with Peloton.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Rows Peloton has that Coda lacks (per table, summed).
    pub lost: usize,
    /// Keys held by more than one row.
    pub duplicated: usize,
    /// Rows Coda holds that should have been deleted (left a friend's window).
    pub stale: usize,
    /// Lost rows that the local state still holds for the next run.
    pub held: usize,
    /// What was lost, for the note.
    pub lost_detail: Vec<String>,
}

/// A policy whose waits are short, so the matrix runs in minutes; the rules
/// (what is retried, how many times) are the production ones.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(20),
        floor_429: Duration::from_millis(30),
        max_delay: Duration::from_millis(400),
        max_attempts: 8,
        max_consecutive_429: 8,
        budget: RetryBudget::new(Duration::from_secs(60)),
    }
}

impl World {
    /// Starts both fakes: 30 workouts, two public friends and a private one.
    pub async fn start(spec: Spec) -> World {
        let config = fake_peloton::Config {
            workouts: WORKOUTS,
            friends: vec![
                FriendSpec::public("PowerZonePal", 14),
                FriendSpec::public("TreadBuddy", 3),
                FriendSpec::private("Secretive", 4),
            ],
            ..fake_peloton::Config::default()
        };
        let password = config.password.clone();
        let peloton = FakePeloton::start(config).await;
        let coda = FakeCoda::start(spec.coda).await;
        let home = Home::new("pcs-faults-").expect("a temporary home");
        // A relative path is taken inside XDG_DATA_HOME (where the CLI keeps it).
        let state_db = home
            .data_home()
            .join(spec.state_db.unwrap_or_else(|| "data/state.db".into()));
        let private_friends = peloton.friend_id("Secretive").into_iter().collect();
        World {
            peloton,
            coda,
            home,
            secrets: Arc::new(MemoryStore::new()),
            clock: spec.clock,
            password: std::sync::Mutex::new(password),
            api_url: std::sync::Mutex::new(None),
            tune: std::sync::Mutex::new(None),
            state_db,
            private_friends,
        }
    }

    /// The state database's path.
    pub fn state_db(&self) -> PathBuf {
        self.state_db.clone()
    }

    /// The clients' configuration: production rules, test pacing.
    pub fn configs(&self) -> (PelotonConfig, CodaConfig) {
        let fast = RateLimit {
            requests: 200,
            per: Duration::from_secs(1),
        };
        let mut p = PelotonConfig {
            api_url: self
                .api_url
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_else(|| self.peloton.url()),
            auth_url: self.peloton.url(),
            rate: fast,
            timeout: Duration::from_secs(3),
            retry: fast_retry(),
            page_limit: 10,
            dump_dir: Some(self.home.home().join("logs")),
            ..PelotonConfig::default()
        };
        let mut c = CodaConfig {
            api_url: self.coda.url(),
            read_rate: fast,
            write_rate: RateLimit {
                requests: 50,
                per: Duration::from_secs(1),
            },
            timeout: Duration::from_secs(3),
            retry: fast_retry(),
            mutation_poll: Duration::from_millis(50),
            ..CodaConfig::default()
        };
        if let Some(tune) = self.tune.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            tune(&mut p, &mut c);
        }
        (p, c)
    }

    /// A fresh engine, as a new process would build it: the same secrets,
    /// the state reopened from disk.
    pub fn engine(&self) -> Result<Engine, String> {
        let (p, c) = self.configs();
        let password = self
            .password
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let secrets: Arc<dyn SecretStore> = self.secrets.clone();
        let peloton = PelotonClient::new(
            p,
            self.clock.clone(),
            secrets,
            self.peloton.email(),
            Some(SecretString::from(password)),
        )
        .map_err(|e| e.user_message())?;
        let coda = CodaClient::new(c, SecretString::from(self.coda.token()))
            .map_err(|e| e.user_message())?;
        let store = Store::open(&self.state_db).map_err(|e| e.user_message())?;
        let tables = Table::ALL
            .into_iter()
            .map(|t| TableTarget {
                table: t,
                name: t.default_name().to_string(),
                enabled: true,
            })
            .collect();
        let config = EngineConfig {
            doc: self.coda.doc_url(),
            tables,
            friend_workouts_per_friend: PER_FRIEND as u32,
            lock_file: self.home.home().join("sync.lock"),
            lock_wait: Duration::ZERO,
            avatars: None,
        };
        Ok(Engine::new(
            peloton,
            coda,
            store,
            self.clock.clone(),
            config,
        ))
    }

    /// One run on a fresh engine. `Err` holds the sentence of a run that
    /// could not even start.
    pub async fn run(&self) -> Result<RunReport, String> {
        let engine = self.engine()?;
        let cancel = CancellationToken::new();
        let report = engine
            .run(RunOptions::default(), &|_| {}, &cancel)
            .await
            .map_err(|e| e.user_message());
        // Every accepted write is applied before anything is counted.
        self.coda.wait_idle().await;
        report
    }

    /// Requests both fakes saw since the last reset: (Peloton, Coda).
    pub fn requests(&self) -> (usize, usize) {
        (self.peloton.requests().len(), self.coda.requests().len())
    }

    /// Forgets both request logs (after a scenario's preparation).
    pub fn reset_logs(&self) {
        self.peloton.reset_log();
        self.coda.reset_log();
    }

    /// Compares the doc with Peloton.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        let stored: BTreeSet<String> = Store::open(&self.state_db)
            .and_then(|s| s.stored_workouts())
            .map(|v| v.into_iter().map(|w| w.id).collect())
            .unwrap_or_default();

        let complete = |id: &String| {
            self.peloton
                .workout_json(id)
                .map(|w| w["status"].as_str().is_none_or(|s| s == "COMPLETE"))
                .unwrap_or(false)
        };
        let mine: BTreeSet<String> = self
            .peloton
            .workout_ids()
            .into_iter()
            .filter(complete)
            .collect();
        let friends: Vec<String> = self.peloton.friend_ids();
        let mut windows = BTreeSet::new();
        for f in friends.iter().filter(|f| !self.private_friends.contains(f)) {
            windows.extend(
                self.peloton
                    .user_workout_ids(f)
                    .into_iter()
                    .filter(complete)
                    .take(PER_FRIEND),
            );
        }
        let instructors: BTreeSet<String> = self.peloton.instructor_ids().into_iter().collect();
        let expected = [
            (Table::Workouts, mine),
            (Table::Instructors, instructors),
            (Table::Friends, friends.into_iter().collect()),
            (Table::FriendWorkouts, windows),
        ];
        for (table, want) in expected {
            let name = table.default_name();
            let key = table.key_column();
            let have: BTreeSet<String> = self
                .coda
                .rows(name)
                .iter()
                .map(|r| cell_text(r.get(key)))
                .collect();
            let missing: Vec<&String> = want.difference(&have).collect();
            if !missing.is_empty() {
                let held = if table == Table::Workouts {
                    missing.iter().filter(|id| stored.contains(**id)).count()
                } else {
                    0
                };
                t.held += held;
                t.lost += missing.len();
                t.lost_detail.push(format!("{} {name}", missing.len()));
            }
            if table == Table::FriendWorkouts {
                t.stale += have.difference(&want).count();
            }
            t.duplicated += self.coda.duplicate_keys(name, key).len();
        }
        t
    }
}

fn cell_text(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Waits (polling, with a deadline) until `cond` holds, then runs `then`.
/// Used to switch a fault on in the middle of a run.
pub fn when(
    cond: impl Fn() -> bool + Send + 'static,
    then: impl FnOnce() + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let moment = until_every(
            "the moment to switch the fault on",
            Duration::from_secs(60),
            Duration::from_millis(5),
            move || {
                let now = cond().then_some(());
                async move { Ok(now) }
            },
        );
        if moment.await.is_ok() {
            then();
        }
    })
}
