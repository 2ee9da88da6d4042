//! The provider catalogue: which provider owns each resource type, and the workflow (a list of
//! steps) it runs to provision one.
//!
//! This module owns the catalogue's YAML format, its validation and the built-in default
//! ([`Catalogue::builtin`], whose source is [`BUILTIN_YAML`]). It only describes workflows; it
//! never runs them (that is [`super::orchestrator`]'s job) and it keeps no state.
//!
//! # Format
//!
//! ```yaml
//! providers:
//!   - name: database-team              # who owns these types (shown in provider.resolved)
//!     resource_types: [postgres]       # Score resource types; each may be claimed only once
//!     workflow:
//!       name: provision-postgres
//!       steps:                         # run in order; the first failure fails the resource
//!         - name: create-instance
//!           sleep: 400ms               # simulated work; humantime syntax (1s, 250ms, 1m 30s)
//!         - name: configure
//!           fail: "quota exceeded"     # always fails with this message
//!         - name: migrate
//!           run: "echo migrating"      # sh -c; see below
//! ```
//!
//! Each step has a `name` and exactly one of `sleep`, `fail` or `run`. A `run` command is
//! executed with `sh -c`, with stdin closed, in an environment cleared of everything the
//! server inherited (which includes `CTL_SERVER_API_KEYS`) except the variables named in
//! [`DEFAULT_ENV_PASSTHROUGH`] and in the catalogue's optional top-level `env_passthrough:`
//! list, plus these: `CTL_APP`, `CTL_DEPLOYMENT_ID`, `CTL_RESOURCE_NAME`, `CTL_RESOURCE_TYPE`,
//! `CTL_RESOURCE_ID`.
//!
//! ```yaml
//! env_passthrough: [AWS_PROFILE, KUBECONFIG]   # also passed to `run` steps, when set
//! providers: [...]
//! ```
//! Each line it writes to stdout is reported as a `step.progress` message; a non-zero exit fails
//! the step with the last lines of its stderr.
//!
//! Unknown keys, empty names, a step with no action (or two), an unparsable duration, a provider
//! without resource types, a workflow without steps and a resource type claimed by two providers
//! are all errors. Errors name the file and, where the YAML parser knows it, the line and column.
//!
//! `serde_yaml` is used here and in `spec/` only, so that a swap to a maintained fork stays
//! small.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// The source text of the built-in catalogue that [`Catalogue::builtin`] parses. Printed as a
/// starting point for a custom catalogue; its timings make one resource take about 1–2 s.
pub const BUILTIN_YAML: &str = r#"# The built-in provider catalogue of `ctl server`: simulated providers, no real infrastructure.
providers:
  - name: database-team
    resource_types: [postgres]
    workflow:
      name: provision-postgres
      steps:
        - name: create-instance
          sleep: 500ms
        - name: configure-network
          sleep: 300ms
        - name: create-credentials
          sleep: 200ms
        - name: verify-connection
          sleep: 300ms
  - name: database-team
    resource_types: [mysql]
    workflow:
      name: provision-mysql
      steps:
        - name: create-instance
          sleep: 500ms
        - name: configure-network
          sleep: 300ms
        - name: create-credentials
          sleep: 200ms
        - name: verify-connection
          sleep: 250ms
  - name: cache-team
    resource_types: [redis]
    workflow:
      name: provision-redis
      steps:
        - name: create-cluster
          sleep: 500ms
        - name: configure-eviction-policy
          sleep: 200ms
        - name: verify-connection
          sleep: 300ms
  - name: storage-team
    resource_types: [s3]
    workflow:
      name: provision-s3-bucket
      steps:
        - name: create-bucket
          sleep: 400ms
        - name: apply-bucket-policy
          sleep: 300ms
        - name: enable-versioning
          sleep: 200ms
        - name: create-access-keys
          sleep: 250ms
  - name: storage-team
    resource_types: [volume]
    workflow:
      name: provision-volume
      steps:
        - name: allocate-volume
          sleep: 500ms
        - name: format-filesystem
          sleep: 400ms
        - name: attach-snapshot-policy
          sleep: 200ms
  - name: network-team
    resource_types: [dns]
    workflow:
      name: provision-dns-record
      steps:
        - name: reserve-hostname
          sleep: 300ms
        - name: create-record
          sleep: 400ms
        - name: wait-for-propagation
          sleep: 600ms
  - name: network-team
    resource_types: [route]
    workflow:
      name: provision-route
      steps:
        - name: allocate-route
          sleep: 300ms
        - name: issue-certificate
          sleep: 500ms
        - name: configure-ingress
          sleep: 300ms
        - name: verify-reachability
          sleep: 300ms
