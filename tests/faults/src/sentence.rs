//! Whether an error sentence is one a user can act on: one line, a full
//! sentence, no debug dump, no secret, and something to do (or a promise
//! that the sync retries by itself).

/// Words that say what to do, or that the app will retry on its own.
const ACTIONS: &[&str] = &[
    "check",
    "try again",
    "will try",
    "will retry",
    "sync again",
    "run ",
    "open ",
    "free ",
    "add ",
    "rename",
    "restore",
    "report",
    "enter ",
    "make ",
    "change",
    "turn ",
    "delete",
    "create",
    "settings",
    "skipped",
    "left out",
    "resumes",
    "install",
];

/// Fragments that betray a debug dump or an internal error leaking out.
const DUMPS: &[&str] = &[
    "Error:",
    "error:",
    "Some(",
    "None)",
    "Err(",
    "Ok(",
    "{\"",
    "\\n",
    "panicked",
    "reqwest::",
    "hyper::",
    "rusqlite",
    "serde",
    "at line ",
    "kind:",
    "source:",
    "os error",
    "backtrace",
];

/// What is wrong with `sentence`, if anything. `secrets` are values that
/// must never appear (passwords, tokens).
pub fn judge(sentence: &str, secrets: &[String]) -> Result<(), String> {
    let s = sentence.trim();
    if s.is_empty() {
        return Err("empty sentence".into());
    }
    if s.contains('\n') {
        return Err(format!("more than one line: {s:?}"));
    }
    if s.chars().count() > 300 {
        return Err(format!("longer than 300 characters: {s:?}"));
    }
    if !s.ends_with('.') {
        return Err(format!("not a full sentence: {s:?}"));
    }
    if !s.chars().next().is_some_and(char::is_uppercase) {
        return Err(format!("does not start with a capital: {s:?}"));
    }
    if let Some(d) = DUMPS.iter().find(|d| s.contains(**d)) {
        return Err(format!("looks like a debug dump ({d:?}): {s:?}"));
    }
    if secrets
        .iter()
        .any(|secret| !secret.is_empty() && s.contains(secret.as_str()))
    {
        return Err("contains a secret".into());
    }
    let lower = s.to_lowercase();
    if !ACTIONS.iter().any(|a| lower.contains(a)) {
        return Err(format!("says nothing to do: {s:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::judge;

    #[test]
    fn clear_sentences_pass_and_dumps_fail() {
        let none: &[String] = &[];
        assert!(judge(
            "Peloton could not be reached; check your connection, the sync will retry.",
            none
        )
        .is_ok());
        assert!(judge("Error: Io(Custom { kind: Other })", none).is_err());
        assert!(judge("Something failed.", none).is_err());
        assert!(judge("two\nlines.", none).is_err());
        assert!(judge(
            "The token hunter2 was refused; check it.",
            &["hunter2".to_string()]
        )
        .is_err());
    }
}
