//! Where credentials live: the OS keychain, behind one trait.
//!
//! Invariant: secrets are held in [`SecretString`] in memory and written only
//! through a [`SecretStore`]. The real store is the OS keychain
//! ([`KeyringStore`]); tests pass a [`MemoryStore`]. A library never picks the
//! store by itself: the binary builds one and passes it in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};

/// The name the app's keychain entries are filed under.
pub const KEYCHAIN_SERVICE: &str = "peloton-coda-sync";

/// The secrets the app keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKey {
    /// The Peloton account's password.
    PelotonPassword,
    /// Peloton's OAuth refresh token (long-lived).
    PelotonRefreshToken,
    /// The Coda API token.
    CodaToken,
}

impl SecretKey {
    /// Every key, for "forget credentials".
    pub const ALL: [SecretKey; 3] = [
        SecretKey::PelotonPassword,
        SecretKey::PelotonRefreshToken,
        SecretKey::CodaToken,
    ];

    /// The keychain account name of this entry.
    pub fn account(self) -> &'static str {
        match self {
            SecretKey::PelotonPassword => "peloton-password",
            SecretKey::PelotonRefreshToken => "peloton-refresh-token",
            SecretKey::CodaToken => "coda-api-token",
        }
    }
}

/// What a user reads when the keychain is locked.
pub const LOCKED_SENTENCE: &str =
    "The keychain is locked; unlock it (or log in again) and the sync continues.";

/// Why the keychain could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// No keychain service answered (e.g. a headless server without a Secret Service).
    #[error("no keychain is available: {0}")]
    Unavailable(String),
    /// The keychain is there but locked (or its unlock prompt was dismissed):
    /// the secrets may well be in it, they cannot be read now.
    #[error("the keychain is locked: {0}")]
    Locked(String),
    /// The keychain answered with an error.
    #[error("the keychain refused the request: {0}")]
    Failed(String),
    /// The token cache file (`--token-cache`) could not be used; holds the
    /// sentence, which names the file but never its content.
    #[error("{0}")]
    TokenCache(String),
}

impl SecretsError {
    /// The one sentence a user sees.
    pub fn user_message(&self) -> String {
        match self {
            SecretsError::Unavailable(_) => "No system keychain is available to keep credentials; \
                 unlock or install one (e.g. GNOME Keyring), or pass them in the environment."
                .to_string(),
            SecretsError::Locked(_) => LOCKED_SENTENCE.to_string(),
            SecretsError::Failed(_) => {
                "The system keychain refused to read or store a credential; unlock it and try again."
                    .to_string()
            }
            SecretsError::TokenCache(sentence) => sentence.clone(),
        }
    }
}

/// A place that keeps secrets.
pub trait SecretStore: Send + Sync {
    /// Reads a secret; `Ok(None)` when it was never stored.
    fn get(&self, key: SecretKey) -> Result<Option<SecretString>, SecretsError>;
    /// Stores (or replaces) a secret.
    fn set(&self, key: SecretKey, value: &SecretString) -> Result<(), SecretsError>;
    /// Deletes a secret; deleting one that is not there is fine.
    fn delete(&self, key: SecretKey) -> Result<(), SecretsError>;
}

/// The OS keychain (Secret Service on Linux, Keychain on macOS, Credential
/// Manager on Windows) through the `keyring` crate.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    service: String,
}

impl Default for KeyringStore {
    fn default() -> Self {
        Self::new(KEYCHAIN_SERVICE)
    }
}

impl KeyringStore {
    /// A store whose entries are filed under `service`.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }

    fn entry(&self, key: SecretKey) -> Result<keyring::Entry, SecretsError> {
        keyring::Entry::new(&self.service, key.account()).map_err(map_keyring_error)
    }
}

fn map_keyring_error(e: keyring::Error) -> SecretsError {
    match e {
        // keyring's Secret Service backend says this for a locked
        // collection, a dismissed unlock prompt and a missing collection.
        keyring::Error::NoStorageAccess(inner) => SecretsError::Locked(inner.to_string()),
        keyring::Error::PlatformFailure(inner) => SecretsError::Unavailable(inner.to_string()),
        other => SecretsError::Failed(other.to_string()),
    }
}

