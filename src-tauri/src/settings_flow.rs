//! Reading, saving and testing the settings the settings window edits.
//!
//! Invariants:
//! - Nothing is half-saved: every field is validated first, the keychain
//!   writes are undone when a later step fails, and the settings file is
//!   replaced atomically, last.
//! - "Test connection" checks the NEW values in memory over the keychain;
//!   the typed credentials are saved only when every check passed, while a
//!   saved refresh token it spends is replaced in the keychain at once.
//! - No secret leaves this module except into the keychain.

use std::sync::Arc;

use pcs_core::peloton::SignedIn;
use pcs_core::secrets::{apply_changes, Overlay, SecretChanges, SecretKey, SecretStore};
use pcs_core::settings::Settings;
use pcs_core::setup::{self, build_engine, Overrides, SetupError, SetupInput};
use pcs_core::sync::{CheckReport, Engine, ProblemArea};
use secrecy::SecretString;
use serde::Serialize;

use crate::controller::{AppSettings, Request};
use crate::error::CommandError;
use crate::state::AppState;
use crate::view::{
    checklist_view, settings_view, ChecklistView, CredentialsSet, SettingsInput, SettingsView,
};

/// What "Test connection" found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestResult {
    /// Every check passed.
    pub ok: bool,
    /// The new values were saved (only when `ok`).
    pub saved: bool,
    /// The Peloton member logged in as.
    pub peloton_user: Option<String>,
    /// The Coda doc's name.
    pub doc_name: Option<String>,
    /// Tables that passed their check.
    pub tables_ok: Vec<String>,
    /// Which optional columns were found (and any left alone), one sentence each.
    pub optional: Vec<String>,
    /// What is wrong, one sentence each.
    pub problems: Vec<String>,
    /// Every table and column, when the doc could be read.
    pub checklist: Option<ChecklistView>,
}

impl TestResult {
    fn from_report(report: CheckReport) -> TestResult {
        let checklist = report.checklist.as_ref().map(checklist_view);
        let optional = report
            .optional_summary()
            .into_iter()
            .chain(report.notes.iter().cloned())
            .collect();
        TestResult {
            ok: report.problems.is_empty(),
            saved: false,
            peloton_user: report.peloton_user,
            doc_name: report.doc_name,
            tables_ok: report.tables_ok,
            optional,
            // With a checklist, what is wrong in the doc is marked there,
            // column by column; the sentences would say it twice.
            problems: report
                .problems
                .into_iter()
                .filter(|p| checklist.is_none() || p.area != ProblemArea::CodaDoc)
                .map(|p| p.message)
                .collect(),
            checklist,
        }
    }

    fn failed(sentence: String) -> TestResult {
        TestResult {
            ok: false,
            saved: false,
            peloton_user: None,
            doc_name: None,
            tables_ok: Vec::new(),
            optional: Vec::new(),
            problems: vec![sentence],
            checklist: None,
        }
    }
}

/// The names of the environment variables overriding settings now.
pub fn env_override_names(o: &Overrides) -> Vec<String> {
    [
        ("PELOTON_USERNAME", o.peloton_email.is_some()),
        ("PELOTON_PASSWORD", o.peloton_password.is_some()),
        ("CODA_API_TOKEN", o.coda_token.is_some()),
        ("CODA_DOC", o.coda_doc.is_some()),
        ("PELOTON_API_URL", o.peloton_api_url.is_some()),
        ("PELOTON_AUTH_URL", o.peloton_auth_url.is_some()),
        ("CODA_API_URL", o.coda_api_url.is_some()),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(n, _)| n.to_owned())
    .collect()
}

/// Which credentials are stored, and why the keychain cannot be read if so.
pub fn credentials(secrets: &dyn SecretStore) -> (CredentialsSet, Option<String>) {
    let mut error = None;
    let mut has = |key: SecretKey| match secrets.get(key) {
        Ok(v) => v.is_some(),
        Err(e) => {
            error.get_or_insert_with(|| e.user_message());
            false
        }
    };
    let peloton = has(SecretKey::PelotonPassword) | has(SecretKey::PelotonRefreshToken);
    let coda = has(SecretKey::CodaToken);
    (CredentialsSet { peloton, coda }, error)
}

