//! The orchestrator: runs one deployment's provider workflows and reports every step as events.
//!
//! [`run_deployment`] takes a plan made by the server core (which resources to create, update or
//! leave alone), provisions the resources concurrently with the workflows of the
//! [`Catalogue`], and sends each [`Event`] through a channel in the order it happened. The core
//! stores the events, assigns their ids and derives resource and deployment state from them, so
//! this module keeps no state between deployments and never touches the store, the network or
//! stdout. The only process-wide state is the counter behind workflow execution ids.
//!
//! Per deployment the sequence is: `deployment.started`; then, for each resource concurrently,
//! [`resource.created` (new resources only)] → `resource.provisioning` → `provider.resolved` →
//! `workflow.started` → per step `step.started`, `step.progress`*, `step.completed` →
//! `workflow.completed` → `resource.active`, or on the first failing step `step.failed` →
//! `workflow.failed` → `resource.failed`; and last exactly one of `deployment.completed` or
//! `deployment.failed`. A failed resource does not stop the others: the deployment waits for
//! every resource and only then fails.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::catalogue::{Catalogue, Step, StepAction};
use crate::event::{Event, EventKind, Outcome};

/// Everything the orchestrator needs to run one deployment, decided by the server core.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentPlan {
    /// The deployment id (a decimal integer as a string), assigned by the core.
    pub deployment_id: String,
    /// The application being deployed.
    pub app_name: String,
    /// The resources of the spec, in spec order, each with what to do about it.
    pub resources: Vec<PlannedResource>,
}

/// One resource of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedResource {
    /// The resource's name in the spec, e.g. `db`.
    pub name: String,
    /// The resource type, e.g. `postgres`.
    pub kind: String,
    /// The core's integer id for (app, name).
    pub resource_id: u64,
    /// What this deployment does with it.
    pub action: ResourceAction,
}

/// What a deployment does with one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceAction {
    /// A new resource: emit `resource.created`, then provision it.
    Create,
    /// An existing resource that changed or is not active: provision it again (no
    /// `resource.created`).
    Update,
    /// Already active and unchanged: emit nothing for it; it counts as active.
    Unchanged,
}

/// `source` of deployment-level and `resource.provisioning` events.
const ENGINE: &str = "orchestration-engine";
/// `source` of `resource.created`, `resource.active` and `resource.failed`.
const RESOURCE_MANAGER: &str = "resource-manager";
/// `source` of provider, workflow and step events.
const EXECUTOR: &str = "workflow-executor";

/// At most this many `step.progress` events per `run` step, so a chatty command cannot flood the
/// event store; the last line is always reported.
const MAX_PROGRESS_PER_STEP: usize = 20;
/// Progress messages are cut to this many characters.
const MAX_PROGRESS_CHARS: usize = 300;
/// How much of a failed command's stderr is kept for the error message.
const STDERR_TAIL_BYTES: usize = 4096;
/// How many trailing stderr lines go into the error message.
const STDERR_TAIL_LINES: usize = 3;

/// Workflow execution ids: unique within the process, never reused.
static NEXT_EXECUTION_ID: AtomicU64 = AtomicU64::new(1);

/// Runs one deployment to its end, emitting every event through `events` in order, and returns
/// how it ended.
///
/// Emits `deployment.started` first and exactly one terminal event last (`deployment.completed`
/// or `deployment.failed`), unless `cancel` fires first (server shutdown): then it stops
/// promptly, kills any running step command, emits no terminal event and returns `None` (the
/// core marks the deployment failed on restart). It also returns `None`, quietly, if the
/// receiver of `events` is dropped, since nobody could record what happens next.
///
/// Events carry `kind`, `app_name`, `deployment_id`, `source`, `timestamp` and `data`; `id` is
/// left empty for the store to assign.
pub async fn run_deployment(
    plan: DeploymentPlan,
    catalogue: Arc<Catalogue>,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) -> Option<Outcome> {
    // Dropping the deployment future on cancellation is what stops it: every resource runs
    // inside it (no spawned tasks), and step commands are killed when their `Child` is dropped.
    cancel
        .run_until_cancelled(drive(&plan, &catalogue, &events))
        .await
        .flatten()
}

/// The events receiver is gone; stop without a terminal event.
struct Closed;

/// Builds events stamped with the deployment's identity and sends them.
struct Emitter<'a> {
    tx: &'a mpsc::Sender<Event>,
    app_name: &'a str,
    deployment_id: &'a str,
}

impl Emitter<'_> {
    fn event(&self, kind: EventKind, source: &str) -> Event {
        let mut ev = Event::new(kind, self.app_name)
            .with_source(source)
            .with_deployment(self.deployment_id);
        ev.timestamp = Some(chrono::Local::now().fixed_offset());
        ev
    }

    /// An event about `res` with the resource keys every `resource.*` event carries.
    fn resource_event(&self, kind: EventKind, source: &str, res: &PlannedResource) -> Event {
        self.event(kind, source)
            .with("resource_id", res.resource_id)
            .with("resource_name", res.name.as_str())
            .with("resource_type", res.kind.as_str())
    }

    async fn send(&self, ev: Event) -> Result<(), Closed> {
        self.tx.send(ev).await.map_err(|_| Closed)
    }
}

