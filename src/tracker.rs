//! What the client knows about a deployment, built from the events it has seen: the state of
//! each resource, and whether (and how) the deployment has finished.
//!
//! Two ways to finish, depending on the server:
//! - ours sends exactly one terminal event (`deployment.completed` / `deployment.failed`), which
//!   decides;
//! - innominatus-compatible servers send none, so with [`Mode::Inferred`] the deployment is
//!   finished when every expected resource is `active` (success) or one is `failed` (failure).
//!
//! Plain synchronous state: fed by the watch loop, read by the renderers and the footer.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};

use crate::event::{Event, EventKind, Outcome};

/// How the end of the deployment is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only a terminal event ends it (our server).
    Terminal,
    /// Resource states end it (servers without terminal events).
    Inferred,
    /// Nothing ends it: following an app's stream until the user stops.
    Follow,
}

/// The last known state of one resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceState {
    /// Resource type.
    pub kind: String,
    /// `pending` (expected, nothing heard yet), `requested`, `provisioning`, `active`, `failed`.
    pub state: String,
    /// The current workflow step, as `(number, total, name)`; for a failed resource, the step
    /// it failed at.
    pub step: Option<(u64, u64, String)>,
    /// The failure text.
    pub error: Option<String>,
    /// The server's timestamp of the first event that moved it (created, provisioning, a
    /// step): where its progress row's clock starts, so a replayed deployment's rows show how
    /// long the resource has been at work, not how long ago the client read the replay.
    pub since: Option<DateTime<FixedOffset>>,
}

/// A deployment as the client sees it.
#[derive(Debug, Clone)]
pub struct Tracker {
    mode: Mode,
    resources: BTreeMap<String, ResourceState>,
    /// Per resource, the timestamp of the event that last set its state (inferred mode):
    /// innominatus can deliver events published microseconds apart out of order, and an older
    /// event must not undo a newer state.
    stamps: BTreeMap<String, DateTime<FixedOffset>>,
    /// Whether the server's state of record has been read at least once (inferred mode): only
    /// then does "no resources at all" mean "nothing to wait for".
    reconciled: bool,
    outcome: Option<Outcome>,
    error: Option<String>,
    /// The resources of the submitted spec (inferred mode, when there is one): a failed
    /// resource outside it, left by an earlier deployment (a server that never removes them)
    /// or added by the server, is named as such, or its failure reads as the spec's own.
    spec: Option<std::collections::BTreeSet<String>>,
}

/// The state of a resource still settling when the first failure ended a watch (inferred
/// mode): its final state is not known.
pub const STILL_RUNNING: &str = "running";

/// What is added to the failure of a resource the submitted spec does not have.
pub const OUTSIDE_SPEC: &str =
    "not in the submitted spec: left by an earlier deployment, or added by the server";

