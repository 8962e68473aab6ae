//! Builds a ready [`Engine`] from the settings, the environment and the
//! keychain: the one place both binaries get their clients from, so the CLI
//! and the app sync exactly alike.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::avatars::AvatarCache;
use crate::clock::SharedClock;
use crate::coda::{CodaClient, CodaConfig, CodaError};
use crate::net::RetryBudget;
use crate::paths::Paths;
use crate::peloton::client::{PelotonClient, PelotonConfig};
use crate::peloton::{BrowserSignIn, LoginStopFile, PelotonError, SignInError};
use crate::secrets::{is_set, SecretChanges, SecretKey, SecretStore, SecretsError};
use crate::settings::{Settings, SignInWay};
use crate::store::{Store, StoreError};
use crate::sync::{Engine, EngineConfig, Problem, ProblemArea, TableTarget};
use crate::tables::Table;

/// Values given in the environment; each overrides the stored setting
/// (cli.md, "Environment"). Secrets given here are used as they are and
/// never written anywhere.
#[derive(Default, Clone)]
pub struct Overrides {
    /// `PELOTON_USERNAME`: the account's e-mail.
    pub peloton_email: Option<String>,
    /// `PELOTON_PASSWORD`.
    pub peloton_password: Option<SecretString>,
    /// `CODA_API_TOKEN`.
    pub coda_token: Option<SecretString>,
    /// `CODA_DOC`: id or browser URL.
    pub coda_doc: Option<String>,
    /// `PELOTON_API_URL`.
    pub peloton_api_url: Option<String>,
    /// `PELOTON_AUTH_URL`.
    pub peloton_auth_url: Option<String>,
    /// `CODA_API_URL`.
    pub coda_api_url: Option<String>,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("peloton_email", &self.peloton_email)
            .field(
                "peloton_password",
                &self.peloton_password.as_ref().map(|_| "<set>"),
            )
            .field("coda_token", &self.coda_token.as_ref().map(|_| "<set>"))
            .field("coda_doc", &self.coda_doc)
            .finish_non_exhaustive()
    }
}

/// A typed or configured value without the spaces and line ends around it
/// (an env file saved with CRLF, a paste with a trailing space); `None`
/// when nothing is left. For tokens, e-mails, doc IDs and URLs, which never
/// hold any; never for a password.
pub fn trimmed(value: &str) -> Option<String> {
    let t = value.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl Overrides {
    /// Reads the variables named in cli.md from a lookup (the process
    /// environment in the binaries, a map in tests). Empty values count as unset.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| get(name).as_deref().and_then(trimmed);
        Self {
            peloton_email: var("PELOTON_USERNAME"),
            // A password is taken as it is: spaces may be part of it.
            peloton_password: get("PELOTON_PASSWORD")
                .filter(|v| !v.trim().is_empty())
                .map(SecretString::from),
            coda_token: var("CODA_API_TOKEN").map(SecretString::from),
            coda_doc: var("CODA_DOC"),
            peloton_api_url: var("PELOTON_API_URL"),
            peloton_auth_url: var("PELOTON_AUTH_URL"),
            coda_api_url: var("CODA_API_URL"),
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }
}

/// Something a sync needs that is not set yet (first run, or credentials
/// forgotten). The one place that decides whether setup is complete: the
/// app's first-run window, its tray and its scheduler all ask [`missing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// No Peloton e-mail in the settings or the environment.
    PelotonEmail,
    /// Neither a Peloton password nor a kept Peloton login.
    PelotonPassword,
    /// The browser way is in use and its login is gone (signed out): the
    /// person signs in again; no password is asked for.
    PelotonSignIn,
    /// No Coda API token.
    CodaToken,
    /// No Coda doc.
    CodaDoc,
}

impl Missing {
    /// How the missing thing is named to a user ("the Coda API token").
    pub fn label(self) -> &'static str {
        match self {
            Missing::PelotonEmail => "Peloton e-mail",
            Missing::PelotonPassword => "Peloton password",
            Missing::PelotonSignIn => "Peloton sign-in",
            Missing::CodaToken => "Coda API token",
            Missing::CodaDoc => "Coda doc",
        }
    }
}

