//! Signing in to Peloton on Peloton's own page (issue 18): the person signs
//! in in a browser or the app's sign-in window, captcha and MFA included,
//! and the app keeps only the refresh token. No password is stored.
//!
//! [`BrowserSignIn`] holds one attempt's PKCE values (spec `peloton-api.md`
//! §3.2, the web client of §3.1) and builds its `/authorize` URL;
//! [`BrowserSignIn::navigation`] is the rule the sign-in window follows for
//! every page it is asked to load; [`BrowserSignIn::finish`] reads the
//! redirect URI the sign-in ended on (never fetched), checks its `state`,
//! trades the code with the verifier, and removes the stored password.
//!
//! Invariant: the verifier, the code and the tokens never reach a log, an
//! error or a `Debug` output; the refresh token is written only through the
//! [`SecretStore`] the client was built with.

use secrecy::SecretString;
use url::{Position, Url};

use super::auth::{authorize_url, Pkce, REDIRECT_URI};
use super::client::PelotonClient;
use super::error::PelotonError;
use crate::secrets::{SecretKey, SecretStore, SecretsError};
use crate::settings::{Settings, SignInWay};

/// Why a browser sign-in could not be finished; each has one sentence.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The auth base URL is not a URL (a bad `PELOTON_AUTH_URL`).
    #[error("bad Peloton auth URL: {0}")]
    BadAuthUrl(String),
    /// What was pasted or caught is not the redirect URI.
    #[error("the address is not Peloton's sign-in callback")]
    NotCallback,
    /// The callback's `state` is not this attempt's: an older sign-in, or
    /// one started elsewhere.
    #[error("the callback's state belongs to another sign-in")]
    StateMismatch,
    /// Auth0 sent the person back with an error code instead of a code.
    #[error("the sign-in ended with Auth0 error {0}")]
    Refused(String),
    /// Auth0 refused the code at `/oauth/token` (expired, used, or not
    /// issued for this verifier).
    #[error("Peloton refused the sign-in code: {0}")]
    CodeRefused(String),
    /// The exchange or the first API call failed otherwise.
    #[error(transparent)]
    Peloton(PelotonError),
    /// The keychain (or token cache) could not be written.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

impl From<PelotonError> for SignInError {
    fn from(e: PelotonError) -> Self {
        match e {
            // Every 4xx of the exchange arrives as this variant; for a code the
            // person just brought back, it means the code is no good.
            PelotonError::LoginFlowChanged(why) => SignInError::CodeRefused(why),
            PelotonError::Secrets(e) => SignInError::Secrets(e),
            other => SignInError::Peloton(other),
        }
    }
}

impl SignInError {
    /// The one sentence a user sees: what happened and what to do.
    pub fn user_message(&self) -> String {
        match self {
            SignInError::BadAuthUrl(_) => {
                "The Peloton sign-in address is not valid; check PELOTON_AUTH_URL.".into()
            }
            SignInError::NotCallback => format!(
                "That is not the address Peloton's sign-in ends on; copy the whole address \
                 from the browser's address bar (it starts with {REDIRECT_URI}) and try again."
            ),
            SignInError::StateMismatch => "That address belongs to another sign-in; \
                 sign in again with the link shown this time."
                .into(),
            SignInError::Refused(code) => {
                format!("Peloton's sign-in did not finish ({code}); sign in again.")
            }
            SignInError::CodeRefused(_) => "Peloton did not accept this sign-in (it expired \
                 or was used already); sign in again."
                .into(),
            SignInError::Peloton(e) => e.user_message(),
            SignInError::Secrets(e) => e.user_message(),
        }
    }
}

/// What the sign-in window does with a page it is asked to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Navigation {
    /// A page of Peloton's auth host: load it.
    Peloton,
    /// The redirect URI: do not load it; finish the sign-in with it.
    Callback,
    /// Anything else: do not load it.
    Refused,
}

/// Who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// Peloton username, for "Signed in as".
    pub username: String,
    /// Peloton user id.
    pub user_id: String,
}

impl SignedIn {
    /// Records in the settings that the browser way is in use, and who.
    pub fn record(&self, settings: &mut Settings) {
        settings.peloton_sign_in = SignInWay::Browser;
        settings.peloton_username = self.username.clone();
    }
}

