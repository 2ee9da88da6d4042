//! The event model on the wire, shared by the server (which writes it) and the client and
//! renderers (which read it).
//!
//! The shape is PROTOCOL.md's: a JSON object with `id`, `type`, `app_name`, `timestamp`, `data`,
//! `source` and, on our server, `deployment_id`. Every field except `type` is optional when
//! reading, because innominatus-compatible servers send frames such as
//! `{"type":"connected","client_id":"client-1"}` that carry nothing else. Keys we do not know
//! are kept in [`Event::extra`] so a newer server never loses information in an older client's
//! `--output json`.
//!
//! This module is plain synchronous code: no I/O, no async.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The response header with which a server declares that every event on its stream is already
/// serialised exactly as [`Event::to_json`] would (value `canonical`). `ctl server` sends it;
/// `--output json` then writes the received JSON through unchanged instead of serialising the
/// parsed event again, which is a large part of a fast stream's cost. Without it, every event
/// is re-serialised into the canonical shape.
pub const CANONICAL_HEADER: &str = "x-ctl-event-json";

/// One event as carried in an SSE `data:` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Event id. On our server a strictly increasing integer as a decimal string; on
    /// innominatus-compatible servers an opaque string (a nanosecond timestamp), possibly absent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The event type, e.g. `resource.active`.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The application the event belongs to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_name: String,
    /// When the server published the event (RFC 3339; the server's zone is kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime<FixedOffset>>,
    /// Type-specific payload. See [`EventKind`] for the keys each type carries.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
    /// The server component that published the event.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The deployment the event belongs to (our server only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// Top-level keys this version does not know (e.g. `client_id` on a `connected` frame).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Event {
    /// A new event with only a type; the rest is filled by the builder methods or by the store.
    pub fn new(kind: EventKind, app_name: impl Into<String>) -> Self {
        Event {
            id: String::new(),
            kind,
            app_name: app_name.into(),
            timestamp: None,
            data: Map::new(),
            source: String::new(),
            deployment_id: None,
            extra: Map::new(),
        }
    }

    /// Sets the `source` field.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Sets the `deployment_id` field.
    pub fn with_deployment(mut self, deployment_id: impl Into<String>) -> Self {
        self.deployment_id = Some(deployment_id.into());
        self
    }

    /// Adds one key to `data`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_owned(), value.into());
        self
    }

    /// The id as an integer, when the server uses integer ids (ours does).
    pub fn numeric_id(&self) -> Option<u64> {
        self.id.parse().ok()
    }

    /// A `data` value as text: strings as they are, numbers and booleans formatted, anything
    /// else (absent, null, objects) as `None`. innominatus sends ids and counts as integers and
    /// everything else as strings; this reads both the same way.
    pub fn data_str(&self, key: &str) -> Option<Cow<'_, str>> {
        match self.data.get(key)? {
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            _ => None,
        }
    }

    /// A `data` value as an integer, accepting both JSON numbers and numeric strings.
    pub fn data_u64(&self, key: &str) -> Option<u64> {
        match self.data.get(key)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// The resource this event is about, if any (`data.resource_name`).
    pub fn resource_name(&self) -> Option<Cow<'_, str>> {
        self.data_str("resource_name")
    }

    /// Whether this event ends a deployment, and how. See [`EventKind::outcome`].
    pub fn outcome(&self) -> Option<Outcome> {
        self.kind.outcome()
    }

    /// Serialises the event as one line of compact JSON (no trailing newline).
    pub fn to_json(&self) -> String {
        // Serialising a struct of strings, numbers and JSON values cannot fail.
        serde_json::to_string(self).expect("an Event always serialises")
    }

    /// Parses one event from the JSON text of an SSE `data:` field.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// How a deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every resource became active.
    Succeeded,
    /// At least one resource failed.
    Failed,
}

impl Outcome {
    /// The status word used on the wire (`succeeded` / `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! event_kinds {
    ($( $(#[$doc:meta])* $variant:ident => $wire:literal, )*) => {
        /// Every event type of PROTOCOL.md (A.4 and B.2), plus a catch-all so that a newer
        /// server's types never break an older client.
        ///
        /// `data` keys by type (all optional when reading):
        ///
        /// | type | keys |
        /// | --- | --- |
        /// | `resource.*` | `resource_id`, `resource_name`, `resource_type`, and below |
        /// | `resource.created` | `state`, `created_by` |
        /// | `provider.resolved` | `provider_name`, `workflow_name` |
        /// | `workflow.*` | `workflow_name`, `execution_id`, `total_steps`, `resource_name` |
        /// | `workflow.failed` | `error`, `step_name` |
        /// | `step.*` | `workflow_name`, `step_name`, `step_number`, `total_steps`, `resource_name` |
        /// | `step.progress` | `message` |
        /// | `step.failed`, `resource.failed` | `error` |
        /// | `resource.active` | `new_state`, `workflow_execution_id` |
        /// | `deployment.started` | `resources` (list of `{name,type}`), `total_resources` |
        /// | `deployment.completed` | `duration_ms`, `resources` |
        /// | `deployment.failed` | `error`, `failed_resources` (list of names), `duration_ms` |
        /// | `stream.gap` | `requested_since`, `first_available` |
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $( $(#[$doc])* $variant, )*
            /// A type this version does not know; kept verbatim.
            Other(String),
        }

        impl EventKind {
            /// The type as written on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( EventKind::$variant => $wire, )*
                    EventKind::Other(s) => s,
                }
            }

            /// Parses a wire type; unknown types become [`EventKind::Other`].
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $wire => EventKind::$variant, )*
                    other => EventKind::Other(other.to_owned()),
                }
            }

