//! A scripted innominatus-style server: a stand-in for the third-party servers of
//! PROTOCOL.md Part A, faults included, on `127.0.0.1:0`.
//!
//! What it does like innominatus: `text/plain` errors; `201 {"status":"success"}` on a POST
//! that only means "stored"; `resource.created` published during the POST, for new resources
//! only; data-only SSE frames (no `id:`, `event:` or `retry:`), a `connected` first frame,
//! opaque nanosecond-timestamp ids in the JSON, local-zone timestamps; no terminal events; no
//! replay; `GET /api/resources?app=` as the state of record (`null` when empty); a redeploy
//! whose resources are already active publishes nothing; unknown paths answer `200` HTML.
//!
//! What the script can add: streams cut abruptly after a few frames, a failing resource type,
//! resources the server adds on its own, events delivered out of order, a `500
//! {"status":"failed"}` POST, and a POST whose answer is lost (a `502` after the spec was stored).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot};

/// What the peer does beyond the plain innominatus behaviour.
#[derive(Debug, Clone)]
pub struct Script {
    /// Cut every event stream abruptly after this many frames (the `connected` frame counts).
    pub cut_after_frames: Option<usize>,
    /// Cut only the first event stream after this many frames: one routine cut (innominatus
    /// ends every stream after about two minutes), with the next stream left alone.
    pub cut_first_stream_after_frames: Option<usize>,
    /// Resources of this type fail, with this error.
    pub failing_type: Option<(&'static str, &'static str)>,
    /// Resources the server adds to every app: `(suffix, type)`, named `<app>-<suffix>`.
    pub extra_resources: Vec<(&'static str, &'static str)>,
    /// Deliver each resource's `resource.provisioning` after its `resource.active` (the
    /// timestamps keep the true order).
    pub out_of_order: bool,
    /// Answer every POST `500 {"status":"failed"}` (a spec-embedded workflow failed).
    pub fail_post: bool,
    /// Store and deploy the first POST, then answer `502 Bad Gateway` (text): a definite
    /// answer, even if the server acted on the request.
    pub gateway_error_after_storing: bool,
    /// From the Nth POST on (1-based), store nothing and answer `500` with this text, as
    /// innominatus does for a spec it cannot store or a duplicate key.
    pub text_500_from_post: Option<(usize, &'static str)>,
    /// Pause between two events of one resource.
    pub step: Duration,
    /// Resources of this type take five times longer.
    pub slow_type: Option<&'static str>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            cut_after_frames: None,
            cut_first_stream_after_frames: None,
            failing_type: None,
            extra_resources: Vec::new(),
            out_of_order: false,
            fail_post: false,
            gateway_error_after_storing: false,
            text_500_from_post: None,
            step: Duration::from_millis(30),
            slow_type: None,
        }
    }
}

#[derive(Debug, Clone)]
struct Resource {
    id: u64,
    kind: String,
    state: String,
    error: Option<String>,
}

/// An application as stored: its spec text and its resources by name.
type StoredApp = (String, BTreeMap<String, Resource>);

struct Peer {
    script: Script,
    /// Per app: its stored spec and its resources.
    apps: Mutex<BTreeMap<String, StoredApp>>,
    /// Apps whose record was deleted: their resources stay (as innominatus leaves them), and
    /// a new POST of the name fails on the resources' unique key.
    deleted: Mutex<std::collections::BTreeSet<String>>,
    frames: broadcast::Sender<(String, String)>,
    posts: AtomicUsize,
    streams: AtomicUsize,
    next_id: AtomicU64,
    /// Monotonic nanosecond clock for event ids and timestamps.
    clock: AtomicU64,
}