/// One browser sign-in attempt: fresh PKCE values and the URL to open.
pub struct BrowserSignIn {
    pkce: Pkce,
    auth_url: Url,
    authorize: Url,
}

// The verifier is a secret: only the host is shown.
impl std::fmt::Debug for BrowserSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserSignIn")
            .field("auth_host", &self.auth_url.host_str())
            .finish_non_exhaustive()
    }
}

/// Whether `url` is the redirect URI (scheme, host and path; any query).
fn is_callback(url: &Url) -> bool {
    &url[..Position::AfterPath] == REDIRECT_URI
}

fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// An Auth0 error code, shown only when it looks like one.
fn safe_code(code: Option<String>) -> String {
    code.filter(|c| {
        !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
    .unwrap_or_else(|| "no error code".into())
}

impl BrowserSignIn {
    /// A new attempt against Auth0 at `auth_url` (`https://auth.onepeloton.com`,
    /// or a fake's URL in tests).
    pub fn new(auth_url: &str) -> Result<Self, SignInError> {
        let auth_url = Url::parse(auth_url)
            .ok()
            .filter(|u| !u.cannot_be_a_base() && u.host_str().is_some())
            .ok_or_else(|| SignInError::BadAuthUrl(auth_url.to_string()))?;
        let endpoint = auth_url
            .join("/authorize")
            .map_err(|e| SignInError::BadAuthUrl(e.to_string()))?;
        let pkce = Pkce::new();
        Ok(Self {
            authorize: authorize_url(&endpoint, &pkce),
            pkce,
            auth_url,
        })
    }

    /// The page to open: Auth0's `/authorize` with this attempt's PKCE
    /// challenge, `state` and `nonce`. It holds no secret.
    pub fn authorize_url(&self) -> &str {
        self.authorize.as_str()
    }

    /// The rule for every page the sign-in window is asked to load: only
    /// the auth host's own origin is loaded, the redirect URI is caught.
    pub fn navigation(&self, url: &str) -> Navigation {
        match Url::parse(url) {
            Ok(u) if is_callback(&u) => Navigation::Callback,
            Ok(u) if u.origin() == self.auth_url.origin() => Navigation::Peloton,
            _ => Navigation::Refused,
        }
    }

    /// The code the callback address carries, after checking it is the
    /// redirect URI and its `state` is this attempt's.
    pub fn code(&self, callback: &str) -> Result<SecretString, SignInError> {
        let url = Url::parse(callback.trim()).map_err(|_| SignInError::NotCallback)?;
        if !is_callback(&url) {
            return Err(SignInError::NotCallback);
        }
        if let Some(code) = query_param(&url, "code").filter(|c| !c.is_empty()) {
            if query_param(&url, "state").as_deref() != Some(self.pkce.state.as_str()) {
                return Err(SignInError::StateMismatch);
            }
            return Ok(SecretString::from(code));
        }
        match query_param(&url, "error") {
            Some(e) => Err(SignInError::Refused(safe_code(Some(e)))),
            None => Err(SignInError::NotCallback),
        }
    }

    /// Finishes the sign-in with the address it ended on: trades the code
    /// (the refresh token goes to `client`'s store), asks Peloton who signed
    /// in, then removes the stored password from `secrets`, since the
    /// browser way replaces it. The caller records [`SignedIn`] in the
    /// settings.
    pub async fn finish(
        self,
        client: &PelotonClient,
        secrets: &dyn SecretStore,
        callback: &str,
    ) -> Result<SignedIn, SignInError> {
        use secrecy::ExposeSecret as _;
        let code = self.code(callback)?;
        client
            .authenticator()
            .sign_in_with_code(code.expose_secret(), &self.pkce)
            .await?;
        let me = client.me().await.map_err(SignInError::Peloton)?;
        secrets.delete(SecretKey::PelotonPassword)?;
        tracing::info!("signed in to Peloton in a browser");
        Ok(SignedIn {
            username: me.username.unwrap_or_else(|| me.id.clone()),
            user_id: me.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt() -> BrowserSignIn {
        BrowserSignIn::new("http://127.0.0.1:9").unwrap()
    }

    fn callback(pairs: &[(&str, &str)]) -> String {
        let mut u = Url::parse(REDIRECT_URI).unwrap();
        u.query_pairs_mut().extend_pairs(pairs);
        u.to_string()
    }

    #[test]
    fn the_authorize_url_asks_for_pkce_s256_state_and_nonce_for_the_web_client() {
        let a = attempt();
        let url = Url::parse(a.authorize_url()).unwrap();
        assert_eq!(&url[..Position::AfterPath], "http://127.0.0.1:9/authorize");
        let get = |k: &str| query_param(&url, k).unwrap_or_default();
        assert_eq!(get("client_id"), super::super::auth::WEB_CLIENT_ID);
        assert_eq!(get("redirect_uri"), REDIRECT_URI);
        assert_eq!(get("response_type"), "code");
        assert_eq!(get("audience"), "https://api.onepeloton.com/");
        assert!(get("scope").split(' ').any(|s| s == "offline_access"));
        assert_eq!(get("code_challenge_method"), "S256");
        assert_eq!(get("code_challenge"), a.pkce.challenge);
        assert_eq!(get("state"), a.pkce.state);
        assert_eq!(get("nonce"), a.pkce.nonce);
        assert!(!a.authorize_url().contains(&a.pkce.verifier));
        assert!(!format!("{a:?}").contains(&a.pkce.verifier));
        assert_ne!(attempt().pkce.state, a.pkce.state);
    }

    #[test]
    fn the_callback_gives_its_code_only_with_this_attempts_state() {
        use secrecy::ExposeSecret as _;
        let a = attempt();
        let ok = callback(&[("code", "c0de"), ("state", &a.pkce.state)]);
        assert_eq!(
            a.code(&format!("  {ok}\n")).unwrap().expose_secret(),
            "c0de"
        );

        let check = |input: &str, expect: &str| {
            let e = a.code(input).unwrap_err();
            assert!(
                e.user_message().contains(expect),
                "{input}: {}",
                e.user_message()
            );
            assert!(!e.user_message().contains("c0de"));
            assert!(!e.to_string().contains("c0de"));
        };
        check(
            &callback(&[("code", "c0de"), ("state", "another")]),
            "another sign-in",
        );
        check(&callback(&[("code", "c0de")]), "another sign-in");
        check(
            "https://members.onepeloton.com/home?code=c0de",
            "not the address",
        );
        check("https://evil.example/callback?code=c0de", "not the address");
        check("not a url", "not the address");
        check(&callback(&[("state", &a.pkce.state)]), "not the address");
        check(
            &callback(&[("error", "access_denied"), ("state", &a.pkce.state)]),
            "(access_denied)",
        );
        check(
            &callback(&[("error", "<script>"), ("state", &a.pkce.state)]),
            "(no error code)",
        );
    }

    #[test]
    fn the_window_loads_only_the_auth_host_and_catches_the_callback() {
        let a = attempt();
        let check = |url: &str, expect: Navigation| assert_eq!(a.navigation(url), expect, "{url}");
        check(a.authorize_url(), Navigation::Peloton);
        check("http://127.0.0.1:9/login?state=x", Navigation::Peloton);
        check(
            &callback(&[("code", "c"), ("state", "s")]),
            Navigation::Callback,
        );
        check("http://127.0.0.1:10/login", Navigation::Refused);
        check("https://127.0.0.1:9/login", Navigation::Refused);
        check("https://evil.example/", Navigation::Refused);
        check("https://members.onepeloton.com/home", Navigation::Refused);
        check("javascript:alert(1)", Navigation::Refused);
        check("about:blank", Navigation::Refused);
    }

    #[test]
    fn a_bad_auth_url_is_one_sentence() {
        let e = BrowserSignIn::new("not a url").unwrap_err();
        assert!(e.user_message().contains("PELOTON_AUTH_URL"));
    }

    #[test]
    fn signing_in_records_the_browser_way_and_who() {
        let mut s = Settings::default();
        SignedIn {
            username: "fake_rider".into(),
            user_id: "u1".into(),
        }
        .record(&mut s);
        assert_eq!(s.peloton_sign_in, SignInWay::Browser);
        assert_eq!(s.peloton_username, "fake_rider");
        let back = Settings::from_toml(&s.to_toml().unwrap()).unwrap();
        assert_eq!(back.peloton_sign_in, SignInWay::Browser);
        assert!(Settings::from_toml("").unwrap().peloton_sign_in == SignInWay::Password);
    }
}
