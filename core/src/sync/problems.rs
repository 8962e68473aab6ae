//! Errors of the two services as the run's problems: one sentence each, with
//! the area that tells the app whether the user must act.

use super::report::{Problem, ProblemArea};
use crate::coda::CodaError;
use crate::peloton::PelotonError;

impl From<&PelotonError> for Problem {
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
    fn from(e: &CodaError) -> Self {
        let area = match e {
            CodaError::TokenRefused | CodaError::Forbidden { .. } => ProblemArea::CodaToken,
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