/// A running peer; stops on drop.
pub struct InnominatusPeer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    peer: Arc<Peer>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InnominatusPeer {
    /// Starts a peer following `script`.
    pub fn start(script: Script) -> Self {
        let (frames, _) = broadcast::channel(1024);
        let base_ns = 1_731_430_000_000_000_000u64;
        let peer = Arc::new(Peer {
            script,
            apps: Mutex::default(),
            deleted: Mutex::default(),
            frames,
            posts: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            clock: AtomicU64::new(base_ns),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, addr) = std::sync::mpsc::channel();
        let state = Arc::clone(&peer);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("peer runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("peer bind");
                ready.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new()
                    .route(
                        "/api/applications",
                        axum::routing::post(submit).get(applications),
                    )
                    .route(
                        "/api/applications/{name}",
                        get(application).delete(delete_application),
                    )
                    .route("/api/resources", get(resources))
                    .route("/api/resources/{id}", get(resource_detail))
                    .route("/api/events/stream", get(stream))
                    .fallback(html_page)
                    .with_state(state);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        });
        let addr = addr
            .recv_timeout(Duration::from_secs(10))
            .expect("peer started");
        InnominatusPeer {
            url: format!("http://{addr}"),
            peer,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// POSTs received so far.
    pub fn posts(&self) -> usize {
        self.peer.posts.load(Ordering::SeqCst)
    }

    /// Event-stream connections opened so far.
    pub fn streams(&self) -> usize {
        self.peer.streams.load(Ordering::SeqCst)
    }

    /// The state of every resource of `app`, by name.
    pub fn states(&self, app: &str) -> BTreeMap<String, String> {
        let apps = self.peer.apps.lock().unwrap();
        apps.get(app)
            .map(|(_, res)| {
                res.iter()
                    .map(|(n, r)| (n.clone(), r.state.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for InnominatusPeer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Shared = State<Arc<Peer>>;

fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

async fn html_page() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>innominatus</title>",
    )
        .into_response()
}

impl Peer {
    /// Publishes one event for `app` now (its id and timestamp from the peer's clock).
    fn event(&self, app: &str, kind: &str, source: &str, data: Value) -> (u64, String) {
        let ns = self.clock.fetch_add(1_000, Ordering::SeqCst);
        let secs = (ns / 1_000_000_000) as i64;
        let nanos = (ns % 1_000_000_000) as u32;
        // innominatus stamps in the server's local zone; +01:00 here.
        let zone = chrono::FixedOffset::east_opt(3600).unwrap();
        let timestamp = chrono::DateTime::from_timestamp(secs, nanos)
            .unwrap()
            .with_timezone(&zone)
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, false);
        let json = json!({
            "id": ns.to_string(),
            "type": kind,
            "app_name": app,
            "timestamp": timestamp,
            "data": data,
            "source": source,
        });
        (ns, format!("data: {json}\n\n"))
    }

    fn publish(&self, app: &str, frame: String) {
        let _ = self.frames.send((app.to_owned(), frame));
    }

    fn set_state(&self, app: &str, name: &str, state: &str, error: Option<&str>) {
        let mut apps = self.apps.lock().unwrap();
        if let Some(r) = apps.get_mut(app).and_then(|(_, res)| res.get_mut(name)) {
            r.state = state.to_owned();
            r.error = error.map(str::to_owned);
        }
    }
}

/// `POST /api/applications`.
async fn submit(State(peer): Shared, body: Bytes) -> Response {
    let attempt = peer.posts.fetch_add(1, Ordering::SeqCst) + 1;
    let Ok(spec) = serde_yaml::from_slice::<Value>(&body) else {
        return text(StatusCode::BAD_REQUEST, "Error parsing YAML: invalid");
    };
    let mut wanted: Vec<(String, String)> = spec["resources"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(n, r)| (n.clone(), r["type"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    if let Some((name, kind)) = wanted.iter().find(|(_, t)| t == "unknown-type") {
        return text(
            StatusCode::BAD_REQUEST,
            &format!(
                "Resource validation failed: unknown resource types (no provider registered): {name} (type: {kind})"
            ),
        );
    }
    let Some(app) = spec["metadata"]["name"].as_str().map(str::to_owned) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Error: metadata.name is required in Score specification",
        );
    };
    if peer.deleted.lock().unwrap().contains(&app) {
        // The record is gone, its resources are not: storing them again breaks their key.
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "duplicate key value violates unique constraint \"resources_application_name_resource_name_key\"",
        );
    }
    if let Some((from, message)) = peer.script.text_500_from_post {
        if attempt >= from {
            return text(StatusCode::INTERNAL_SERVER_ERROR, message);
        }
    }
    if peer.script.fail_post {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({
                "errors": ["workflow 'setup' step 'migrate' failed: exit status 1"],
                "failed_workflows": ["setup"],
                "message": format!("Deployment of '{app}' failed"),
                "name": app,
                "status": "failed",
            })),
        )
            .into_response();
    }
    for (suffix, kind) in &peer.script.extra_resources {
        wanted.push((format!("{app}-{suffix}"), (*kind).to_owned()));
    }

    // Store; new resources are `requested` and announced before the answer.
    let mut to_provision = Vec::new();
    {
        let mut apps = peer.apps.lock().unwrap();
        let entry = apps
            .entry(app.clone())
            .or_insert_with(|| (String::new(), BTreeMap::new()));
        entry.0 = String::from_utf8_lossy(&body).into_owned();
        for (name, kind) in &wanted {
            if entry.1.contains_key(name) {
                continue;
            }
            let id = peer.next_id.fetch_add(1, Ordering::SeqCst);
            entry.1.insert(
                name.clone(),
                Resource {
                    id,
                    kind: kind.clone(),
                    state: "requested".into(),
                    error: None,
                },
            );
            to_provision.push((name.clone(), kind.clone(), id));
        }
    }
    for (name, kind, id) in &to_provision {
        let (_, frame) = peer.event(
            &app,
            "resource.created",
            "resource-manager",
            json!({"created_by": "ctl-test", "resource_id": id, "resource_name": name,
                   "resource_type": kind, "state": "requested"}),
        );
        peer.publish(&app, frame);
    }
    for (name, kind, id) in to_provision {
        tokio::spawn(provision(Arc::clone(&peer), app.clone(), name, kind, id));
    }
    if peer.script.gateway_error_after_storing && attempt == 1 {
        return text(StatusCode::BAD_GATEWAY, "Bad Gateway");
    }
    (
        StatusCode::CREATED,
        Json(json!({
            "message": format!("Successfully deployed '{app}'"),
            "name": app,
            "status": "success",
        })),
    )
        .into_response()
}

/// One resource's life after the POST, as the innominatus engine publishes it.
async fn provision(peer: Arc<Peer>, app: String, name: String, kind: String, id: u64) {
    let base = json!({"resource_id": id, "resource_name": name, "resource_type": kind});
    let with = |extra: Value| {
        let mut v = base.clone();
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    };
    let failing = peer
        .script
        .failing_type
        .filter(|(t, _)| *t == kind)
        .map(|(_, e)| e);
    let step = if peer.script.slow_type == Some(kind.as_str()) {
        peer.script.step * 5
    } else {
        peer.script.step
    };
    tokio::time::sleep(step).await;
    peer.set_state(&app, &name, "provisioning", None);
    let provisioning = peer.event(
        &app,
        "resource.provisioning",
        "orchestration-engine",
        with(json!({})),
    );
    let mut frames = vec![provisioning];
    frames.push(peer.event(
        &app,
        "provider.resolved",
        "orchestration-engine",
        with(json!({"provider_name": "team", "workflow_name": "provision"})),
    ));
    frames.push(peer.event(
        &app,
        "workflow.started",
        "workflow-executor",
        json!({"execution_id": id, "total_steps": 2, "workflow_name": "provision"}),
    ));
    let last = match failing {
        Some(error) => {
            peer.set_state(&app, &name, "failed", Some(error));
            peer.event(
                &app,
                "resource.failed",
                "orchestration-engine",
                with(json!({"error": error})),
            )
        }
        None => {
            frames.push(peer.event(
                &app,
                "workflow.completed",
                "workflow-executor",
                json!({"execution_id": id, "total_steps": 2, "workflow_name": "provision"}),
            ));
            peer.set_state(&app, &name, "active", None);
            peer.event(
                &app,
                "resource.active",
                "orchestration-engine",
                with(json!({"new_state": "active", "workflow_execution_id": id})),
            )
        }
    };
    frames.push(last);
    if peer.script.out_of_order {
        // Published in order, delivered with `resource.provisioning` last.
        let first = frames.remove(0);
        frames.push(first);
    }
    for (_, frame) in frames {
        tokio::time::sleep(step).await;
        peer.publish(&app, frame);
    }
}

/// `GET /api/resources/<id>`: the resource with its state history, newest first, where an
/// engine failure is `requested -> failed` with the reason `Failed to provision: <error>`.
async fn resource_detail(State(peer): Shared, Path(id): Path<u64>) -> Response {
    let apps = peer.apps.lock().unwrap();
    let found = apps.iter().find_map(|(app, (_, res))| {
        res.iter()
            .find(|(_, r)| r.id == id)
            .map(|(name, r)| (app.clone(), name.clone(), r.clone()))
    });
    let Some((app, name, r)) = found else {
        return text(StatusCode::NOT_FOUND, "Resource not found");
    };
    let transitions = match (r.state.as_str(), &r.error) {
        ("failed", Some(error)) => vec![json!({"from_state": "requested", "to_state": "failed",
            "reason": format!("Failed to provision: {error}"),
            "transitioned_at": "2026-01-01T00:00:00Z"})],
        (state, _) => vec![json!({"from_state": "requested", "to_state": state,
            "reason": "state change", "transitioned_at": "2026-01-01T00:00:00Z"})],
    };
    Json(
        json!({"id": r.id, "application_name": app, "resource_name": name,
                "resource_type": r.kind, "state": r.state, "error_message": null,
                "state_transitions": transitions}),
    )
    .into_response()
}

/// `GET /api/applications`: every stored app, keyed by name (no deployments).
async fn applications(State(peer): Shared) -> Response {
    let apps = peer.apps.lock().unwrap();
    let deleted = peer.deleted.lock().unwrap();
    let listed: serde_json::Map<String, Value> = apps
        .iter()
        .filter(|(name, _)| !deleted.contains(*name))
        .map(|(name, (spec, _))| (name.clone(), json!({"name": name, "spec": spec})))
        .collect();
    Json(Value::Object(listed)).into_response()
}

/// `DELETE /api/applications/<name>`: the record goes, the resources stay.
async fn delete_application(State(peer): Shared, Path(name): Path<String>) -> Response {
    let known = peer.apps.lock().unwrap().contains_key(&name);
    if !known || !peer.deleted.lock().unwrap().insert(name.clone()) {
        return text(StatusCode::NOT_FOUND, "Application not found");
    }
    Json(json!({"message": format!("Successfully deleted '{name}'")})).into_response()
}

/// `GET /api/applications/<name>`.
async fn application(State(peer): Shared, Path(name): Path<String>) -> Response {
    let apps = peer.apps.lock().unwrap();
    if peer.deleted.lock().unwrap().contains(&name) {
        return text(StatusCode::NOT_FOUND, "Application not found");
    }
    match apps.get(&name) {
        Some((spec, _)) => Json(json!({"name": name, "spec": spec})).into_response(),
        None => text(StatusCode::NOT_FOUND, "Application not found"),
    }
}

/// `GET /api/resources?app=<name>`.
async fn resources(State(peer): Shared, Query(query): Query<BTreeMap<String, String>>) -> Response {
    let app = query.get("app").cloned().unwrap_or_default();
    let apps = peer.apps.lock().unwrap();
    let list: Vec<Value> = apps
        .get(&app)
        .map(|(_, res)| {
            res.iter()
                .map(|(name, r)| {
                    // As innominatus: the engine never sets `error_message`; why a
                    // resource failed is only in its state history.
                    json!({"id": r.id, "application_name": app, "resource_name": name,
                           "resource_type": r.kind, "state": r.state,
                           "error_message": null})
                })
                .collect()
        })
        .unwrap_or_default();
    let resources = if list.is_empty() {
        Value::Null
    } else {
        Value::Array(list)
    };
    Json(json!({"application": app, "resources": resources})).into_response()
}

/// `GET /api/events/stream?app=<name>`: data-only frames, no replay, cut on purpose.
async fn stream(State(peer): Shared, Query(query): Query<BTreeMap<String, String>>) -> Response {
    let client = peer.streams.fetch_add(1, Ordering::SeqCst) + 1;
    let app = query.get("app").cloned().unwrap_or_default();
    let live = peer.frames.subscribe();
    let connected =
        format!("data: {{\"type\":\"connected\",\"client_id\":\"client-{client}\"}}\n\n");
    let for_app = futures::stream::unfold((live, app), |(mut live, app)| async move {
        loop {
            match live.recv().await {
                Ok((to, frame)) if to == app => return Some((frame, (live, app))),
                // Another app's frame, or a lagging reader that lost events (as innominatus'
                // slow readers do).
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let frames = futures::stream::once(async move { connected })
        .chain(for_app)
        .map(|frame| Ok::<_, std::io::Error>(Bytes::from(frame)));
    let cut = match peer.script.cut_first_stream_after_frames {
        Some(n) if client == 1 => Some(n),
        _ => peer.script.cut_after_frames,
    };
    let body = match cut {
        // The error ends the chunked body without its final chunk: an abrupt EOF.
        Some(n) => Body::from_stream(frames.take(n).chain(futures::stream::once(async {
            Err(std::io::Error::other("write timeout"))
        }))),
        None => Body::from_stream(frames),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(body)
        .unwrap()
}
