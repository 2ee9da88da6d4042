//! Accepting deployments and driving them through the orchestrator.
//!
//! A `POST` is validated ([`validate`]), recorded by the store (application, deployment row,
//! its resources as `pending`), and answered; a task then waits for the previous deployment of
//! the same application to finish, asks the store for the plan (create / update / unchanged per
//! resource), runs [`orchestrator::run_deployment`] and feeds every event it emits into the store,
//! which assigns ids, updates state and broadcasts.
//!
//! Deployments of one application run one at a time, in the order they were accepted: a later
//! spec must not be overtaken by an earlier one, and the plan of a deployment must see the
//! resource states its predecessor left. A waiting deployment is `running` (its resources
//! `pending`), its stream says `deployment.queued` with the id it waits for, and stays open
//! until it starts and ends. Different applications
//! deploy in parallel.
//!
//! This module must never emit events itself except the safety-net terminal event when the
//! orchestrator ends without one, and must never let a deployment end without a terminal
//! event unless the server is shutting down.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::api_error::ApiError;
use super::catalogue::Catalogue;
use super::orchestrator::{self, DeploymentPlan};
use super::state::App;
use super::store::{SpecResource, Submission, Submitted};
use crate::event::{Event, EventKind};
use crate::spec::{self, Spec};

/// Buffer between the orchestrator and the store writer. Small: the orchestrator should feel
/// the store's pace rather than queue events in memory.
const EVENT_BUFFER: usize = 64;

/// The longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// What the API answers for an accepted deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// The deployment id.
    pub(crate) deployment_id: u64,
    /// The application.
    pub(crate) app: String,
}

/// Validates a submitted spec: PROTOCOL.md A.2 rules through [`spec::parse`], then every
/// resource type must have a provider. Returns the spec and its resources with their
/// canonical fragments.
pub(crate) fn validate(
    body: &str,
    catalogue: &Catalogue,
) -> Result<(Spec, Vec<SpecResource>), ApiError> {
    let spec =
        spec::parse(body, "request body").map_err(|e| ApiError::invalid_spec(e.message()))?;
    let mut unknown: Vec<String> = spec
        .resources
        .iter()
        .filter(|r| catalogue.provider_for(&r.kind).is_none())
        .map(|r| format!("{} (type: {})", r.name, r.kind))
        .collect();
    if !unknown.is_empty() {
        // innominatus lists these in map order (random); sorted, the message is reproducible.
        unknown.sort();
        return Err(ApiError::unknown_resource_types(format!(
            "Resource validation failed: unknown resource types (no provider registered): {}",
            unknown.join(", ")
        )));
    }
    let resources = spec
        .resources
        .iter()
        .map(|r| SpecResource {
            name: r.name.clone(),
            kind: r.kind.clone(),
            params: r.definition.clone(),
        })
        .collect();
    Ok((spec, resources))
}

/// At most this many specs are parsed at once. Parsing is CPU work, bounded per spec by the
/// limits of [`spec`] (size, nesting depth, expanded nodes) but not free; more POSTs wait their
/// turn without holding a thread.
const PARALLEL_PARSES: usize = 4;

/// Permits for [`PARALLEL_PARSES`].
static PARSES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PARALLEL_PARSES);

/// [`validate`] for a request body, run on tokio's blocking pool: parsing must never occupy an
/// async worker, or a few large POSTs would stall every other request (`/healthz` included).
pub(crate) async fn validate_off_workers(
    body: Bytes,
    catalogue: Arc<Catalogue>,
) -> Result<(Spec, Vec<SpecResource>), ApiError> {
    // The semaphore is never closed, so acquiring only fails if that changes.
    let _permit = PARSES.acquire().await.map_err(|_| ApiError::internal())?;
    let parsed = tokio::task::spawn_blocking(move || {
        let text = std::str::from_utf8(&body).map_err(|_| {
            ApiError::invalid_spec("Error parsing YAML: the request body is not UTF-8")
        })?;
        validate(text, &catalogue)
    })
    .await;
    // A panic in the parser is a bug, answered as one; it must not take the connection down.
    parsed.unwrap_or_else(|_| Err(ApiError::internal()))
}