/// How one resource ended.
enum End {
    Active,
    Failed(Failure),
}

/// Why a resource failed, for the `deployment.failed` sentence.
struct Failure {
    /// The failing step and its workflow; `None` when no workflow could run (no provider).
    at: Option<(String, String)>,
    error: String,
}

/// Runs the whole deployment; `None` if the events receiver went away.
async fn drive(
    plan: &DeploymentPlan,
    catalogue: &Catalogue,
    tx: &mpsc::Sender<Event>,
) -> Option<Outcome> {
    let started = Instant::now();
    let em = Emitter {
        tx,
        app_name: &plan.app_name,
        deployment_id: &plan.deployment_id,
    };
    let listing: Vec<Value> = plan
        .resources
        .iter()
        .map(|r| json!({ "name": r.name, "type": r.kind }))
        .collect();
    em.send(
        em.event(EventKind::DeploymentStarted, ENGINE)
            .with("resources", listing)
            .with("total_resources", plan.resources.len()),
    )
    .await
    .ok()?;

    // Concurrent but not parallel: the futures share this task, which is enough because every
    // step waits (a timer or a child process) and it keeps cancellation a plain drop. A failed
    // resource is an `Ok(End::Failed)`, so only a closed channel (`Err`) cuts the others short.
    let ends = futures::future::try_join_all(
        plan.resources
            .iter()
            .map(|res| provision(res, catalogue, &em)),
    )
    .await
    .ok()?;

    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let failures: Vec<(&PlannedResource, &Failure)> = plan
        .resources
        .iter()
        .zip(&ends)
        .filter_map(|(res, end)| match end {
            End::Failed(f) => Some((res, f)),
            End::Active => None,
        })
        .collect();

    if failures.is_empty() {
        let resources: Vec<Value> = plan
            .resources
            .iter()
            .map(|r| json!({ "name": r.name, "type": r.kind, "state": "active" }))
            .collect();
        em.send(
            em.event(EventKind::DeploymentCompleted, ENGINE)
                .with("duration_ms", duration_ms)
                .with("resources", resources),
        )
        .await
        .ok()?;
        Some(Outcome::Succeeded)
    } else {
        let names: Vec<Value> = failures
            .iter()
            .map(|(r, _)| Value::from(r.name.as_str()))
            .collect();
        em.send(
            em.event(EventKind::DeploymentFailed, ENGINE)
                .with("error", failure_sentence(&failures, plan.resources.len()))
                .with("failed_resources", names)
                .with("duration_ms", duration_ms),
        )
        .await
        .ok()?;
        Some(Outcome::Failed)
    }
}

/// The human sentence of `deployment.failed`: which resources failed, at which step, and why.
fn failure_sentence(failures: &[(&PlannedResource, &Failure)], total: usize) -> String {
    let each: Vec<String> = failures
        .iter()
        .map(|(res, f)| match &f.at {
            Some((step, workflow)) => format!(
                "resource '{}' ({}) failed at step '{step}' of workflow '{workflow}': {}",
                res.name, res.kind, f.error
            ),
            None => format!("resource '{}' ({}) failed: {}", res.name, res.kind, f.error),
        })
        .collect();
    match each.as_slice() {
        [one] => one.clone(),
        many => format!(
            "{} of {total} resources failed: {}",
            many.len(),
            many.join("; ")
        ),
    }
}

