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
//! Reading is the hot path of a fast watch, so two submodules keep it cheap: [`Data`] holds a
//! received `data` object as JSON text with an index of its keys rather than as a map, and
//! `fast` reads events of the usual compact shape in one pass, leaving anything else to serde.
//!
//! This module is plain synchronous code: no I/O, no async.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use serde_json::{Map, Value};

mod data;
mod fast;

pub use data::Data;

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
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "timestamp::deserialize"
    )]
    pub timestamp: Option<DateTime<FixedOffset>>,
    /// Type-specific payload. See [`EventKind`] for the keys each type carries.
    #[serde(default, skip_serializing_if = "Data::is_empty")]
    pub data: Data,
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
            data: Data::new(),
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
        self.data.str(key)
    }

    /// A `data` value as an integer, accepting both JSON numbers and numeric strings.
    pub fn data_u64(&self, key: &str) -> Option<u64> {
        self.data.u64(key)
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
        match fast::parse(text, true) {
            Some(event) => Ok(event),
            None => serde_json::from_str(text),
        }
    }

    /// Parses only what routes an event: `id`, `type`, `app_name` and `deployment_id`. The
    /// rest (`timestamp`, `data`, `source`, unknown keys) is skipped over and left empty.
    ///
    /// For events that are written through exactly as received and that nothing else reads
    /// (see [`crate::client::watch::Detail`]): building the `data` map and parsing the
    /// timestamp are most of the cost of [`Event::from_json`].
    pub fn route_from_json(text: &str) -> Result<Self, serde_json::Error> {
        match fast::parse(text, false) {
            Some(event) => Ok(event),
            None => Event::route_from_json_slow(text),
        }
    }

    /// [`Event::route_from_json`] through serde, for what the fast path leaves.
    fn route_from_json_slow(text: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Route {
            #[serde(default)]
            id: String,
            #[serde(rename = "type")]
            kind: EventKind,
            #[serde(default)]
            app_name: String,
            #[serde(default)]
            deployment_id: Option<String>,
        }
        let route: Route = serde_json::from_str(text)?;
        Ok(Event {
            id: route.id,
            deployment_id: route.deployment_id,
            ..Event::new(route.kind, route.app_name)
        })
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
        /// `data` keys by type (all optional when reading; docs/events.md is the reference, and
        /// `tests/e2e/docs.rs` checks it against the server):
        ///
        /// | type | keys |
        /// | --- | --- |
        /// | `resource.*` | `resource_id`, `resource_name`, `resource_type`, and below |
        /// | `resource.created` | `state`, `created_by` |
        /// | `provider.resolved` | `provider_name`, `workflow_name` |
        /// | `workflow.*` | `workflow_name`, `execution_id`, `total_steps`, `resource_name` |
        /// | `workflow.failed` | `error`, `step_name` |
        /// | `step.*` | the `workflow.*` keys, `step_name`, `step_number` |
        /// | `step.progress` | `message` |
        /// | `step.failed`, `resource.failed` | `error` |
        /// | `resource.active` | `new_state`, `workflow_execution_id` |
        /// | `deployment.started` | `resources` (list of `{name,type}`), `total_resources` |
        /// | `deployment.completed` | `duration_ms`, `resources` |
        /// | `deployment.failed` | `error`, `failed_resources` (list of names), `duration_ms` |
        /// | `application.deleted` | `resources` (list of names) |
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
    /// A deployment waits for the previous deployment of its application to finish (our
    /// server; `waiting_for` names it).
    DeploymentQueued => "deployment.queued",
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

    /// The types that report a failure, and carry its text in `data.error`.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            EventKind::StepFailed
                | EventKind::WorkflowFailed
                | EventKind::ResourceFailed
                | EventKind::DeploymentFailed
        )
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
        // A visitor rather than `String`/`Cow`: a known type is read without allocating.
        struct Kind;
        impl de::Visitor<'_> for Kind {
            type Value = EventKind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event type string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<EventKind, E> {
                Ok(EventKind::parse(s))
            }
        }
        deserializer.deserialize_str(Kind)
    }
}

/// Reading `timestamp`. Servers write RFC 3339 with a `T`, seconds, an optional fraction and `Z`
/// or `+hh:mm`; that shape is read by hand, because chrono's general parser was one of the
/// larger costs of reading a fast stream. Anything else (lower-case `t`, a leap second, a
/// space instead of `T`) goes to chrono's parser, which decides as before.
mod timestamp {
    use std::fmt;