/// The settings window's content.
pub fn load(state: &AppState) -> Result<SettingsView, CommandError> {
    let (settings, notices) = Settings::load_with_notes(&state.paths.config_file)
        .map_err(|e| CommandError::msg(e.user_message()))?;
    let (creds, keychain_error) = credentials(state.secrets.as_ref());
    let mut view = settings_view(
        &settings,
        creds,
        keychain_error,
        env_override_names(&state.overrides),
    );
    view.notices = notices;
    Ok(view)
}

fn non_empty(s: &str) -> Option<SecretString> {
    (!s.is_empty()).then(|| SecretString::from(s.to_owned()))
}

/// The keychain changes the typed values ask for (core's rule: a new
/// password or e-mail makes the kept Peloton login stale).
fn typed_changes(input: &SettingsInput, email_changed: bool) -> SecretChanges {
    setup::credential_changes(
        email_changed,
        non_empty(&input.peloton_password),
        setup::trimmed(&input.coda_token).map(SecretString::from),
    )
}

/// Writes the keychain changes, then the settings file; undoes the keychain
/// if the file cannot be written.
fn commit(
    state: &AppState,
    settings: &Settings,
    changes: &SecretChanges,
) -> Result<(), CommandError> {
    let undo = apply_changes(state.secrets.as_ref(), changes)
        .map_err(|e| CommandError::msg(e.user_message()))?;
    if let Err(e) = settings.save(&state.paths.config_file) {
        undo.run(state.secrets.as_ref());
        return Err(CommandError::msg(e.user_message()));
    }
    Ok(())
}

fn changed(
    state: &AppState,
    before: &Settings,
    after: &Settings,
    changes: &SecretChanges,
) -> AppSettings {
    AppSettings {
        interval_minutes: after.interval_minutes,
        notifications: after.notifications.clone(),
        credentials_changed: !changes.is_empty()
            || before.peloton_email != after.peloton_email
            || before.coda_doc != after.coda_doc
            || before.tables != after.tables,
        needs_setup: needs_setup(state, after),
    }
}

/// Whether a sync still lacks something, with these settings and what the
/// keychain and environment hold now.
pub fn needs_setup(state: &AppState, settings: &Settings) -> bool {
    !setup::missing(settings, &state.overrides, state.secrets.as_ref()).is_empty()
}

/// Tells the controller the keychain changed without the settings (the
/// credentials were forgotten): it goes back to waiting for setup.
pub fn credentials_forgotten(state: &AppState) -> Result<(), CommandError> {
    let settings = Settings::load(&state.paths.config_file)
        .map_err(|e| CommandError::msg(e.user_message()))?;
    let mut c = changed(state, &settings, &settings, &Vec::new());
    c.credentials_changed = true;
    state.send(Request::SettingsChanged(c));
    Ok(())
}

/// Records a finished browser sign-in (core already kept the refresh token
/// and removed the password): the settings say the window way is in use and
/// who, and the controller syncs soon with it.
pub async fn signed_in(state: &AppState, who: &SignedIn) -> Result<(), CommandError> {
    let _one_at_a_time = state.saving.lock().await;
    let before = Settings::load(&state.paths.config_file)
        .map_err(|e| CommandError::msg(e.user_message()))?;
    let mut after = before.clone();
    who.record(&mut after);
    after
        .save(&state.paths.config_file)
        .map_err(|e| CommandError::msg(e.user_message()))?;
    tracing::info!("signed in to Peloton in the sign-in window");
    let mut c = changed(state, &before, &after, &Vec::new());
    c.credentials_changed = true;
    state.send(Request::SettingsChanged(c));
    Ok(())
}