/// Provisions one resource and emits its events.
async fn provision(
    res: &PlannedResource,
    catalogue: &Catalogue,
    em: &Emitter<'_>,
) -> Result<End, Closed> {
    match res.action {
        ResourceAction::Unchanged => return Ok(End::Active),
        ResourceAction::Create => {
            em.send(
                em.resource_event(EventKind::ResourceCreated, RESOURCE_MANAGER, res)
                    .with("state", "requested")
                    .with("created_by", "ctl-server"),
            )
            .await?;
        }
        ResourceAction::Update => {}
    }
    em.send(em.resource_event(EventKind::ResourceProvisioning, ENGINE, res))
        .await?;

    // The core rejects unknown types at POST time; this covers a catalogue swapped between the
    // POST and the run, or a plan built some other way.
    let Some(provider) = catalogue.provider_for(&res.kind) else {
        let error = format!("no provider registered for resource type '{}'", res.kind);
        em.send(
            em.resource_event(EventKind::ResourceFailed, RESOURCE_MANAGER, res)
                .with("error", error.as_str()),
        )
        .await?;
        return Ok(End::Failed(Failure { at: None, error }));
    };
    let workflow = &provider.workflow;
    em.send(
        em.resource_event(EventKind::ProviderResolved, EXECUTOR, res)
            .with("provider_name", provider.name.as_str())
            .with("workflow_name", workflow.name.as_str()),
    )
    .await?;

    let execution_id = NEXT_EXECUTION_ID.fetch_add(1, Ordering::Relaxed);
    let total_steps = workflow.steps.len();
    let workflow_event = |kind: EventKind| {
        em.event(kind, EXECUTOR)
            .with("resource_name", res.name.as_str())
            .with("workflow_name", workflow.name.as_str())
            .with("execution_id", execution_id)
            .with("total_steps", total_steps)
    };
    em.send(workflow_event(EventKind::WorkflowStarted)).await?;

    for (index, step) in workflow.steps.iter().enumerate() {
        let step_event = |kind: EventKind| {
            workflow_event(kind)
                .with("step_name", step.name.as_str())
                .with("step_number", index + 1)
        };
        em.send(step_event(EventKind::StepStarted)).await?;
        let env = StepEnv {
            passthrough: catalogue.env_passthrough(),
            app_name: em.app_name,
            deployment_id: em.deployment_id,
            resource: res,
        };
        let progress = |message: &str| step_event(EventKind::StepProgress).with("message", message);
        match run_step(step, &env, em, &progress).await? {
            Ok(()) => em.send(step_event(EventKind::StepCompleted)).await?,
            Err(error) => {
                em.send(step_event(EventKind::StepFailed).with("error", error.as_str()))
                    .await?;
                em.send(
                    workflow_event(EventKind::WorkflowFailed)
                        .with("error", error.as_str())
                        .with("step_name", step.name.as_str()),
                )
                .await?;
                em.send(
                    em.resource_event(EventKind::ResourceFailed, RESOURCE_MANAGER, res)
                        .with("error", error.as_str()),
                )
                .await?;
                return Ok(End::Failed(Failure {
                    at: Some((step.name.clone(), workflow.name.clone())),
                    error,
                }));
            }
        }
    }

    em.send(workflow_event(EventKind::WorkflowCompleted))
        .await?;
    em.send(
        em.resource_event(EventKind::ResourceActive, RESOURCE_MANAGER, res)
            .with("new_state", "active")
            .with("workflow_execution_id", execution_id),
    )
    .await?;
    Ok(End::Active)
}

/// What a `run` command learns about its context, through environment variables.
struct StepEnv<'a> {
    /// The server's variables a step may see (the rest of its environment is not passed).
    passthrough: &'a [String],
    app_name: &'a str,
    deployment_id: &'a str,
    resource: &'a PlannedResource,
}

/// Runs one step. The outer `Result` is the channel; the inner one is the step's own outcome,
/// with the error message for `step.failed`.
async fn run_step(
    step: &Step,
    env: &StepEnv<'_>,
    em: &Emitter<'_>,
    progress: &(dyn Fn(&str) -> Event + Sync),
) -> Result<Result<(), String>, Closed> {
    match &step.action {
        StepAction::Sleep(duration) => {
            tokio::time::sleep(*duration).await;
            Ok(Ok(()))
        }
        StepAction::Fail(message) => Ok(Err(message.clone())),
        StepAction::Run(command) => run_command(command, env, em, progress).await,
    }
}

/// Runs `sh -c command`, reporting stdout lines as progress; fails on a non-zero exit with the
/// tail of stderr.
async fn run_command(
    command: &str,
    env: &StepEnv<'_>,
    em: &Emitter<'_>,
    progress: &(dyn Fn(&str) -> Event + Sync),
) -> Result<Result<(), String>, Closed> {
    let mut command_line = Command::new("sh");
    // The server's environment holds its API keys (CTL_SERVER_API_KEYS) and whatever else the
    // operator exported; a step's output goes to the deploying team, so only an allow-list
    // of variables is passed (docs/server.md).
    command_line.env_clear();
    for name in env.passthrough {
        if let Some(value) = std::env::var_os(name) {
            command_line.env(name, value);
        }
    }
    command_line
        .arg("-c")
        .arg(command)
        .env("CTL_APP", env.app_name)
        .env("CTL_DEPLOYMENT_ID", env.deployment_id)
        .env("CTL_RESOURCE_NAME", &env.resource.name)
        .env("CTL_RESOURCE_TYPE", &env.resource.kind)
        .env("CTL_RESOURCE_ID", env.resource.resource_id.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Cancellation drops this future; the command must not outlive the deployment.
        .kill_on_drop(true);
    // In a process group of its own, so that cancelling also stops what it started.
    #[cfg(unix)]
    command_line.process_group(0);
    let spawned = command_line.spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            // The command line is the operator's (a catalogue may hold paths or tokens): it goes
            // to the server's log, never into an event a client reads.
            tracing::warn!(app = env.app_name, resource = %env.resource.name, %command, error = %e, "cannot start a run step");
            return Ok(Err(format!("cannot start the step's command: {e}")));
        }
    };
    let group = GroupKill(child.id());
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        // Both were requested as pipes just above, so tokio always provides them.
        return Ok(Err("cannot capture the command's output".to_owned()));
    };

    // Both pipes are drained together: reading one to the end first could leave the command
    // blocked on a full buffer of the other.
    let (forwarded, stderr_tail) =
        tokio::join!(forward_progress(stdout, em, progress), read_tail(stderr));
    forwarded?;
    let status = match child.wait().await {
        Ok(status) => status,
        Err(e) => return Ok(Err(format!("cannot wait for the command: {e}"))),
    };
    // It ran to its end: whatever it left running in the background is its own business.
    group.disarm();
    if status.success() {
        return Ok(Ok(()));
    }
    let text = String::from_utf8_lossy(&stderr_tail);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("; ");
    Ok(Err(if tail.is_empty() {
        format!("command failed ({status})")
    } else {
        format!("command failed ({status}): {tail}")
    }))
}