/// Checks an `Idempotency-Key` header value.
pub(crate) fn idempotency_key(raw: Option<&[u8]>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let usable = !raw.is_empty()
        && raw.len() <= MAX_IDEMPOTENCY_KEY
        && raw.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
    if !usable {
        return Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
        )));
    }
    // Checked above: printable ASCII is UTF-8.
    Ok(Some(String::from_utf8_lossy(raw).into_owned()))
}

/// Records a deployment and starts its driver. Returns once the deployment row exists, so the
/// caller can stream `?deployment=<id>` right away and see it from `deployment.started` on.
pub(crate) async fn submit(
    app: &Arc<App>,
    team: Arc<str>,
    spec: Spec,
    resources: Vec<SpecResource>,
    key: Option<String>,
) -> Result<Accepted, ApiError> {
    let name = spec.name.clone();
    let submission = Submission {
        team: team.clone(),
        app: spec.name,
        spec: spec.source,
        resources,
        idempotency_key: key,
    };
    match app.store.call(move |db| db.submit(submission)).await? {
        Submitted::Existing {
            deployment_id,
            app: existing,
        } => Ok(Accepted {
            deployment_id,
            app: existing,
        }),
        Submitted::KeyReused => Err(ApiError::idempotency_key_reused()),
        Submitted::Forbidden => Err(ApiError::forbidden(format!(
            "Application '{name}' belongs to another team"
        ))),
        Submitted::New {
            deployment_id,
            after,
            done,
        } => {
            tracing::info!(deployment_id, app = %name, "deployment accepted");
            let after = match after {
                Some((previous_id, previous)) => {
                    if !previous.is_cancelled() {
                        queued(app, &team, deployment_id, &name, previous_id).await;
                    }
                    Some(previous)
                }
                None => None,
            };
            let driver = drive(app.clone(), deployment_id, name.clone(), team, after, done);
            app.tasks.spawn(driver);
            Ok(Accepted {
                deployment_id,
                app: name,
            })
        }
    }
}

/// Records that a deployment waits for `previous_id`, before its submission is answered: a
/// watch of the new deployment (which replays it from its first event) then says why nothing
/// moves yet, instead of showing nothing until `deployment.started`.
async fn queued(app: &App, team: &Arc<str>, deployment_id: u64, name: &str, previous_id: u64) {
    let event = Event::new(EventKind::DeploymentQueued, name)
        .with_source("orchestration-engine")
        .with_deployment(deployment_id.to_string())
        .with("waiting_for", previous_id.to_string());
    if let Err(err) = app.store.append(event, team.clone()).await {
        // Only at shutdown; the deployment still waits its turn, unannounced.
        tracing::warn!(deployment_id, error = %err, "cannot record the queued deployment");
    }
}