"#;

/// The variables of the server's environment that `run` steps see (when set): what a shell
/// command needs to find programs, a home and a locale, and nothing that could be a secret.
pub const DEFAULT_ENV_PASSTHROUGH: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

/// Never passed to a step, even when a catalogue asks: the server's own API keys.
const NEVER_PASSED: &[&str] = &["CTL_SERVER_API_KEYS"];

/// The set of providers a server knows, at most one per resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    providers: Vec<Provider>,
    /// [`DEFAULT_ENV_PASSTHROUGH`] plus the catalogue's `env_passthrough:`.
    env_passthrough: Vec<String>,
    /// Resource type → index into `providers`.
    by_type: HashMap<String, usize>,
}

/// A provider: the owner of some resource types and the workflow that provisions them.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// Display name, e.g. `database-team`. Several entries may share a name (one team, several
    /// workflows); the resource types they claim may not overlap.
    pub name: String,
    /// The resource types this provider provisions, e.g. `postgres`.
    pub resource_types: Vec<String>,
    /// The workflow run for each resource of these types.
    pub workflow: Workflow,
}

/// A named, ordered list of steps. Never empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// Workflow name, e.g. `provision-postgres`.
    pub name: String,
    /// The steps, run one after another.
    pub steps: Vec<Step>,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Step name, e.g. `create-instance`.
    pub name: String,
    /// What the step does.
    pub action: StepAction,
}

/// What a step does when it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    /// Simulated work: wait this long, then succeed.
    Sleep(Duration),
    /// Fail at once with this message.
    Fail(String),
    /// Run this command with `sh -c`; a non-zero exit fails the step.
    Run(String),
}

/// Why a catalogue could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The file could not be read.
    #[error("cannot read provider catalogue {path}: {source}")]
    Read {
        /// The path as given.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a valid catalogue.
    #[error("{}", Located { origin, line: *line, column: *column, message })]
    Invalid {
        /// Where the text came from (a path, or `<builtin>`).
        origin: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong, without the position.
        message: String,
    },
}

/// Formats `origin:line:column: message`, leaving out the parts that are unknown.
struct Located<'a> {
    origin: &'a str,
    line: Option<usize>,
    column: Option<usize>,
    message: &'a str,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl CatalogueError {
    fn invalid(origin: &str, message: String) -> Self {
        CatalogueError::Invalid {
            origin: origin.to_owned(),
            line: None,
            column: None,
            message,
        }
    }

    fn from_yaml(origin: &str, err: &serde_yaml::Error) -> Self {
        let location = err.location();
        let mut message = err.to_string();
        // serde_yaml writes " at line L column C" into its messages; the position is shown
        // once, in front, in the `file:line:column` form editors understand. Only the mention
        // of this very position is removed: a parser message may cite a second one.
        if let Some(loc) = &location {
            let at = format!(" at line {} column {}", loc.line(), loc.column());
            message = message.replacen(&at, "", 1);
        }
        CatalogueError::Invalid {
            origin: origin.to_owned(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            message,
        }
    }
}