            /// Every known type, in protocol order.
            pub const ALL: &'static [EventKind] = &[ $( EventKind::$variant, )* ];
        }
    };
}

event_kinds! {
    /// First frame of every stream (`client_id` in the extra keys).
    Connected => "connected",
    /// A deployment began (our server).
    DeploymentStarted => "deployment.started",
    /// A resource was recorded in state `requested`.
    ResourceCreated => "resource.created",
    /// The engine picked a resource up for provisioning.
    ResourceProvisioning => "resource.provisioning",
    /// A provider and workflow were chosen for a resource.
    ProviderResolved => "provider.resolved",
    /// A provider workflow began.
    WorkflowStarted => "workflow.started",
    /// A workflow step began (our server).
    StepStarted => "step.started",
    /// A workflow step reported progress (our server).
    StepProgress => "step.progress",
    /// A workflow step finished (our server).
    StepCompleted => "step.completed",
    /// A workflow step failed (our server).
    StepFailed => "step.failed",
    /// Every step of a workflow succeeded.
    WorkflowCompleted => "workflow.completed",
    /// A workflow failed (our server).
    WorkflowFailed => "workflow.failed",
    /// A resource reached state `active`.
    ResourceActive => "resource.active",
    /// A resource reached state `failed`.
    ResourceFailed => "resource.failed",
    /// Terminal: every resource of the deployment is active (our server).
    DeploymentCompleted => "deployment.completed",
    /// Terminal: the deployment failed (our server).
    DeploymentFailed => "deployment.failed",
    /// An application and its resources were deleted (our server).
    ApplicationDeleted => "application.deleted",
    /// Events the client asked for can no longer be replayed (our server).
    StreamGap => "stream.gap",
}

impl EventKind {
    /// Whether an event of this kind ends a deployment, and how.
    ///
    /// Only our server's `deployment.*` terminal events do; innominatus-compatible servers never
    /// publish them, so there the end must be inferred from resource states.
    pub fn outcome(&self) -> Option<Outcome> {
        match self {
            EventKind::DeploymentCompleted => Some(Outcome::Succeeded),
            EventKind::DeploymentFailed => Some(Outcome::Failed),
            _ => None,
        }
    }

    /// Internal events are shown only with `--all`: stream bookkeeping and types we do not know.
    pub fn is_internal(&self) -> bool {
        matches!(self, EventKind::Connected | EventKind::Other(_))
    }

    /// Whether this type matches a filter pattern: an exact type, or a prefix ending in `.*`
    /// (`resource.*`), or `*`.
    pub fn matches(&self, pattern: &str) -> bool {
        let ty = self.as_str();
        match pattern.strip_suffix('*') {
            Some("") => true,
            Some(prefix) => prefix.ends_with('.') && ty.starts_with(prefix),
            None => ty == pattern,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(deserializer)?;
        Ok(EventKind::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn innominatus_event_parses_with_integer_data() {
        let line = r#"{"id":"1731430000123456789","type":"workflow.started","app_name":"hello","timestamp":"2024-11-12T15:04:02.123456789+01:00","data":{"execution_id":7,"total_steps":3,"workflow_name":"provision-postgres"},"source":"workflow-executor"}"#;
        let ev = Event::from_json(line).unwrap();
        assert_eq!(ev.kind, EventKind::WorkflowStarted);
        assert_eq!(ev.data_u64("total_steps"), Some(3));
        assert_eq!(ev.data_str("execution_id").as_deref(), Some("7"));
        assert_eq!(ev.numeric_id(), Some(1_731_430_000_123_456_789));
        assert_eq!(ev.timestamp.unwrap().offset().local_minus_utc(), 3600);
        assert_eq!(ev.deployment_id, None);
    }

    #[test]
    fn connected_frame_keeps_unknown_keys() {
        let ev = Event::from_json(r#"{"type":"connected","client_id":"client-3"}"#).unwrap();
        assert_eq!(ev.kind, EventKind::Connected);
        assert!(ev.kind.is_internal());
        assert_eq!(ev.extra["client_id"], "client-3");
        assert_eq!(
            ev.to_json(),
            r#"{"type":"connected","client_id":"client-3"}"#
        );
    }

    #[test]
    fn unknown_type_round_trips() {
        let line = r#"{"id":"9","type":"spec.validated","app_name":"a","data":{"x":[1,2]},"source":"s","deployment_id":"4","future_key":true}"#;
        let ev = Event::from_json(line).unwrap();
        assert_eq!(ev.kind, EventKind::Other("spec.validated".into()));
        assert!(ev.kind.is_internal());
        let back = Event::from_json(&ev.to_json()).unwrap();
        assert_eq!(back, ev);
        assert_eq!(back.extra["future_key"], true);
    }

    #[test]
    fn every_known_kind_round_trips_through_its_wire_name() {
        for kind in EventKind::ALL {
            assert_eq!(&EventKind::parse(kind.as_str()), kind);
            assert!(!kind.is_internal() || *kind == EventKind::Connected);
        }
    }

    #[test]
    fn only_deployment_terminals_have_outcomes() {
        for kind in EventKind::ALL {
            let expected = match kind {
                EventKind::DeploymentCompleted => Some(Outcome::Succeeded),
                EventKind::DeploymentFailed => Some(Outcome::Failed),
                _ => None,
            };
            assert_eq!(kind.outcome(), expected, "{kind}");
        }
    }

    #[test]
    fn type_patterns() {
        let k = EventKind::ResourceActive;
        assert!(k.matches("resource.active"));
        assert!(k.matches("resource.*"));
        assert!(k.matches("*"));
        assert!(!k.matches("resource"));
        assert!(!k.matches("resourc*"));
        assert!(!k.matches("step.*"));
    }
}