/// Whether the keychain holds `account` under `service` only locked: read
/// without unlocking it. keyring's Secret Service backend unlocks a locked
/// item itself, which opens the desktop's unlock prompt and waits for an
/// answer with no deadline: a scheduled sync (or the app's start) would hang
/// on a keychain locked at login, instead of saying it is locked.
#[cfg(target_os = "linux")]
fn locked_on_linux(service: &str, account: &str) -> Result<bool, SecretsError> {
    use secret_service::blocking::SecretService;
    use secret_service::EncryptionType;
    // No secret crosses this session: a plain one is enough to search.
    // A connection a read, not one kept in the store (as keyring does for
    // its own calls): a keyring daemon that restarted since (a new login, a
    // crash) is found again, for a few D-Bus round trips a sync.
    let ss = SecretService::connect(EncryptionType::Plain)
        .map_err(|e| SecretsError::Unavailable(e.to_string()))?;
    let found = ss
        .search_items(HashMap::from([("service", service), ("username", account)]))
        .map_err(|e| SecretsError::Failed(e.to_string()))?;
    Ok(found.unlocked.is_empty() && !found.locked.is_empty())
}

impl SecretStore for KeyringStore {
    fn get(&self, key: SecretKey) -> Result<Option<SecretString>, SecretsError> {
        #[cfg(target_os = "linux")]
        if locked_on_linux(&self.service, key.account())? {
            return Err(SecretsError::Locked(format!(
                "{} is in a locked collection",
                key.account()
            )));
        }
        match self.entry(key)?.get_password() {
            Ok(v) => Ok(Some(SecretString::from(v))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring_error(e)),
        }
    }

    fn set(&self, key: SecretKey, value: &SecretString) -> Result<(), SecretsError> {
        self.entry(key)?
            .set_password(value.expose_secret())
            .map_err(map_keyring_error)
    }

    fn delete(&self, key: SecretKey) -> Result<(), SecretsError> {
        match self.entry(key)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring_error(e)),
        }
    }
}

/// What the keychain answers now ([`probe`]).
#[derive(Debug)]
pub enum KeychainStatus {
    /// It answers (whether or not it holds anything).
    Ready,
    /// It is there but locked: secrets cannot be read until it is unlocked.
    Locked(SecretsError),
    /// None answers: credentials can come from the environment only.
    Unavailable(SecretsError),
}

/// The one keychain probe: one read, sorted into ready, locked or absent.
/// Any other error counts as ready, so that it is reported where it happens.
pub fn probe(store: &dyn SecretStore) -> KeychainStatus {
    match store.get(SecretKey::CodaToken) {
        Err(e @ SecretsError::Locked(_)) => KeychainStatus::Locked(e),
        Err(e @ SecretsError::Unavailable(_)) => KeychainStatus::Unavailable(e),
        _ => KeychainStatus::Ready,
    }
}

/// The store one sync reads: the keychain, probed afresh for this run;
/// where none answers, a store in memory (the environment's credentials
/// then work and nothing is kept). A locked keychain stays the store, so
/// the run says it is locked instead of "not set", and the next run tries
/// it again.
pub fn store_for_run(keychain: Arc<dyn SecretStore>) -> (Arc<dyn SecretStore>, KeychainStatus) {
    match probe(keychain.as_ref()) {
        status @ KeychainStatus::Unavailable(_) => (Arc::new(MemoryStore::new()), status),
        status => (keychain, status),
    }
}

