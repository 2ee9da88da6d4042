//! Score workload specs: loading, parsing and the validation rules of PROTOCOL.md A.2.
//!
//! Both sides use this module: the client validates before anything is sent, and the server
//! validates what it receives, with the same rules and messages. It owns the Score shape (which
//! keys exist, what type each must have, the A.2 rules and their order) and never does network
//! I/O or prints anything: errors are values ([`SpecError`]) that point at `file:line:column`.
//!
//! Layout: `yaml` turns text into a position-free tree and can find any node's position again
//! (the only code that touches serde_yaml); this file checks the tree; `error` renders problems.
//!
//! Checks run in this order, first failure wins, mirroring A.2:
//! 1. YAML: size, nesting depth, syntax, expanded size, a single document, no duplicate keys, a
//!    mapping at the top, no unknown key, and every known key holding a value of the right type
//!    (A.2 step 1, "parse/type error");
//! 2. every resource has a DNS-label name and a `type` (where A.2 step 2 checks resources);
//! 3. to 6. `metadata.name` present, a DNS label, at least one container, each with an image;
//! 7. each service port has a `port`.
//!
//! Unknown keys are errors because a misspelt key is otherwise silently ignored: the allowed
//! keys are those of the Score v1b1 JSON schema plus innominatus's `environment` and `workflows`
//! (see `Shape`).
//!
//! Aliases stay allowed, although a Score spec rarely needs them, because merge keys
//! (`<<: *base`, one container starting from another) are made of them. What makes aliases
//! dangerous is expansion ("billion laughs"), and that is bounded where it happens: the tree
//! builder counts every node it builds, each use of an alias in full, and stops at
//! `yaml::MAX_NODES`. Deep nesting is refused before the parser runs (`yaml::MAX_DEPTH`).

mod error;
mod yaml;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

pub use error::{Located, SpecError, SpecErrorKind};

use error::shown;
use yaml::{At, Dotted, Failure, Node, Seg};

/// The largest spec accepted, in bytes. Score specs are a few kilobytes; the limit keeps a wrong
/// file (a log, an image) or a hostile request from being parsed at all.
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// A parsed, validated Score spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// `metadata.name`: the application name, an RFC 1123 DNS label.
    pub name: String,
    /// `apiVersion`, as written (may be empty).
    pub api_version: String,
    /// Container names and images.
    pub containers: BTreeMap<String, Container>,
    /// Resources in the order they appear in the file.
    pub resources: Vec<Resource>,
    /// `environment.type`, if given (innominatus extension).
    pub environment: Option<String>,
    /// Names of the spec's own `workflows:` (innominatus extension), which such a server runs
    /// inside the submission request: their outcome is only in its answer.
    pub workflows: Vec<String>,
    /// The YAML text as read, which is what gets submitted.
    pub source: String,
}

/// One container of a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    /// The container image.
    pub image: String,
}

/// One resource a workload depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The key under `resources:`.
    pub name: String,
    /// The resource `type` (e.g. `postgres`).
    pub kind: String,
    /// The resource's whole block (`type`, `params`, ...) as canonical JSON, keys sorted: two
    /// deployments of the same resource can be compared without re-reading the YAML. `None`
    /// when the block cannot be represented as JSON (e.g. non-string keys).
    pub definition: Option<String>,
}

/// Reads and validates a spec from a file, or from standard input when `path` is `-`.
///
/// Reads at most [`MAX_SPEC_BYTES`] (plus one byte, to notice a larger input).
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let stdin = path.as_os_str() == "-";
    let origin = if stdin {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };
    let read_error = |source| SpecError::Read {
        path: origin.clone(),
        source,
    };
    let mut bytes = Vec::new();
    // `take` bounds the read itself: a size check on metadata alone would miss stdin, pipes and
    // files that grow while being read.
    let limit = MAX_SPEC_BYTES as u64 + 1;
    if stdin {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
    } else {
        std::fs::File::open(path)
            .and_then(|file| file.take(limit).read_to_end(&mut bytes))
            .map_err(read_error)?;
    }
    parse_bytes(&bytes, &origin)
}

/// Validates a spec received as bytes (a request body): checks size and UTF-8, then [`parse`]s.
pub fn parse_bytes(bytes: &[u8], origin: &str) -> Result<Spec, SpecError> {
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(too_large(origin));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, origin),
        Err(err) => {
            // Point at the first bad byte; everything before it is valid text to count lines in.
            let valid = String::from_utf8_lossy(&bytes[..err.valid_up_to()]).into_owned();
            let place = yaml::end_of(&valid);
            let bad = bytes.get(err.valid_up_to()).copied().unwrap_or_default();
            Err(SpecError::at(
                origin,
                &valid,
                SpecErrorKind::Syntax,
                format!("the spec is not UTF-8 text (byte 0x{bad:02x}); expected a YAML file"),
                Some(place),
            ))
        }
    }
}

/// Parses and validates spec text; `origin` names it in errors (a path, `<stdin>` or
/// `request body`).
pub fn parse(text: &str, origin: &str) -> Result<Spec, SpecError> {
    if text.len() > MAX_SPEC_BYTES {
        return Err(too_large(origin));
    }
    let root = yaml::parse(text).map_err(|failure| from_failure(origin, text, failure))?;
    check(&root, text).map_err(|problem| {
        let place = problem
            .target
            .and_then(|(path, at)| yaml::locate(text, &path, at));
        SpecError::at(origin, text, problem.kind, problem.detail, place)
    })
}

/// RFC 1123 DNS label: `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, at most 63 bytes.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

const EMPTY: &str =
    "the spec is empty; expected a Score mapping with apiVersion, metadata and containers";

fn too_large(origin: &str) -> SpecError {
    SpecError::TooLarge {
        origin: origin.to_owned(),
        limit: MAX_SPEC_BYTES,
    }
}

fn from_failure(origin: &str, text: &str, failure: Failure) -> SpecError {
    let structure = |detail: String, place| {
        SpecError::at(origin, text, SpecErrorKind::Structure, detail, place)
    };
    match failure {
        Failure::Empty => structure(EMPTY.to_owned(), None),
        Failure::MultipleDocuments { second, documents } => {
            structure(several_documents(&documents), second)
        }
        Failure::TooDeep { mark } => SpecError::at(
            origin,
            text,
            SpecErrorKind::Syntax,
            format!(
                "collections are nested more than {} levels deep; a Score spec needs fewer than ten",
                yaml::MAX_DEPTH
            ),
            mark,
        ),
        Failure::TooManyNodes { mark } => SpecError::at(
            origin,
            text,
            SpecErrorKind::Syntax,
            format!(
                "the spec expands to more than {} YAML values (each use of an alias such as *name counts in full); a Score spec has a few hundred",
                yaml::MAX_NODES
            ),
            mark,
        ),
        Failure::BadMerge { path, mark } => {
            let within = if path.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in {}", Dotted(&path))
            };
            structure(
                format!(
                    "the merge key '<<' {within} must be given a mapping or a list of mappings (such as *base)"
                ),
                mark,
            )
        }
        Failure::Syntax { detail, mark } => {
            SpecError::at(origin, text, SpecErrorKind::Syntax, detail, mark)
        }
        Failure::Duplicate {
            path,
            key,
            mark,
            first,
        } => {
            let within = if path.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in {}", Dotted(&path))
            };
            let earlier = first
                .filter(|f| Some(f.index) != mark.map(|m| m.index))
                .map(|f| format!(" (first at line {})", f.line))
                .unwrap_or_default();
            structure(
                format!(
                    "duplicate key '{}' {within}{earlier}; each key may appear only once in a mapping",
                    shown(&key)
                ),
                mark,
            )
        }
        Failure::BadKey { path, mark } => {
            let within = if path.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in {}", Dotted(&path))
            };
            structure(
                format!(
                    "unsupported mapping key {within}; expected a plain name (a list, a mapping, null or a tagged value cannot be a key)"
                ),
                mark,
            )
        }
    }
}

/// The message refusing a file of several documents: which documents it holds and what to do.
///
/// Deploying them one after another was the alternative; it is refused because one `ctl deploy`
/// reports one deployment's outcome (its exit code), and a half-deployed file would have none.
fn several_documents(documents: &[yaml::Document]) -> String {
    const LISTED: usize = 5;
    let count = if documents.len() >= yaml::MAX_DOCUMENTS {
        format!("at least {}", documents.len())
    } else {
        documents.len().max(2).to_string()
    };
    let mut listed: Vec<String> = documents
        .iter()
        .take(LISTED)
        .map(|doc| {
            let name = doc.name.as_deref().map_or_else(
                || "a document without metadata.name".to_owned(),
                |name| format!("'{}'", shown(name)),
            );
            match doc.line {
                Some(line) => format!("{name} at line {line}"),
                None => name,
            }
        })
        .collect();
    if documents.len() > LISTED {
        listed.push("...".to_owned());
    }
    let which = if listed.is_empty() {
        String::new()
    } else {
        format!(" ({})", listed.join(", "))
    };
    format!(
        "the file holds {count} YAML documents separated by '---'{which}; a spec file holds exactly one workload: put each document in a file of its own and deploy each file"
    )
}

