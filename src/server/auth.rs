//! API keys, the teams they belong to, and who is calling.
//!
//! A [`KeyRing`] maps each key to a team. With keys configured, every request except
//! `/healthz` must send `Authorization: Bearer <key>` (PROTOCOL.md B.3); the `Caller` extractor
//! resolves it to a team or rejects it with 401. Without keys, everyone is team `default`
//! (the server refuses to listen beyond loopback then; see [`super::run`]).
//!
//! This module must never let a key escape: [`ApiKey`] redacts itself in `Debug`, error
//! messages never quote a key or a line of a keys file, and keys are compared in constant time.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::Deserialize;

use super::AppState;
use super::api_error::ApiError;

/// The team of callers when no keys are configured, and of keys given without a team.
pub const DEFAULT_TEAM: &str = "default";

/// An API key. `Debug` prints `ApiKey(redacted)`; the value is reachable only through
/// [`ApiKey::expose`], so it cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The secret itself, for the one place that needs it (comparison, a request header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(redacted)")
    }
}

/// Lets clap parse `--key` without ever echoing the value: validation happens later, in
/// [`KeyRing::insert`], whose errors do not quote the key (clap's would).
impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        ApiKey(key)
    }
}

/// Why keys could not be set up. Messages never contain a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key is empty or contains characters that cannot travel in an HTTP header.
    #[error(
        "{origin}: API key #{index} is not usable: it must be non-empty printable ASCII without spaces or commas"
    )]
    InvalidKey {
        /// Where the key came from (`--key`, a file path).
        origin: String,
        /// 1-based position of the key in that source.
        index: usize,
    },
    /// A team name is empty.
    #[error("{origin}: API key #{index} has an empty team name")]
    EmptyTeam {
        /// Where the key came from.
        origin: String,
        /// 1-based position of the key in that source.
        index: usize,
    },
    /// The same key is given for two different teams.
    #[error("{origin}: API key #{index} is already assigned to another team")]
    Conflict {
        /// Where the key came from.
        origin: String,
        /// 1-based position of the key in that source.
        index: usize,
    },
    /// A keys file could not be read.
    #[error("cannot read API keys file {path}: {source}")]
    Read {
        /// The path as given.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A keys file does not have the expected shape.
    #[error(
        "{location}: invalid API keys file: expected `keys: [{{key: <key>, team: <team>}}, ...]`"
    )]
    Format {
        /// `path` or `path:line:column`. The parser's own message is left out on purpose:
        /// it can quote the offending value, which may be a key.
        location: String,
    },
}

/// The configured API keys and their teams. `Debug` shows only how many keys there are.
#[derive(Clone, Default)]
pub struct KeyRing {
    entries: Vec<(ApiKey, Arc<str>)>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", &self.entries.len())
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    keys: Vec<KeysFileEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFileEntry {
    key: String,
    #[serde(default)]
    team: Option<String>,
}

impl KeyRing {
    /// An empty key ring: open access, every caller is team [`DEFAULT_TEAM`].
    pub fn new() -> Self {
        KeyRing::default()
    }

    /// Adds a key for `team`. Surrounding whitespace is trimmed (`a, b` in an environment
    /// variable). `origin` and `index` only name the key in errors. Adding a key twice for
    /// the same team is harmless.
    pub fn insert(
        &mut self,
        key: &ApiKey,
        team: &str,
        origin: &str,
        index: usize,
    ) -> Result<(), KeyError> {
        let value = key.expose().trim();
        let usable = !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic() && b != b',');
        if !usable {
            return Err(KeyError::InvalidKey {
                origin: origin.to_owned(),
                index,
            });
        }
        let team = team.trim();
        if team.is_empty() {
            return Err(KeyError::EmptyTeam {
                origin: origin.to_owned(),
                index,
            });
        }
        match self.team_for(value) {
            Some(existing) if existing == team => Ok(()),
            Some(_) => Err(KeyError::Conflict {
                origin: origin.to_owned(),
                index,
            }),
            None => {
                self.entries.push((ApiKey::new(value), Arc::from(team)));
                Ok(())
            }
        }
    }

    /// Builder form of [`KeyRing::insert`], convenient in tests and embedders.
    pub fn with_key(mut self, key: &str, team: &str) -> Result<Self, KeyError> {
        let index = self.entries.len() + 1;
        self.insert(&ApiKey::new(key), team, "key ring", index)?;
        Ok(self)
    }