/// Whether a credential is known to be set: `Ok(true)` stored, `Ok(false)`
/// missing; a keychain that cannot be read is an error, never "missing".
pub fn is_set(store: &dyn SecretStore, keys: &[SecretKey]) -> Result<bool, SecretsError> {
    for key in keys {
        if store.get(*key)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A change to the keychain: each key set to a value or deleted (what
/// `setup::credential_changes` returns for newly typed credentials).
pub type SecretChanges = Vec<(SecretKey, Option<SecretString>)>;

/// The one keychain change with undo: applies `changes` in order; on a
/// failure puts back what was there before and returns the failure. On
/// success the returned [`Undo`] puts it back later (when a step after
/// the keychain fails, e.g. writing the settings file).
pub fn apply_changes(
    store: &dyn SecretStore,
    changes: &SecretChanges,
) -> Result<Undo, SecretsError> {
    let mut undo = Undo(Vec::new());
    for (key, value) in changes {
        let before = match store.get(*key) {
            Ok(v) => v,
            Err(e) => {
                undo.run(store);
                return Err(e);
            }
        };
        let result = match value {
            Some(v) => store.set(*key, v),
            None => store.delete(*key),
        };
        if let Err(e) = result {
            undo.run(store);
            return Err(e);
        }
        undo.0.push((*key, before));
    }
    Ok(undo)
}

/// What a keychain change replaced, to put it back.
#[must_use = "keep it to undo the change when a later step fails"]
pub struct Undo(SecretChanges);

impl Undo {
    /// Puts back what the change replaced, newest first (best effort: the
    /// keychain that just accepted a write rarely refuses the next).
    pub fn run(self, store: &dyn SecretStore) {
        for (key, before) in self.0.into_iter().rev() {
            let result = match before {
                Some(v) => store.set(key, &v),
                None => store.delete(key),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, key = key.account(), "could not undo a keychain change");
            }
        }
    }
}

/// A store that keeps some keys in memory and passes the others to the
/// real one: "Test connection" tries typed credentials in memory, while a
/// saved refresh token it uses (and Auth0 rotates) is written to the real
/// keychain at once instead of being lost with the trial.
pub struct Overlay {
    over: Mutex<HashMap<SecretKey, Option<SecretString>>>,
    under: Arc<dyn SecretStore>,
}

impl Overlay {
    /// `changes` held in memory over `under`; every other key is `under`'s.
    pub fn new(changes: &SecretChanges, under: Arc<dyn SecretStore>) -> Self {
        Self {
            over: Mutex::new(changes.iter().cloned().collect()),
            under,
        }
    }

    /// The keys held in memory and their values now (what to save once the
    /// trial passed).
    pub fn held(&self) -> SecretChanges {
        let over = self.over.lock().unwrap_or_else(|e| e.into_inner());
        SecretKey::ALL
            .iter()
            .filter_map(|k| over.get(k).map(|v| (*k, v.clone())))
            .collect()
    }
}

impl SecretStore for Overlay {
    fn get(&self, key: SecretKey) -> Result<Option<SecretString>, SecretsError> {
        if let Some(v) = self
            .over
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(v.clone());
        }
        self.under.get(key)
    }

    fn set(&self, key: SecretKey, value: &SecretString) -> Result<(), SecretsError> {
        let mut over = self.over.lock().unwrap_or_else(|e| e.into_inner());
        match over.get_mut(&key) {
            Some(slot) => {
                *slot = Some(value.clone());
                Ok(())
            }
            None => self.under.set(key, value),
        }
    }

    fn delete(&self, key: SecretKey) -> Result<(), SecretsError> {
        let mut over = self.over.lock().unwrap_or_else(|e| e.into_inner());
        match over.get_mut(&key) {
            Some(slot) => {
                *slot = None;
                Ok(())
            }
            None => self.under.delete(key),
        }
    }
}

/// Secrets in memory only: for tests, and for runs whose credentials come
/// from the environment.
#[derive(Default)]
pub struct MemoryStore(Mutex<HashMap<SecretKey, String>>);

// Names which secrets it holds, never their values.
impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_set().entries(map.keys()).finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SecretStore for MemoryStore {
    fn get(&self, key: SecretKey) -> Result<Option<SecretString>, SecretsError> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map.get(&key).map(|v| SecretString::from(v.clone())))
    }

    fn set(&self, key: SecretKey, value: &SecretString) -> Result<(), SecretsError> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key, value.expose_secret().to_string());
        Ok(())
    }

    fn delete(&self, key: SecretKey) -> Result<(), SecretsError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        Ok(())
    }
}

/// Peloton's refresh token kept in a file the user named (`--token-cache
/// FILE`, cli.md "Secrets"), for servers without a keychain, so a cron run
/// refreshes a token instead of logging in with the password each time.
/// Every other secret goes to `inner`.
///
/// The file holds that one token and nothing else, is created with mode
/// 0600 and replaced atomically; a file others can read is refused rather
/// than used. Whoever reads it can act as the user on Peloton until the
/// token is revoked (by changing the password), which is the risk the README
/// states.
pub struct TokenCacheFile {
    path: std::path::PathBuf,
    inner: std::sync::Arc<dyn SecretStore>,
}

impl TokenCacheFile {
    /// Keeps the refresh token in `path`, everything else in `inner`.
    pub fn new(
        path: impl Into<std::path::PathBuf>,
        inner: std::sync::Arc<dyn SecretStore>,
    ) -> Self {
        Self {
            path: path.into(),
            inner,
        }
    }

    fn unreadable(&self, e: &std::io::Error) -> SecretsError {
        SecretsError::TokenCache(format!(
            "The token cache {} could not be used ({}); check its folder and permissions.",
            self.path.display(),
            e.kind()
        ))
    }