    use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};
    use serde::{Deserialize, Deserializer, de};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
        struct Timestamp(DateTime<FixedOffset>);
        impl<'de> Deserialize<'de> for Timestamp {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(Visitor)
            }
        }
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Timestamp, E> {
                match parse_common(s) {
                    Some(at) => Ok(Timestamp(at)),
                    None => s.parse().map(Timestamp).map_err(E::custom),
                }
            }
        }
        Ok(Option::<Timestamp>::deserialize(deserializer)?.map(|t| t.0))
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)`, or `None` for anything else.
    pub(super) fn parse_common(s: &str) -> Option<DateTime<FixedOffset>> {
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(
            digits(&b[0..4])? as i32,
            digits(&b[5..7])?,
            digits(&b[8..10])?,
        )?;
        let (hour, minute, second) = (
            digits(&b[11..13])?,
            digits(&b[14..16])?,
            digits(&b[17..19])?,
        );
        let mut rest = &b[19..];
        let mut nanos = 0;
        if let Some(fraction) = rest.strip_prefix(b".") {
            let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
            if len == 0 || len > 9 {
                return None;
            }
            nanos = digits(&fraction[..len])? * 10u32.pow(9 - len as u32);
            rest = &fraction[len..];
        }
        let offset = match rest {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let minutes = digits(&[*m1, *m2])?;
                if minutes > 59 {
                    // Out of range: chrono's parser says so.
                    return None;
                }
                let secs = (digits(&[*h1, *h2])? * 60 + minutes) as i32 * 60;
                if *sign == b'-' { -secs } else { secs }
            }
            _ => return None,
        };
        // A leap second (`:60`) is not representable here; chrono's parser handles it.
        if second > 59 {
            return None;
        }
        let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
        NaiveDateTime::new(date, time)
            .and_local_timezone(FixedOffset::east_opt(offset)?)
            .single()
    }

    /// ASCII digits as a number (at most 9 of them).
    fn digits(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_fields_parse_like_the_full_event() {
        let line = r#"{"id":"42","type":"resource.active","app_name":"shop","timestamp":"2026-11-27T12:07:48Z","data":{"resource_name":"db","nested":{"a":[1,2]}},"source":"engine","deployment_id":"7","extra":true}"#;
        let full = Event::from_json(line).unwrap();
        let route = Event::route_from_json(line).unwrap();
        assert_eq!(
            (
                &route.id,
                &route.kind,
                &route.app_name,
                &route.deployment_id
            ),
            (&full.id, &full.kind, &full.app_name, &full.deployment_id)
        );
        assert!(route.data.is_empty() && route.timestamp.is_none() && route.extra.is_empty());
        // What is not JSON, or has no type, is an error either way.
        for bad in [r#"{"id":"1""#, r#"{"id":"1"}"#, "[1]"] {
            assert!(Event::from_json(bad).is_err() && Event::route_from_json(bad).is_err());
        }
    }

    #[test]
    fn common_timestamps_read_by_hand_match_chrono() {
        for text in [
            "2026-11-27T12:07:48Z",
            "2026-11-27T12:07:48.031303191Z",
            "2026-11-27T12:07:48.5Z",
            "2026-11-27T12:07:48.123+01:00",
            "2024-02-29T23:59:59.999999999-05:30",
            "1970-01-01T00:00:00+00:00",
            "2024-11-12T15:04:02.123456789+14:00",
        ] {
            let by_hand = timestamp::parse_common(text);
            assert!(by_hand.is_some(), "{text} takes the fast path");
            assert_eq!(by_hand, DateTime::parse_from_rfc3339(text).ok(), "{text}");
        }
    }

    #[test]
    fn other_timestamp_shapes_fall_back_to_chrono() {
        for text in [
            "2026-11-27t12:07:48Z",
            "2026-11-27 12:07:48Z",
            "2016-12-31T23:59:60Z",
            "2026-11-27T12:07:48.1234567891Z",
            "2026-11-27T12:07:48.Z",
            "2026-11-27T12:07:48",
            "2026-02-30T12:07:48Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T12:07:48+0100",
            "2026-11-27T12:07:48+01:60",
            "２026-11-27T12:07:48Z",
        ] {
            assert_eq!(timestamp::parse_common(text), None, "{text}");
        }
        // Through the event: chrono still decides, as it always did.
        let leap = Event::from_json(r#"{"type":"connected","timestamp":"2016-12-31T23:59:60Z"}"#);
        assert_eq!(
            leap.unwrap().timestamp,
            DateTime::parse_from_rfc3339("2016-12-31T23:59:60Z").ok()
        );
        let bad = Event::from_json(r#"{"type":"connected","timestamp":"2026-02-30T12:07:48Z"}"#);
        assert!(bad.unwrap_err().to_string().contains("out of range"));
        let null = Event::from_json(r#"{"type":"connected","timestamp":null}"#).unwrap();
        assert_eq!(null.timestamp, None);
    }

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
