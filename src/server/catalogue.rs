//! The provider catalogue (stand-in with the agreed interface; replaced by the real module).
//!
//! Owns which provider provisions each resource type and the workflow it runs. It never runs
//! workflows and keeps no state.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// The set of providers a server knows, at most one per resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    providers: Vec<Provider>,
    by_type: HashMap<String, usize>,
}

/// A provider: the owner of some resource types and the workflow that provisions them.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// Display name, e.g. `database-team`.
    pub name: String,
    /// The resource types this provider provisions.
    pub resource_types: Vec<String>,
    /// The workflow run for each resource of these types.
    pub workflow: Workflow,
}

/// A named, ordered list of steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// Workflow name.
    pub name: String,
    /// The steps, run one after another.
    pub steps: Vec<Step>,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Step name.
    pub name: String,
    /// What the step does.
    pub action: StepAction,
}

/// What a step does when it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    /// Wait this long, then succeed.
    Sleep(Duration),
    /// Fail at once with this message.
    Fail(String),
    /// Run this command with `sh -c`.
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
    #[error("{origin}: {message}")]
    Invalid {
        /// Where the text came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
struct RawCatalogue {
    providers: Vec<RawProvider>,
}

#[derive(Deserialize)]
struct RawProvider {
    name: String,
    resource_types: Vec<String>,
    workflow: RawWorkflow,
}

#[derive(Deserialize)]
struct RawWorkflow {
    name: String,
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
struct RawStep {
    name: String,
    sleep: Option<String>,
    fail: Option<String>,
    run: Option<String>,
}

const BUILTIN: &str = "
providers:
  - name: database-team
    resource_types: [postgres]
    workflow:
      name: provision-postgres
      steps:
        - {name: create-instance, sleep: 20ms}
        - {name: verify-connection, sleep: 10ms}
  - name: cache-team
    resource_types: [redis]
    workflow:
      name: provision-redis
      steps:
        - {name: create-cluster, sleep: 20ms}
";

impl Catalogue {
    /// The built-in catalogue.
    pub fn builtin() -> Catalogue {
        Catalogue::from_yaml(BUILTIN, "<builtin>").expect("the built-in catalogue is valid")
    }

    /// Reads and validates a catalogue file.
    pub fn load(path: &Path) -> Result<Catalogue, CatalogueError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Catalogue::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates catalogue text.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Catalogue, CatalogueError> {
        let invalid = |message: String| CatalogueError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        let raw: RawCatalogue = serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut providers = Vec::new();
        let mut by_type = HashMap::new();
        for p in raw.providers {
            let mut steps = Vec::new();
            for s in p.workflow.steps {
                let action = match (s.sleep, s.fail, s.run) {
                    (Some(d), None, None) => StepAction::Sleep(
                        humantime::parse_duration(&d).map_err(|e| invalid(e.to_string()))?,
                    ),
                    (None, Some(m), None) => StepAction::Fail(m),
                    (None, None, Some(c)) => StepAction::Run(c),
                    _ => return Err(invalid(format!("step '{}' needs one action", s.name))),
                };
                steps.push(Step {
                    name: s.name,
                    action,
                });
            }
            for ty in &p.resource_types {
                by_type.insert(ty.clone(), providers.len());
            }
            providers.push(Provider {
                name: p.name,
                resource_types: p.resource_types,
                workflow: Workflow {
                    name: p.workflow.name,
                    steps,
                },
            });
        }
        Ok(Catalogue { providers, by_type })
    }

    /// The provider that owns `resource_type`, if any.
    pub fn provider_for(&self, resource_type: &str) -> Option<&Provider> {
        self.by_type
            .get(resource_type)
            .and_then(|&i| self.providers.get(i))
    }

    /// Every resource type with a provider, sorted.
    pub fn resource_types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = self.by_type.keys().map(String::as_str).collect();
        types.sort_unstable();
        types
    }
}