/// What a sync still needs, in the order Settings asks for it; empty when
/// setup is complete. A value in the environment counts as set. A keychain
/// that is there but cannot be read (locked) counts as set: the sync then
/// says the keychain is locked, which is what the user must fix, not "set
/// up"; with no keychain at all, nothing is stored. A
/// browser sign-in needs no e-mail: the refresh token says who.
pub fn missing(
    settings: &Settings,
    overrides: &Overrides,
    secrets: &dyn SecretStore,
) -> Vec<Missing> {
    let stored = |keys: &[SecretKey]| match is_set(secrets, keys) {
        Ok(set) => set,
        // No keychain at all: nothing can be kept there.
        Err(SecretsError::Unavailable(_)) => false,
        Err(_) => true,
    };
    let browser = settings.peloton_sign_in == SignInWay::Browser;
    let email = peloton_email(settings, overrides).is_some() || browser;
    let password = overrides.peloton_password.is_some()
        || stored(&[SecretKey::PelotonPassword, SecretKey::PelotonRefreshToken]);
    let token = overrides.coda_token.is_some() || stored(&[SecretKey::CodaToken]);
    let doc = doc(settings, overrides).is_some();
    [
        (email, Missing::PelotonEmail),
        (
            password,
            if browser {
                Missing::PelotonSignIn
            } else {
                Missing::PelotonPassword
            },
        ),
        (token, Missing::CodaToken),
        (doc, Missing::CodaDoc),
    ]
    .into_iter()
    .filter(|(set, _)| !set)
    .map(|(_, m)| m)
    .collect()
}

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No Peloton e-mail in the settings or the environment.
    #[error("no Peloton e-mail is set")]
    MissingPelotonEmail,
    /// No Coda token in the keychain or the environment.
    #[error("no Coda API token is set")]
    MissingCodaToken,
    /// No Coda doc in the settings or the environment.
    #[error("no Coda doc is set")]
    MissingCodaDoc,
    /// The keychain failed.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The local state could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Peloton client could not be built.
    #[error(transparent)]
    Peloton(#[from] PelotonError),
    /// The Coda client could not be built.
    #[error(transparent)]
    Coda(#[from] CodaError),
}

impl SetupError {
    /// The one sentence a user sees.
    pub fn user_message(&self) -> String {
        match self {
            SetupError::MissingPelotonEmail => "No Peloton e-mail is set; run `peloton-coda-sync login` or open Settings.".into(),
            SetupError::MissingCodaToken => "No Coda API token is set; run `peloton-coda-sync login` or open Settings.".into(),
            SetupError::MissingCodaDoc => "No Coda doc is set; run `peloton-coda-sync login` or open Settings and paste the doc's URL.".into(),
            SetupError::Secrets(e) => e.user_message(),
            SetupError::Store(e) => e.user_message(),
            SetupError::Peloton(e) => e.user_message(),
            SetupError::Coda(e) => e.user_message(),
        }
    }

    /// Where the problem is, as the engine says it for the same errors:
    /// what is missing is in Settings, a keychain or state failure is this
    /// computer's.
    pub fn area(&self) -> ProblemArea {
        match self {
            SetupError::MissingPelotonEmail
            | SetupError::MissingCodaToken
            | SetupError::MissingCodaDoc => ProblemArea::Settings,
            SetupError::Secrets(_) | SetupError::Store(_) => ProblemArea::Local,
            SetupError::Peloton(e) => Problem::from(e).area,
            SetupError::Coda(e) => Problem::from(e).area,
        }
    }
}

impl From<&SetupError> for Problem {
    fn from(e: &SetupError) -> Self {
        Problem {
            area: e.area(),
            message: e.user_message(),
        }
    }
}

/// The keychain changes that newly typed credentials ask for, in the order
/// to apply them; `None` keeps what is stored. A new password makes the
/// kept Peloton login (its refresh token) stale, and so does another
/// e-mail: that token is deleted with them.
pub fn credential_changes(
    email_changed: bool,
    peloton_password: Option<SecretString>,
    coda_token: Option<SecretString>,
) -> SecretChanges {
    let mut changes = Vec::new();
    if peloton_password.is_some() || email_changed {
        changes.push((SecretKey::PelotonRefreshToken, None));
    }
    if let Some(p) = peloton_password {
        changes.push((SecretKey::PelotonPassword, Some(p)));
    }
    if let Some(t) = coda_token {
        changes.push((SecretKey::CodaToken, Some(t)));
    }
    changes
}

/// Lets the password be sent again after Peloton refused or blocked it:
/// only for a person's own act ("Test connection", saving a typed password
/// or another e-mail, `peloton-coda-sync login`), never for a scheduled or
/// a plain sync (`peloton::LoginStopFile`).
pub fn lift_login_stop(paths: &Paths) {
    if let Err(e) = LoginStopFile::new(paths.login_stop_file()).clear() {
        tracing::warn!(error = %e, "could not lift the stop on Peloton logins");
    }
}

/// Whether `changes` give Peloton another e-mail or password (core's rule
/// in [`credential_changes`]: those drop the kept refresh token).
pub fn changes_peloton_login(changes: &SecretChanges) -> bool {
    changes
        .iter()
        .any(|(key, _)| *key == SecretKey::PelotonRefreshToken)
}

/// The Peloton e-mail: the environment's, else the settings'.
fn peloton_email(settings: &Settings, overrides: &Overrides) -> Option<String> {
    overrides
        .peloton_email
        .clone()
        .or_else(|| Some(settings.peloton_email.clone()))
        .filter(|e| !e.trim().is_empty())
}

/// The doc: the environment's, else the settings'.
fn doc(settings: &Settings, overrides: &Overrides) -> Option<String> {
    overrides
        .coda_doc
        .clone()
        .or_else(|| Some(settings.coda_doc.clone()))
        .filter(|d| !d.trim().is_empty())
}

/// Everything [`build_engine`] needs.
pub struct SetupInput<'a> {
    /// Where files live.
    pub paths: &'a Paths,
    /// The user's settings.
    pub settings: &'a Settings,
    /// The environment's overrides.
    pub overrides: &'a Overrides,
    /// The keychain (or a memory store where there is none).
    pub secrets: Arc<dyn SecretStore>,
    /// The clock.
    pub clock: SharedClock,
    /// How long a run waits for another sync to finish.
    pub lock_wait: Duration,
}