    /// Adds the keys of a YAML keys file (`keys: [{key: ..., team: ...}]`; a missing team is
    /// [`DEFAULT_TEAM`]).
    pub fn add_yaml(&mut self, text: &str, origin: &str) -> Result<(), KeyError> {
        let file: KeysFile = serde_yaml::from_str(text).map_err(|e| KeyError::Format {
            location: match e.location() {
                Some(l) => format!("{origin}:{}:{}", l.line(), l.column()),
                None => origin.to_owned(),
            },
        })?;
        for (i, entry) in file.keys.into_iter().enumerate() {
            let team = entry.team.as_deref().unwrap_or(DEFAULT_TEAM);
            self.insert(&ApiKey::new(entry.key), team, origin, i + 1)?;
        }
        Ok(())
    }

    /// Reads a keys file and adds its keys.
    pub fn add_file(&mut self, path: &Path) -> Result<(), KeyError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: origin.clone(),
            source,
        })?;
        self.add_yaml(&text, &origin)
    }

    /// Whether no key is configured (open access).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The team a presented key belongs to, if it is known.
    ///
    /// Every configured key is compared, each in time that depends only on its own length, so
    /// the answer time says nothing about how much of a guess was right.
    pub fn team_for(&self, presented: &str) -> Option<&str> {
        let mut found = None;
        for (key, team) in &self.entries {
            if constant_time_eq(key.expose().as_bytes(), presented.as_bytes()) {
                found = Some(team.as_ref());
            }
        }
        found
    }
}

/// Compares two byte strings without an early exit on the first difference.
fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    let mut diff = u8::from(expected.len() != presented.len());
    for (i, &b) in expected.iter().enumerate() {
        // A shorter guess is compared against zeros, so the loop length stays `expected.len()`.
        diff |= b ^ presented.get(i).copied().unwrap_or(0);
    }
    std::hint::black_box(diff) == 0
}

/// The authenticated caller of a request: the team it acts for.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The caller's team; everything it sees and touches is filtered by it.
    pub(crate) team: Arc<str>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let keys = state.keys();
        if keys.is_empty() {
            return Ok(Caller {
                team: Arc::from(DEFAULT_TEAM),
            });
        }
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                // RFC 9110 §11.1: the scheme name is case-insensitive.
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or_else(ApiError::unauthorized)?;
        keys.team_for(presented)
            .map(|team| Caller {
                team: Arc::from(team),
            })
            .ok_or_else(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_key() {
        let ring = KeyRing::new().with_key("s3cr3t-key", "team-a").unwrap();
        assert!(!format!("{ring:?}").contains("s3cr3t"));
        assert!(!format!("{:?}", ApiKey::new("s3cr3t-key")).contains("s3cr3t"));
    }

    #[test]
    fn keys_resolve_to_their_team() {
        let ring = KeyRing::new()
            .with_key("alpha", "a")
            .unwrap()
            .with_key(" beta ", "b")
            .unwrap();
        assert_eq!(ring.team_for("alpha"), Some("a"));
        assert_eq!(ring.team_for("beta"), Some("b"));
        assert_eq!(ring.team_for("alph"), None);
        assert_eq!(ring.team_for("alphaa"), None);
        assert_eq!(ring.team_for(""), None);
        assert_eq!(ring.len(), 2);
    }

    #[test]
    fn bad_keys_are_rejected_without_quoting_them() {
        let err = KeyRing::new().with_key("has space", "a").unwrap_err();
        assert!(!err.to_string().contains("has space"), "{err}");
        assert!(KeyRing::new().with_key("", "a").is_err());
        assert!(KeyRing::new().with_key("k", " ").is_err());
        let err = KeyRing::new()
            .with_key("same", "a")
            .unwrap()
            .with_key("same", "b")
            .unwrap_err();
        assert!(matches!(err, KeyError::Conflict { .. }));
    }

    #[test]
    fn keys_file_parses_and_hides_values_in_errors() {
        let mut ring = KeyRing::new();
        ring.add_yaml(
            "keys:\n  - {key: one, team: red}\n  - key: two\n",
            "keys.yaml",
        )
        .unwrap();
        assert_eq!(ring.team_for("one"), Some("red"));
        assert_eq!(ring.team_for("two"), Some(DEFAULT_TEAM));

        let err = KeyRing::new()
            .add_yaml("keys: topsecretvalue\n", "keys.yaml")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("keys.yaml:1:"), "{text}");
        assert!(!text.contains("topsecretvalue"), "{text}");
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abc", b"ab\0"));
        assert!(constant_time_eq(b"", b""));
    }
}
