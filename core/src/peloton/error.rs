//! Everything that can go wrong talking to Peloton, and the one sentence a
//! user sees for each.
//!
//! Invariant: no variant holds a secret. Passwords, tokens, authorization
//! codes, `_csrf` values and cookies never reach an error, so `Display` and
//! `Debug` are safe to log. Messages built from Auth0 answers carry only the
//! HTTP status and Auth0's `error` code, never its body.

use crate::net::NetError;
use crate::secrets::SecretsError;

/// What a user reads after Auth0's brute-force block.
pub const LOGIN_BLOCKED_SENTENCE: &str =
    "Peloton blocked logins to this account (too many attempts); \
     unblock it from Peloton's e-mail, then test the connection in Settings.";
/// What a person reads when Peloton ended a browser sign-in; the app
/// recognises this state by its problem area, not by this text.
pub const SIGNED_OUT: &str = "Signed out of Peloton: sign in again.";

/// A Peloton login or API call that failed for good (after `net`'s retry
/// rules ran out).
#[derive(Debug, thiserror::Error)]
pub enum PelotonError {
    /// Auth0 refused the e-mail or password (a 4xx at `/usernamepassword/login`,
    /// or `invalid_grant` from the password grant).
    #[error("Peloton refused the e-mail or password")]
    LoginRefused,
    /// Auth0's brute-force protection blocks logins (`too_many_attempts`,
    /// `blocked_user`), now or in an earlier run: no password is sent.
    #[error("Peloton is blocking logins (too many attempts)")]
    LoginBlocked,
    /// A login with this password was sent and did not finish less than
    /// [`super::PASSWORD_PAUSE`] ago: it is not sent again before then.
    #[error("a Peloton login did not finish less than an hour ago; waiting")]
    LoginPaused,
    /// The login did not go the way the client expects (no form, no code,
    /// no `_csrf` cookie, an unexpected status): Peloton changed its sign-in.
    #[error("the Peloton sign-in did not go as expected: {0}")]
    LoginFlowChanged(String),
    /// The network failed (refused, dropped, timed out) on every try.
    #[error("could not reach Peloton at {host}: {message}")]
    Unreachable {
        /// The host that was called.
        host: String,
        /// The last transport error (URLs removed).
        message: String,
    },
    /// 429s went on until the retry policy gave up.
    #[error("Peloton kept answering 429 Too Many Requests after {attempts} attempts")]
    RateLimited {
        /// Attempts made on the last request.
        attempts: u32,
    },
    /// 5xx until the retry policy gave up.
    #[error("Peloton answered HTTP {0}")]
    Server(u16),
    /// The API answered 401 even with a freshly renewed token.
    #[error("Peloton refused the access token even after renewing it (401)")]
    TokenRefused,
    /// Another member's workouts may not be read (403 or 404).
    #[error("the workouts of Peloton member {user_id} are private")]
    Private {
        /// The member whose workouts were asked for.
        user_id: String,
    },
    /// 404 on something the client asked for by id.
    #[error("Peloton answered 404 for {endpoint}")]
    NotFound {
        /// The endpoint, as a template (`/api/workout/{id}`).
        endpoint: String,
    },
    /// Another 4xx that retrying cannot fix.
    #[error("Peloton rejected {endpoint} with HTTP {status}")]
    Rejected {
        /// The endpoint, as a template.
        endpoint: String,
        /// The HTTP status.
        status: u16,
    },
    /// A 2xx answer whose JSON did not have the expected shape.
    #[error("could not read Peloton's answer to {endpoint} at {path}: {message}")]
    Decode {
        /// The endpoint, as a template (`/api/workout/{id}`).
        endpoint: String,
        /// The path of the field that failed (`data[3].total_work`), empty for the whole body.
        path: String,
        /// What serde expected (quoted values removed).
        message: String,
    },
    /// A 2xx answer that ended before its JSON did (a cut connection, a
    /// proxy's hiccup): nothing about the API changed.
    #[error("Peloton's answer to {endpoint} ended early")]
    Incomplete {
        /// The endpoint, as a template (`/api/workout/{id}`).
        endpoint: String,
    },
    /// The keychain could not be read or written.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// A login is needed and no password was given or stored.
    #[error("no Peloton password is available")]
    MissingPassword,
    /// A request could not be built (a bug, not a server problem).
    #[error("a request to Peloton could not be built: {0}")]
    Request(String),
    /// A configured Peloton URL (`PELOTON_API_URL`, `PELOTON_AUTH_URL` or
    /// the settings file's) is not a full address.
    #[error("the Peloton {what} URL {url:?} is not valid: {message}")]
    InvalidUrl {
        /// Which one: "API" or "auth".
        what: &'static str,
        /// The configured value.
        url: String,
        /// Why it was refused.
        message: String,
    },
    /// Peloton refused the refresh token (revoked, expired, password
    /// changed) and no password is kept to log in with: the person must
    /// sign in again in a browser (issue 18).
    #[error("Peloton refused the refresh token and no password is stored")]
    SignedOut,
}