/// Kills a step command's process group when dropped before [`GroupKill::disarm`]: a step
/// cancelled with the deployment takes down the processes its command started (`sh -c 'a |
/// b'`, a script's children), not only the shell that `kill_on_drop` reaches.
struct GroupKill(Option<u32>);

impl GroupKill {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self
            .0
            .and_then(|id| rustix::process::Pid::from_raw(id as i32))
        {
            // The group may be gone already; there is nothing to do about a failure here.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Sends each non-blank stdout line as a `step.progress` message, up to
/// [`MAX_PROGRESS_PER_STEP`]; past that only the last line is sent, at the end.
async fn forward_progress(
    stdout: impl AsyncRead + Unpin,
    em: &Emitter<'_>,
    progress: &(dyn Fn(&str) -> Event + Sync),
) -> Result<(), Closed> {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    let mut sent = 0;
    let mut held_back: Option<String> = None;
    loop {
        line.clear();
        // Bytes, not `lines()`: a command printing invalid UTF-8 must not stop the draining.
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let message: String = text.chars().take(MAX_PROGRESS_CHARS).collect();
        if sent < MAX_PROGRESS_PER_STEP {
            em.send(progress(&message)).await?;
            sent += 1;
        } else {
            held_back = Some(message);
        }
    }
    if let Some(message) = held_back {
        em.send(progress(&message)).await?;
    }
    Ok(())
}

/// Reads `r` to the end, keeping only the last [`STDERR_TAIL_BYTES`].
async fn read_tail(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > STDERR_TAIL_BYTES {
                    kept.drain(..kept.len() - STDERR_TAIL_BYTES);
                }
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(resources: &[(&str, &str, ResourceAction)]) -> DeploymentPlan {
        DeploymentPlan {
            deployment_id: "7".into(),
            app_name: "shop".into(),
            resources: resources
                .iter()
                .zip(1..)
                .map(|(&(name, kind, action), id)| PlannedResource {
                    name: name.into(),
                    kind: kind.into(),
                    resource_id: id,
                    action,
                })
                .collect(),
        }
    }

    /// Runs a deployment to its end and collects everything it sent.
    async fn run(plan: DeploymentPlan, catalogue: Catalogue) -> (Option<Outcome>, Vec<Event>) {
        let (tx, mut rx) = mpsc::channel(1024);
        let outcome = run_deployment(plan, Arc::new(catalogue), tx, CancellationToken::new()).await;
        let mut events = Vec::new();
        // The sender was moved into run_deployment and is dropped by now, so this ends.
        while let Some(ev) = rx.recv().await {
            events.push(ev);
        }
        (outcome, events)
    }

    fn kinds_for<'a>(events: &'a [Event], resource: &str) -> Vec<&'a str> {
        events
            .iter()
            .filter(|e| e.resource_name().as_deref() == Some(resource))
            .map(|e| e.kind.as_str())
            .collect()
    }

    fn position(events: &[Event], kind: EventKind, resource: &str) -> usize {
        events
            .iter()
            .position(|e| e.kind == kind && e.resource_name().as_deref() == Some(resource))
            .unwrap_or_else(|| panic!("no {kind} for {resource}"))
    }

    fn terminals(events: &[Event]) -> usize {
        events.iter().filter(|e| e.outcome().is_some()).count()
    }

    fn catalogue(yaml: &str) -> Catalogue {
        Catalogue::from_yaml(yaml, "test.yaml").unwrap()
    }

    const FAILING: &str = "\
providers:
  - name: database-team
    resource_types: [postgres]
    workflow:
      name: provision-postgres
      steps:
        - name: create-instance
          sleep: 100ms
        - name: configure-network
          fail: 'quota exceeded: no more than 5 databases per team'
        - name: verify-connection
          sleep: 100ms
  - name: cache-team
    resource_types: [redis]
    workflow:
      name: provision-redis
      steps:
        - name: create-cluster
          sleep: 300ms
";