/// Runs one accepted deployment from its turn in the queue to its end.
async fn drive(
    app: Arc<App>,
    deployment_id: u64,
    name: String,
    team: Arc<str>,
    after: Option<CancellationToken>,
    done: CancellationToken,
) {
    // Whatever happens below (end, shutdown, panic), the next deployment of the app may go.
    let _done = done.drop_guard();
    if let Some(previous) = after {
        tokio::select! {
            _ = previous.cancelled() => {}
            // Shutdown while waiting: the deployment stays `running` and is failed on restart.
            _ = app.cancel.cancelled() => return,
        }
    }
    let resources = match app.store.call(move |db| db.plan(deployment_id)).await {
        Ok(resources) => resources,
        Err(err) => {
            tracing::error!(deployment_id, error = %err, "cannot plan deployment");
            return;
        }
    };
    let plan = DeploymentPlan {
        deployment_id: deployment_id.to_string(),
        app_name: name.clone(),
        resources,
    };
    let started = Instant::now();
    let (events, rx) = mpsc::channel(EVENT_BUFFER);
    let run = AssertUnwindSafe(orchestrator::run_deployment(
        plan,
        app.catalogue.clone(),
        events,
        app.cancel.child_token(),
    ))
    .catch_unwind();
    let forward = forward(&app, rx, &team, deployment_id, &name);
    let (outcome, terminal_stored) = tokio::join!(run, forward);
    if outcome.is_err() {
        tracing::error!(deployment_id, "the orchestrator panicked");
    }
    if !terminal_stored && !app.cancel.is_cancelled() {
        // The orchestrator ended without saying how: fail the deployment rather than leave it
        // `running` forever, which would also block every later deployment of the app.
        let event = Event::new(EventKind::DeploymentFailed, name.clone())
            .with_source("orchestration-engine")
            .with_deployment(deployment_id.to_string())
            .with(
                "error",
                "the deployment ended without a result (internal error)",
            )
            .with("failed_resources", Vec::<String>::new())
            .with("duration_ms", started.elapsed().as_millis() as u64);
        if let Err(err) = app.store.append(event, team.clone()).await {
            tracing::error!(deployment_id, error = %err, "cannot record deployment failure");
        }
    }
    match outcome {
        Ok(Some(outcome)) => {
            tracing::info!(deployment_id, app = %name, %outcome, "deployment finished")
        }
        _ => tracing::info!(deployment_id, app = %name, "deployment stopped"),
    }
    let _ = app
        .store
        .call(move |db| {
            db.dequeue(&name, deployment_id);
            Ok(())
        })
        .await;
}

/// Stores every event the orchestrator emits, in order, stamped with this deployment.
/// Returns whether a terminal event was stored. Anything after the terminal event is dropped:
/// a deployment has exactly one terminal event, and it is the last.
async fn forward(
    app: &App,
    mut rx: mpsc::Receiver<Event>,
    team: &Arc<str>,
    deployment_id: u64,
    name: &str,
) -> bool {
    let mut terminal = false;
    while let Some(mut event) = rx.recv().await {
        if terminal {
            tracing::warn!(deployment_id, kind = %event.kind, "event after the terminal event dropped");
            continue;
        }
        event.deployment_id = Some(deployment_id.to_string());
        if event.app_name.is_empty() {
            event.app_name = name.to_owned();
        }
        let is_terminal = event.outcome().is_some();
        match app.store.append(event, team.clone()).await {
            Ok(_) => terminal = is_terminal,
            Err(err) => {
                // Only at shutdown; dropping `rx` makes the orchestrator's next send fail.
                tracing::warn!(deployment_id, error = %err, "cannot store event");
                return terminal;
            }
        }
    }
    terminal
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "apiVersion: score.dev/v1b1\nmetadata:\n  name: web\ncontainers:\n  main:\n    image: nginx\nresources:\n  db:\n    type: postgres\n    params: {size: 1, tier: a}\n  zz:\n    type: nosuch\n  aa:\n    type: other\n";

    #[test]
    fn unknown_types_are_listed_sorted() {
        let err = validate(SPEC, &Catalogue::builtin()).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(
            err.message(),
            "Resource validation failed: unknown resource types (no provider registered): aa (type: other), zz (type: nosuch)"
        );
    }

    #[test]
    fn idempotency_keys_are_checked() {
        assert_eq!(idempotency_key(None).unwrap(), None);
        assert_eq!(
            idempotency_key(Some(b"abc-1")).unwrap().as_deref(),
            Some("abc-1")
        );
        assert!(idempotency_key(Some(b"")).is_err());
        assert!(idempotency_key(Some(&[0xff])).is_err());
        assert!(idempotency_key(Some(&[b'a'; 300])).is_err());
    }
}
