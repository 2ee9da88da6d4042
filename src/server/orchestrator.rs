//! Runs deployments (stand-in with the agreed interface; replaced by the real module).
//!
//! Owns the per-resource provisioning sequence and the events it emits. It keeps no state and
//! never touches the store: everything goes out through the events channel.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::catalogue::{Catalogue, StepAction};
use crate::event::{Event, EventKind, Outcome};

/// One deployment to run, as planned by the server core.
#[derive(Debug, Clone)]
pub struct DeploymentPlan {
    /// Decimal integer as a string, assigned by the core.
    pub deployment_id: String,
    /// The application.
    pub app_name: String,
    /// Every resource of the spec, with what to do about it.
    pub resources: Vec<PlannedResource>,
}

/// One resource of a plan.
#[derive(Debug, Clone)]
pub struct PlannedResource {
    /// The resource name.
    pub name: String,
    /// The resource type.
    pub kind: String,
    /// The core's integer id for (app, name).
    pub resource_id: u64,
    /// What to do.
    pub action: ResourceAction,
}

/// What a deployment does with one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceAction {
    /// New resource: emit resource.created then provision.
    Create,
    /// Existing resource that changed or is not active: provision again.
    Update,
    /// Already active and unchanged: emit nothing.
    Unchanged,
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Local::now().fixed_offset()
}

/// Runs one deployment to its end, emitting every event through `events` in order.
pub async fn run_deployment(
    plan: DeploymentPlan,
    catalogue: Arc<Catalogue>,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) -> Option<Outcome> {
    let started = Instant::now();
    let ev = |kind: EventKind, source: &str| {
        let mut e = Event::new(kind, plan.app_name.clone())
            .with_source(source)
            .with_deployment(plan.deployment_id.clone());
        e.timestamp = Some(now());
        e
    };
    let list: Vec<Value> = plan
        .resources
        .iter()
        .map(|r| json!({"name": r.name, "type": r.kind}))
        .collect();
    let total = list.len();
    events
        .send(
            ev(EventKind::DeploymentStarted, "orchestration-engine")
                .with("resources", list)
                .with("total_resources", total),
        )
        .await
        .ok()?;
    let mut failed = Vec::new();
    let mut errors = Vec::new();
    for r in &plan.resources {
        if r.action == ResourceAction::Unchanged {
            continue;
        }
        let res = |kind: EventKind, source: &str| {
            ev(kind, source)
                .with("resource_id", r.resource_id)
                .with("resource_name", r.name.clone())
                .with("resource_type", r.kind.clone())
        };
        if r.action == ResourceAction::Create {
            events
                .send(
                    res(EventKind::ResourceCreated, "resource-manager")
                        .with("state", "requested")
                        .with("created_by", "ctl-server"),
                )
                .await
                .ok()?;
        }
        events
            .send(res(EventKind::ResourceProvisioning, "orchestration-engine"))
            .await
            .ok()?;
        let Some(provider) = catalogue.provider_for(&r.kind) else {
            let error = format!("no provider registered for resource type '{}'", r.kind);
            events
                .send(
                    res(EventKind::ResourceFailed, "resource-manager").with("error", error.clone()),
                )
                .await
                .ok()?;
            failed.push(r.name.clone());
            errors.push(error);
            continue;
        };
        let mut error = None;
        for (i, step) in provider.workflow.steps.iter().enumerate() {
            let s = |kind| {
                ev(kind, "workflow-executor")
                    .with("resource_name", r.name.clone())
                    .with("workflow_name", provider.workflow.name.clone())
                    .with("execution_id", r.resource_id)
                    .with("step_name", step.name.clone())
                    .with("step_number", i + 1)
                    .with("total_steps", provider.workflow.steps.len())
            };
            events.send(s(EventKind::StepStarted)).await.ok()?;
            match &step.action {
                StepAction::Sleep(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(*d) => {}
                        _ = cancel.cancelled() => return None,
                    }
                }
                StepAction::Fail(m) => error = Some(m.clone()),
                StepAction::Run(_) => {}
            }
            if let Some(e) = &error {
                events
                    .send(s(EventKind::StepFailed).with("error", e.clone()))
                    .await
                    .ok()?;
                break;
            }
            events.send(s(EventKind::StepCompleted)).await.ok()?;
        }
        match error {
            None => events
                .send(
                    res(EventKind::ResourceActive, "resource-manager")
                        .with("new_state", "active")
                        .with("workflow_execution_id", r.resource_id),
                )
                .await
                .ok()?,
            Some(e) => {
                events
                    .send(
                        res(EventKind::ResourceFailed, "resource-manager").with("error", e.clone()),
                    )
                    .await
                    .ok()?;
                failed.push(r.name.clone());
                errors.push(format!("resource '{}' failed: {e}", r.name));
            }
        }
    }
    let duration_ms = started.elapsed().as_millis() as u64;
    if failed.is_empty() {
        let list: Vec<Value> = plan
            .resources
            .iter()
            .map(|r| json!({"name": r.name, "type": r.kind, "state": "active"}))
            .collect();
        events
            .send(
                ev(EventKind::DeploymentCompleted, "orchestration-engine")
                    .with("duration_ms", duration_ms)
                    .with("resources", list),
            )
            .await
            .ok()?;
        Some(Outcome::Succeeded)
    } else {
        events
            .send(
                ev(EventKind::DeploymentFailed, "orchestration-engine")
                    .with("error", errors.join("; "))
                    .with("failed_resources", failed)
                    .with("duration_ms", duration_ms),
            )
            .await
            .ok()?;
        Some(Outcome::Failed)
    }
}