impl Tracker {
    /// A tracker expecting the given `(name, type)` resources.
    pub fn new<'a>(mode: Mode, expected: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let resources: BTreeMap<String, ResourceState> = expected
            .into_iter()
            .map(|(name, kind)| {
                (
                    name.to_owned(),
                    ResourceState {
                        kind: kind.to_owned(),
                        state: "pending".to_owned(),
                        ..ResourceState::default()
                    },
                )
            })
            .collect();
        let spec = (mode == Mode::Inferred && !resources.is_empty())
            .then(|| resources.keys().cloned().collect());
        let mut tracker = Tracker {
            mode,
            spec,
            resources,
            stamps: BTreeMap::new(),
            reconciled: false,
            outcome: None,
            error: None,
        };
        tracker.infer();
        tracker
    }

    /// The decision mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// How the deployment ended, once it has.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    /// The deployment-level error (from `deployment.failed`, or the failed resources).
    pub fn error(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        let failed: Vec<String> = self
            .resources
            .iter()
            .filter(|(_, r)| r.state == "failed")
            .map(|(name, r)| match &r.error {
                Some(e) => format!("{name}: {e}"),
                None => name.clone(),
            })
            .collect();
        (!failed.is_empty()).then(|| failed.join("; "))
    }

    /// Every resource with its last known state, by name.
    pub fn resources(&self) -> &BTreeMap<String, ResourceState> {
        &self.resources
    }

    /// `(active, total)` resource counts.
    pub fn progress(&self) -> (usize, usize) {
        let active = self
            .resources
            .values()
            .filter(|r| r.state == "active")
            .count();
        (active, self.resources.len())
    }

    /// Whether [`Tracker::apply`] reads anything of an event of this type beyond its type, in
    /// terminal and follow modes (inferred mode reads every event's `resource_name` and
    /// timestamp). Events of other types may reach it with only their routing fields parsed
    /// ([`Event::route_from_json`]); a unit test holds the two in step.
    pub fn reads_data(kind: &EventKind) -> bool {
        matches!(
            kind,
            EventKind::DeploymentStarted
                | EventKind::ResourceCreated
                | EventKind::ResourceProvisioning
                | EventKind::ProviderResolved
                | EventKind::StepStarted
                | EventKind::ResourceActive
                | EventKind::ResourceFailed
                | EventKind::DeploymentCompleted
                | EventKind::DeploymentFailed
        )
    }

    /// Applies one event. Returns the outcome if this event finished the deployment.
    pub fn apply(&mut self, ev: &Event) -> Option<Outcome> {
        if self.outcome.is_some() {
            return None;
        }
        if self.mode == Mode::Inferred {
            if let (Some(name), Some(at)) = (ev.resource_name(), ev.timestamp) {
                if self.stamps.get(&*name).is_some_and(|last| at < *last) {
                    // Older than what already decided this resource's state: shown, not applied.
                    return None;
                }
                self.stamps.insert(name.into_owned(), at);
            }
        }
        // Read only by the types that change a resource: most events of a fast stream are
        // steps and workflows, and each key read is a scan of the event's data.
        let set = |tracker: &mut Tracker, state: &str, error: Option<String>| {
            if let Some(name) = ev.resource_name() {
                let entry = tracker.resources.entry(name.into_owned()).or_default();
                if entry.since.is_none() {
                    entry.since = ev.timestamp;
                }
                if let Some(kind) = ev.data_str("resource_type") {
                    kind.as_ref().clone_into(&mut entry.kind);
                }
                entry.state = state.to_owned();
                if error.is_some() {
                    entry.error = error;
                }
                // A failed resource keeps its step: it is the step that failed (the footer says so).
                if state == "active" {
                    entry.step = None;
                }
            }
        };
        match &ev.kind {
            EventKind::DeploymentStarted => {
                if let Some(list) = ev.data.get("resources").and_then(|v| v.as_array()) {
                    for r in list {
                        if let Some(n) = r.get("name").and_then(|n| n.as_str()) {
                            let entry = self.resources.entry(n.to_owned()).or_default();
                            if entry.state.is_empty() {
                                entry.state = "pending".to_owned();
                            }
                            if let Some(t) = r.get("type").and_then(|t| t.as_str()) {
                                entry.kind = t.to_owned();
                            }
                        }
                    }
                }
            }
            EventKind::ResourceCreated => set(self, "requested", None),
            EventKind::ResourceProvisioning | EventKind::ProviderResolved => {
                set(self, "provisioning", None)
            }
            EventKind::StepStarted => {
                if let Some(name) = ev.resource_name() {
                    let entry = self.resources.entry(name.into_owned()).or_default();
                    if entry.since.is_none() {
                        entry.since = ev.timestamp;
                    }
                    entry.state = "provisioning".to_owned();
                    entry.step = Some((
                        ev.data_u64("step_number").unwrap_or(0),
                        ev.data_u64("total_steps").unwrap_or(0),
                        ev.data_str("step_name").unwrap_or_default().into_owned(),
                    ));
                }
            }
            EventKind::ResourceActive => set(self, "active", None),
            EventKind::ResourceFailed => {
                set(self, "failed", ev.data_str("error").map(|e| e.into_owned()))
            }
            EventKind::DeploymentCompleted | EventKind::DeploymentFailed
                if self.mode == Mode::Follow => {}
            EventKind::DeploymentCompleted => {
                // The terminal event carries every resource's final state, including the ones
                // an unchanged redeploy left alone (they publish no events of their own).
                if let Some(list) = ev.data.get("resources").and_then(|v| v.as_array()) {
                    for r in list {
                        let (Some(n), Some(state)) = (
                            r.get("name").and_then(|n| n.as_str()),
                            r.get("state").and_then(|s| s.as_str()),
                        ) else {
                            continue;
                        };
                        let entry = self.resources.entry(n.to_owned()).or_default();
                        entry.state = state.to_owned();
                        entry.step = None;
                        if let Some(t) = r.get("type").and_then(|t| t.as_str()) {
                            entry.kind = t.to_owned();
                        }
                    }
                }
                self.outcome = Some(Outcome::Succeeded);
            }
            EventKind::DeploymentFailed => {
                self.error = ev.data_str("error").map(|e| e.into_owned());
                self.outcome = Some(Outcome::Failed);
            }
            _ => {}
        }
        if ev.kind == EventKind::ResourceFailed {
            self.mark_outside_spec();
        }
        self.infer();
        self.outcome
    }

    /// Replaces resource states with the server's state of record (after a reconnect, or for
    /// a redeploy that publishes nothing). Resources the server reports beyond the expected
    /// ones (innominatus may add its own) are added: the deployment waits for them too. In
    /// inferred mode, a state of record with no resources at all finishes the deployment.
    pub fn reconcile<'a>(
        &mut self,
        records: impl IntoIterator<Item = (&'a str, &'a str, &'a str, Option<&'a str>)>,
    ) -> Option<Outcome> {
        if self.outcome.is_some() {
            return None;
        }
        for (name, kind, state, error) in records {
            let entry = self.resources.entry(name.to_owned()).or_default();
            if !kind.is_empty() {
                entry.kind = kind.to_owned();
            }
            entry.state = state.to_owned();
            entry.error = error.map(str::to_owned);
            if state == "active" || state == "failed" {
                entry.step = None;
            }
            // The record is newer than any event seen so far.
            self.stamps.remove(name);
        }
        self.mark_outside_spec();
        self.reconciled = true;
        self.infer();
        self.outcome
    }

    /// Records an outcome the server reported through its state of record (our server's
    /// `GET /api/deployments/<id>`), when the terminal event itself could not be received.
    /// Returns it, unless the deployment had already finished.
    pub fn conclude(&mut self, outcome: Outcome, error: Option<String>) -> Option<Outcome> {
        if self.outcome.is_some() || self.mode == Mode::Follow {
            return None;
        }
        if outcome == Outcome::Failed {
            self.error = error;
        }
        self.outcome = Some(outcome);
        self.outcome
    }

    /// Names the failures of resources the submitted spec does not have.
    fn mark_outside_spec(&mut self) {
        let Some(spec) = &self.spec else {
            return;
        };
        for (name, r) in &mut self.resources {
            if r.state == "failed" && !spec.contains(name) {
                let marked = r.error.as_deref().is_some_and(|e| e.contains(OUTSIDE_SPEC));
                if !marked {
                    r.error = Some(match r.error.take() {
                        Some(error) => format!("{error} ({OUTSIDE_SPEC})"),
                        None => OUTSIDE_SPEC.to_owned(),
                    });
                }
            }
        }
    }

    fn infer(&mut self) {
        if self.mode != Mode::Inferred || self.outcome.is_some() {
            return;
        }
        if self.resources.is_empty() {
            // Nothing expected and nothing on record: a deployment with no resources is done
            // as soon as the server has been asked.
            if self.reconciled {
                self.outcome = Some(Outcome::Succeeded);
            }
            return;
        }
        if self.resources.values().any(|r| r.state == "failed") {
            self.outcome = Some(Outcome::Failed);
            // The first failure ends the watch while others may still be on their way: their
            // last known state (`requested`, say) would be stale the moment it is printed.
            for r in self.resources.values_mut() {
                if r.state != "failed" && r.state != "active" {
                    STILL_RUNNING.clone_into(&mut r.state);
                }
            }
        } else if self.resources.values().all(|r| r.state == "active") {
            self.outcome = Some(Outcome::Succeeded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(kind: EventKind, name: &str) -> Event {
        Event::new(kind, "app")
            .with("resource_name", name)
            .with("resource_type", "postgres")
    }

    /// `reads_data` must name every type whose data `apply` uses: for each type, an event
    /// carrying every key `apply` knows leaves the same state as the same event reduced to its
    /// routing fields, unless `reads_data` says its data is read.
    #[test]
    fn types_not_named_by_reads_data_are_applied_from_their_type_alone() {
        let resources = serde_json::json!([
            {"name": "db", "type": "postgres", "state": "active"},
            {"name": "cache", "type": "redis", "state": "failed"},
        ]);
        let mut kinds = EventKind::ALL.to_vec();
        kinds.push(EventKind::Other("custom.thing".to_owned()));
        for mode in [Mode::Terminal, Mode::Follow] {
            for kind in &kinds {
                let mut full = res(kind.clone(), "db")
                    .with("error", "boom")
                    .with("step_number", 2)
                    .with("total_steps", 3)
                    .with("step_name", "migrate")
                    .with("resources", resources.clone());
                full.timestamp =
                    Some(DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap());
                let route = Event::route_from_json(&full.to_json()).unwrap();
                let seen = if Tracker::reads_data(kind) {
                    &full
                } else {
                    &route
                };
                let (mut a, mut b) = (
                    Tracker::new(mode, [("db", "postgres")]),
                    Tracker::new(mode, [("db", "postgres")]),
                );
                assert_eq!(a.apply(&full), b.apply(seen), "{kind} in {mode:?}");
                assert_eq!(a.resources(), b.resources(), "{kind} in {mode:?}");
                assert_eq!(a.error(), b.error(), "{kind} in {mode:?}");
            }
        }
    }

    #[test]
    fn terminal_mode_waits_for_the_terminal_event() {
        let mut t = Tracker::new(Mode::Terminal, [("db", "postgres")]);
        assert_eq!(t.apply(&res(EventKind::ResourceActive, "db")), None);
        assert_eq!(t.progress(), (1, 1));
        let done = Event::new(EventKind::DeploymentCompleted, "app");
        assert_eq!(t.apply(&done), Some(Outcome::Succeeded));
        assert_eq!(t.apply(&done), None, "finishes once");
    }

    #[test]
    fn inferred_mode_finishes_on_resource_states() {
        let mut t = Tracker::new(Mode::Inferred, [("db", "postgres"), ("cache", "redis")]);
        assert_eq!(t.apply(&res(EventKind::ResourceActive, "db")), None);
        assert_eq!(
            t.apply(&res(EventKind::ResourceActive, "cache")),
            Some(Outcome::Succeeded)
        );

        let mut t = Tracker::new(Mode::Inferred, [("db", "postgres"), ("cache", "redis")]);
        let failed = res(EventKind::ResourceFailed, "db").with("error", "quota exceeded");
        assert_eq!(t.apply(&failed), Some(Outcome::Failed));
        assert_eq!(t.error().as_deref(), Some("db: quota exceeded"));
    }

    #[test]
    fn reconcile_finishes_a_redeploy_that_publishes_nothing() {
        let mut t = Tracker::new(Mode::Inferred, [("db", "postgres")]);
        assert_eq!(t.outcome(), None);
        assert_eq!(
            t.reconcile([("db", "postgres", "active", None)]),
            Some(Outcome::Succeeded)
        );
    }

    #[test]
    fn failed_deployment_keeps_the_server_error() {
        let mut t = Tracker::new(Mode::Terminal, []);
        let ev = Event::new(EventKind::DeploymentFailed, "app").with("error", "db: boom");
        assert_eq!(t.apply(&ev), Some(Outcome::Failed));
        assert_eq!(t.error().as_deref(), Some("db: boom"));
    }

    #[test]
    fn completed_event_settles_resources_that_published_nothing() {
        let mut t = Tracker::new(Mode::Terminal, [("db", "postgres")]);
        let done = Event::new(EventKind::DeploymentCompleted, "app").with(
            "resources",
            serde_json::json!([{"name": "db", "type": "postgres", "state": "active"}]),
        );
        assert_eq!(t.apply(&done), Some(Outcome::Succeeded));
        assert_eq!(t.resources()["db"].state, "active");
    }

    #[test]
    fn follow_mode_never_finishes() {
        let mut t = Tracker::new(Mode::Follow, [("db", "postgres")]);
        assert_eq!(t.apply(&res(EventKind::ResourceActive, "db")), None);
        assert_eq!(
            t.apply(&Event::new(EventKind::DeploymentCompleted, "app")),
            None
        );
        assert_eq!(t.outcome(), None);
    }

    #[test]
    fn steps_are_tracked_per_resource() {
        let mut t = Tracker::new(Mode::Terminal, [("db", "postgres")]);
        let step = res(EventKind::StepStarted, "db")
            .with("step_number", 2)
            .with("total_steps", 3)
            .with("step_name", "configure");
        t.apply(&step);
        assert_eq!(t.resources()["db"].step, Some((2, 3, "configure".into())));
        t.apply(&res(EventKind::ResourceActive, "db"));
        assert_eq!(t.resources()["db"].step, None);
    }

    fn at(ev: Event, ts: &str) -> Event {
        let mut ev = ev;
        ev.timestamp = Some(DateTime::parse_from_rfc3339(ts).unwrap());
        ev
    }

    #[test]
    fn an_older_event_arriving_late_does_not_undo_a_newer_state() {
        let mut t = Tracker::new(Mode::Inferred, [("db", "postgres"), ("cache", "redis")]);
        let active = at(
            res(EventKind::ResourceActive, "db"),
            "2024-11-12T15:04:02.000000200+01:00",
        );
        let provisioning = at(
            res(EventKind::ResourceProvisioning, "db"),
            "2024-11-12T14:04:02.000000100Z",
        );
        assert_eq!(t.apply(&active), None);
        assert_eq!(t.apply(&provisioning), None, "older: not applied");
        assert_eq!(t.resources()["db"].state, "active");
        let cache = at(
            res(EventKind::ResourceActive, "cache"),
            "2024-11-12T14:04:03Z",
        );
        assert_eq!(t.apply(&cache), Some(Outcome::Succeeded));
    }

    #[test]
    fn zero_resources_finish_once_the_state_of_record_is_read() {
        let mut t = Tracker::new(Mode::Inferred, []);
        assert_eq!(t.outcome(), None, "not before the server was asked");
        assert_eq!(t.reconcile([]), Some(Outcome::Succeeded));
        let mut t = Tracker::new(Mode::Terminal, []);
        assert_eq!(t.reconcile([]), None, "terminal mode waits for its event");
    }

    #[test]
    fn resources_the_server_adds_are_waited_for() {
        let mut t = Tracker::new(Mode::Inferred, [("db", "postgres")]);
        assert_eq!(
            t.reconcile([
                ("db", "postgres", "active", None),
                ("app-k8s", "kubernetes", "provisioning", None)
            ]),
            None
        );
        assert_eq!(t.progress(), (1, 2));
        let failed = res(EventKind::ResourceFailed, "app-k8s").with("error", "no cluster");
        assert_eq!(t.apply(&failed), Some(Outcome::Failed));
        // Not the spec's own resource: said so.
        assert_eq!(
            t.error(),
            Some(format!("app-k8s: no cluster ({OUTSIDE_SPEC})"))
        );
    }

    #[test]
    fn the_first_failure_leaves_the_unsettled_still_running() {
        let mut t = Tracker::new(
            Mode::Inferred,
            [
                ("db", "postgres"),
                ("cache", "redis"),
                ("queue", "rabbitmq"),
            ],
        );
        t.apply(&res(EventKind::ResourceActive, "queue"));
        t.apply(&res(EventKind::ResourceProvisioning, "cache"));
        let failed = res(EventKind::ResourceFailed, "db").with("error", "quota");
        assert_eq!(t.apply(&failed), Some(Outcome::Failed));
        let state = |name: &str| t.resources()[name].state.clone();
        assert_eq!(state("db"), "failed");
        assert_eq!(state("cache"), STILL_RUNNING);
        assert_eq!(state("queue"), "active");
        assert_eq!(t.error().as_deref(), Some("db: quota"), "the spec's own");
    }
}
