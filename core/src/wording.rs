//! The one place that decides how a sentence names its remedy for each
//! face: the app's sentences send the user to Settings, the CLI's to
//! `peloton-coda-sync login`, the settings file and the environment
//! variables (the CLI has no Settings window).
//!
//! Errors write their `user_message()` once, in the app's words; each face
//! passes every sentence it shows through [`for_face`]. A test below runs
//! every sentence that names Settings through the CLI face, so a new one
//! without a CLI wording fails the build's tests.

/// Who shows the sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// The `peloton-coda-sync` command line.
    Cli,
    /// The tray app and its windows.
    App,
}

/// The CLI's remedy for each remedy that names Settings, longest first.
const CLI: &[(&str, &str)] = &[
    (
        "No Peloton e-mail is set; run `peloton-coda-sync login` or open Settings.",
        "No Peloton e-mail is set; run `peloton-coda-sync login` or set PELOTON_USERNAME.",
    ),
    (
        "No Coda API token is set; run `peloton-coda-sync login` or open Settings.",
        "No Coda API token is set; run `peloton-coda-sync login` or set CODA_API_TOKEN.",
    ),
    (
        "run `peloton-coda-sync login` or open Settings and paste the doc's URL.",
        "run `peloton-coda-sync login` or set CODA_DOC to the doc's URL.",
    ),
    (
        "No Peloton password is saved; enter it in Settings.",
        "No Peloton password is saved; run `peloton-coda-sync login` or set PELOTON_PASSWORD.",
    ),
    (
        "check the email and password in Settings.",
        "run `peloton-coda-sync login` to enter the email and password again (or check PELOTON_USERNAME and PELOTON_PASSWORD).",
    ),
    (
        "check them in Settings.",
        "run `peloton-coda-sync login` to enter them again (or check PELOTON_USERNAME and PELOTON_PASSWORD).",
    ),
    (
        "and enter it in Settings.",
        "and run `peloton-coda-sync login` (or set CODA_API_TOKEN).",
    ),
    (
        "into Settings.",
        "into `peloton-coda-sync login` (or CODA_DOC).",
    ),
    (
        "then test the connection in Settings.",
        "then run `peloton-coda-sync login` to let it log in again.",
    ),
    ("in Settings", "in the settings file"),
];

/// The App's: Settings alone (the app is not the place to run the CLI).
const APP: &[(&str, &str)] = &[(
    "run `peloton-coda-sync login` or open Settings",
    "open Settings",
)];

/// `sentence` as `face` shows it.
pub fn for_face(face: Face, sentence: &str) -> String {
    let table = match face {
        Face::Cli => CLI,
        Face::App => APP,
    };
    let mut out = sentence.to_owned();
    for (from, to) in table {
        if out.contains(from) {
            out = out.replace(from, to);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coda::CodaError;
    use crate::peloton::PelotonError;
    use crate::setup::SetupError;

    /// Every sentence of core that names Settings.
    fn settings_sentences() -> Vec<String> {
        let mut all = vec![
            PelotonError::LoginRefused.user_message(),
            PelotonError::TokenRefused.user_message(),
            PelotonError::MissingPassword.user_message(),
            CodaError::TokenRefused.user_message(),
            CodaError::TokenUnusable.user_message(),
            SetupError::MissingPelotonEmail.user_message(),
            SetupError::MissingCodaToken.user_message(),
            SetupError::MissingCodaDoc.user_message(),
        ];
        all.retain(|s| s.contains("Settings"));
        all
    }

    #[test]
    fn the_cli_never_sends_anyone_to_settings() {
        let sentences = settings_sentences();
        assert!(sentences.len() >= 7, "{sentences:?}");
        for s in sentences {
            let cli = for_face(Face::Cli, &s);
            assert!(!cli.contains("Settings"), "{cli}");
            assert!(
                cli.contains("peloton-coda-sync login") || cli.contains("settings file"),
                "{cli}"
            );
        }
    }

    #[test]
    fn each_face_names_its_own_remedy() {
        let refused = PelotonError::LoginRefused.user_message();
        assert_eq!(for_face(Face::App, &refused), refused);
        assert!(for_face(Face::Cli, &refused)
            .starts_with("Peloton refused the email or password; run `peloton-coda-sync login`"));
        let missing = SetupError::MissingCodaToken.user_message();
        assert_eq!(
            for_face(Face::App, &missing),
            "No Coda API token is set; open Settings."
        );
        assert_eq!(
            for_face(Face::Cli, &missing),
            "No Coda API token is set; run `peloton-coda-sync login` or set CODA_API_TOKEN."
        );
        assert_eq!(
            for_face(Face::Cli, "The Coda table \"X\" is gone; check the table names in Settings, then sync again."),
            "The Coda table \"X\" is gone; check the table names in the settings file, then sync again."
        );
    }
}