    #[tokio::test(start_paused = true)]
    async fn two_resources_succeed_with_the_full_sequence() {
        let (outcome, events) = run(
            plan(&[
                ("db", "postgres", ResourceAction::Create),
                ("cache", "redis", ResourceAction::Update),
            ]),
            Catalogue::builtin(),
        )
        .await;
        assert_eq!(outcome, Some(Outcome::Succeeded));

        let steps4 = ["step.started", "step.completed"].repeat(4);
        let steps3 = ["step.started", "step.completed"].repeat(3);
        let head = [
            "resource.provisioning",
            "provider.resolved",
            "workflow.started",
        ];
        let tail = ["workflow.completed", "resource.active"];
        let db: Vec<&str> = ["resource.created"]
            .iter()
            .chain(&head)
            .chain(&steps4)
            .chain(&tail)
            .copied()
            .collect();
        let cache: Vec<&str> = head.iter().chain(&steps3).chain(&tail).copied().collect();
        assert_eq!(kinds_for(&events, "db"), db);
        // An update is provisioned again but not created again.
        assert_eq!(kinds_for(&events, "cache"), cache);

        assert_eq!(events[0].kind, EventKind::DeploymentStarted);
        assert_eq!(terminals(&events), 1);
        let last = events.last().unwrap();
        assert_eq!(last.kind, EventKind::DeploymentCompleted);
        assert_eq!(events.len(), 2 + db.len() + cache.len());

        // Concurrent: the second workflow starts before the first one ends.
        assert!(
            position(&events, EventKind::WorkflowStarted, "cache")
                < position(&events, EventKind::WorkflowCompleted, "db")
        );

        for ev in &events {
            assert_eq!(ev.app_name, "shop");
            assert_eq!(ev.deployment_id.as_deref(), Some("7"));
            assert!(ev.id.is_empty(), "the store assigns ids");
            assert!(ev.timestamp.is_some());
            let expected_source = match ev.kind {
                EventKind::ResourceCreated
                | EventKind::ResourceActive
                | EventKind::ResourceFailed => RESOURCE_MANAGER,
                EventKind::DeploymentStarted
                | EventKind::DeploymentCompleted
                | EventKind::ResourceProvisioning => ENGINE,
                _ => EXECUTOR,
            };
            assert_eq!(ev.source, expected_source, "{}", ev.kind);
            for key in [
                "resource_id",
                "execution_id",
                "total_steps",
                "step_number",
                "workflow_execution_id",
                "total_resources",
                "duration_ms",
            ] {
                if let Some(v) = ev.data.get(key) {
                    assert!(v.is_u64(), "{} {key} = {v}", ev.kind);
                }
            }
        }

        let started = &events[0].data;
        assert_eq!(started["total_resources"], 2);
        assert_eq!(
            started["resources"],
            json!([{"name":"db","type":"postgres"},{"name":"cache","type":"redis"}])
        );
        let created = &events[position(&events, EventKind::ResourceCreated, "db")].data;
        assert_eq!(created["resource_id"], 1);
        assert_eq!(created["resource_type"], "postgres");
        assert_eq!(created["state"], "requested");
        assert_eq!(created["created_by"], "ctl-server");
        let resolved = &events[position(&events, EventKind::ProviderResolved, "db")].data;
        assert_eq!(resolved["provider_name"], "database-team");
        assert_eq!(resolved["workflow_name"], "provision-postgres");

        let db_steps: Vec<&Event> = events
            .iter()
            .filter(|e| {
                e.kind == EventKind::StepCompleted && e.resource_name().as_deref() == Some("db")
            })
            .collect();
        let numbers: Vec<u64> = db_steps
            .iter()
            .filter_map(|e| e.data_u64("step_number"))
            .collect();
        assert_eq!(numbers, [1, 2, 3, 4]);
        assert_eq!(db_steps[0].data["step_name"], "create-instance");
        assert_eq!(db_steps[0].data["total_steps"], 4);
        assert_eq!(db_steps[0].data["workflow_name"], "provision-postgres");

        let exec = |r: &str| {
            events[position(&events, EventKind::WorkflowStarted, r)].data_u64("execution_id")
        };
        assert_ne!(exec("db"), exec("cache"));
        let active = &events[position(&events, EventKind::ResourceActive, "db")];
        assert_eq!(active.data["new_state"], "active");
        assert_eq!(active.data_u64("workflow_execution_id"), exec("db"));

        assert_eq!(
            last.data["resources"],
            json!([
                {"name":"db","type":"postgres","state":"active"},
                {"name":"cache","type":"redis","state":"active"}
            ])
        );
        // The clock is paused, so elapsed time is exactly the longest workflow (concurrency),
        // not the sum of both.
        let longest = Catalogue::builtin()
            .provider_for("postgres")
            .unwrap()
            .workflow
            .steps
            .iter()
            .map(|s| match s.action {
                StepAction::Sleep(d) => d,
                _ => unreachable!(),
            })
            .sum::<std::time::Duration>();
        assert_eq!(
            last.data_u64("duration_ms"),
            Some(longest.as_millis() as u64)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_step_fails_its_resource_and_then_the_deployment() {
        let (outcome, events) = run(
            plan(&[
                ("db", "postgres", ResourceAction::Create),
                ("cache", "redis", ResourceAction::Create),
            ]),
            catalogue(FAILING),
        )
        .await;
        assert_eq!(outcome, Some(Outcome::Failed));
        assert_eq!(
            kinds_for(&events, "db"),
            [
                "resource.created",
                "resource.provisioning",
                "provider.resolved",
                "workflow.started",
                "step.started",
                "step.completed",
                "step.started",
                "step.failed",
                "workflow.failed",
                "resource.failed",
            ]
        );
        let quota = "quota exceeded: no more than 5 databases per team";
        let step_failed = &events[position(&events, EventKind::StepFailed, "db")];
        assert_eq!(step_failed.data["error"], quota);
        assert_eq!(step_failed.data["step_name"], "configure-network");
        assert_eq!(step_failed.data["step_number"], 2);
        let wf_failed = &events[position(&events, EventKind::WorkflowFailed, "db")];
        assert_eq!(wf_failed.data["error"], quota);
        assert_eq!(wf_failed.data["step_name"], "configure-network");
        let res_failed = &events[position(&events, EventKind::ResourceFailed, "db")];
        assert_eq!(res_failed.data["error"], quota);
        assert_eq!(res_failed.data["resource_id"], 1);

        // The other resource is not cancelled: it finishes after db failed.
        assert!(
            position(&events, EventKind::ResourceFailed, "db")
                < position(&events, EventKind::ResourceActive, "cache")
        );
        assert_eq!(terminals(&events), 1);
        let last = events.last().unwrap();
        assert_eq!(last.kind, EventKind::DeploymentFailed);
        assert_eq!(
            last.data["error"],
            format!(
                "resource 'db' (postgres) failed at step 'configure-network' of workflow \
                 'provision-postgres': {quota}"
            )
        );
        assert_eq!(last.data["failed_resources"], json!(["db"]));
        assert_eq!(last.data_u64("duration_ms"), Some(300));
    }

    #[tokio::test(start_paused = true)]
    async fn several_failures_are_all_named() {
        let (outcome, events) = run(
            plan(&[
                ("db", "postgres", ResourceAction::Create),
                ("queue", "kafka", ResourceAction::Update),
            ]),
            catalogue(FAILING),
        )
        .await;
        assert_eq!(outcome, Some(Outcome::Failed));
        assert_eq!(
            kinds_for(&events, "queue"),
            ["resource.provisioning", "resource.failed"]
        );
        let failed = &events[position(&events, EventKind::ResourceFailed, "queue")];
        assert_eq!(
            failed.data["error"],
            "no provider registered for resource type 'kafka'"
        );
        let last = events.last().unwrap();
        assert_eq!(last.data["failed_resources"], json!(["db", "queue"]));
        let error = last.data_str("error").unwrap();
        assert!(
            error.starts_with("2 of 2 resources failed: resource 'db'"),
            "{error}"
        );
        assert!(
            error.ends_with(
                "resource 'queue' (kafka) failed: no provider registered for resource type 'kafka'"
            ),
            "{error}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unchanged_resources_emit_nothing_and_count_as_active() {
        let (outcome, events) = run(
            plan(&[
                ("cache", "redis", ResourceAction::Unchanged),
                ("db", "postgres", ResourceAction::Create),
            ]),
            Catalogue::builtin(),
        )
        .await;
        assert_eq!(outcome, Some(Outcome::Succeeded));
        assert!(kinds_for(&events, "cache").is_empty());
        assert_eq!(events[0].data["total_resources"], 2);
        let last = events.last().unwrap();
        assert_eq!(last.kind, EventKind::DeploymentCompleted);
        assert_eq!(
            last.data["resources"][0],
            json!({"name":"cache","type":"redis","state":"active"})
        );

        // All unchanged: started, then completed at once.
        let (outcome, events) = run(
            plan(&[("cache", "redis", ResourceAction::Unchanged)]),
            Catalogue::builtin(),
        )
        .await;
        assert_eq!(outcome, Some(Outcome::Succeeded));
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["deployment.started", "deployment.completed"]);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_resources_start_and_complete_at_once() {
        let (outcome, events) = run(plan(&[]), Catalogue::builtin()).await;
        assert_eq!(outcome, Some(Outcome::Succeeded));
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].kind, EventKind::DeploymentStarted);
        assert_eq!(events[0].data["total_resources"], 0);
        assert_eq!(events[0].data["resources"], json!([]));
        assert_eq!(events[1].kind, EventKind::DeploymentCompleted);
        assert_eq!(events[1].data["duration_ms"], 0);
        assert_eq!(events[1].data["resources"], json!([]));
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_stops_without_a_terminal_event() {
        let cat = catalogue(
            "providers:\n  - name: slow\n    resource_types: [postgres]\n    workflow:\n      \
             name: w\n      steps:\n        - name: wait\n          sleep: 1h\n",
        );
        let (tx, mut rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_deployment(
            plan(&[("db", "postgres", ResourceAction::Create)]),
            Arc::new(cat),
            tx,
            cancel.clone(),
        ));
        let mut events = Vec::new();
        while let Some(ev) = rx.recv().await {
            let is_step = ev.kind == EventKind::StepStarted;
            events.push(ev);
            if is_step {
                break;
            }
        }
        cancel.cancel();
        assert_eq!(task.await.unwrap(), None);
        while let Some(ev) = rx.recv().await {
            events.push(ev);
        }
        assert_eq!(events.last().unwrap().kind, EventKind::StepStarted);
        assert_eq!(terminals(&events), 0);

        // Already cancelled: nothing at all.
        let (tx, mut rx) = mpsc::channel(64);
        let out = run_deployment(plan(&[]), Arc::new(Catalogue::builtin()), tx, cancel).await;
        assert_eq!(out, None);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_channel_stops_quietly() {
        let (tx, rx) = mpsc::channel(64);
        drop(rx);
        let out = run_deployment(
            plan(&[("db", "postgres", ResourceAction::Create)]),
            Arc::new(Catalogue::builtin()),
            tx,
            CancellationToken::new(),
        )
        .await;
        assert_eq!(out, None);
    }

    #[tokio::test(start_paused = true)]
    async fn execution_ids_are_unique_across_deployments() {
        let mut ids = Vec::new();
        for _ in 0..2 {
            let (_, events) = run(
                plan(&[
                    ("a", "redis", ResourceAction::Create),
                    ("b", "s3", ResourceAction::Create),
                ]),
                Catalogue::builtin(),
            )
            .await;
            ids.extend(
                events
                    .iter()
                    .filter(|e| e.kind == EventKind::WorkflowStarted)
                    .filter_map(|e| e.data_u64("execution_id")),
            );
        }
        assert_eq!(ids.len(), 4);
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 4, "{ids:?}");
    }

    // ---- `run` steps: real processes, so the real clock. ----

    fn run_catalogue(command: &str) -> Catalogue {
        let yaml = format!(
            "providers:\n  - name: jobs-team\n    resource_types: [job]\n    workflow:\n      \
             name: run-job\n      steps:\n        - name: execute\n          run: {}\n",
            serde_json::to_string(command).unwrap()
        );
        catalogue(&yaml)
    }

    /// A deadline so a broken test fails instead of hanging; not a timing assertion.
    async fn within<F: std::future::Future>(f: F) -> F::Output {
        tokio::time::timeout(std::time::Duration::from_secs(30), f)
            .await
            .expect("did not finish within 30 s")
    }

    #[tokio::test]
    async fn run_step_reports_stdout_lines_as_progress() {
        let cat = run_catalogue(
            "echo one; echo; printf '  two %s\\n' \"$CTL_RESOURCE_NAME/$CTL_RESOURCE_TYPE/$CTL_APP\"",
        );
        let (outcome, events) =
            within(run(plan(&[("batch", "job", ResourceAction::Create)]), cat)).await;
        assert_eq!(outcome, Some(Outcome::Succeeded));
        let progress: Vec<&Event> = events
            .iter()
            .filter(|e| e.kind == EventKind::StepProgress)
            .collect();
        let messages: Vec<_> = progress
            .iter()
            .map(|e| e.data_str("message").unwrap())
            .collect();
        assert_eq!(messages, ["one", "two batch/job/shop"]);
        assert_eq!(progress[0].data["step_name"], "execute");
        assert_eq!(progress[0].data["step_number"], 1);
        assert_eq!(
            kinds_for(&events, "batch")[4..],
            [
                "step.started",
                "step.progress",
                "step.progress",
                "step.completed",
                "workflow.completed",
                "resource.active"
            ]
        );
    }

    #[tokio::test]
    async fn run_step_sees_only_the_allowed_environment() {
        let cat = run_catalogue("env");
        let (outcome, events) =
            within(run(plan(&[("batch", "job", ResourceAction::Create)]), cat)).await;
        assert_eq!(outcome, Some(Outcome::Succeeded));
        let names: Vec<String> = events
            .iter()
            .filter(|e| e.kind == EventKind::StepProgress)
            .filter_map(|e| {
                e.data_str("message")?
                    .split_once('=')
                    .map(|(n, _)| n.to_owned())
            })
            .collect();
        assert!(names.iter().any(|n| n == "CTL_RESOURCE_NAME"), "{names:?}");
        if std::env::var_os("PATH").is_some() {
            assert!(names.iter().any(|n| n == "PATH"), "{names:?}");
        }
        // What the shell sets itself is allowed too.
        let shell_own = ["PWD", "OLDPWD", "SHLVL", "_"];
        for name in &names {
            let allowed = crate::server::catalogue::DEFAULT_ENV_PASSTHROUGH
                .contains(&name.as_str())
                || name.starts_with("CTL_RESOURCE_")
                || ["CTL_APP", "CTL_DEPLOYMENT_ID"].contains(&name.as_str())
                || shell_own.contains(&name.as_str());
            assert!(allowed, "the step saw {name} from the server's environment");
        }
    }

    #[tokio::test]
    async fn run_step_failure_carries_the_exit_status_and_stderr_tail() {
        let cat =
            run_catalogue("echo working; echo first >&2; echo 'psql: role missing' >&2; exit 3");
        let (outcome, events) =
            within(run(plan(&[("batch", "job", ResourceAction::Create)]), cat)).await;
        assert_eq!(outcome, Some(Outcome::Failed));
        let failed = &events[position(&events, EventKind::StepFailed, "batch")];
        let error = failed.data_str("error").unwrap();
        assert!(error.contains("exit status: 3"), "{error}");
        assert!(error.ends_with("first; psql: role missing"), "{error}");
        let last = events.last().unwrap();
        assert!(
            last.data_str("error")
                .unwrap()
                .contains("psql: role missing")
        );
    }

    #[tokio::test]
    async fn a_step_that_cannot_start_never_shows_its_command_line() {
        // A NUL in an environment value makes the spawn itself fail (spec validation keeps such
        // resource names out; the orchestrator must not rely on that for this).
        let cat = run_catalogue("deploy-tool --token operator-secret-123");
        let (outcome, events) = within(run(
            plan(&[("bad\0name", "job", ResourceAction::Create)]),
            cat,
        ))
        .await;
        assert_eq!(outcome, Some(Outcome::Failed));
        let failed = events
            .iter()
            .find(|e| e.kind == EventKind::StepFailed)
            .expect("step.failed");
        let error = failed.data_str("error").unwrap();
        assert!(
            error.starts_with("cannot start the step's command: "),
            "{error}"
        );
        for event in &events {
            let shown = serde_json::to_string(&event.data).unwrap();
            assert!(!shown.contains("operator-secret"), "{shown}");
            assert!(!shown.contains("deploy-tool"), "{shown}");
        }
    }

    #[tokio::test]
    async fn chatty_commands_are_capped_but_the_last_line_is_kept() {
        let cat = run_catalogue("i=0; while [ $i -lt 50 ]; do i=$((i+1)); echo line $i; done");
        let (_, events) = within(run(plan(&[("batch", "job", ResourceAction::Create)]), cat)).await;
        let messages: Vec<_> = events
            .iter()
            .filter(|e| e.kind == EventKind::StepProgress)
            .map(|e| e.data_str("message").unwrap().into_owned())
            .collect();
        assert_eq!(messages.len(), MAX_PROGRESS_PER_STEP + 1);
        assert_eq!(messages.last().unwrap(), "line 50");
    }

    /// Starts a one-resource deployment whose step runs `command`, and returns the first
    /// line the command printed, with the deployment's cancel token and task.
    #[cfg(target_os = "linux")]
    async fn run_until_progress(
        command: &str,
    ) -> (
        String,
        CancellationToken,
        tokio::task::JoinHandle<Option<Outcome>>,
    ) {
        let cat = run_catalogue(command);
        let (tx, mut rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_deployment(
            plan(&[("batch", "job", ResourceAction::Create)]),
            Arc::new(cat),
            tx,
            cancel.clone(),
        ));
        let pid = within(async {
            loop {
                let ev = rx
                    .recv()
                    .await
                    .expect("no progress before the channel closed");
                if ev.kind == EventKind::StepProgress {
                    break ev.data_str("message").unwrap().into_owned();
                }
            }
        })
        .await;
        (pid, cancel, task)
    }

    /// Waits for process `pid` to be gone (or a zombie waiting to be reaped); fails the test at
    /// the deadline.
    #[cfg(target_os = "linux")]
    async fn wait_gone(pid: &str) {
        let stat = format!("/proc/{pid}/stat");
        within(async {
            loop {
                match std::fs::read_to_string(&stat) {
                    Err(_) => break,
                    Ok(s)
                        if s.rsplit(')')
                            .next()
                            .is_some_and(|r| r.trim_start().starts_with('Z')) =>
                    {
                        break;
                    }
                    Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                }
            }
        })
        .await;
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn cancellation_kills_what_the_command_started() {
        // The shell starts a background `sleep` and waits for it: the sleep is not the shell's
        // pid, so only killing the process group stops it.
        let (pid, cancel, task) = run_until_progress("sleep 600 & echo $!; wait").await;
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        cancel.cancel();
        assert_eq!(within(task).await.unwrap(), None);
        wait_gone(&pid).await;
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn cancellation_kills_a_running_command() {
        // `exec` so the pid printed is the process that must die.
        let (pid, cancel, task) = run_until_progress("echo $$; exec sleep 600").await;
        cancel.cancel();
        assert_eq!(within(task).await.unwrap(), None);

        // tokio kills on drop and reaps in the background.
        wait_gone(&pid).await;
    }
}
