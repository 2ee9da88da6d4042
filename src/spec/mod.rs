//! Score workload specs: loading, parsing and the validation rules of PROTOCOL.md A.2.
//!
//! Both sides use this module: the client validates before anything is sent, and the server
//! validates what it receives with the same rules and messages. serde_yaml stays behind this
//! module so that swapping the parser touches nothing else.

mod error;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use error::SpecError;

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
}

#[derive(Deserialize)]
struct RawSpec {
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    metadata: Option<RawMetadata>,
    #[serde(default)]
    containers: Option<serde_yaml::Mapping>,
    #[serde(default)]
    resources: Option<serde_yaml::Mapping>,
    #[serde(default)]
    environment: Option<RawEnvironment>,
}

#[derive(Deserialize)]
struct RawMetadata {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawEnvironment {
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// Reads and validates a spec from a file, or from standard input when `path` is `-`.
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let origin = path.display().to_string();
    let text = if origin == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|source| SpecError::Read {
        path: origin.clone(),
        source,
    })?;
    parse(&text, &origin)
}

/// Parses and validates spec text; `origin` names it in errors (a path, `-` or `request body`).
pub fn parse(text: &str, origin: &str) -> Result<Spec, SpecError> {
    let raw: RawSpec = serde_yaml::from_str(text).map_err(|e| SpecError::yaml(origin, text, &e))?;
    let name = raw
        .metadata
        .and_then(|m| m.name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            SpecError::invalid(
                origin,
                text,
                None,
                "metadata.name is required in Score specification",
            )
        })?;
    if !is_dns_label(&name) {
        return Err(SpecError::invalid(
            origin,
            text,
            None,
            format!(
                "metadata.name must be a valid DNS label: {name:?} (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)"
            ),
        ));
    }
    let mut containers = BTreeMap::new();
    for (key, value) in raw.containers.unwrap_or_default() {
        let cname = key.as_str().unwrap_or_default().to_owned();
        let image = value
            .get("image")
            .and_then(|i| i.as_str())
            .unwrap_or_default()
            .to_owned();
        if image.is_empty() {
            return Err(SpecError::invalid(
                origin,
                text,
                None,
                format!("container '{cname}' must specify an image"),
            ));
        }
        containers.insert(cname, Container { image });
    }
    if containers.is_empty() {
        return Err(SpecError::invalid(
            origin,
            text,
            None,
            "Score specification must define at least one container",
        ));
    }
    let mut resources = Vec::new();
    for (key, value) in raw.resources.unwrap_or_default() {
        let rname = key.as_str().unwrap_or_default().to_owned();
        let kind = value
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_owned();
        resources.push(Resource { name: rname, kind });
    }
    Ok(Spec {
        name,
        api_version: raw.api_version.unwrap_or_default(),
        containers,
        resources,
        environment: raw.environment.and_then(|e| e.kind),
        source: text.to_owned(),
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
