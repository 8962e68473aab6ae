//! Where credentials live: the OS keychain, behind one trait.
//!
//! Invariant: secrets are held in [`SecretString`] in memory and written only
//! through a [`SecretStore`]. The real store is the OS keychain
//! ([`KeyringStore`]); tests pass a [`MemoryStore`]. A library never picks the
//! store by itself: the binary builds one and passes it in.

use std::collections::HashMap;
use std::sync::Mutex;

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

/// Why the keychain could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// No keychain service answered (e.g. a headless server without a Secret Service).
    #[error("no keychain is available: {0}")]
    Unavailable(String),
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
        keyring::Error::NoStorageAccess(inner) => SecretsError::Unavailable(inner.to_string()),
        keyring::Error::PlatformFailure(inner) => SecretsError::Unavailable(inner.to_string()),
        other => SecretsError::Failed(other.to_string()),
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, key: SecretKey) -> Result<Option<SecretString>, SecretsError> {
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

/// Secrets in memory only: for tests, and for runs whose credentials come
/// from the environment.
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<HashMap<SecretKey, String>>);

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

#[cfg(test)]
mod tests {
    use super::*;

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