/// The Coda token: from the environment, else the keychain.
pub fn coda_token(
    overrides: &Overrides,
    secrets: &dyn SecretStore,
) -> Result<SecretString, SetupError> {
    if let Some(t) = &overrides.coda_token {
        return Ok(t.clone());
    }
    secrets
        .get(SecretKey::CodaToken)?
        .ok_or(SetupError::MissingCodaToken)
}

/// The Peloton client the settings and environment describe.
pub fn peloton_client(input: &SetupInput<'_>) -> Result<PelotonClient, SetupError> {
    peloton_client_with(input, RetryBudget::default())
}

/// [`peloton_client`] drawing its retries from `budget`.
fn peloton_client_with(
    input: &SetupInput<'_>,
    budget: RetryBudget,
) -> Result<PelotonClient, SetupError> {
    let email = match (
        peloton_email(input.settings, input.overrides),
        input.settings.peloton_sign_in,
    ) {
        (Some(email), _) => email,
        // A browser sign-in needs no e-mail: the refresh token says who.
        (None, SignInWay::Browser) => String::new(),
        (None, SignInWay::Password) => return Err(SetupError::MissingPelotonEmail),
    };
    let mut config = peloton_config(input);
    config.retry.budget = budget;
    config.browser_sign_in = input.settings.peloton_sign_in == SignInWay::Browser;
    let client = PelotonClient::new(
        config,
        input.clock.clone(),
        input.secrets.clone(),
        email,
        input.overrides.peloton_password.clone(),
    )?;
    Ok(match input.settings.peloton_sign_in {
        // Signed in as whoever the window recorded: another member signing
        // in makes every cached answer about the member (`/api/me`) stale,
        // whatever e-mail the settings still hold.
        SignInWay::Browser => {
            let who = format!("browser:{}", input.settings.peloton_username);
            client.for_account(&who)
        }
        SignInWay::Password => client,
    })
}

