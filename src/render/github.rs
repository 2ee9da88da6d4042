//! GitHub Actions workflow commands: the `::group::` / `::endgroup::` lines that fold the event
//! log, and the `::error::` annotation that puts a failure on the run's summary page.
//!
//! The runner reads these from a step's output, stdout or stderr alike, when a line *starts*
//! with `::` after leading whitespace is trimmed. So this module also owns the other half:
//! [`neutralize`] keeps a line of ours that carries server text from being read as a command.
//! Pure functions; the [`Reporter`](super::Reporter) decides when they are written.

use std::borrow::Cow;

use super::text::sanitize;

/// `::group::TITLE`: the lines that follow fold under TITLE until [`ENDGROUP`].
pub fn group(title: &str) -> String {
    format!("::group::{}", escape_data(&sanitize(title)))
}

/// Closes the group opened by [`group`].
pub const ENDGROUP: &str = "::endgroup::";

/// `::error title=TITLE::MESSAGE`: an error annotation on the workflow run.
pub fn error(title: &str, message: &str) -> String {
    format!(
        "::error title={}::{}",
        escape_property(&sanitize(title)),
        escape_data(&sanitize(message))
    )
}

/// Escapes a command's message part (the runner's `escapeData`).
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a command property value (the runner's `escapeProperty`).
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Makes sure no line of `text` is taken for a workflow command: a line that would start with
/// `::` once its leading whitespace is trimmed gets a space between the two colons. Only text
/// that can carry server data is passed through here, never our own markers.
pub fn neutralize(text: &str) -> Cow<'_, str> {
    if !text.lines().any(|l| l.trim_start().starts_with("::")) {
        return Cow::Borrowed(text);
    }
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            let trimmed = line.trim_start();
            match trimmed.strip_prefix("::") {
                Some(rest) => {
                    let indent = &line[..line.len() - trimmed.len()];
                    format!("{indent}: :{rest}")
                }
                None => line.to_owned(),
            }
        })
        .collect();
    Cow::Owned(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_escaped() {
        assert_eq!(
            group("Deployment events: shop"),
            "::group::Deployment events: shop"
        );
        assert_eq!(
            error("Deployment failed: shop", "100% broken,\nreally"),
            "::error title=Deployment failed%3A shop::100%25 broken, really"
        );
        assert_eq!(error("a,b", "x"), "::error title=a%2Cb::x");
        assert!(!error("t", "\x1b[31mred").contains('\x1b'));
    }

    #[test]
    fn server_text_in_our_markers_stays_their_data() {
        for hostile in [
            "::add-mask::secret",
            "x\n::add-mask::secret",
            "x\r\n::warning::w",
        ] {
            let group = group(hostile);
            assert_eq!(group.lines().count(), 1, "{group:?}");
            assert!(group.starts_with("::group::"), "{group:?}");
            let error = error(hostile, hostile);
            assert_eq!(error.lines().count(), 1, "{error:?}");
            assert!(!error.contains('\r'), "{error:?}");
            // The title property cannot close the command early: its colons are escaped, so
            // the first `::` after ours is the one that starts the message.
            let (command, _message) = error.strip_prefix("::").unwrap().split_once("::").unwrap();
            assert!(command.starts_with("error title="), "{error:?}");
            assert!(command.contains("%3A%3A"), "{error:?}");
        }
    }

    #[test]
    fn server_text_cannot_issue_commands() {
        assert!(matches!(neutralize("[12:00:00] 🟢 ok"), Cow::Borrowed(_)));
        assert_eq!(
            neutralize("first\n    ::error::pwned=1\n::endgroup::"),
            "first\n    : :error::pwned=1\n: :endgroup::"
        );
    }
}