impl Catalogue {
    /// The built-in catalogue (the text of [`BUILTIN_YAML`]): providers for `postgres`, `mysql`,
    /// `redis`, `s3`, `volume`, `dns` and `route`.
    pub fn builtin() -> Catalogue {
        // The text is a constant checked by `builtin_covers_the_common_types`; a failure here
        // is a bug in this file, not bad input.
        Catalogue::from_yaml(BUILTIN_YAML, "<builtin>").expect("the built-in catalogue is valid")
    }

    /// Reads and validates a catalogue file.
    pub fn load(path: &Path) -> Result<Catalogue, CatalogueError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Catalogue::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates catalogue text; `origin` names it in error messages.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Catalogue, CatalogueError> {
        let raw: RawCatalogue =
            serde_yaml::from_str(text).map_err(|e| CatalogueError::from_yaml(origin, &e))?;
        if raw.providers.is_empty() {
            return Err(CatalogueError::invalid(
                origin,
                "providers: the catalogue defines no providers".to_owned(),
            ));
        }
        // Checked here rather than while parsing because it spans entries; serde_yaml gives no
        // position outside a deserializer, so the message names the entries instead.
        let mut by_type: HashMap<String, usize> = HashMap::new();
        for (index, provider) in raw.providers.iter().enumerate() {
            for ty in &provider.resource_types {
                if let Some(&first) = by_type.get(ty) {
                    if first == index {
                        return Err(CatalogueError::invalid(
                            origin,
                            format!(
                                "resource type '{ty}' is listed twice by providers[{index}] ('{}')",
                                provider.name
                            ),
                        ));
                    }
                    return Err(CatalogueError::invalid(
                        origin,
                        format!(
                            "resource type '{ty}' is claimed by two providers: \
                             providers[{first}] ('{}') and providers[{index}] ('{}')",
                            raw.providers[first].name, provider.name
                        ),
                    ));
                }
                by_type.insert(ty.clone(), index);
            }
        }
        let mut env_passthrough: Vec<String> = DEFAULT_ENV_PASSTHROUGH
            .iter()
            .map(|&v| v.to_owned())
            .collect();
        for name in raw.env_passthrough {
            let usable = !name.is_empty() && !name.contains(['=', '\0']);
            if !usable {
                return Err(CatalogueError::invalid(
                    origin,
                    format!("env_passthrough: {name:?} is not an environment variable name"),
                ));
            }
            if NEVER_PASSED.contains(&name.as_str()) {
                return Err(CatalogueError::invalid(
                    origin,
                    format!(
                        "env_passthrough: {name} holds the server's API keys and is never passed to steps"
                    ),
                ));
            }
            if !env_passthrough.contains(&name) {
                env_passthrough.push(name);
            }
        }
        Ok(Catalogue {
            providers: raw.providers,
            by_type,
            env_passthrough,
        })
    }

    /// The provider that owns `resource_type`, if any.
    pub fn provider_for(&self, resource_type: &str) -> Option<&Provider> {
        self.by_type
            .get(resource_type)
            .and_then(|&i| self.providers.get(i))
    }

    /// Every resource type with a provider, sorted (so messages listing them are stable).
    pub fn resource_types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = self.by_type.keys().map(String::as_str).collect();
        types.sort_unstable();
        types
    }

    /// The names of the server's environment variables a `run` step sees (when set).
    pub fn env_passthrough(&self) -> &[String] {
        &self.env_passthrough
    }

    /// Every provider, in file order.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }
}

// ---- YAML shapes ----------------------------------------------------------------------------
//
// Validation that concerns one value happens inside its `Deserialize` impl, so that serde_yaml
// attaches that value's line and column (and its path, e.g. `providers[0].workflow.steps[1]`)
// to the error.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    providers: Vec<Provider>,
    #[serde(default)]
    env_passthrough: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: Name,
    resource_types: Vec<Name>,
    workflow: Workflow,
}

impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        validated_map(d, "a provider", |raw: RawProvider| {
            if raw.resource_types.is_empty() {
                return Err(format!(
                    "provider '{}' must list at least one resource type",
                    raw.name.0
                ));
            }
            Ok(Provider {
                name: raw.name.0,
                resource_types: raw.resource_types.into_iter().map(|n| n.0).collect(),
                workflow: raw.workflow,
            })
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: Name,
    steps: Vec<Step>,
}

impl<'de> Deserialize<'de> for Workflow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        validated_map(d, "a workflow", |raw: RawWorkflow| {
            if raw.steps.is_empty() {
                return Err(format!("workflow '{}' has no steps", raw.name.0));
            }
            Ok(Workflow {
                name: raw.name.0,
                steps: raw.steps,
            })
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Name,
    #[serde(default)]
    sleep: Option<HumanDuration>,
    #[serde(default)]
    fail: Option<String>,
    #[serde(default)]
    run: Option<String>,
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        validated_map(d, "a workflow step", |raw: RawStep| {
            let name = raw.name.0;
            let action = match (raw.sleep, raw.fail, raw.run) {
                (Some(d), None, None) => StepAction::Sleep(d.0),
                (None, Some(msg), None) => StepAction::Fail(msg),
                (None, None, Some(cmd)) if cmd.trim().is_empty() => {
                    return Err(format!("step '{name}': `run` must not be empty"));
                }
                (None, None, Some(cmd)) => StepAction::Run(cmd),
                (None, None, None) => {
                    return Err(format!(
                        "step '{name}' needs an action: one of `sleep`, `fail` or `run`"
                    ));
                }
                _ => {
                    return Err(format!(
                        "step '{name}' has more than one action: use exactly one of `sleep`, \
                         `fail` or `run`"
                    ));
                }
            };
            Ok(Step { name, action })
        })
    }
}

/// Deserialises a mapping as `R`, then checks and converts it with `check`. Doing the check
/// inside the map visitor (rather than after `R::deserialize` returns) is what makes serde_yaml
/// attach the mapping's own position to the error.
fn validated_map<'de, D, R, T, F>(d: D, expecting: &'static str, check: F) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    R: Deserialize<'de>,
    F: FnOnce(R) -> Result<T, String>,
{
    struct V<R, F> {
        expecting: &'static str,
        check: F,
        raw: std::marker::PhantomData<R>,
    }
    impl<'de, R, T, F> Visitor<'de> for V<R, F>
    where
        R: Deserialize<'de>,
        F: FnOnce(R) -> Result<T, String>,
    {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            let raw = R::deserialize(de::value::MapAccessDeserializer::new(map))?;
            (self.check)(raw).map_err(de::Error::custom)
        }
    }
    d.deserialize_map(V {
        expecting,
        check,
        raw: std::marker::PhantomData,
    })
}