/// A browser sign-in attempt and the client that finishes it, both aimed
/// at the hosts the settings and environment name (issue 18).
pub fn browser_sign_in(
    input: &SetupInput<'_>,
) -> Result<(BrowserSignIn, PelotonClient), SignInError> {
    let config = peloton_config(input);
    let attempt = BrowserSignIn::new(&config.auth_url)?;
    let client = PelotonClient::new(
        config,
        input.clock.clone(),
        input.secrets.clone(),
        String::new(),
        None,
    )?;
    Ok((attempt, client))
}

fn peloton_config(input: &SetupInput<'_>) -> PelotonConfig {
    let mut config = PelotonConfig {
        dump_dir: Some(input.paths.log_dir.clone()),
        login_stop_file: Some(input.paths.login_stop_file()),
        token_lock_file: Some(input.paths.token_lock_file()),
        ..PelotonConfig::default()
    };
    if let Some(url) = input
        .overrides
        .peloton_api_url
        .clone()
        .or(input.settings.peloton_api_url.clone())
    {
        config.api_url = url;
    }
    if let Some(url) = input
        .overrides
        .peloton_auth_url
        .clone()
        .or(input.settings.peloton_auth_url.clone())
    {
        config.auth_url = url;
    }
    config
}

/// The Coda client the settings and environment describe.
pub fn coda_client(input: &SetupInput<'_>) -> Result<CodaClient, SetupError> {
    coda_client_with(input, RetryBudget::default())
}

/// [`coda_client`] drawing its retries from `budget`.
fn coda_client_with(input: &SetupInput<'_>, budget: RetryBudget) -> Result<CodaClient, SetupError> {
    let token = coda_token(input.overrides, input.secrets.as_ref())?;
    let mut config = CodaConfig::default();
    config.retry.budget = budget;
    if let Some(url) = input
        .overrides
        .coda_api_url
        .clone()
        .or(input.settings.coda_api_url.clone())
    {
        config.api_url = url;
    }
    Ok(CodaClient::new(config, token)?)
}

/// The doc to write: the environment's, else the settings'.
pub fn coda_doc(input: &SetupInput<'_>) -> Result<String, SetupError> {
    doc(input.settings, input.overrides).ok_or(SetupError::MissingCodaDoc)
}

