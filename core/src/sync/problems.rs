//! Errors of the two services as the run's problems: one sentence each, with
//! the area that tells the app whether the user must act.

use super::report::{Problem, ProblemArea};
use crate::coda::CodaError;
use crate::peloton::PelotonError;

impl From<&PelotonError> for Problem {
    /// A refused login is the user's to fix, a login block theirs to wait
    /// out, a browser sign-in that ended theirs to redo; a keychain failure
    /// is this computer's; anything else is Peloton's and passes.
    fn from(e: &PelotonError) -> Self {
        let area = match e {
            PelotonError::LoginRefused | PelotonError::MissingPassword => ProblemArea::PelotonLogin,
            PelotonError::LoginBlocked => ProblemArea::PelotonBlocked,
            PelotonError::SignedOut => ProblemArea::PelotonSignedOut,
            PelotonError::Secrets(_) => ProblemArea::Local,
            _ => ProblemArea::Peloton,
        };
        Problem {
            area,
            message: e.user_message(),
        }
    }
}

impl From<&CodaError> for Problem {
    /// A refused token and a wrong doc are the user's to fix; anything else
    /// is Coda's and passes.
    fn from(e: &CodaError) -> Self {
        let area = match e {
            CodaError::TokenRefused | CodaError::Forbidden { .. } | CodaError::TokenUnusable => {
                ProblemArea::CodaToken
            }
            CodaError::DocNotFound { .. }
            | CodaError::TableNotFound { .. }
            | CodaError::InvalidDocRef(_) => ProblemArea::CodaDoc,
            _ => ProblemArea::Coda,
        };
        Problem {
            area,
            message: e.user_message(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_the_area_that_can_fix_them() {
        let area = |e: PelotonError| Problem::from(&e).area;
        assert_eq!(area(PelotonError::LoginRefused), ProblemArea::PelotonLogin);
        assert_eq!(
            area(PelotonError::MissingPassword),
            ProblemArea::PelotonLogin
        );
        assert_eq!(
            area(PelotonError::LoginBlocked),
            ProblemArea::PelotonBlocked
        );
        assert_eq!(area(PelotonError::SignedOut), ProblemArea::PelotonSignedOut);
        // Only a dead sign-in with no password stops automatic syncs.
        assert!(area(PelotonError::SignedOut).waits_for_sign_in());
        assert!(!area(PelotonError::LoginBlocked).waits_for_sign_in());
        assert!(!area(PelotonError::MissingPassword).waits_for_sign_in());
        let area = |e: CodaError| Problem::from(&e).area;
        assert_eq!(area(CodaError::TokenRefused), ProblemArea::CodaToken);
        assert_eq!(
            area(CodaError::InvalidDocRef("x".into())),
            ProblemArea::CodaDoc
        );
    }
}