/// A non-empty, trimmed-non-blank string (names and resource types).
struct Name(String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-empty name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
                if v.trim().is_empty() {
                    Err(E::custom("must not be empty"))
                } else {
                    Ok(Name(v.to_owned()))
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// A duration written in humantime syntax (`400ms`, `1s`, `1m 30s`).
struct HumanDuration(Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 400ms or 2s")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(v.trim())
                    .map(HumanDuration)
                    .map_err(|e| {
                        // humantime's positional messages ("expected number at 0") mean little
                        // here; its unit and overflow messages are worth keeping.
                        let why = match e {
                            humantime::DurationError::UnknownUnit { .. }
                            | humantime::DurationError::NumberOverflow => e.to_string(),
                            _ => "expected a number with a unit".to_owned(),
                        };
                        E::custom(format!("invalid duration '{v}': {why} (e.g. 400ms, 2s)"))
                    })
            }
            // A bare number has no unit; say so rather than guess seconds or milliseconds.
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "invalid duration '{v}': a unit is required (e.g. {v}ms or {v}s)"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "invalid duration '{v}': a unit is required (e.g. 400ms, 2s)"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Catalogue::from_yaml(text, "cat.yaml")
            .unwrap_err()
            .to_string()
    }

    const ONE: &str = "\
providers:
  - name: database-team
    resource_types: [postgres, mysql]
    workflow:
      name: provision-postgres
      steps:
        - name: create-instance
          sleep: 400ms
        - name: configure
          fail: quota exceeded
        - name: migrate
          run: echo migrating
";

    #[test]
    fn env_passthrough_extends_the_default_list_but_never_to_the_keys() {
        let cat = Catalogue::from_yaml(ONE, "cat.yaml").unwrap();
        assert_eq!(cat.env_passthrough(), DEFAULT_ENV_PASSTHROUGH);
        let extended = format!("env_passthrough: [KUBECONFIG, PATH]\n{ONE}");
        let cat = Catalogue::from_yaml(&extended, "cat.yaml").unwrap();
        assert_eq!(
            cat.env_passthrough().len(),
            DEFAULT_ENV_PASSTHROUGH.len() + 1
        );
        assert_eq!(cat.env_passthrough().last().unwrap(), "KUBECONFIG");
        let keys = format!("env_passthrough: [CTL_SERVER_API_KEYS]\n{ONE}");
        assert!(
            err(&keys).contains("never passed to steps"),
            "{}",
            err(&keys)
        );
        assert!(err(&format!("env_passthrough: ['A=B']\n{ONE}")).contains("not an environment"));
    }

    #[test]
    fn parses_every_action() {
        let cat = Catalogue::from_yaml(ONE, "cat.yaml").unwrap();
        let p = cat.provider_for("mysql").unwrap();
        assert_eq!(p.name, "database-team");
        assert_eq!(p.workflow.name, "provision-postgres");
        let actions: Vec<_> = p.workflow.steps.iter().map(|s| &s.action).collect();
        assert_eq!(
            actions,
            [
                &StepAction::Sleep(Duration::from_millis(400)),
                &StepAction::Fail("quota exceeded".into()),
                &StepAction::Run("echo migrating".into()),
            ]
        );
        assert_eq!(cat.resource_types(), ["mysql", "postgres"]);
        assert!(cat.provider_for("redis").is_none());
    }

    #[test]
    fn builtin_covers_the_common_types() {
        let cat = Catalogue::builtin();
        for ty in ["postgres", "redis", "s3", "dns", "route", "volume", "mysql"] {
            let p = cat
                .provider_for(ty)
                .unwrap_or_else(|| panic!("no provider for {ty}"));
            assert!((3..=4).contains(&p.workflow.steps.len()), "{ty}");
            let total: Duration = p
                .workflow
                .steps
                .iter()
                .map(|s| match s.action {
                    StepAction::Sleep(d) => d,
                    ref other => panic!("{ty}: built-in steps only sleep, got {other:?}"),
                })
                .sum();
            assert!(
                total >= Duration::from_millis(800) && total <= Duration::from_secs(2),
                "{ty}: {total:?}"
            );
        }
        assert_eq!(
            cat.provider_for("postgres").unwrap().workflow.name,
            "provision-postgres"
        );
    }

    #[test]
    fn example_catalogue_parses_and_fails_postgres() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/providers.yaml");
        let cat = Catalogue::load(&path).unwrap();
        let steps = &cat.provider_for("postgres").unwrap().workflow.steps;
        assert!(
            steps
                .iter()
                .any(|s| matches!(&s.action, StepAction::Fail(m) if m.contains("quota"))),
            "{steps:?}"
        );
        for ty in ["redis", "s3", "dns", "route", "volume", "mysql"] {
            let steps = &cat.provider_for(ty).unwrap().workflow.steps;
            assert!(
                steps
                    .iter()
                    .all(|s| matches!(s.action, StepAction::Sleep(_))),
                "{ty}"
            );
        }
    }

    #[test]
    fn unknown_key_is_located() {
        let text = ONE.replace("          sleep: 400ms", "          slep: 400ms");
        let e = err(&text);
        assert!(e.starts_with("cat.yaml:8:11: "), "{e}");
        assert!(e.contains("unknown field `slep`"), "{e}");
        assert!(!e.contains(" at line "), "{e}");
    }

    #[test]
    fn step_without_action_names_the_step_and_its_line() {
        let text = ONE.replace("          fail: quota exceeded\n", "");
        let e = err(&text);
        assert!(e.starts_with("cat.yaml:9:"), "{e}");
        assert!(
            e.contains("step 'configure' needs an action: one of `sleep`, `fail` or `run`"),
            "{e}"
        );
        assert!(e.contains("steps[1]"), "{e}");
    }

    #[test]
    fn step_with_two_actions_is_rejected() {
        let text = ONE.replace("fail: quota exceeded", "fail: x\n          sleep: 1s");
        assert!(err(&text).contains("more than one action"));
    }

    #[test]
    fn empty_names_are_rejected_with_their_position() {
        let e = err(&ONE.replace("name: database-team", "name: \"\""));
        assert!(e.starts_with("cat.yaml:2:"), "{e}");
        assert!(e.contains("providers[0].name: must not be empty"), "{e}");
        let e = err(&ONE.replace("[postgres, mysql]", "[postgres, \" \"]"));
        assert!(e.contains("must not be empty"), "{e}");
        assert!(err(&ONE.replace("name: migrate", "name: ''")).contains("must not be empty"));
    }

    #[test]
    fn type_claimed_twice_names_both_providers() {
        let text = format!(
            "{ONE}  - name: other-team
    resource_types: [redis, postgres]
    workflow:
      name: w
      steps:
        - name: s
          sleep: 1s
"
        );
        let e = err(&text);
        assert!(e.starts_with("cat.yaml: "), "{e}");
        assert!(
            e.contains(
                "resource type 'postgres' is claimed by two providers: \
                 providers[0] ('database-team') and providers[1] ('other-team')"
            ),
            "{e}"
        );
    }

    #[test]
    fn bad_durations_and_empty_parts_are_explained() {
        let e = err(&ONE.replace("400ms", "fast"));
        assert!(e.starts_with("cat.yaml:8:18: "), "{e}");
        assert!(
            e.contains("invalid duration 'fast': expected a number with a unit (e.g. 400ms, 2s)"),
            "{e}"
        );
        assert!(err(&ONE.replace("400ms", "400")).contains("a unit is required"));
        assert!(err("providers: []\n").contains("defines no providers"));
        assert!(err(&ONE.replace("[postgres, mysql]", "[]")).contains("at least one resource"));
        let no_steps = "providers:\n  - name: a\n    resource_types: [x]\n    workflow:\n      name: w\n      steps: []\n";
        assert!(err(no_steps).contains("workflow 'w' has no steps"));
        assert!(err("").starts_with("cat.yaml"));
        let e = err("providers: [");
        assert!(e.starts_with("cat.yaml:2:1: "), "{e}");
        assert!(!e.contains("at line 2 column 1"), "{e}");
        let e = err(&ONE.replace("fast", "1x").replace("400ms", "1x"));
        assert!(
            e.contains("invalid duration '1x': unknown time unit"),
            "{e}"
        );
        let e = err(&ONE.replace("[postgres, mysql]", "[postgres, postgres]"));
        assert!(
            e.contains("resource type 'postgres' is listed twice by providers[0]"),
            "{e}"
        );
    }

    #[test]
    fn unreadable_file_names_the_path() {
        let e = Catalogue::load(Path::new("/nonexistent/providers.yaml")).unwrap_err();
        assert!(matches!(e, CatalogueError::Read { .. }));
        assert!(e.to_string().contains("/nonexistent/providers.yaml"));
    }
}