/// Saves what the window sends, after validating every field.
pub async fn save(state: &AppState, input: &SettingsInput) -> Result<SettingsView, CommandError> {
    let _one_at_a_time = state.saving.lock().await;
    let before = Settings::load(&state.paths.config_file)
        .map_err(|e| CommandError::msg(e.user_message()))?;
    let after = input.apply(&before).map_err(CommandError::fields)?;
    let changes = typed_changes(input, before.peloton_email != after.peloton_email);
    if before.launch_at_login != after.launch_at_login {
        state.set_launch_at_login(after.launch_at_login)?;
    }
    if let Err(e) = commit(state, &after, &changes) {
        if before.launch_at_login != after.launch_at_login {
            let _ = state.set_launch_at_login(before.launch_at_login);
        }
        return Err(e);
    }
    if setup::changes_peloton_login(&changes) {
        // The person gave the login again: it may be sent once more.
        setup::lift_login_stop(&state.paths);
    }
    tracing::info!("settings saved");
    state.send(Request::SettingsChanged(changed(
        state, &before, &after, &changes,
    )));
    load(state)
}

/// Checks the NEW values (Peloton login, Coda doc, every table and column)
/// with a keychain of their own; saves them only when all is well.
pub async fn test_and_save(
    state: &AppState,
    input: &SettingsInput,
) -> Result<TestResult, CommandError> {
    let _one_at_a_time = state.saving.lock().await;
    let before = Settings::load(&state.paths.config_file)
        .map_err(|e| CommandError::msg(e.user_message()))?;
    let after = input.apply(&before).map_err(CommandError::fields)?;
    let email_changed = before.peloton_email != after.peloton_email;
    let changes = typed_changes(input, email_changed);

    // The person asks for a login: a password Peloton refused before may
    // be sent once more.
    setup::lift_login_stop(&state.paths);
    let trial = trial_keychain(state, &changes);
    let engine = match trial_engine(state, &after, trial.clone()) {
        Ok(e) => e,
        Err(e) => return Ok(TestResult::failed(e.user_message())),
    };
    let mut result = TestResult::from_report(engine.check().await);
    if !result.ok {
        return Ok(result);
    }
    // What the trial held in memory (the login it made included) is saved.
    let to_save = trial.held();
    if before.launch_at_login != after.launch_at_login {
        state.set_launch_at_login(after.launch_at_login)?;
    }
    commit(state, &after, &to_save)?;
    result.saved = true;
    tracing::info!("connection tested and settings saved");
    let mut c = changed(state, &before, &after, &changes);
    c.credentials_changed = true;
    state.send(Request::SettingsChanged(c));
    Ok(result)
}

/// The keychain a test uses: the typed values in memory over the real one,
/// so a saved refresh token that the test spends (Auth0 rotates it) is
/// replaced in the keychain at once, whatever the test finds.
fn trial_keychain(state: &AppState, changes: &SecretChanges) -> Arc<Overlay> {
    Arc::new(Overlay::new(changes, state.secrets.clone()))
}

/// An engine over the typed settings and a trial keychain, or why none can
/// be built.
fn trial_engine(
    state: &AppState,
    settings: &Settings,
    trial: Arc<Overlay>,
) -> Result<Engine, SetupError> {
    // Only the endpoints come from the environment: the values under test
    // are the typed ones.
    let overrides = Overrides {
        peloton_api_url: state.overrides.peloton_api_url.clone(),
        peloton_auth_url: state.overrides.peloton_auth_url.clone(),
        coda_api_url: state.overrides.coda_api_url.clone(),
        ..Overrides::default()
    };
    build_engine(SetupInput {
        paths: &state.paths,
        settings,
        overrides: &overrides,
        secrets: trial,
        clock: state.clock.clone(),
        lock_wait: std::time::Duration::ZERO,
    })
}

