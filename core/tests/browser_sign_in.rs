//! The browser sign-in (issue 18) against the fake Peloton: the person's
//! part is played over HTTP, the way a browser fills in the fake's page;
//! the app's part is `BrowserSignIn`: URL, callback, state, exchange, store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use fake_peloton::{Config, FakePeloton};
use pcs_core::clock::SystemClock;
use pcs_core::peloton::{BrowserSignIn, PelotonClient, PelotonConfig, PelotonError, SignInError};
use pcs_core::secrets::{MemoryStore, SecretKey, SecretStore};
use secrecy::{ExposeSecret, SecretString};

mod common;
use common::config;

/// A client as the app builds one after a browser sign-in: no e-mail, no password.
fn client(fake: &FakePeloton, store: Arc<MemoryStore>) -> PelotonClient {
    PelotonClient::new(
        config(fake),
        Arc::new(SystemClock),
        store,
        String::new(),
        None,
    )
    .unwrap()
}

/// What a person does in a browser: opens the URL, fills in the form (and
/// the one-time code when asked), and ends on the callback address, which
/// is never loaded. Returns that address.
async fn sign_in_as_a_person(fake: &FakePeloton, authorize_url: &str, otp: Option<&str>) -> String {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = url::Url::parse(&fake.url()).unwrap();
    let mut url = base.join(authorize_url).unwrap();
    let mut form: Option<(url::Url, Vec<(String, String)>)> = None;
    for _ in 0..10 {
        let resp = match form.take() {
            Some((action, fields)) => http.post(action).form(&fields).send().await.unwrap(),
            None => http.get(url.clone()).send().await.unwrap(),
        };
        if let Some(loc) = resp.headers().get("location") {
            url = url.join(loc.to_str().unwrap()).unwrap();
            if url.as_str().starts_with(fake_peloton::REDIRECT_URI) {
                return url.to_string();
            }
            continue;
        }
        assert_eq!(resp.status(), 200, "{url}");
        let html = resp.text().await.unwrap();
        let action = between(&html, "action=\"", "\"").replace("&amp;", "&");
        let state = between(&html, "name=\"state\" value=\"", "\"");
        let mut fields = vec![("state".to_string(), state)];
        if html.contains("name=\"password\"") {
            fields.push(("username".into(), fake.email()));
            fields.push(("password".into(), fake.password()));
        } else {
            fields.push(("code".into(), otp.expect("asked for a code").into()));
        }
        form = Some((url.join(&action).unwrap(), fields));
    }
    panic!("the sign-in never reached the callback");
}

fn between(s: &str, start: &str, end: &str) -> String {
    let i = s.find(start).unwrap_or_else(|| panic!("no {start} in {s}")) + start.len();
    let j = i + s[i..].find(end).unwrap();
    s[i..j].to_string()
}

#[tokio::test]
async fn a_browser_sign_in_keeps_only_the_refresh_token_and_syncs_with_it() {
    let fake = FakePeloton::start(Config::default()).await;
    fake.set_mfa_code(Some("424242"));
    let store = Arc::new(MemoryStore::new());
    store
        .set(SecretKey::PelotonPassword, &SecretString::from("old"))
        .unwrap();
    let attempt = BrowserSignIn::new(&fake.url()).unwrap();
    let callback = sign_in_as_a_person(&fake, attempt.authorize_url(), Some("424242")).await;

    let signed_in = attempt
        .finish(&client(&fake, store.clone()), store.as_ref(), &callback)
        .await
        .unwrap();
    assert_eq!(signed_in.user_id, fake.user_id());
    assert_eq!(signed_in.username, "fake_rider");
    let refresh = store.get(SecretKey::PelotonRefreshToken).unwrap().unwrap();
    assert!(fake
        .issued_tokens()
        .contains(&refresh.expose_secret().to_string()));
    assert!(store.get(SecretKey::PelotonPassword).unwrap().is_none());

    // A later run, a new process: the stored refresh token is all it needs.
    fake.reset_log();
    let later = client(&fake, store.clone());
    assert_eq!(later.me().await.unwrap().id, fake.user_id());
    assert_eq!(fake.login_count(), 0);
    assert_eq!(fake.refresh_count(), 1);
}

#[tokio::test]
async fn a_stale_or_foreign_callback_gets_one_sentence_and_stores_nothing() {
    let fake = FakePeloton::start(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let first = BrowserSignIn::new(&fake.url()).unwrap();
    let callback = sign_in_as_a_person(&fake, first.authorize_url(), None).await;

    // The address of another attempt: its state is not this one's.
    let second = BrowserSignIn::new(&fake.url()).unwrap();
    let e = second
        .finish(&client(&fake, store.clone()), store.as_ref(), &callback)
        .await
        .unwrap_err();
    assert!(matches!(e, SignInError::StateMismatch), "{e}");

    // The same address pasted twice: the code is spent.
    first
        .finish(&client(&fake, store.clone()), store.as_ref(), &callback)
        .await
        .unwrap();
    store.delete(SecretKey::PelotonRefreshToken).unwrap();
    let again = BrowserSignIn::new(&fake.url()).unwrap();
    let stale = callback.replace(
        &url::Url::parse(&callback)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .to_string(),
        &state_of(&again),
    );
    let e = again
        .finish(&client(&fake, store.clone()), store.as_ref(), &stale)
        .await
        .unwrap_err();
    assert_eq!(
        e.user_message(),
        "Peloton did not accept this sign-in (it expired or was used already); sign in again."
    );
    assert!(store.get(SecretKey::PelotonRefreshToken).unwrap().is_none());
}

fn state_of(attempt: &BrowserSignIn) -> String {
    url::Url::parse(attempt.authorize_url())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn a_revoked_sign_in_without_a_password_is_signed_out() {
    let fake = FakePeloton::start(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let attempt = BrowserSignIn::new(&fake.url()).unwrap();
    let callback = sign_in_as_a_person(&fake, attempt.authorize_url(), None).await;
    attempt
        .finish(&client(&fake, store.clone()), store.as_ref(), &callback)
        .await
        .unwrap();

    fake.revoke_tokens();
    fake.reset_log();
    let e = client(&fake, store.clone()).me().await.unwrap_err();
    assert!(matches!(e, PelotonError::SignedOut), "{e}");
    assert_eq!(e.user_message(), "Signed out of Peloton: sign in again.");
    assert_eq!(fake.login_count(), 0, "no password login was tried");
    assert!(store.get(SecretKey::PelotonRefreshToken).unwrap().is_none());

    // The runs after it, with no token left, are signed out too, not "no
    // password set": the browser way keeps none.
    let browser = PelotonClient::new(
        PelotonConfig {
            browser_sign_in: true,
            ..config(&fake)
        },
        Arc::new(SystemClock),
        store.clone(),
        String::new(),
        None,
    )
    .unwrap();
    let e = browser.me().await.unwrap_err();
    assert!(matches!(e, PelotonError::SignedOut), "{e}");
    assert_eq!(fake.login_count(), 0, "no password login was tried");
}