/// A problem found in a well-formed document, and the node to point at.
struct Problem {
    kind: SpecErrorKind,
    detail: String,
    target: Option<(Vec<Seg>, At)>,
}

impl Problem {
    /// A value of the wrong type at `path`.
    fn shape(detail: String, path: Vec<Seg>) -> Self {
        Problem {
            kind: SpecErrorKind::Structure,
            detail,
            target: Some((path, At::Value)),
        }
    }

    fn rule(detail: String, path: Vec<Seg>, at: At) -> Self {
        Problem {
            kind: SpecErrorKind::Rule,
            detail,
            target: Some((path, at)),
        }
    }
}

/// A path from literal keys.
fn path(keys: &[&str]) -> Vec<Seg> {
    keys.iter().map(|k| Seg::Key((*k).to_owned())).collect()
}

/// `base` extended by one key.
fn child(base: &[Seg], key: &str) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.push(Seg::Key(key.to_owned()));
    p
}

type Entries = [(String, Node)];

/// The entries of an optional mapping; absent and null both mean "none given".
fn mapping<'a>(
    node: Option<&'a Node>,
    at: &[Seg],
    expected: impl FnOnce() -> String,
) -> Result<&'a Entries, Problem> {
    match node {
        None | Some(Node::Null) => Ok(&[]),
        Some(Node::Map(entries)) => Ok(entries),
        Some(other) => Err(Problem::shape(
            format!("{}, found {}", expected(), other.describe()),
            at.to_vec(),
        )),
    }
}

/// An optional string; absent and null are `None`. Numbers and booleans are refused rather than
/// converted, because their canonical text can differ from what was written (`0x1f` reads as 31).
fn string<'a>(node: Option<&'a Node>, at: &[Seg]) -> Result<Option<&'a str>, Problem> {
    match node {
        None | Some(Node::Null) => Ok(None),
        Some(Node::Str(s)) => Ok(Some(s)),
        Some(other @ (Node::Int(_) | Node::Float(_) | Node::Bool(_))) => Err(Problem::shape(
            format!(
                "{} must be a string, found {}; quote it to use it as text",
                Dotted(at),
                other.describe()
            ),
            at.to_vec(),
        )),
        Some(other) => Err(Problem::shape(
            format!(
                "{} must be a string, found {}",
                Dotted(at),
                other.describe()
            ),
            at.to_vec(),
        )),
    }
}

/// An optional TCP/UDP port number.
fn port_number(node: Option<&Node>, at: &[Seg]) -> Result<(), Problem> {
    let ok = match node {
        None | Some(Node::Null) => true,
        Some(Node::Int(n)) => n.parse::<u16>().is_ok_and(|p| p > 0),
        Some(_) => false,
    };
    match (ok, node) {
        (false, Some(other)) => Err(Problem::shape(
            format!(
                "{} must be a port number from 1 to 65535, found {}",
                Dotted(at),
                other.describe()
            ),
            at.to_vec(),
        )),
        _ => Ok(()),
    }
}