/// "Check the doc again" in the checklist: reads only the Coda doc (its
/// tables and columns) with the typed values; asks Peloton nothing and
/// saves nothing.
pub async fn recheck_doc(
    state: &AppState,
    input: &SettingsInput,
) -> Result<TestResult, CommandError> {
    let before = Settings::load(&state.paths.config_file)
        .map_err(|e| CommandError::msg(e.user_message()))?;
    let after = input.apply(&before).map_err(CommandError::fields)?;
    let changes = typed_changes(input, before.peloton_email != after.peloton_email);
    let trial = trial_keychain(state, &changes);
    Ok(match trial_engine(state, &after, trial) {
        Ok(engine) => TestResult::from_report(engine.check_doc().await),
        Err(e) => TestResult::failed(e.user_message()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcs_core::clock::ManualClock;
    use pcs_core::paths::Paths;
    use pcs_core::secrets::{Failing, MemoryStore, SecretsError};
    use pcs_core::settings::Notifications;
    use secrecy::ExposeSecret;
    use std::ffi::OsString;
    use tokio::sync::mpsc;

    fn state(
        dir: &std::path::Path,
        secrets: Arc<dyn SecretStore>,
    ) -> (AppState, mpsc::UnboundedReceiver<Request>) {
        let home = dir.to_owned();
        let paths = Paths::from_vars(|k| (k == "HOME").then(|| OsString::from(&home))).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let clock = ManualClock::new(chrono::DateTime::UNIX_EPOCH);
        (
            AppState::new(paths, Overrides::default(), secrets, Arc::new(clock), tx),
            rx,
        )
    }

    fn input() -> SettingsInput {
        SettingsInput {
            peloton_email: "rider@example.com".into(),
            peloton_password: "hunter2".into(),
            coda_token: "tok".into(),
            coda_doc: "AbC123".into(),
            interval_minutes: Some(90.0),
            friend_workouts_per_friend: Some(10.0),
            tables: vec![],
            notifications: Notifications::default(),
            launch_at_login: false,
        }
    }

    #[tokio::test]
    async fn a_pasted_token_loses_its_stray_spaces_and_a_password_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let secrets: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
        let (st, _rx) = state(dir.path(), secrets.clone());
        let typed = SettingsInput {
            coda_token: " tok\r\n".into(),
            peloton_password: " hunter2 ".into(),
            ..input()
        };
        save(&st, &typed).await.unwrap();
        let kept = |k| secret(secrets.as_ref(), k);
        assert_eq!(kept(SecretKey::CodaToken).as_deref(), Some("tok"));
        assert_eq!(
            kept(SecretKey::PelotonPassword).as_deref(),
            Some(" hunter2 ")
        );
    }

    fn secret(s: &dyn SecretStore, k: SecretKey) -> Option<String> {
        s.get(k).unwrap().map(|v| v.expose_secret().to_owned())
    }

    #[tokio::test]
    async fn saving_writes_the_file_and_the_keychain_and_tells_the_controller() {
        let dir = tempfile::tempdir().unwrap();
        let secrets: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
        secrets
            .set(
                SecretKey::PelotonRefreshToken,
                &SecretString::from("old-login"),
            )
            .unwrap();
        let (st, mut rx) = state(dir.path(), secrets.clone());
        let view = save(&st, &input()).await.unwrap();
        assert!(view.peloton_password_set && view.coda_token_set);
        assert_eq!(view.interval_minutes, 90);
        let saved = Settings::load(&st.paths.config_file).unwrap();
        assert_eq!(saved.peloton_email, "rider@example.com");
        assert!(!std::fs::read_to_string(&st.paths.config_file)
            .unwrap()
            .contains("hunter2"));
        assert_eq!(
            secret(secrets.as_ref(), SecretKey::PelotonPassword).as_deref(),
            Some("hunter2")
        );
        assert_eq!(
            secret(secrets.as_ref(), SecretKey::CodaToken).as_deref(),
            Some("tok")
        );
        // A new password makes the kept login stale.
        assert_eq!(
            secret(secrets.as_ref(), SecretKey::PelotonRefreshToken),
            None
        );
        match rx.try_recv().unwrap() {
            Request::SettingsChanged(s) => {
                assert_eq!(s.interval_minutes, 90);
                assert!(s.credentials_changed);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn empty_secret_fields_keep_the_stored_ones() {
        let dir = tempfile::tempdir().unwrap();
        let secrets: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
        secrets
            .set(SecretKey::CodaToken, &SecretString::from("kept"))
            .unwrap();
        let (st, _rx) = state(dir.path(), secrets.clone());
        let mut i = input();
        i.coda_token.clear();
        save(&st, &i).await.unwrap();
        assert_eq!(
            secret(secrets.as_ref(), SecretKey::CodaToken).as_deref(),
            Some("kept")
        );
    }

    #[tokio::test]
    async fn bad_input_saves_nothing_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let secrets: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
        let (st, mut rx) = state(dir.path(), secrets.clone());
        let mut i = input();
        i.interval_minutes = Some(5.0);
        let err = save(&st, &i).await.unwrap_err();
        assert_eq!(err.fields[0].field, "interval_minutes");
        assert!(!st.paths.config_file.exists());
        assert_eq!(secret(secrets.as_ref(), SecretKey::PelotonPassword), None);
        assert!(rx.try_recv().is_err());
    }

    /// A keychain that accepts reads but refuses the second write.
    #[derive(Default)]
    struct Flaky {
        inner: MemoryStore,
        writes: std::sync::Mutex<u32>,
    }

    impl SecretStore for Flaky {
        fn get(&self, k: SecretKey) -> Result<Option<SecretString>, SecretsError> {
            self.inner.get(k)
        }
        fn set(&self, k: SecretKey, v: &SecretString) -> Result<(), SecretsError> {
            let mut n = self.writes.lock().unwrap();
            *n += 1;
            if *n == 2 {
                return Err(SecretsError::Failed("locked".into()));
            }
            self.inner.set(k, v)
        }
        fn delete(&self, k: SecretKey) -> Result<(), SecretsError> {
            self.inner.delete(k)
        }
    }

    #[tokio::test]
    async fn saving_a_typed_password_lets_a_refused_login_be_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let (st, _rx) = state(dir.path(), Arc::new(MemoryStore::new()));
        let stop = st.paths.login_stop_file();
        let mark = |p: &std::path::Path| {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "{}").unwrap();
        };
        save(&st, &input()).await.unwrap();
        mark(&stop);
        // Other settings only: Peloton's answer still stands.
        let mut i = input();
        i.peloton_password.clear();
        i.coda_token.clear();
        save(&st, &i).await.unwrap();
        assert!(stop.exists());
        // The password typed again: the person asks for a login.
        save(&st, &input()).await.unwrap();
        assert!(!stop.exists());
        // So does another e-mail.
        mark(&stop);
        i.peloton_email = "other@example.com".into();
        save(&st, &i).await.unwrap();
        assert!(!stop.exists());
    }

    #[tokio::test]
    async fn a_keychain_failure_midway_undoes_the_first_writes() {
        let dir = tempfile::tempdir().unwrap();
        let flaky = Arc::new(Flaky::default());
        flaky
            .inner
            .set(SecretKey::PelotonPassword, &SecretString::from("old"))
            .unwrap();
        let (st, _rx) = state(dir.path(), flaky.clone());
        let err = save(&st, &input()).await.unwrap_err();
        assert!(err.message.contains("keychain"), "{}", err.message);
        assert_eq!(
            secret(&flaky.inner, SecretKey::PelotonPassword).as_deref(),
            Some("old")
        );
        assert_eq!(secret(&flaky.inner, SecretKey::CodaToken), None);
        assert!(!st.paths.config_file.exists());
    }

    #[test]
    fn an_unavailable_keychain_is_reported_not_worked_around() {
        let (creds, error) = credentials(&Failing(SecretsError::Unavailable));
        assert_eq!(creds, CredentialsSet::default());
        assert!(error.unwrap().contains("No system keychain"));
    }

    #[test]
    fn env_overrides_are_named() {
        let o = Overrides::from_vars(|k| (k == "PELOTON_API_URL").then(|| "http://x".to_owned()));
        assert_eq!(env_override_names(&o), ["PELOTON_API_URL"]);
    }
}
