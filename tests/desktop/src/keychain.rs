//! The login keychain read and written through the Secret Service with
//! `secret-tool`, independently of the app's keyring crate. Items carry the
//! attributes the `keyring` crate (v3) gives them: `service`, `username`
//! (the account), `target=default`, `application=rust-keyring`.

use std::process::Stdio;

use anyhow::{bail, Context, Result};
use pcs_core::secrets::KEYCHAIN_SERVICE;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

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