    fn read(&self) -> Result<Option<SecretString>, SecretsError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.unreadable(&e)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&self.path)
                .map_err(|e| self.unreadable(&e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(SecretsError::TokenCache(format!(
                    "The token cache {} can be read by other users; run `chmod 600 {}` or delete it.",
                    self.path.display(),
                    self.path.display()
                )));
            }
        }
        let token = text.trim();
        Ok((!token.is_empty()).then(|| SecretString::from(token.to_owned())))
    }

    fn write(&self, token: &SecretString) -> Result<(), SecretsError> {
        let line = format!("{}\n", token.expose_secret());
        crate::fs::write_replacing(&self.path, line.as_bytes(), crate::fs::Access::OwnerOnly)
            .map_err(|e| self.unreadable(&e))
    }
}

impl SecretStore for TokenCacheFile {
    fn get(&self, key: SecretKey) -> Result<Option<SecretString>, SecretsError> {
        match key {
            SecretKey::PelotonRefreshToken => self.read(),
            other => self.inner.get(other),
        }
    }

    fn set(&self, key: SecretKey, value: &SecretString) -> Result<(), SecretsError> {
        match key {
            SecretKey::PelotonRefreshToken => self.write(value),
            other => self.inner.set(other, value),
        }
    }

    fn delete(&self, key: SecretKey) -> Result<(), SecretsError> {
        match key {
            SecretKey::PelotonRefreshToken => match std::fs::remove_file(&self.path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(self.unreadable(&e)),
            },
            other => self.inner.delete(other),
        }
    }
}

/// A store whose every call fails, as a locked or absent keychain does:
/// `Failing(SecretsError::Locked)`. For tests, here and (with the
/// `test-support` feature) in the crates over core.
#[cfg(any(test, feature = "test-support"))]
pub struct Failing(pub fn(String) -> SecretsError);