impl PelotonError {
    /// The one sentence a user sees: what happened and what to do.
    pub fn user_message(&self) -> String {
        match self {
            PelotonError::LoginRefused => {
                "Peloton refused the email or password; check them in Settings.".to_string()
            }
            PelotonError::LoginBlocked => LOGIN_BLOCKED_SENTENCE.to_string(),
            PelotonError::LoginPaused => "The last Peloton login did not finish; the app waits \
                 an hour before sending the password again, then the sync continues."
                .to_string(),
            PelotonError::LoginFlowChanged(_) => "Peloton's sign-in did not go as expected; \
                 the sync will try again later, please report this if it keeps happening."
                .to_string(),
            PelotonError::Unreachable { .. } => {
                "Peloton could not be reached; check your connection, the sync will retry."
                    .to_string()
            }
            PelotonError::RateLimited { .. } => {
                "Peloton asked to slow down; the sync will try again later.".to_string()
            }
            PelotonError::Server(status) => format!(
                "Peloton is having trouble (HTTP {status}); the sync will try again later."
            ),
            PelotonError::TokenRefused => "Peloton did not accept the sign-in even after \
                 renewing it; check the email and password in Settings."
                .to_string(),
            PelotonError::Private { user_id } => format!(
                "The workouts of Peloton member {user_id} are private; they are skipped \
                 until the member lets you see them."
            ),
            PelotonError::NotFound { endpoint } => format!(
                "Peloton no longer has what {endpoint} asked for; it is skipped."
            ),
            PelotonError::Rejected { endpoint, status } => format!(
                "Peloton rejected {endpoint} (HTTP {status}): please report this if it keeps happening."
            ),
            PelotonError::Decode { endpoint, path, .. } => {
                let field = if path.is_empty() { "the whole answer" } else { path };
                format!(
                    "Peloton changed how it answers {endpoint} (field {field}): please report \
                     this; the raw answer is saved in the log folder."
                )
            }
            PelotonError::Incomplete { endpoint } => format!(
                "Peloton's answer to {endpoint} was cut off; the sync will try again later."
            ),
            PelotonError::Secrets(e) => e.user_message(),
            PelotonError::MissingPassword => {
                "No Peloton password is saved; enter it in Settings.".to_string()
            }
            PelotonError::Request(_) => {
                "A request to Peloton could not be built: please report this.".to_string()
            }
            PelotonError::InvalidUrl { what, url, .. } => format!(
                "The Peloton {what} URL \"{url}\" is not valid; give a full address (https://...) or remove it to use the default."
            ),
            PelotonError::SignedOut => SIGNED_OUT.to_string(),
        }
    }

    /// True when trying again later may succeed without the user doing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PelotonError::Unreachable { .. }
                | PelotonError::RateLimited { .. }
                | PelotonError::LoginPaused
                | PelotonError::Server(_)
                | PelotonError::Incomplete { .. }
        )
    }
}

impl From<NetError> for PelotonError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Unreachable { host, source } => PelotonError::Unreachable {
                host,
                message: source.without_url().to_string(),
            },
            NetError::GaveUp {
                status, attempts, ..
            } if status == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                PelotonError::RateLimited { attempts }
            }
            NetError::GaveUp { status, .. } => PelotonError::Server(status.as_u16()),
            NetError::Build(m) => PelotonError::Request(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_names_endpoint_and_field() {
        let e = PelotonError::Decode {
            endpoint: "/api/workout/{id}".into(),
            path: "total_work".into(),
            message: "invalid type: string, expected f64".into(),
        };
        assert_eq!(
            e.user_message(),
            "Peloton changed how it answers /api/workout/{id} (field total_work): please report \
             this; the raw answer is saved in the log folder."
        );
        assert!(e.to_string().contains("total_work"));
    }

    #[test]
    fn an_answer_cut_off_is_retried_later_not_reported() {
        let e = PelotonError::Incomplete {
            endpoint: "/api/workout/{id}".into(),
        };
        assert!(e.is_transient());
        assert_eq!(
            e.user_message(),
            "Peloton's answer to /api/workout/{id} was cut off; the sync will try again later."
        );
    }

    #[test]
    fn login_refused_sentence() {
        assert_eq!(
            PelotonError::LoginRefused.user_message(),
            "Peloton refused the email or password; check them in Settings."
        );
    }

    #[test]
    fn a_login_block_says_how_to_lift_it() {
        let e = PelotonError::LoginBlocked;
        assert_eq!(
            e.user_message(),
            "Peloton blocked logins to this account (too many attempts); unblock it from \
             Peloton's e-mail, then test the connection in Settings."
        );
        assert!(!e.is_transient());
    }

    #[test]
    fn signed_out_asks_to_sign_in_again() {
        assert_eq!(
            PelotonError::SignedOut.user_message(),
            "Signed out of Peloton: sign in again."
        );
        assert!(!PelotonError::SignedOut.is_transient());
    }

    #[test]
    fn transient_errors_are_marked() {
        assert!(PelotonError::Server(503).is_transient());
        assert!(!PelotonError::LoginRefused.is_transient());
    }
}