/// Builds the engine: clients (sharing one retry budget: the contract's
/// "at most 10 minutes of retrying in all"), local state and the tables as
/// configured.
pub fn build_engine(input: SetupInput<'_>) -> Result<Engine, SetupError> {
    let budget = RetryBudget::default();
    let peloton = peloton_client_with(&input, budget.clone())?;
    let avatars = AvatarCache::new(input.paths.avatar_dir(), peloton.api_url())
        .map_err(|e| PelotonError::Request(e.without_url().to_string()))?;
    let doc = coda_doc(&input)?;
    let coda = coda_client_with(&input, budget)?;
    let store = Store::open(&input.paths.state_db)?;
    let tables = Table::ALL
        .into_iter()
        .map(|t| {
            let s = input.settings.table(t);
            TableTarget {
                table: t,
                name: s.name.clone(),
                enabled: s.enabled,
            }
        })
        .collect();
    let config = EngineConfig {
        doc,
        tables,
        friend_workouts_per_friend: input.settings.friend_workouts_per_friend,
        lock_file: input.paths.lock_file.clone(),
        lock_wait: input.lock_wait,
        avatars: Some(avatars),
    };
    Ok(Engine::new(peloton, coda, store, input.clock, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{Failing, MemoryStore};

    /// The paths of a HOME at `dir`.
    fn paths_in(dir: &std::path::Path) -> Paths {
        Paths::from_vars(|k| (k == "HOME").then(|| dir.as_os_str().to_owned())).unwrap()
    }

    #[test]
    fn stray_spaces_and_line_ends_leave_values_but_never_a_password() {
        use secrecy::ExposeSecret;
        let o = Overrides::from_vars(|k| match k {
            "CODA_API_TOKEN" => Some("tok-123\r\n".into()),
            "PELOTON_USERNAME" => Some(" me@example.com ".into()),
            "PELOTON_PASSWORD" => Some(" pass word ".into()),
            "CODA_DOC" => Some("   ".into()),
            _ => None,
        });
        assert_eq!(o.coda_token.unwrap().expose_secret(), "tok-123");
        assert_eq!(o.peloton_email.as_deref(), Some("me@example.com"));
        assert_eq!(o.peloton_password.unwrap().expose_secret(), " pass word ");
        assert_eq!(o.coda_doc, None);
    }

    /// Issue 16: a locked keychain is not "setup incomplete"; the sync
    /// says it is locked instead.
    #[test]
    fn a_locked_keychain_is_not_missing_setup() {
        let store = Failing(SecretsError::Locked);
        let settings = Settings {
            peloton_email: "rider@example.com".into(),
            coda_doc: "AbC123".into(),
            ..Settings::default()
        };
        assert!(missing(&settings, &Overrides::default(), &store).is_empty());
    }

    /// Issue 18: a browser sign-in keeps no e-mail; it is not asked for.
    #[test]
    fn a_browser_sign_in_needs_no_email() {
        let secrets = MemoryStore::new();
        secrets
            .set(SecretKey::PelotonRefreshToken, &SecretString::from("r"))
            .unwrap();
        secrets
            .set(SecretKey::CodaToken, &SecretString::from("t"))
            .unwrap();
        let settings = Settings {
            coda_doc: "AbC123".into(),
            peloton_sign_in: SignInWay::Browser,
            ..Settings::default()
        };
        assert!(missing(&settings, &Overrides::default(), &secrets).is_empty());
        // Signed out (the token is gone): a sign-in is asked for, not a password.
        secrets.delete(SecretKey::PelotonRefreshToken).unwrap();
        assert_eq!(
            missing(&settings, &Overrides::default(), &secrets),
            [Missing::PelotonSignIn]
        );
        assert_eq!(Missing::PelotonSignIn.label(), "Peloton sign-in");
    }

    #[test]
    fn missing_lists_what_a_sync_still_needs() {
        let secrets = MemoryStore::new();
        let mut settings = Settings::default();
        let none = Overrides::default();
        assert_eq!(
            missing(&settings, &none, &secrets),
            [
                Missing::PelotonEmail,
                Missing::PelotonPassword,
                Missing::CodaToken,
                Missing::CodaDoc
            ]
        );
        settings.peloton_email = "rider@example.com".into();
        settings.coda_doc = "  ".into();
        secrets
            .set(SecretKey::PelotonRefreshToken, &SecretString::from("r"))
            .unwrap();
        assert_eq!(
            missing(&settings, &none, &secrets),
            [Missing::CodaToken, Missing::CodaDoc]
        );
        settings.coda_doc = "AbC123".into();
        secrets
            .set(SecretKey::CodaToken, &SecretString::from("t"))
            .unwrap();
        assert_eq!(missing(&settings, &none, &secrets), []);
        // The environment alone is enough too (the e2e tests and the demo run so).
        let env = Overrides::from_vars(|k| {
            matches!(
                k,
                "PELOTON_USERNAME" | "PELOTON_PASSWORD" | "CODA_API_TOKEN" | "CODA_DOC"
            )
            .then(|| "x".to_owned())
        });
        assert_eq!(missing(&Settings::default(), &env, &MemoryStore::new()), []);
    }

    /// A browser sign-in as another member changes the account the cached
    /// answers are kept for, even with the e-mail of the settings unchanged.
    #[test]
    fn a_browser_sign_in_keys_the_account_to_the_member_signed_in() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths_in(dir.path());
        let account = |way: SignInWay, username: &str| {
            let settings = Settings {
                peloton_email: "rider@example.com".into(),
                peloton_sign_in: way,
                peloton_username: username.into(),
                ..Settings::default()
            };
            let client = peloton_client(&SetupInput {
                paths: &paths,
                settings: &settings,
                overrides: &Overrides::default(),
                secrets: Arc::new(MemoryStore::new()),
                clock: Arc::new(crate::clock::ManualClock::new(chrono::DateTime::UNIX_EPOCH)),
                lock_wait: Duration::ZERO,
            })
            .unwrap();
            client.account().to_owned()
        };
        assert_eq!(account(SignInWay::Password, ""), "rider@example.com");
        let a = account(SignInWay::Browser, "RiderA");
        let b = account(SignInWay::Browser, "RiderB");
        assert_ne!(a, b);
        assert_ne!(a, "rider@example.com");
    }

    #[test]
    fn no_keychain_at_all_counts_as_empty() {
        let store = Failing(SecretsError::Unavailable);
        let settings = Settings {
            peloton_email: "rider@example.com".into(),
            coda_doc: "AbC123".into(),
            ..Settings::default()
        };
        assert_eq!(
            missing(&settings, &Overrides::default(), &store),
            [Missing::PelotonPassword, Missing::CodaToken]
        );
    }

    #[test]
    fn a_missing_setting_is_the_same_for_missing_and_build_engine() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths_in(dir.path());
        let secrets = Arc::new(MemoryStore::new());
        let settings = Settings::default();
        let overrides = Overrides::default();
        let err = build_engine(SetupInput {
            paths: &paths,
            settings: &settings,
            overrides: &overrides,
            secrets: secrets.clone(),
            clock: Arc::new(crate::clock::ManualClock::new(chrono::DateTime::UNIX_EPOCH)),
            lock_wait: Duration::ZERO,
        })
        .err()
        .unwrap();
        assert!(matches!(err, SetupError::MissingPelotonEmail), "{err}");
        assert_eq!(err.area(), ProblemArea::Settings);
        assert!(missing(&settings, &overrides, secrets.as_ref()).contains(&Missing::PelotonEmail));
    }

    #[test]
    fn setup_errors_take_the_engines_areas() {
        assert_eq!(SetupError::MissingCodaToken.area(), ProblemArea::Settings);
        assert_eq!(
            SetupError::Secrets(SecretsError::Unavailable("none".into())).area(),
            ProblemArea::Local
        );
        assert_eq!(
            SetupError::Coda(CodaError::TokenRefused).area(),
            ProblemArea::CodaToken
        );
        assert_eq!(
            SetupError::Peloton(PelotonError::LoginRefused).area(),
            ProblemArea::PelotonLogin
        );
        let p = Problem::from(&SetupError::MissingCodaDoc);
        assert_eq!(p.message, SetupError::MissingCodaDoc.user_message());
    }

    fn keys(changes: &SecretChanges) -> Vec<(SecretKey, bool)> {
        changes.iter().map(|(k, v)| (*k, v.is_some())).collect()
    }

    #[test]
    fn a_new_password_or_email_makes_the_kept_login_stale() {
        let pw = || Some(SecretString::from("hunter2"));
        let tok = || Some(SecretString::from("tok"));
        assert_eq!(
            keys(&credential_changes(false, pw(), tok())),
            [
                (SecretKey::PelotonRefreshToken, false),
                (SecretKey::PelotonPassword, true),
                (SecretKey::CodaToken, true)
            ]
        );
        assert_eq!(
            keys(&credential_changes(true, None, None)),
            [(SecretKey::PelotonRefreshToken, false)]
        );
        // Only a new Coda token: the Peloton login stays.
        assert_eq!(
            keys(&credential_changes(false, None, tok())),
            [(SecretKey::CodaToken, true)]
        );
        assert!(credential_changes(false, None, None).is_empty());
    }
}