#[cfg(any(test, feature = "test-support"))]
impl SecretStore for Failing {
    fn get(&self, _: SecretKey) -> Result<Option<SecretString>, SecretsError> {
        Err((self.0)("x".into()))
    }
    fn set(&self, _: SecretKey, _: &SecretString) -> Result<(), SecretsError> {
        Err((self.0)("x".into()))
    }
    fn delete(&self, _: SecretKey) -> Result<(), SecretsError> {
        Err((self.0)("x".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_store_prints_which_secrets_it_holds_not_their_values() {
        let store = MemoryStore::new();
        store
            .set(
                SecretKey::PelotonPassword,
                &SecretString::from("hunter2-secret".to_string()),
            )
            .unwrap();
        let printed = format!("{store:?}");
        assert!(printed.contains("PelotonPassword"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    #[test]
    fn the_token_cache_holds_only_the_refresh_token_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peloton.token");
        let inner = std::sync::Arc::new(MemoryStore::new());
        let cache = TokenCacheFile::new(&path, inner.clone());
        assert!(cache.get(SecretKey::PelotonRefreshToken).unwrap().is_none());

        cache
            .set(
                SecretKey::PelotonRefreshToken,
                &SecretString::from("v1.refresh"),
            )
            .unwrap();
        cache
            .set(SecretKey::PelotonPassword, &SecretString::from("pw"))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "v1.refresh\n");
        assert_eq!(
            cache
                .get(SecretKey::PelotonRefreshToken)
                .unwrap()
                .unwrap()
                .expose_secret(),
            "v1.refresh"
        );
        // The password went to the inner store, never to the file.
        assert!(inner.get(SecretKey::PelotonPassword).unwrap().is_some());
        assert!(inner.get(SecretKey::PelotonRefreshToken).unwrap().is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let refused = cache.get(SecretKey::PelotonRefreshToken).unwrap_err();
            assert!(refused.user_message().contains("chmod 600"), "{refused}");
        }
        cache.delete(SecretKey::PelotonRefreshToken).unwrap();
        assert!(!path.exists());
        cache.delete(SecretKey::PelotonRefreshToken).unwrap();
    }

    fn value(s: &dyn SecretStore, k: SecretKey) -> Option<String> {
        s.get(k).unwrap().map(|v| v.expose_secret().to_owned())
    }

    #[test]
    fn a_locked_keychain_is_neither_missing_nor_replaced() {
        let locked: Arc<dyn SecretStore> = Arc::new(Failing(SecretsError::Locked));
        assert!(matches!(probe(locked.as_ref()), KeychainStatus::Locked(_)));
        let err = is_set(locked.as_ref(), &[SecretKey::CodaToken]).unwrap_err();
        assert_eq!(
            err.user_message(),
            "The keychain is locked; unlock it (or log in again) and the sync continues."
        );
        let (store, _) = store_for_run(locked.clone());
        assert!(Arc::ptr_eq(&store, &locked), "the run keeps the keychain");

        let absent: Arc<dyn SecretStore> = Arc::new(Failing(SecretsError::Unavailable));
        assert!(matches!(
            probe(absent.as_ref()),
            KeychainStatus::Unavailable(_)
        ));
        let (store, _) = store_for_run(absent);
        assert_eq!(value(store.as_ref(), SecretKey::CodaToken), None);

        let ready = MemoryStore::new();
        assert!(matches!(probe(&ready), KeychainStatus::Ready));
        assert!(!is_set(&ready, &[SecretKey::CodaToken]).unwrap());
    }

    #[test]
    fn keyring_errors_tell_locked_from_absent() {
        let locked = map_keyring_error(keyring::Error::NoStorageAccess("locked".into()));
        assert!(matches!(locked, SecretsError::Locked(_)));
        let absent = map_keyring_error(keyring::Error::PlatformFailure("no dbus".into()));
        assert!(matches!(absent, SecretsError::Unavailable(_)));
    }

    #[test]
    fn a_change_is_undone_whole() {
        let s = MemoryStore::new();
        s.set(SecretKey::CodaToken, &SecretString::from("old"))
            .unwrap();
        s.set(SecretKey::PelotonRefreshToken, &SecretString::from("r"))
            .unwrap();
        // As `setup::credential_changes` asks for a new password and token.
        let changes = vec![
            (SecretKey::PelotonRefreshToken, None),
            (SecretKey::PelotonPassword, Some(SecretString::from("pw"))),
            (SecretKey::CodaToken, Some(SecretString::from("new"))),
        ];
        let undo = apply_changes(&s, &changes).unwrap();
        assert_eq!(value(&s, SecretKey::CodaToken).as_deref(), Some("new"));
        assert_eq!(value(&s, SecretKey::PelotonRefreshToken), None);
        undo.run(&s);
        assert_eq!(value(&s, SecretKey::CodaToken).as_deref(), Some("old"));
        assert_eq!(
            value(&s, SecretKey::PelotonRefreshToken).as_deref(),
            Some("r")
        );
        assert_eq!(value(&s, SecretKey::PelotonPassword), None);

        let locked = Failing(SecretsError::Locked);
        assert!(matches!(
            apply_changes(&locked, &changes),
            Err(SecretsError::Locked(_))
        ));
    }

    #[test]
    fn an_overlay_keeps_typed_keys_and_writes_the_rest_through() {
        let real: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
        real.set(SecretKey::PelotonRefreshToken, &SecretString::from("r1"))
            .unwrap();
        real.set(SecretKey::CodaToken, &SecretString::from("saved"))
            .unwrap();
        let trial = Overlay::new(
            &vec![(SecretKey::CodaToken, Some(SecretString::from("typed")))],
            real.clone(),
        );
        assert_eq!(
            value(&trial, SecretKey::CodaToken).as_deref(),
            Some("typed")
        );
        // A rotated refresh token reaches the real store at once.
        trial
            .set(SecretKey::PelotonRefreshToken, &SecretString::from("r2"))
            .unwrap();
        assert_eq!(
            value(real.as_ref(), SecretKey::PelotonRefreshToken).as_deref(),
            Some("r2")
        );
        assert_eq!(
            value(real.as_ref(), SecretKey::CodaToken).as_deref(),
            Some("saved")
        );
        let held = trial.held();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].0, SecretKey::CodaToken);
    }

    #[test]
    fn memory_store_round_trips_and_deletes() {
        let s = MemoryStore::new();
        assert!(s.get(SecretKey::CodaToken).unwrap().is_none());
        s.set(SecretKey::CodaToken, &SecretString::from("t0k3n"))
            .unwrap();
        assert_eq!(
            s.get(SecretKey::CodaToken)
                .unwrap()
                .unwrap()
                .expose_secret(),
            "t0k3n"
        );
        s.delete(SecretKey::CodaToken).unwrap();
        s.delete(SecretKey::CodaToken).unwrap();
        assert!(s.get(SecretKey::CodaToken).unwrap().is_none());
    }
}
