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

#[cfg(test)]
mod tests {
    use super::*;

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
