//! The login keychain read and written through the Secret Service with
//! `secret-tool`, independently of the app's keyring crate. Items carry the
//! attributes the `keyring` crate (v3) gives them: `service`, `username`
//! (the account), `target=default`, `application=rust-keyring`. Also locks
//! and unlocks the login collection, as a session that did not unlock it at
//! login and a person who unlocks it later do (over D-Bus: `secret-tool
//! lock` fails on this libsecret, and unlocking through the Secret Service
//! API would open the desktop's password prompt).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use pcs_core::secrets::KEYCHAIN_SERVICE;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};
use zbus::Connection;

const SECRETS_NAME: &str = "org.freedesktop.secrets";
const SECRETS_PATH: &str = "/org/freedesktop/secrets";
const SERVICE_IFACE: &str = "org.freedesktop.Secret.Service";
/// gnome-keyring's own interface: unlocks a collection with its password,
/// without a prompt (what its login module does).
const GNOME_KEYRING_IFACE: &str = "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface";
/// The collection `secret-tool store` and the app write to.
const LOGIN_COLLECTION: &str = "/org/freedesktop/secrets/collection/login";
/// No Secret Service call may wait longer than this.
const CALL_DEADLINE: Duration = Duration::from_secs(10);

/// The account names the app stores under.
pub const PELOTON_PASSWORD: &str = "peloton-password";
/// The Peloton refresh token's account.
pub const PELOTON_REFRESH_TOKEN: &str = "peloton-refresh-token";
/// The Coda token's account.
pub const CODA_TOKEN: &str = "coda-api-token";

/// Removes every item of the app (the keyring outlives each test).
pub async fn clear() -> Result<()> {
    // secret-tool answers 1 when nothing matched, so the lookups judge.
    Command::new("secret-tool")
        .args(["clear", "service", KEYCHAIN_SERVICE])
        .status()
        .await
        .context("running secret-tool (apt package libsecret-tools)")?;
    for account in [PELOTON_PASSWORD, PELOTON_REFRESH_TOKEN, CODA_TOKEN] {
        if lookup(account).await?.is_some() {
            bail!("the keyring still holds {account} after clearing it");
        }
    }
    Ok(())
}

/// Stores `value` for `account` as the app's keyring crate would.
pub async fn store(account: &str, value: &str) -> Result<()> {
    let mut child = Command::new("secret-tool")
        .args([
            "store",
            &format!("--label={account}@{KEYCHAIN_SERVICE}"),
            "service",
            KEYCHAIN_SERVICE,
            "username",
            account,
            "target",
            "default",
            "application",
            "rust-keyring",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .context("running secret-tool")?;
    let mut stdin = child.stdin.take().context("secret-tool stdin")?;
    stdin.write_all(value.as_bytes()).await?;
    drop(stdin);
    let status = child.wait().await?;
    if !status.success() {
        bail!("secret-tool store failed for {account}: {status}");
    }
    Ok(())
}

/// The value stored for `account`, if any.
pub async fn lookup(account: &str) -> Result<Option<String>> {
    lookup_in(KEYCHAIN_SERVICE, account).await
}

/// The value stored for `account` under another service (the demo's), if any.
pub async fn lookup_in(service: &str, account: &str) -> Result<Option<String>> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", service, "username", account])
        .output()
        .await
        .context("running secret-tool")?;
    // secret-tool answers 1 with no output when nothing matches.
    if !out.status.success() {
        return Ok(None);
    }
    Ok(Some(String::from_utf8(out.stdout)?))
}

async fn secrets_bus() -> Result<Connection> {
    zbus::connection::Builder::session()
        .context("no session bus; run under scripts/e2e-desktop.sh")?
        .method_timeout(CALL_DEADLINE)
        .build()
        .await
        .context("connecting to the session bus")
}

/// Whether the login collection is locked.
pub async fn is_locked() -> Result<bool> {
    let conn = secrets_bus().await?;
    let reply = conn
        .call_method(
            Some(SECRETS_NAME),
            LOGIN_COLLECTION,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.freedesktop.Secret.Collection", "Locked"),
        )
        .await
        .context("reading whether the login collection is locked")?;
    let v: OwnedValue = reply.body().deserialize()?;
    bool::try_from(&*v).map_err(|e| anyhow!("Locked is not a boolean: {e}"))
}

/// Locks the login collection, as a session that did not unlock it at
/// login leaves it (locking asks no password).
pub async fn lock() -> Result<()> {
    let conn = secrets_bus().await?;
    conn.call_method(
        Some(SECRETS_NAME),
        SECRETS_PATH,
        Some(SERVICE_IFACE),
        "Lock",
        &(vec![ObjectPath::try_from(LOGIN_COLLECTION)?],),
    )
    .await
    .context("locking the login collection")?;
    if !is_locked().await? {
        bail!("the login collection is still unlocked after Lock");
    }
    Ok(())
}

/// Unlocks the login collection with its password (`E2E_KEYRING_PASSWORD`,
/// set by scripts/e2e-desktop.sh), as the person typing it would; no-op
/// when it is unlocked.
pub async fn unlock() -> Result<()> {
    if !is_locked().await? {
        return Ok(());
    }
    let password = std::env::var("E2E_KEYRING_PASSWORD")
        .context("E2E_KEYRING_PASSWORD is unset; run under scripts/e2e-desktop.sh")?;
    let conn = secrets_bus().await?;
    // The password travels in a "plain" session of this connection.
    let reply = conn
        .call_method(
            Some(SECRETS_NAME),
            SECRETS_PATH,
            Some(SERVICE_IFACE),
            "OpenSession",
            &("plain", Value::from("")),
        )
        .await
        .context("opening a Secret Service session")?;
    let (_, session): (OwnedValue, OwnedObjectPath) = reply.body().deserialize()?;
    let secret = (
        session.clone(),
        Vec::<u8>::new(),
        password.into_bytes(),
        "text/plain",
    );
    conn.call_method(
        Some(SECRETS_NAME),
        SECRETS_PATH,
        Some(GNOME_KEYRING_IFACE),
        "UnlockWithMasterPassword",
        &(ObjectPath::try_from(LOGIN_COLLECTION)?, secret),
    )
    .await
    .context("unlocking the login collection with its password")?;
    if is_locked().await? {
        bail!("the login collection is still locked after unlocking it");
    }
    Ok(())
}