/// What a part of a spec may hold, for the unknown-key check ([`unknown_key`]).
///
/// Taken from the Score v1b1 JSON schema (score-spec/spec, `score-v1b1.json`): where it says
/// `additionalProperties: false` the keys are [`Shape::Fields`], where it allows any key
/// (`metadata`, resource `params`, container `variables`, annotations) the part is
/// [`Shape::Open`]. innominatus adds `environment` and `workflows` at the top level; its
/// workflow steps have their own, growing set of keys, so steps are not checked.
#[derive(Clone, Copy)]
enum Shape {
    /// Anything: free-form data, or a part ctl does not interpret.
    Open,
    /// A mapping with these keys only (each optional here); the text names the part in messages.
    Fields(&'static str, &'static [(&'static str, Shape)]),
    /// A mapping from names the author chooses to values of one shape.
    MapOf(&'static Shape),
    /// A list of values of one shape.
    ListOf(&'static Shape),
    /// A mapping from names to values of one shape, or a list of them (Score's deprecated form
    /// of container `files` and `volumes`).
    MapOrListOf(&'static Shape),
}

const LIMITS: Shape = Shape::Fields(
    "resource limits",
    &[("memory", Shape::Open), ("cpu", Shape::Open)],
);

const PROBE: Shape = Shape::Fields(
    "a probe",
    &[
        (
            "httpGet",
            Shape::Fields(
                "an httpGet probe",
                &[
                    ("host", Shape::Open),
                    ("scheme", Shape::Open),
                    ("path", Shape::Open),
                    ("port", Shape::Open),
                    (
                        "httpHeaders",
                        Shape::ListOf(&Shape::Fields(
                            "an HTTP header",
                            &[("name", Shape::Open), ("value", Shape::Open)],
                        )),
                    ),
                ],
            ),
        ),
        (
            "exec",
            Shape::Fields("an exec probe", &[("command", Shape::Open)]),
        ),
    ],
);

const CONTAINER: Shape = Shape::Fields(
    "a container",
    &[
        ("image", Shape::Open),
        ("command", Shape::Open),
        ("args", Shape::Open),
        ("variables", Shape::Open),
        (
            "files",
            Shape::MapOrListOf(&Shape::Fields(
                "a container file",
                &[
                    ("target", Shape::Open),
                    ("mode", Shape::Open),
                    ("source", Shape::Open),
                    ("content", Shape::Open),
                    ("binaryContent", Shape::Open),
                    ("noExpand", Shape::Open),
                ],
            )),
        ),
        (
            "volumes",
            Shape::MapOrListOf(&Shape::Fields(
                "a container volume",
                &[
                    ("source", Shape::Open),
                    ("path", Shape::Open),
                    ("target", Shape::Open),
                    ("readOnly", Shape::Open),
                ],
            )),
        ),
        (
            "before",
            Shape::MapOf(&Shape::Fields(
                "a before condition",
                &[("ready", Shape::Open)],
            )),
        ),
        (
            "resources",
            Shape::Fields(
                "container resources",
                &[("limits", LIMITS), ("requests", LIMITS)],
            ),
        ),
        ("livenessProbe", PROBE),
        ("readinessProbe", PROBE),
    ],
);

const RESOURCE: Shape = Shape::Fields(
    "a resource",
    &[
        ("type", Shape::Open),
        ("class", Shape::Open),
        ("id", Shape::Open),
        ("metadata", Shape::Open),
        ("params", Shape::Open),
    ],
);

const SERVICE: Shape = Shape::Fields(
    "service",
    &[(
        "ports",
        Shape::MapOf(&Shape::Fields(
            "a service port",
            &[
                ("port", Shape::Open),
                ("protocol", Shape::Open),
                ("targetPort", Shape::Open),
            ],
        )),
    )],
);

/// The whole spec: Score's top-level keys, then innominatus's `environment` and `workflows`.
const SPEC: Shape = Shape::Fields(
    "a Score spec",
    &[
        ("apiVersion", Shape::Open),
        ("metadata", Shape::Open),
        ("service", SERVICE),
        ("containers", Shape::MapOf(&CONTAINER)),
        ("resources", Shape::MapOf(&RESOURCE)),
        (
            "environment",
            Shape::Fields(
                "environment",
                &[("type", Shape::Open), ("ttl", Shape::Open)],
            ),
        ),
        (
            "workflows",
            Shape::MapOf(&Shape::Fields(
                "a workflow",
                &[("steps", Shape::ListOf(&Shape::Open))],
            )),
        ),
    ],
);

/// The first key, in document order, that `shape` does not allow, as a problem pointing at it.
///
/// Parts of the wrong type are skipped here: the type checks that follow say what was expected.
fn unknown_key(node: &Node, shape: Shape, at: &mut Vec<Seg>) -> Option<Problem> {
    match (shape, node) {
        (Shape::Fields(what, fields), Node::Map(entries)) => {
            for (key, value) in entries {
                at.push(Seg::Key(key.clone()));
                let found = match fields.iter().find(|(name, _)| name == key) {
                    Some((_, inner)) => unknown_key(value, *inner, at),
                    None => Some(Problem {
                        kind: SpecErrorKind::Structure,
                        detail: unknown_key_detail(key, what, fields, &at[..at.len() - 1]),
                        target: Some((at.clone(), At::Key)),
                    }),
                };
                at.pop();
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        (Shape::MapOf(inner) | Shape::MapOrListOf(inner), Node::Map(entries)) => {
            entries.iter().find_map(|(key, value)| {
                at.push(Seg::Key(key.clone()));
                let found = unknown_key(value, *inner, at);
                at.pop();
                found
            })
        }
        (Shape::ListOf(inner) | Shape::MapOrListOf(inner), Node::Seq(items)) => {
            items.iter().enumerate().find_map(|(i, item)| {
                at.push(Seg::Index(i));
                let found = unknown_key(item, *inner, at);
                at.pop();
                found
            })
        }
        _ => None,
    }
}

/// "unknown key 'varibles' in containers.web (did you mean 'variables'?); a container takes
/// image, command, ...".
fn unknown_key_detail(key: &str, what: &str, fields: &[(&str, Shape)], within: &[Seg]) -> String {
    let place = if within.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in {}", Dotted(within))
    };
    let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    let hint = did_you_mean(key, &names)
        .map(|name| format!(" (did you mean '{name}'?)"))
        .unwrap_or_default();
    format!(
        "unknown key '{}' {place}{hint}; {what} takes {}",
        shown(key),
        names.join(", ")
    )
}

/// The known name closest to `key`, when it is close enough to be a likely typo: Jaro similarity
/// (the measure clap uses for its suggestions), case ignored, above 0.8 (clap's 0.7 suggests
/// `apiVersion` for `providers`; typos of a letter or two score above 0.85).
fn did_you_mean<'a>(key: &str, names: &[&'a str]) -> Option<&'a str> {
    let key = key.to_lowercase();
    names
        .iter()
        .map(|name| (strsim::jaro(&key, &name.to_lowercase()), *name))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// Checks a parsed document against the Score shape and the A.2 rules, and builds the [`Spec`].
fn check(root: &Node, text: &str) -> Result<Spec, Problem> {
    match root {
        Node::Map(_) => {}
        Node::Null => {
            return Err(Problem {
                kind: SpecErrorKind::Structure,
                detail: EMPTY.to_owned(),
                target: None,
            });
        }
        other => {
            return Err(Problem::shape(
                format!(
                    "a Score spec must be a mapping (apiVersion, metadata, containers, ...), found {}",
                    other.describe()
                ),
                Vec::new(),
            ));
        }
    }

    // 1. No key the spec does not know (a typo would otherwise be ignored), then the types of
    //    every key it knows, in a fixed order.
    if let Some(problem) = unknown_key(root, SPEC, &mut Vec::new()) {
        return Err(problem);
    }
    let api_version = string(root.get("apiVersion"), &path(&["apiVersion"]))?;
    mapping(root.get("metadata"), &path(&["metadata"]), || {
        "metadata must be a mapping with a name".to_owned()
    })?;
    let name_node = root.get("metadata").and_then(|m| m.get("name"));
    let name = string(name_node, &path(&["metadata", "name"]))?;

    let containers_path = path(&["containers"]);
    let containers = mapping(root.get("containers"), &containers_path, || {
        "containers must be a mapping from container name to container".to_owned()
    })?;
    let mut images = Vec::with_capacity(containers.len());
    for (cname, container) in containers {
        let at = child(&containers_path, cname);
        mapping(Some(container), &at, || {
            format!(
                "container '{}' must be a mapping with an image",
                shown(cname)
            )
        })?;
        let image = string(container.get("image"), &child(&at, "image"))?;
        mapping(container.get("variables"), &child(&at, "variables"), || {
            format!(
                "{} must be a mapping of variable names to values",
                Dotted(&child(&at, "variables"))
            )
        })?;
        images.push((cname, at, container, image));
    }

    let resources_path = path(&["resources"]);
    let resources = mapping(root.get("resources"), &resources_path, || {
        "resources must be a mapping from resource name to resource".to_owned()
    })?;
    let mut kinds = Vec::with_capacity(resources.len());
    for (rname, resource) in resources {
        let at = child(&resources_path, rname);
        mapping(Some(resource), &at, || {
            format!("resource '{}' must be a mapping with a type", shown(rname))
        })?;
        let kind = string(resource.get("type"), &child(&at, "type"))?;
        mapping(resource.get("params"), &child(&at, "params"), || {
            format!("{} must be a mapping", Dotted(&child(&at, "params")))
        })?;
        kinds.push((rname, at, resource, kind));
    }

    let service_path = path(&["service"]);
    let service = root.get("service");
    mapping(service, &service_path, || {
        "service must be a mapping with ports".to_owned()
    })?;
    let ports_path = path(&["service", "ports"]);
    let ports = mapping(service.and_then(|s| s.get("ports")), &ports_path, || {
        "service.ports must be a mapping from port name to port".to_owned()
    })?;
    for (pname, port) in ports {
        let at = child(&ports_path, pname);
        mapping(Some(port), &at, || {
            format!(
                "service port '{}' must be a mapping with a port",
                shown(pname)
            )
        })?;
        port_number(port.get("port"), &child(&at, "port"))?;
        port_number(port.get("targetPort"), &child(&at, "targetPort"))?;
        string(port.get("protocol"), &child(&at, "protocol"))?;
    }

    let environment = root.get("environment");
    mapping(environment, &path(&["environment"]), || {
        "environment must be a mapping with a type".to_owned()
    })?;
    let environment = string(
        environment.and_then(|e| e.get("type")),
        &path(&["environment", "type"]),
    )?;

    let workflows_path = path(&["workflows"]);
    let workflows = mapping(root.get("workflows"), &workflows_path, || {
        "workflows must be a mapping from workflow name to workflow".to_owned()
    })?;
    let mut workflow_names = Vec::new();
    for (wname, workflow) in workflows {
        workflow_names.push(wname.to_string());
        let at = child(&workflows_path, wname);
        mapping(Some(workflow), &at, || {
            format!("workflow '{}' must be a mapping with steps", shown(wname))
        })?;
        let steps_at = child(&at, "steps");
        match workflow.get("steps") {
            None | Some(Node::Null) => {}
            Some(Node::Seq(steps)) => {
                for (i, step) in steps.iter().enumerate() {
                    let mut step_at = steps_at.clone();
                    step_at.push(Seg::Index(i));
                    mapping(Some(step), &step_at, || {
                        format!("{} must be a mapping (a step)", Dotted(&step_at))
                    })?;
                }
            }
            Some(other) => {
                return Err(Problem::shape(
                    format!(
                        "{} must be a list of steps, found {}",
                        Dotted(&steps_at),
                        other.describe()
                    ),
                    steps_at,
                ));
            }
        }
    }

    // 2. Every resource names its type, and its name is a DNS label.
    let mut spec_resources = Vec::with_capacity(kinds.len());
    for (rname, at, resource, kind) in kinds {
        // Resource names reach provider steps (as CTL_RESOURCE_NAME), event text and terminals:
        // the app name's rule keeps control characters, NUL and shell syntax out of all three.
        if !is_dns_label(rname) {
            return Err(Problem::rule(
                format!(
                    "resource name '{}' must be a valid DNS label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)",
                    shown(rname)
                ),
                at,
                At::Key,
            ));
        }
        match kind.map(str::trim).filter(|k| !k.is_empty()) {
            Some(kind) => spec_resources.push(Resource {
                name: rname.clone(),
                kind: kind.to_owned(),
                definition: None,
            }),
            None => {
                let (path, at) = missing(&at, resource, "type");
                return Err(Problem::rule(
                    format!("resource '{}' must specify a type", shown(rname)),
                    path,
                    at,
                ));
            }
        }
    }

    // 3. metadata.name is present and not empty.
    let metadata_path = path(&["metadata"]);
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        let (path, at) = match root.get("metadata") {
            Some(metadata) => missing(&metadata_path, metadata, "name"),
            None => (metadata_path, At::Key),
        };
        return Err(Problem::rule(
            "metadata.name is required in Score specification".to_owned(),
            path,
            at,
        ));
    };

    // 4. ... and is a DNS label.
    if !is_dns_label(name) {
        return Err(Problem::rule(
            format!(
                "metadata.name must be a valid DNS label: \"{}\" (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)",
                shown(name)
            ),
            path(&["metadata", "name"]),
            At::Value,
        ));
    }

    // 5. At least one container.
    if images.is_empty() {
        return Err(Problem::rule(
            "Score specification must define at least one container".to_owned(),
            containers_path,
            At::Key,
        ));
    }

    // 6. Every container has an image.
    let mut spec_containers = BTreeMap::new();
    for (cname, at, container, image) in images {
        match image.filter(|i| !i.trim().is_empty()) {
            Some(image) => {
                spec_containers.insert(
                    cname.clone(),
                    Container {
                        image: image.to_owned(),
                    },
                );
            }
            None => {
                let (path, at) = missing(&at, container, "image");
                return Err(Problem::rule(
                    format!("container '{}' must specify an image", shown(cname)),
                    path,
                    at,
                ));
            }
        }
    }

    // 7. Every service port has a port number.
    for (pname, port) in ports {
        if matches!(port.get("port"), None | Some(Node::Null)) {
            let (path, at) = missing(&child(&ports_path, pname), port, "port");
            return Err(Problem::rule(
                format!(
                    "service port '{}' must specify a port (a number from 1 to 65535)",
                    shown(pname)
                ),
                path,
                at,
            ));
        }
    }

    for (resource, (_, block)) in spec_resources.iter_mut().zip(resources) {
        resource.definition = to_json(block).map(|json| json.to_string());
    }
    Ok(Spec {
        name: name.to_owned(),
        api_version: api_version.unwrap_or_default().to_owned(),
        containers: spec_containers,
        resources: spec_resources,
        environment: environment.map(str::to_owned),
        workflows: workflow_names,
        source: text.to_owned(),
    })
}

/// A node as JSON (serde_json sorts object keys, which makes the text canonical), with merge keys
/// already applied; `None` when a number has no JSON form (`.nan`, `.inf`, integers beyond 64
/// bits).
fn to_json(node: &Node) -> Option<serde_json::Value> {
    use serde_json::Value;
    Some(match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(n) => match n.parse::<i64>() {
            Ok(i) => Value::from(i),
            Err(_) => Value::from(n.parse::<u64>().ok()?),
        },
        Node::Float(f) => Value::Number(serde_json::Number::from_f64(f.parse().ok()?)?),
        Node::Str(s) => Value::String(s.clone()),
        Node::Seq(items) => Value::Array(items.iter().map(to_json).collect::<Option<_>>()?),
        Node::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| Some((k.clone(), to_json(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// Where to point when `key` of the mapping at `parent` is missing or empty: at an empty string
/// value itself, at the key when its value is null, and at the parent's own key when the key is
/// absent (the parent is where it should have been written).
fn missing(parent: &[Seg], node: &Node, key: &str) -> (Vec<Seg>, At) {
    match node.get(key) {
        Some(Node::Str(_)) => (child(parent, key), At::Value),
        Some(_) => (child(parent, key), At::Key),
        None => (parent.to_vec(), At::Key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_definitions_ignore_key_order_and_formatting() {
        let head = "metadata: {name: a}\ncontainers: {web: {image: nginx}}\n";
        let def = |resources: &str| {
            parse(&format!("{head}{resources}"), "t").unwrap().resources[0]
                .definition
                .clone()
                .unwrap()
        };
        let a = def("resources:\n  db: {type: postgres, params: {a: 1, b: 2}}\n");
        let b = def("resources:\n  db:\n    params:\n      b: 2\n      a: 1\n    type: postgres\n");
        let c = def("resources:\n  db: {type: postgres, params: {a: 1, b: 3}}\n");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/specs/", $name))
        };
    }

    const HELLO: &str = include_str!("../../examples/hello.yaml");
    const FAILING: &str = include_str!("../../examples/failing.yaml");
    const INVALID: &str = include_str!("../../examples/invalid.yaml");

    /// An error fixture: file name, text, and the line and column its error points at.
    type Case = (&'static str, &'static str, Option<(usize, usize)>);

    /// Every error fixture with its expected position.
    const ERROR_CASES: &[Case] = &[
        (
            "invalid-name.yaml",
            fixture!("invalid-name.yaml"),
            Some((3, 9)),
        ),
        (
            "missing-name.yaml",
            fixture!("missing-name.yaml"),
            Some((2, 1)),
        ),
        (
            "missing-metadata.yaml",
            fixture!("missing-metadata.yaml"),
            None,
        ),
        ("empty-name.yaml", fixture!("empty-name.yaml"), Some((3, 9))),
        (
            "no-containers.yaml",
            fixture!("no-containers.yaml"),
            Some((4, 1)),
        ),
        (
            "container-without-image.yaml",
            fixture!("container-without-image.yaml"),
            Some((7, 3)),
        ),
        (
            "resource-without-type.yaml",
            fixture!("resource-without-type.yaml"),
            Some((10, 3)),
        ),
        (
            "containers-list.yaml",
            fixture!("containers-list.yaml"),
            Some((5, 3)),
        ),
        (
            "name-not-string.yaml",
            fixture!("name-not-string.yaml"),
            Some((3, 9)),
        ),
        (
            "duplicate-key.yaml",
            fixture!("duplicate-key.yaml"),
            Some((7, 3)),
        ),
        (
            "syntax-error.yaml",
            fixture!("syntax-error.yaml"),
            Some((4, 2)),
        ),
        ("tab-indent.yaml", fixture!("tab-indent.yaml"), Some((3, 1))),
        ("empty.yaml", fixture!("empty.yaml"), None),
        ("comments-only.yaml", fixture!("comments-only.yaml"), None),
        (
            "not-a-mapping.yaml",
            fixture!("not-a-mapping.yaml"),
            Some((1, 1)),
        ),
        (
            "multiple-documents.yaml",
            fixture!("multiple-documents.yaml"),
            Some((8, 1)),
        ),
    ];

    fn error(text: &str) -> SpecError {
        match parse(text, "app.yaml") {
            Ok(spec) => panic!("expected an error, parsed {spec:?}"),
            Err(err) => err,
        }
    }

    /// Asserts message, kind and position of the error `text` produces, and returns its rendering.
    fn expect(
        text: &str,
        kind: SpecErrorKind,
        message: &str,
        position: Option<(usize, usize)>,
    ) -> String {
        let err = error(text);
        assert_eq!(err.message(), message);
        assert_eq!(err.kind(), kind, "{message}");
        assert_eq!(err.position(), position, "{message}");
        err.to_string()
    }

    fn lines(rendered: &[&str]) -> String {
        rendered.join("\n")
    }

    // --- valid specs ---

    #[test]
    fn hello_example_deploys_a_web_app_with_a_database_and_a_cache() {
        let spec = parse(HELLO, "examples/hello.yaml").expect("valid");
        assert_eq!(spec.name, "hello-world");
        assert_eq!(spec.api_version, "score.dev/v1b1");
        assert_eq!(spec.containers.len(), 1);
        assert_eq!(spec.containers["web"].image, "nginx:1.27");
        let resources: Vec<_> = spec
            .resources
            .iter()
            .map(|r| (r.name.as_str(), r.kind.as_str()))
            .collect();
        assert_eq!(resources, [("database", "postgres"), ("cache", "redis")]);
        assert_eq!(spec.environment, None);
        assert_eq!(spec.source, HELLO);
    }

    #[test]
    fn failing_example_has_a_postgres_and_a_redis() {
        let spec = parse(FAILING, "examples/failing.yaml").expect("valid");
        let kinds: Vec<_> = spec.resources.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["postgres", "redis"]);
    }

    #[test]
    fn full_and_flow_style_specs_parse() {
        let full = parse(fixture!("valid-full.yaml"), "full").expect("valid");
        assert_eq!(full.name, "shop-frontend");
        assert_eq!(full.containers.len(), 2);
        assert_eq!(full.resources.len(), 3);
        assert_eq!(full.environment.as_deref(), Some("kubernetes"));

        let flow = parse(fixture!("valid-flow.yaml"), "flow").expect("valid");
        assert_eq!(flow.name, "flow-app");
        assert_eq!(flow.resources[0].kind, "postgres");

        let minimal = parse(fixture!("valid-minimal.yaml"), "min").expect("valid");
        assert_eq!(minimal.api_version, "score.dev/v1b1");
        assert!(minimal.resources.is_empty());
    }

    #[test]
    fn a_tag_is_ignored_and_the_value_kept() {
        let spec = parse(
            "metadata: {name: !custom tagged}\ncontainers: {web: {image: nginx}}",
            "t",
        )
        .expect("valid");
        assert_eq!(spec.name, "tagged");
    }

    // --- A.2 rules: messages, positions, rendering ---

    #[test]
    fn invalid_name_renders_like_a_compiler_error() {
        let err = parse(INVALID, "examples/invalid.yaml").expect_err("invalid");
        assert_eq!(
            err.to_string(),
            lines(&[
                "examples/invalid.yaml:3:9: metadata.name must be a valid DNS label: \"Hello_World\" (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)",
                "  |",
                "3 |   name: Hello_World",
                "  |         ^",
            ])
        );
        assert_eq!(
            err.message(),
            "metadata.name must be a valid DNS label: \"Hello_World\" (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)"
        );
        assert_eq!(err.kind(), SpecErrorKind::Rule);
    }

    #[test]
    fn missing_name_points_at_metadata() {
        let shown = expect(
            fixture!("missing-name.yaml"),
            SpecErrorKind::Rule,
            "metadata.name is required in Score specification",
            Some((2, 1)),
        );
        assert_eq!(
            shown,
            lines(&[
                "app.yaml:2:1: metadata.name is required in Score specification",
                "  |",
                "2 | metadata:",
                "  | ^",
            ])
        );
    }

    #[test]
    fn missing_metadata_has_no_position() {
        let shown = expect(
            fixture!("missing-metadata.yaml"),
            SpecErrorKind::Rule,
            "metadata.name is required in Score specification",
            None,
        );
        assert_eq!(
            shown,
            "app.yaml: metadata.name is required in Score specification"
        );
    }

    #[test]
    fn empty_or_null_name_is_missing() {
        expect(
            fixture!("empty-name.yaml"),
            SpecErrorKind::Rule,
            "metadata.name is required in Score specification",
            Some((3, 9)),
        );
        // A null value has no text of its own: point at its key.
        expect(
            "metadata:\n  name:\ncontainers: {web: {image: x}}\n",
            SpecErrorKind::Rule,
            "metadata.name is required in Score specification",
            Some((2, 3)),
        );
        expect(
            "metadata:\ncontainers: {web: {image: x}}\n",
            SpecErrorKind::Rule,
            "metadata.name is required in Score specification",
            Some((1, 1)),
        );
    }

    #[test]
    fn name_must_be_a_dns_label() {
        for bad in [
            "-app",
            "app-",
            "App",
            "my_app",
            "my.app",
            " app",
            "\u{e9}t\u{e9}",
        ] {
            let text = format!("metadata:\n  name: \"{bad}\"\ncontainers: {{web: {{image: x}}}}");
            let err = error(&text);
            assert!(
                err.message()
                    .starts_with("metadata.name must be a valid DNS label: "),
                "{bad:?}: {}",
                err.message()
            );
            assert_eq!(err.position(), Some((2, 9)), "{bad:?}");
        }
        assert!(is_dns_label("a"));
        assert!(is_dns_label("web-1"));
        assert!(is_dns_label(&"a".repeat(63)));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(!is_dns_label(""));
    }

    #[test]
    fn a_very_long_name_is_cut_in_the_message() {
        let name = "a".repeat(5000);
        let text = format!("metadata: {{name: {name}}}\ncontainers: {{web: {{image: x}}}}");
        let err = error(&text);
        assert!(err.message().len() < 300, "{}", err.message());
        assert!(
            err.message()
                .contains(&format!("\"{}...\"", "a".repeat(64)))
        );
        assert!(err.to_string().len() < 600);
    }

    #[test]
    fn no_containers_points_at_the_key_or_nowhere() {
        let shown = expect(
            fixture!("no-containers.yaml"),
            SpecErrorKind::Rule,
            "Score specification must define at least one container",
            Some((4, 1)),
        );
        assert!(shown.ends_with("4 | containers: {}\n  | ^"), "{shown}");
        expect(
            "metadata: {name: app}\n",
            SpecErrorKind::Rule,
            "Score specification must define at least one container",
            None,
        );
        expect(
            "metadata: {name: app}\ncontainers:\n",
            SpecErrorKind::Rule,
            "Score specification must define at least one container",
            Some((2, 1)),
        );
    }

    #[test]
    fn container_without_image_points_at_the_container() {
        let shown = expect(
            fixture!("container-without-image.yaml"),
            SpecErrorKind::Rule,
            "container 'worker' must specify an image",
            Some((7, 3)),
        );
        assert_eq!(
            shown,
            lines(&[
                "app.yaml:7:3: container 'worker' must specify an image",
                "  |",
                "7 |   worker:",
                "  |   ^",
            ])
        );
        let base = "metadata: {name: app}\ncontainers:\n";
        expect(
            &format!("{base}  web:\n"),
            SpecErrorKind::Rule,
            "container 'web' must specify an image",
            Some((3, 3)),
        );
        expect(
            &format!("{base}  web:\n    image: \"\"\n"),
            SpecErrorKind::Rule,
            "container 'web' must specify an image",
            Some((4, 12)),
        );
        expect(
            &format!("{base}  web:\n    image: ~\n"),
            SpecErrorKind::Rule,
            "container 'web' must specify an image",
            Some((4, 5)),
        );
    }

    #[test]
    fn resource_without_type_points_at_the_resource() {
        let shown = expect(
            fixture!("resource-without-type.yaml"),
            SpecErrorKind::Rule,
            "resource 'cache' must specify a type",
            Some((10, 3)),
        );
        // A two-digit line number widens the gutter.
        assert_eq!(
            shown,
            lines(&[
                "app.yaml:10:3: resource 'cache' must specify a type",
                "   |",
                "10 |   cache:",
                "   |   ^",
            ])
        );
        expect(
            "metadata: {name: app}\ncontainers: {web: {image: x}}\nresources:\n  db:\n    type: \"\"\n",
            SpecErrorKind::Rule,
            "resource 'db' must specify a type",
            Some((5, 11)),
        );
    }

    #[test]
    fn service_port_needs_a_port_number() {
        let base = "metadata: {name: app}\ncontainers: {web: {image: x}}\nservice:\n  ports:\n";
        expect(
            &format!("{base}    www:\n      targetPort: 80\n"),
            SpecErrorKind::Rule,
            "service port 'www' must specify a port (a number from 1 to 65535)",
            Some((5, 5)),
        );
        let err = error(&format!("{base}    www:\n      port: 70000\n"));
        assert_eq!(err.kind(), SpecErrorKind::Structure);
        assert_eq!(err.position(), Some((6, 13)));
        assert!(err.message().contains(
            "service.ports.www.port must be a port number from 1 to 65535, found the number 70000"
        ));
    }

    #[test]
    fn rules_apply_in_protocol_order() {
        // Resource type (A.2 step 2) before the name (step 3).
        assert_eq!(
            error("resources: {db: {}}\ncontainers: {}").message(),
            "resource 'db' must specify a type"
        );
        // Name before containers (steps 3 and 5).
        assert_eq!(
            error("containers: {}").message(),
            "metadata.name is required in Score specification"
        );
        // Name validity (4) before images (6), although the container comes first in the file.
        assert!(
            error("containers: {web: {}}\nmetadata: {name: Bad}")
                .message()
                .starts_with("metadata.name must be a valid DNS label")
        );
        // Types (step 1) before any rule.
        assert_eq!(error("containers: [web]").kind(), SpecErrorKind::Structure);
        // The first container without an image, in file order.
        assert_eq!(
            error("metadata: {name: a}\ncontainers: {zz: {}, aa: {}}").message(),
            "container 'zz' must specify an image"
        );
    }

    // --- YAML structure and syntax ---

    #[test]
    fn wrong_value_types_say_what_was_expected() {
        let shown = expect(
            fixture!("containers-list.yaml"),
            SpecErrorKind::Structure,
            "Error parsing YAML: containers must be a mapping from container name to container, found a list at line 5 column 3",
            Some((5, 3)),
        );
        assert_eq!(
            shown,
            lines(&[
                "app.yaml:5:3: containers must be a mapping from container name to container, found a list",
                "  |",
                "5 |   - name: web",
                "  |   ^",
            ])
        );
        expect(
            fixture!("name-not-string.yaml"),
            SpecErrorKind::Structure,
            "Error parsing YAML: metadata.name must be a string, found the number 31; quote it to use it as text at line 3 column 9",
            Some((3, 9)),
        );
        let cases = [
            (
                "metadata: [a]",
                "metadata must be a mapping with a name, found a list",
                (1, 11),
            ),
            (
                "apiVersion: {a: 1}",
                "apiVersion must be a string, found a mapping",
                (1, 13),
            ),
            (
                "containers: {web: nginx}",
                "container 'web' must be a mapping with an image, found a string",
                (1, 19),
            ),
            (
                "containers: {web: {image: [a]}}",
                "containers.web.image must be a string, found a list",
                (1, 27),
            ),
            (
                "resources: {db: postgres}",
                "resource 'db' must be a mapping with a type, found a string",
                (1, 17),
            ),
            (
                "resources: {db: {type: true}}",
                "resources.db.type must be a string, found the boolean true; quote it to use it as text",
                (1, 24),
            ),
            (
                "resources: {db: {type: pg, params: 3}}",
                "resources.db.params must be a mapping, found the number 3",
                (1, 36),
            ),
            (
                "environment: kubernetes",
                "environment must be a mapping with a type, found a string",
                (1, 14),
            ),
            (
                "service: {ports: [80]}",
                "service.ports must be a mapping from port name to port, found a list",
                (1, 18),
            ),
            (
                "workflows: {deploy: {steps: {a: 1}}}",
                "workflows.deploy.steps must be a list of steps, found a mapping",
                (1, 29),
            ),
            (
                "workflows: {deploy: {steps: [{}, 3]}}",
                "workflows.deploy.steps[1] must be a mapping (a step), found the number 3",
                (1, 34),
            ),
        ];
        for (text, detail, position) in cases {
            let err = error(text);
            assert_eq!(err.kind(), SpecErrorKind::Structure, "{text}");
            assert_eq!(
                err.message(),
                format!(
                    "Error parsing YAML: {detail} at line {} column {}",
                    position.0, position.1
                ),
                "{text}"
            );
            assert_eq!(err.position(), Some(position), "{text}");
        }
    }

    #[test]
    fn duplicate_keys_name_the_key_and_both_places() {
        let shown = expect(
            fixture!("duplicate-key.yaml"),
            SpecErrorKind::Structure,
            "Error parsing YAML: duplicate key 'web' in containers (first at line 5); each key may appear only once in a mapping at line 7 column 3",
            Some((7, 3)),
        );
        assert!(shown.ends_with("7 |   web:\n  |   ^"), "{shown}");
        // At the top level, and deep inside values the spec does not otherwise look at.
        let top = error("metadata: {name: a}\nmetadata: {name: b}\n");
        assert!(
            top.message()
                .contains("duplicate key 'metadata' at the top level (first at line 1)")
        );
        assert_eq!(top.position(), Some((2, 1)));
        let deep = error("resources:\n  db:\n    type: pg\n    params: {size: 1, size: 2}\n");
        assert!(
            deep.message()
                .contains("duplicate key 'size' in resources.db.params"),
            "{}",
            deep.message()
        );
        assert_eq!(deep.position(), Some((4, 23)));
        let in_list = error("workflows: {w: {steps: [{name: a, name: b}]}}");
        assert!(
            in_list.message().contains("in workflows.w.steps[0]"),
            "{}",
            in_list.message()
        );
    }

    #[test]
    fn syntax_errors_carry_the_parser_position() {
        let shown = expect(
            fixture!("syntax-error.yaml"),
            SpecErrorKind::Syntax,
            "Error parsing YAML: did not find expected key, while parsing a block mapping at line 4 column 2",
            Some((4, 2)),
        );
        assert_eq!(
            shown,
            lines(&[
                "app.yaml:4:2: invalid YAML: did not find expected key, while parsing a block mapping",
                "  |",
                "4 |  containers:",
                "  |  ^",
            ])
        );
        let tab = expect(
            fixture!("tab-indent.yaml"),
            SpecErrorKind::Syntax,
            "Error parsing YAML: found character that cannot start any token, while scanning for the next token at line 3 column 1",
            Some((3, 1)),
        );
        assert!(tab.ends_with("3 | \tname: tabbed\n  | ^"), "{tab}");
    }

    #[test]
    fn empty_and_non_mapping_documents() {
        let empty =
            "the spec is empty; expected a Score mapping with apiVersion, metadata and containers";
        for text in [
            "",
            "\n\n",
            "# nothing\n",
            "---\n",
            "~\n",
            fixture!("empty.yaml"),
            fixture!("comments-only.yaml"),
        ] {
            let err = error(text);
            assert_eq!(
                err.message(),
                format!("Error parsing YAML: {empty}"),
                "{text:?}"
            );
            assert_eq!(err.to_string(), format!("app.yaml: {empty}"));
        }
        expect(
            fixture!("not-a-mapping.yaml"),
            SpecErrorKind::Structure,
            "Error parsing YAML: a Score spec must be a mapping (apiVersion, metadata, containers, ...), found a list at line 1 column 1",
            Some((1, 1)),
        );
        assert_eq!(error("\n\n  hello\n").position(), Some((3, 3)));
        let err = error(fixture!("multiple-documents.yaml"));
        assert_eq!(err.position(), Some((8, 1)));
        assert!(err.message().contains("2 YAML documents"), "{err}");
    }

    #[test]
    fn every_error_fixture_fails_with_a_position_where_one_exists() {
        for (name, text, position) in ERROR_CASES {
            let err = error(text);
            assert_eq!(err.position(), *position, "{name}: {err}");
            let shown = err.to_string();
            assert!(shown.starts_with("app.yaml"), "{name}");
            // A position comes with the offending line, and the caret sits under its column.
            if let Some((line, column)) = position {
                let rendered: Vec<&str> = shown.lines().collect();
                assert_eq!(rendered.len(), 4, "{name}: {shown}");
                let gutter = line.to_string().len();
                let caret = rendered[3].find('^').expect("caret");
                let expected_caret = gutter + 3 + column - 1;
                let tabs_only_before = rendered[3][gutter + 3..caret]
                    .chars()
                    .all(|c| c == ' ' || c == '\t');
                assert!(tabs_only_before, "{name}");
                if !rendered[2].contains('\t') {
                    assert_eq!(caret, expected_caret, "{name}: {shown}");
                }
            }
        }
    }

    #[test]
    fn crlf_line_endings_give_the_same_positions_and_rendering() {
        for (name, text, _) in ERROR_CASES {
            let lf = error(text);
            let crlf = error(&text.replace('\n', "\r\n"));
            assert_eq!(lf.position(), crlf.position(), "{name}");
            assert_eq!(lf.to_string(), crlf.to_string(), "{name}");
            assert!(!crlf.to_string().contains('\r'), "{name}");
        }
        let spec = parse(&HELLO.replace('\n', "\r\n"), "crlf").expect("valid");
        assert_eq!(spec.containers["web"].image, "nginx:1.27");
    }

    #[test]
    fn a_byte_order_mark_does_not_shift_positions() {
        for (name, text, _) in ERROR_CASES {
            let plain = error(text);
            let bom = error(&format!("\u{feff}{text}"));
            assert_eq!(plain.position(), bom.position(), "{name}");
            assert_eq!(plain.to_string(), bom.to_string(), "{name}");
        }
        let spec = parse(&format!("\u{feff}{HELLO}"), "bom").expect("valid");
        assert_eq!(spec.name, "hello-world");
    }

    #[test]
    fn positions_are_found_in_flow_style_documents_too() {
        let text = "{metadata: {name: Bad_Name}, containers: {web: {image: x}}}";
        let err = error(text);
        assert_eq!(err.position(), Some((1, 19)));
        assert!(
            err.to_string()
                .ends_with(&format!("1 | {text}\n  |                   ^"))
        );
        assert_eq!(
            error("{metadata: {name: ok}, containers: {web: {}, api: {image: x}}}").position(),
            Some((1, 37))
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        // "é" is two bytes; editors and libyaml count it as one column.
        let err = error("metadata: {name: ok, x: \"\u{e9}\", name: again}\ncontainers: {}");
        assert_eq!(err.position(), Some((1, 30)));
        assert!(
            err.to_string()
                .ends_with("\n  |                              ^"),
            "{err}"
        );
    }

    // --- bytes, files, limits ---

    #[test]
    fn non_utf8_bytes_point_at_the_first_bad_byte() {
        let err = parse_bytes(b"metadata:\n  name: \xff\xfe\n", "body").expect_err("binary");
        assert_eq!(err.kind(), SpecErrorKind::Syntax);
        assert_eq!(err.position(), Some((2, 9)));
        assert_eq!(
            err.to_string(),
            lines(&[
                "body:2:9: invalid YAML: the spec is not UTF-8 text (byte 0xff); expected a YAML file",
                "  |",
                "2 |   name:",
                "  |         ^",
            ])
        );
        assert!(parse_bytes(HELLO.as_bytes(), "body").is_ok());
    }

    #[test]
    fn oversized_specs_are_refused_before_parsing() {
        let big = format!("# {}\n", "x".repeat(MAX_SPEC_BYTES));
        let err = parse(&big, "big.yaml").expect_err("too large");
        assert_eq!(err.kind(), SpecErrorKind::TooLarge);
        assert_eq!(
            err.to_string(),
            "spec big.yaml is larger than 1048576 bytes (1 MiB); a Score spec is a small text file"
        );
        assert_eq!(
            parse_bytes(big.as_bytes(), "b").expect_err("big").kind(),
            SpecErrorKind::TooLarge
        );
    }

    #[test]
    fn load_reads_files_and_explains_failures() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("app.yaml");
        let err = load(&missing).expect_err("missing");
        assert_eq!(err.kind(), SpecErrorKind::Read);
        assert_eq!(
            err.to_string(),
            format!(
                "cannot read spec {}: No such file or directory",
                missing.display()
            )
        );
        assert_eq!(err.message(), err.to_string());

        let err = load(dir.path()).expect_err("a directory");
        assert_eq!(err.kind(), SpecErrorKind::Read);

        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_SPEC_BYTES + 1]).expect("write");
        assert_eq!(load(&big).expect_err("big").kind(), SpecErrorKind::TooLarge);

        let hello = dir.path().join("hello.yaml");
        std::fs::write(&hello, HELLO).expect("write");
        assert_eq!(load(&hello).expect("valid").name, "hello-world");

        let invalid = dir.path().join("invalid.yaml");
        std::fs::write(&invalid, INVALID).expect("write");
        let err = load(&invalid).expect_err("invalid");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:3:9: ", invalid.display()))
        );
    }

    // --- strict keys ---

    const HEAD: &str = "apiVersion: score.dev/v1b1\nmetadata:\n  name: app\n";

    #[test]
    fn unknown_keys_are_refused_with_a_suggestion_and_their_place() {
        let top = expect(
            &format!("{HEAD}containers:\n  web:\n    image: x\nresourcez:\n  db:\n    type: pg\n"),
            SpecErrorKind::Structure,
            "Error parsing YAML: unknown key 'resourcez' at the top level (did you mean 'resources'?); a Score spec takes apiVersion, metadata, service, containers, resources, environment, workflows at line 7 column 1",
            Some((7, 1)),
        );
        assert!(
            top.starts_with("app.yaml:7:1: unknown key 'resourcez'"),
            "{top}"
        );
        let cases = [
            (
                "containers:\n  web:\n    image: x\n    varibles:\n      A: b\n",
                "unknown key 'varibles' in containers.web (did you mean 'variables'?); a container takes image,",
                (7, 5),
            ),
            (
                "containers: {web: {image: x}}\nresources:\n  db:\n    type: pg\n    parms: {a: 1}\n",
                "unknown key 'parms' in resources.db (did you mean 'params'?); a resource takes type, class, id, metadata, params",
                (8, 5),
            ),
            (
                "containers: {web: {image: x}}\nservice: {ports: {www: {port: 80, targetport: 8080}}}\n",
                "unknown key 'targetport' in service.ports.www (did you mean 'targetPort'?)",
                (5, 35),
            ),
            (
                "containers: {web: {image: x, resources: {limits: {memroy: 1Gi}}}}\n",
                "unknown key 'memroy' in containers.web.resources.limits (did you mean 'memory'?)",
                (4, 51),
            ),
            (
                "containers: {web: {image: x, files: [{target: /a, contents: b}]}}\n",
                "unknown key 'contents' in containers.web.files[0] (did you mean 'content'?)",
                (4, 51),
            ),
            (
                "containers: {web: {image: x}}\nworkflows: {deploy: {step: []}}\n",
                "unknown key 'step' in workflows.deploy (did you mean 'steps'?)",
                (5, 22),
            ),
            (
                "containers: {web: {image: x}}\nzzzz: 1\n",
                "unknown key 'zzzz' at the top level; a Score spec takes",
                (5, 1),
            ),
        ];
        for (rest, detail, position) in cases {
            let err = error(&format!("{HEAD}{rest}"));
            assert_eq!(err.kind(), SpecErrorKind::Structure, "{rest}");
            assert!(
                err.message()
                    .starts_with(&format!("Error parsing YAML: {detail}")),
                "{rest}: {}",
                err.message()
            );
            assert_eq!(err.position(), Some(position), "{rest}: {err}");
        }
        // No far-fetched suggestion (a provider catalogue given as a spec).
        assert!(!error("providers: []\n").message().contains("did you mean"));
        assert!(
            !error(&format!(
                "{HEAD}containers: {{web: {{image: x}}}}\nzzzz: 1\n"
            ))
            .message()
            .contains("did you mean")
        );
        // The first unknown key in document order wins, also before type errors.
        assert!(
            error(&format!("{HEAD}containers: [web]\nbogus: 1\nalso: 2\n"))
                .message()
                .contains("'bogus'")
        );
    }

    #[test]
    fn every_key_of_the_score_schema_and_the_innominatus_extensions_is_accepted() {
        let text = format!(
            "{HEAD}  annotations: {{team: web}}\n  anything: [goes, here]\ncontainers:\n  web:\n    image: nginx\n    command: [sh]\n    args: [-c, run]\n    variables: {{ANY_NAME: x}}\n    files:\n      /etc/a: {{mode: '0644', source: a, noExpand: true}}\n      /etc/b: {{content: b, binaryContent: Yg==}}\n    volumes:\n      - {{source: v, path: p, target: /data, readOnly: true}}\n    before: {{init: {{ready: complete}}}}\n    resources: {{limits: {{memory: 1Gi, cpu: '1'}}, requests: {{memory: 1Mi, cpu: 100m}}}}\n    livenessProbe: {{httpGet: {{host: h, scheme: HTTP, path: /, port: 80, httpHeaders: [{{name: a, value: b}}]}}}}\n    readinessProbe: {{exec: {{command: [true]}}}}\nservice: {{ports: {{www: {{port: 80, targetPort: 8080, protocol: TCP}}}}}}\nresources:\n  db:\n    type: postgres\n    class: large\n    id: shared-db\n    metadata: {{annotations: {{a: b}}, free: form}}\n    params: {{any: {{thing: [1]}}}}\nenvironment: {{type: kubernetes, ttl: 1h}}\nworkflows:\n  deploy:\n    steps:\n      - {{name: a, type: terraform, anyStepKey: x}}\n"
        );
        let spec = parse(&text, "all").expect("every schema key is allowed");
        assert_eq!(spec.environment.as_deref(), Some("kubernetes"));
        assert_eq!(spec.workflows, ["deploy"]);
    }

    // --- merge keys ---

    #[test]
    fn merge_keys_apply_with_written_keys_winning() {
        let text = format!(
            "{HEAD}containers:\n  web: &web\n    image: nginx\n    variables: {{MODE: web}}\n  worker:\n    <<: *web\n    variables: {{MODE: worker}}\nresources:\n  db: &db {{type: postgres, params: {{size: 1}}}}\n  replica:\n    <<: [{{params: {{size: 2}}}}, *db]\n"
        );
        let spec = parse(&text, "merge").expect("merge keys work");
        assert_eq!(spec.containers["worker"].image, "nginx");
        let replica = &spec.resources[1];
        assert_eq!(
            (replica.name.as_str(), replica.kind.as_str()),
            ("replica", "postgres")
        );
        // The earlier mapping of a merge list wins, and the definition holds merged values, not
        // the merge key.
        assert_eq!(
            replica.definition.as_deref(),
            Some(r#"{"params":{"size":2},"type":"postgres"}"#)
        );
        let root = yaml::parse(&text).expect("parses");
        let worker = root
            .get("containers")
            .and_then(|c| c.get("worker"))
            .expect("worker");
        assert_eq!(
            worker.get("variables").and_then(|v| v.get("MODE")),
            Some(&Node::Str("worker".into()))
        );
    }

    #[test]
    fn problems_in_merged_values_point_at_where_they_are_written() {
        // The empty image comes from the anchor on line 5.
        let text =
            format!("{HEAD}containers:\n  web: &web\n    image: \"\"\n  worker:\n    <<: *web\n");
        let err = error(&text);
        assert_eq!(err.message(), "container 'web' must specify an image");
        assert_eq!(err.position(), Some((6, 12)));
        let text =
            format!("{HEAD}  base: &base {{imagee: x}}\ncontainers:\n  web:\n    <<: *base\n");
        let err = error(&text);
        assert!(
            err.message()
                .contains("unknown key 'imagee' in containers.web"),
            "{err}"
        );
        assert_eq!(err.position(), Some((4, 16)));
        let err = error(&format!("{HEAD}containers:\n  web:\n    <<: 3\n"));
        assert_eq!(
            err.message(),
            "Error parsing YAML: the merge key '<<' in containers.web must be given a mapping or a list of mappings (such as *base) at line 6 column 5"
        );
    }

    // --- several documents ---

    #[test]
    fn several_documents_are_refused_naming_each_one() {
        let one =
            "apiVersion: score.dev/v1b1\nmetadata: {name: first}\ncontainers: {web: {image: x}}\n";
        let text = format!(
            "{one}---\n{}---\n# a comment\ncontainers: {{}}\n",
            one.replace("first", "second")
        );
        let err = error(&text);
        assert_eq!(
            err.message(),
            "Error parsing YAML: the file holds 3 YAML documents separated by '---' ('first' at line 1, 'second' at line 5, a document without metadata.name at line 10); a spec file holds exactly one workload: put each document in a file of its own and deploy each file at line 5 column 1"
        );
        let many: String = (0..30)
            .map(|i| format!("---\nmetadata: {{name: app{i}}}\n"))
            .collect();
        let err = error(&many);
        assert!(
            err.message().contains("at least 20 YAML documents"),
            "{err}"
        );
        assert!(err.message().contains("'app4' at line 10, ...)"), "{err}");
    }

    // --- limits ---

    #[test]
    fn alias_expansion_is_refused_once_the_node_budget_is_spent() {
        // 2,000 items referenced 50,000 times would be 100 million nodes.
        let items = vec!["x"; 2_000].join(", ");
        let uses = vec!["*a"; 50_000].join(", ");
        let text = format!("{HEAD}anchor: &a [{items}]\nbomb: [{uses}]\n");
        assert!(text.len() > 150_000);
        let err = error(&text);
        assert_eq!(err.kind(), SpecErrorKind::Syntax);
        assert!(
            err.message().starts_with(&format!(
                "Error parsing YAML: the spec expands to more than {} YAML values",
                yaml::MAX_NODES
            )),
            "{}",
            err.message()
        );
        assert!(err.position().is_some());
        // Aliases as such stay allowed.
        let text =
            format!("{HEAD}containers:\n  web: {{image: &img nginx}}\n  api: {{image: *img}}\n");
        assert_eq!(
            parse(&text, "t").expect("valid").containers["api"].image,
            "nginx"
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let depth = yaml::MAX_DEPTH;
        let flow_map = |n: usize| format!("{}1{}", "{a: ".repeat(n), "}".repeat(n));
        // About 1 MiB of nested flow mappings.
        let huge = flow_map(MAX_SPEC_BYTES / 5);
        assert!(huge.len() <= MAX_SPEC_BYTES);
        let nested = [
            huge,
            format!("{}{}", "[".repeat(300_000), "]".repeat(300_000)),
            "- ".repeat(200_000),
            (0..depth + 2)
                .map(|d| format!("{}k:\n", " ".repeat(d)))
                .collect(),
            format!("x: {}", flow_map(depth + 1)),
        ];
        for text in &nested {
            let err = error(text);
            assert_eq!(err.kind(), SpecErrorKind::Syntax, "{err}");
            assert!(
                err.message().starts_with(&format!(
                    "Error parsing YAML: collections are nested more than {depth} levels deep"
                )),
                "{}",
                err.message()
            );
            assert!(err.position().is_some());
        }
        assert_eq!(
            error(&format!("x: {}", flow_map(depth + 1))).position(),
            Some((1, 4 * depth))
        );
        // Nesting that only looks deep is not refused: quoted, commented, in a block scalar.
        let brackets = "[".repeat(200);
        let text = format!(
            "{HEAD}  note: \"{brackets}\"\n  other: '{brackets}'\n  # {brackets}\n  text: |\n    {brackets}\n    {brackets}\n  plain: a{brackets}\ncontainers: {{web: {{image: x}}}}\n"
        );
        parse(&text, "t").expect("brackets in text are not nesting");
        let folded = format!(
            "{HEAD}  text: >-  # folded\n    {brackets}\ncontainers: {{web: {{image: x}}}}\n"
        );
        parse(&folded, "t").expect("a folded scalar with a comment");
        // Text that could make a simpler scan lose track of what is quoted or a comment.
        let deep = flow_map(depth + 1);
        let open = "[".repeat(40);
        let tricks = [
            // A quote inside a plain scalar's continuation line is text; the quoted key after it
            // holds a '#' that is not a comment.
            format!("a: x\n  \"y\n\"z # \": {deep}\n"),
            // Closing brackets inside strings close nothing.
            format!(
                "x: {}{}\n",
                format!("{open}\"{}\", ", "]".repeat(40)).repeat(3),
                "]".repeat(120)
            ),
            // A quote inside a flow plain scalar is text.
            format!("x: [say \"hi, {deep}]\n"),
            // NEL, LS and PS end a comment as a line break does.
            format!("# note\u{85}x: {deep}\n"),
            format!("# note\u{2028}x: {deep}\n"),
            // Anchors and tags before a collection.
            format!("x: &anchor !tag {deep}\n"),
            // A key that is a quoted scalar, and an explicit key.
            format!("\"k\": {deep}\n"),
            format!("? k\n: {deep}\n"),
        ];
        for text in &tricks {
            let err = error(text);
            assert!(
                err.message().contains("nested more than"),
                "{text:.80?}: {}",
                err.message()
            );
        }
        let literal = format!(
            "{HEAD}  text: |\n    {}\n    \"\n  other: >2-\n     {}\ncontainers: {{web: {{image: x}}}}\n",
            "[".repeat(100),
            "{".repeat(100)
        );
        parse(&literal, "t").expect("brackets in block scalars are text");
        // Real nesting up to the limit is fine, in flow and block style.
        let params = flow_map(depth - 5);
        parse(&format!("{HEAD}containers: {{web: {{image: x}}}}\nresources: {{db: {{type: pg, params: {params}}}}}\n"), "t")
            .expect("deep but within the limit");
        let block: String = (0..depth - 5)
            .map(|d| format!("{}k{d}:\n", "  ".repeat(d + 3)))
            .collect();
        parse(&format!("{HEAD}containers: {{web: {{image: x}}}}\nresources:\n  db:\n    type: pg\n    params:\n{block}"), "t")
            .expect("deep block nesting within the limit");
    }

    // --- resource names ---

    #[test]
    fn resource_names_must_be_dns_labels() {
        for bad in [
            "my_db",
            "DB",
            "-db",
            "db.main",
            "a$(id)",
            "db\\u0000",
            "db\\nx",
        ] {
            let text = format!(
                "{HEAD}containers: {{web: {{image: x}}}}\nresources:\n  \"{bad}\": {{type: pg}}\n"
            );
            let err = error(&text);
            assert_eq!(err.kind(), SpecErrorKind::Rule, "{bad}");
            assert!(
                err.message().starts_with("resource name '")
                    && err.message().contains("' must be a valid DNS label"),
                "{bad}: {}",
                err.message()
            );
            assert_eq!(err.position(), Some((6, 3)), "{bad}");
            assert!(
                !err.to_string().chars().any(|c| c.is_control() && c != '\n'),
                "{bad}"
            );
        }
        let spec = parse(
            &format!(
                "{HEAD}containers: {{web: {{image: x}}}}\nresources: {{db-1: {{type: pg}}}}\n"
            ),
            "t",
        )
        .expect("valid");
        assert_eq!(spec.resources[0].name, "db-1");
    }

    // --- properties ---

    /// Property tests: a bounded number of cases in `cargo test` (32 each, quick on two cores);
    /// `PROPTEST_CASES=10000 cargo test --lib spec::` runs more.
    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn config() -> ProptestConfig {
            let cases = std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(32);
            ProptestConfig {
                cases,
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        /// The errors that are about something absent and so have no place to point at.
        fn positionless(err: &SpecError) -> bool {
            let message = err.message();
            message == format!("Error parsing YAML: {EMPTY}")
                || message == "metadata.name is required in Score specification"
                || message == "Score specification must define at least one container"
        }

        /// Every error has a position inside the text, unless it is about something absent;
        /// and renders on a bounded number of lines.
        fn check_outcome(text: &str) {
            let Err(err) = parse(text, "prop.yaml") else {
                return;
            };
            match err.position() {
                Some((line, column)) => {
                    let lines = yaml::end_of(text).line;
                    assert!(line >= 1 && line <= lines, "line {line} of {lines}: {err}");
                    assert!(column >= 1, "{err}");
                }
                None => assert!(positionless(&err), "no position: {err}"),
            }
            assert!(err.to_string().lines().count() <= 4, "{err}");
        }

        /// Text made of the characters that mean something to YAML, plus letters.
        const YAMLISH: &str = "[a-c:\\-\\[\\]{}#&*!|>'\" \n\t,<?%@.~0-9]{0,300}";

        /// Edits (insert, delete, replace) at arbitrary places of a valid spec.
        fn edited() -> impl Strategy<Value = String> {
            let edits = prop::collection::vec(
                (
                    any::<prop::sample::Index>(),
                    0..3u8,
                    "[:\\-\\[\\]{}#&*!|>'\" \n<]{0,3}",
                ),
                1..6,
            );
            edits.prop_map(|edits| {
                let mut text = super::HELLO.to_owned();
                for (at, op, insert) in edits {
                    let mut cut = at.index(text.len() + 1);
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    let mut end = (cut + insert.len().max(1)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    match op {
                        0 => text.insert_str(cut, &insert),
                        1 => text.replace_range(cut..end, ""),
                        _ => text.replace_range(cut..end, &insert),
                    }
                }
                text
            })
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn arbitrary_text_never_panics_and_errors_have_a_place(text in any::<String>()) {
                check_outcome(&text);
            }

            #[test]
            fn yaml_like_text_never_panics_and_errors_have_a_place(text in YAMLISH) {
                check_outcome(&text);
            }

            #[test]
            fn edited_specs_never_panic_and_errors_have_a_place(text in edited()) {
                check_outcome(&text);
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
                if let Err(err) = parse_bytes(&bytes, "prop.yaml") {
                    prop_assert!(err.position().is_some() || positionless(&err), "{}", err);
                }
            }
        }
    }

    // --- hostile input ---

    #[test]
    fn hostile_inputs_never_panic() {
        let deep_flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep_block: String = (0..300)
            .map(|depth| format!("{}k:\n", "  ".repeat(depth)))
            .collect();
        let deep_map = format!("{}1{}", "{a: ".repeat(5_000), "}".repeat(5_000));
        let laughs = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
            c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
            e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
            g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n";
        let long_line = format!("metadata: {{name: {}}}", "x_".repeat(200_000));
        let inputs: Vec<String> = vec![
            deep_flow,
            deep_block,
            deep_map,
            laughs.to_owned(),
            long_line,
            "metadata: {name: 123456789012345678901234567890123456789012345678901234567890}".into(),
            "a: 1e999999\nb: -0x8000000000000000000\nc: .nan\nd: 0o777777777777777777777777".into(),
            "metadata:\n\tname: tabs\n".into(),
            "\tmetadata: {}".into(),
            "\u{feff}".into(),
            "\u{feff}\u{feff}metadata: {}".into(),
            "\r\n\r\n\r".into(),
            "\r".into(),
            "a: b\u{2028}c: d\u{85}e: f\u{2029}".into(),
            "\0".into(),
            "name: \u{1b}]0;pwned\u{7}".into(),
            "metadata: {name: \"\\e[31m\"}\ncontainers: {web: {image: x}}".into(),
            "? ? ? ? a\n".into(),
            "&a a: *a".into(),
            "*unknown".into(),
            "!!binary aGVsbG8=".into(),
            "metadata: !!binary aGVsbG8=".into(),
            "%YAML 1.1\n%YAML 1.1\n---\n".into(),
            "%TAG ! tag:x,2000:\n--- !foo {}".into(),
            "'unterminated".into(),
            "\"\\uD800\"".into(),
            "[".into(),
            "}".into(),
            "- - - - -".into(),
            ": : :".into(),
            "---\n---\n---\n".into(),
            "...".into(),
            "<<: *x".into(),
            "a: |\n  text\n b: 1".into(),
            String::from_utf8_lossy(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x7f, 0xc3]).into_owned(),
        ];
        for input in &inputs {
            let result = std::panic::catch_unwind(|| parse(input, "hostile"));
            let shown = input.chars().take(40).collect::<String>();
            let outcome = result.unwrap_or_else(|_| panic!("panicked on {shown:?}"));
            if let Err(err) = outcome {
                let rendered = err.to_string();
                assert!(!rendered.contains('\u{1b}'), "escape leaked for {shown:?}");
                assert!(!rendered.contains('\u{7}'), "bell leaked for {shown:?}");
                assert!(rendered.len() < 2_000, "huge message for {shown:?}");
                let _ = err.message();
            }
        }
        let binary: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        assert!(parse_bytes(&binary, "binary").is_err());
    }
}
