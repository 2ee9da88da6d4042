//! In-process tests of the whole server: [`super::serve`] on `127.0.0.1:0`, driven over real
//! sockets with reqwest, SSE frames parsed by a small helper. Every wait has a deadline; no test
//! sleeps to synchronise.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::*;
use crate::event::{Event, EventKind};

/// Generous: these bound waits, they are not expectations about speed.
const DEADLINE: Duration = Duration::from_secs(15);

const CATALOGUE: &str = "
providers:
  - name: database-team
    resource_types: [postgres]
    workflow:
      name: provision-postgres
      steps:
        - name: create-instance
          sleep: 5ms
        - name: verify-connection
          sleep: 5ms
  - name: cache-team
    resource_types: [redis]
    workflow:
      name: provision-redis
      steps:
        - name: create-cluster
          sleep: 5ms
  - name: broken-team
    resource_types: [broken]
    workflow:
      name: provision-broken
      steps:
        - name: explode
          fail: quota exceeded
  - name: slow-team
    resource_types: [slow]
    workflow:
      name: provision-slow
      steps:
        - name: wait-forever
          sleep: 1h
";

fn spec(name: &str, resources: &[(&str, &str)]) -> String {
    let mut text = format!(
        "apiVersion: score.dev/v1b1\nmetadata:\n  name: {name}\ncontainers:\n  main:\n    image: nginx:latest\n"
    );
    if !resources.is_empty() {
        text.push_str("resources:\n");
        for (rname, kind) in resources {
            text.push_str(&format!("  {rname}:\n    type: {kind}\n"));
        }
    }
    text
}

fn config() -> ServerConfig {
    ServerConfig {
        catalogue: Arc::new(Catalogue::from_yaml(CATALOGUE, "test catalogue").unwrap()),
        shutdown_grace: Duration::from_secs(3),
        ..ServerConfig::in_memory()
    }
}

struct TestServer {
    base: String,
    state: AppState,
    http: reqwest::Client,
    key: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    async fn start(config: ServerConfig) -> TestServer {
        TestServer::start_with(config, bus::DEFAULT_CAPACITY).await
    }

    async fn start_with(config: ServerConfig, bus_capacity: usize) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::open_with(config, bus_capacity).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        TestServer {
            base,
            state,
            http: {
                crate::client::tls::install_crypto_provider();
                reqwest::Client::new()
            },
            key: None,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// A view of the same server that authenticates with `key`.
    fn as_key(&self, key: &str) -> TestServer {
        TestServer {
            base: self.base.clone(),
            state: self.state.clone(),
            http: self.http.clone(),
            key: Some(key.to_owned()),
            stop: None,
            handle: None,
        }
    }

    /// Triggers shutdown and waits (bounded) for `serve` to return.
    async fn stop(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let handle = self
            .handle
            .take()
            .expect("stop is called on the owning handle");
        tokio::time::timeout(DEADLINE, handle)
            .await
            .expect("serve returned within the deadline")
            .expect("serve did not panic")
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, body: &str, idempotency_key: Option<&str>) -> reqwest::Response {
        let mut request = self
            .request(reqwest::Method::POST, "/api/applications")
            .header("content-type", "application/yaml")
            .body(body.to_owned());
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.unwrap()
    }

    /// POSTs a spec that must be accepted; returns the deployment id.
    async fn deploy(&self, body: &str) -> String {
        let response = self.post(body, None).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.unwrap();
        body["deployment_id"].as_str().unwrap().to_owned()
    }

    async fn stream(&self, query: &str) -> SseReader {
        self.stream_with(query, None).await
    }

    async fn stream_with(&self, query: &str, last_event_id: Option<&str>) -> SseReader {
        let mut request = self.request(reqwest::Method::GET, &format!("/api/events/stream{query}"));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "stream {query}");
        SseReader::new(response)
    }

    /// Appends one event for `app` (team `default`) straight into the store.
    async fn publish(&self, app: &str, pad: usize) -> u64 {
        let event =
            Event::new(EventKind::Other("test.tick".into()), app).with("pad", "x".repeat(pad));
        self.state
            .0
            .store
            .append(event, Arc::from(auth::DEFAULT_TEAM))
            .await
            .unwrap()
    }
}

/// One SSE frame: the fields of one block ending in a blank line.
#[derive(Debug, Default, Clone)]
struct Frame {
    id: Option<String>,
    data: Option<String>,
    retry: Option<String>,
    comment: Option<String>,
}

impl Frame {
    fn event(&self) -> Option<Event> {
        let event = Event::from_json(self.data.as_deref()?).expect("data is an event");
        (event.kind != EventKind::Connected).then_some(event)
    }
}

/// Splits an SSE byte stream into frames (enough of the HTML algorithm for our server's
/// output: `field: value` lines, comments, blank-line dispatch).
#[derive(Default)]
struct FrameParser {
    buf: Vec<u8>,
}

impl FrameParser {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn next_frame(&mut self) -> Option<Frame> {
        let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
        let block: Vec<u8> = self.buf.drain(..end + 2).collect();
        let text = String::from_utf8(block).expect("frames are UTF-8");
        let mut frame = Frame::default();
        for line in text.lines() {
            if let Some(comment) = line.strip_prefix(':') {
                frame.comment = Some(comment.trim().to_owned());
            } else if let Some((field, value)) = line.split_once(": ") {
                let value = Some(value.to_owned());
                match field {
                    "id" => frame.id = value,
                    "data" => frame.data = value,
                    "retry" => frame.retry = value,
                    other => panic!("unexpected field {other}"),
                }
            } else if !line.is_empty() {
                panic!("unexpected line {line:?}");
            }
        }
        Some(frame)
    }
}

struct SseReader {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    parser: FrameParser,
}

impl SseReader {
    fn new(response: reqwest::Response) -> SseReader {
        let headers = response.headers();
        assert_eq!(headers["content-type"], "text/event-stream");
        assert_eq!(headers["cache-control"], "no-cache, no-transform");
        assert_eq!(headers["x-accel-buffering"], "no");
        SseReader {
            body: Box::pin(response.bytes_stream()),
            parser: FrameParser::default(),
        }
    }

    /// The next frame, or `None` when the server ended the stream cleanly. Panics on a
    /// transport error (an unclean end) or when nothing arrives before the deadline.
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.parser.next_frame() {
                return Some(frame);
            }
            let chunk = tokio::time::timeout(DEADLINE, self.body.next())
                .await
                .expect("a frame arrives before the deadline");
            match chunk {
                Some(Ok(bytes)) => self.parser.push(&bytes),
                Some(Err(err)) => panic!("stream ended uncleanly: {err}"),
                None => {
                    assert!(self.parser.buf.is_empty(), "partial frame at end of stream");
                    return None;
                }
            }
        }
    }

    /// The `retry:` + `connected` opening frame.
    async fn connected(&mut self) -> Frame {
        let frame = self.frame().await.expect("an opening frame");
        assert_eq!(frame.retry.as_deref(), Some("1000"));
        let data: Value = serde_json::from_str(frame.data.as_deref().unwrap()).unwrap();
        assert_eq!(data["type"], "connected");
        assert!(data["client_id"].as_str().unwrap().starts_with("client-"));
        frame
    }

    /// The next event (keep-alives and the connected frame skipped), checking that the SSE
    /// `id:` matches the JSON id. `None` at a clean end of stream.
    async fn event(&mut self) -> Option<Event> {
        loop {
            let frame = self.frame().await?;
            if let Some(event) = frame.event() {
                assert_eq!(frame.id.as_deref(), Some(event.id.as_str()));
                return Some(event);
            }
        }
    }

    /// Every event until the server closes the stream.
    async fn until_end(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = self.event().await {
            events.push(event);
        }
        events
    }

    /// Events until one with id `last` (inclusive).
    async fn until_id(&mut self, last: u64) -> Vec<Event> {
        let mut events = Vec::new();
        while events.last().and_then(|e: &Event| e.numeric_id()) != Some(last) {
            events.push(self.event().await.expect("the stream stays open"));
        }
        events
    }
}

fn ids(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.numeric_id().unwrap()).collect()
}

fn assert_strictly_increasing(events: &[Event]) {
    let ids = ids(events);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids not increasing: {ids:?}"
    );
}

/// A deployment's events: started first, exactly one terminal, last.
fn assert_deployment_shape(events: &[Event], deployment_id: &str) {
    assert!(!events.is_empty());
    assert_eq!(events[0].kind, EventKind::DeploymentStarted);
    let terminals = events.iter().filter(|e| e.outcome().is_some()).count();
    assert_eq!(terminals, 1, "{events:#?}");
    assert!(events.last().unwrap().outcome().is_some());
    assert!(
        events
            .iter()
            .all(|e| e.deployment_id.as_deref() == Some(deployment_id))
    );
    assert_strictly_increasing(events);
}

#[tokio::test]
async fn post_then_stream_a_deployment_from_start_to_terminal() {
    let server = TestServer::start(config()).await;
    let response = server
        .post(
            &spec("web", &[("db", "postgres"), ("cache", "redis")]),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = {
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["message"], "Deployment of 'web' accepted");
        assert_eq!(json["name"], "web");
        assert_eq!(json["status"], "accepted");
        let id = json["deployment_id"].as_str().unwrap().to_owned();
        assert_eq!(location, format!("/api/deployments/{id}"));
        id
    };

    let mut stream = server.stream(&format!("?deployment={id}")).await;
    stream.connected().await;
    let events = stream.until_end().await;
    assert_deployment_shape(&events, &id);
    assert_eq!(events.last().unwrap().kind, EventKind::DeploymentCompleted);
    for kind in [EventKind::ResourceCreated, EventKind::ResourceActive] {
        assert_eq!(
            events.iter().filter(|e| e.kind == kind).count(),
            2,
            "{kind}"
        );
    }
    assert!(
        events
            .iter()
            .all(|e| e.app_name == "web" && e.timestamp.is_some())
    );

    let (status, deployment) = server.get(&format!("/api/deployments/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deployment["id"], id.as_str());
    assert_eq!(deployment["app_name"], "web");
    assert_eq!(deployment["status"], "succeeded");
    assert!(deployment["duration_ms"].is_u64());
    assert!(deployment["finished_at"].is_string());
    assert_eq!(deployment["error"], Value::Null);
    let states: Vec<&str> = deployment["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["active", "active"]);

    let (status, resources) = server.get("/api/resources?app=web").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resources["application"], "web");
    let resources = resources["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 2);
    assert!(
        resources
            .iter()
            .all(|r| r["state"] == "active" && r["application_name"] == "web")
    );
    assert!(resources[0]["id"].is_u64());

    let (_, none) = server.get("/api/resources?app=nothing").await;
    assert_eq!(
        none,
        serde_json::json!({"application": "nothing", "resources": null})
    );

    // A redeploy of the same spec changes nothing: no resource events at all.
    let again = server
        .deploy(&spec("web", &[("db", "postgres"), ("cache", "redis")]))
        .await;
    let events = server
        .stream(&format!("?deployment={again}"))
        .await
        .until_end()
        .await;
    let kinds: Vec<&EventKind> = events.iter().map(|e| &e.kind).collect();
    assert_eq!(
        kinds,
        [
            &EventKind::DeploymentStarted,
            &EventKind::DeploymentCompleted
        ]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_step_fails_the_deployment() {
    let server = TestServer::start(config()).await;
    let id = server
        .deploy(&spec("bad", &[("db", "postgres"), ("thing", "broken")]))
        .await;
    let events = server
        .stream(&format!("?deployment={id}"))
        .await
        .until_end()
        .await;
    assert_deployment_shape(&events, &id);
    let last = events.last().unwrap();
    assert_eq!(last.kind, EventKind::DeploymentFailed);
    let (_, deployment) = server.get(&format!("/api/deployments/{id}")).await;
    assert_eq!(deployment["status"], "failed");
    assert!(deployment["error"].is_string());
    let thing = &deployment["resources"][1];
    assert_eq!(
        (thing["name"].as_str(), thing["state"].as_str()),
        (Some("thing"), Some("failed"))
    );
    server.stop().await.unwrap();
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap().to_owned(),
        body["error"]["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn invalid_specs_are_rejected_with_protocol_texts() {
    let server = TestServer::start(config()).await;

    let (status, code, message) = error_of(server.post("metadata: [unclosed\n", None).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_spec")
    );
    assert!(message.starts_with("Error parsing YAML"), "{message}");

    let no_name =
        "apiVersion: score.dev/v1b1\nmetadata: {}\ncontainers:\n  main:\n    image: nginx\n";
    let (status, _, message) = error_of(server.post(no_name, None).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("metadata.name is required in Score specification"),
        "{message}"
    );

    let bad_name = spec("Not_A_Label", &[]);
    let (_, _, message) = error_of(server.post(&bad_name, None).await).await;
    assert!(
        message.contains("metadata.name must be a valid DNS label"),
        "{message}"
    );

    let no_containers = "apiVersion: score.dev/v1b1\nmetadata:\n  name: web\n";
    let (_, _, message) = error_of(server.post(no_containers, None).await).await;
    assert!(message.contains("at least one container"), "{message}");

    let unknown = spec(
        "web",
        &[("db", "nosuch"), ("cache", "memcached"), ("ok", "redis")],
    );
    let (status, code, message) = error_of(server.post(&unknown, None).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "unknown_resource_types")
    );
    assert_eq!(
        message,
        "Resource validation failed: unknown resource types (no provider registered): cache (type: memcached), db (type: nosuch)"
    );

    // Nothing was recorded.
    let (_, apps) = server.get("/api/applications").await;
    assert_eq!(apps, serde_json::json!({}));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let server = TestServer::start(config()).await;
    for path in ["/nope", "//api/applications", "/api/applications/web/extra"] {
        let response = server
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        let (status, code, _) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    let response = server
        .request(reqwest::Method::PUT, "/api/applications")
        .send()
        .await
        .unwrap();
    let (status, _, _) = error_of(response).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) = server.get("/api/deployments/12345").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], "Deployment not found");
    let response = server
        .request(reqwest::Method::GET, "/api/events/stream?deployment=999")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = server
        .request(reqwest::Method::GET, "/api/events/stream?since=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.0, StatusCode::BAD_REQUEST);
    let health = server
        .request(reqwest::Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap(), "ok");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_has_no_gap_and_no_duplicate_while_publishing() {
    let server = Arc::new(TestServer::start(config()).await);
    const TOTAL: usize = 600;
    let (progress, mut seen) = watch::channel(Vec::<u64>::new());
    let publisher = tokio::spawn({
        let server = server.clone();
        async move {
            for _ in 0..TOTAL {
                let id = server.publish("feed", 64).await;
                progress.send_modify(|ids| ids.push(id));
            }
        }
    });

    // Resume points in the middle of a log that is still growing.
    let published = seen.wait_for(|ids| ids.len() >= 100).await.unwrap().clone();
    let since = published[40];
    let header = published[70];
    let mut by_query = server.stream(&format!("?app=feed&since={since}")).await;
    let mut by_header = server
        .stream_with("?app=feed", Some(&header.to_string()))
        .await;
    // Both given: the larger (the header, as a reconnecting client sends it) wins.
    let mut both = server
        .stream_with(
            &format!("?app=feed&since={since}"),
            Some(&header.to_string()),
        )
        .await;

    tokio::time::timeout(DEADLINE, publisher)
        .await
        .unwrap()
        .unwrap();
    let all = seen.borrow().clone();
    let last = *all.last().unwrap();
    let after = |from: u64| {
        all.iter()
            .copied()
            .filter(|&i| i > from)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&by_query.until_id(last).await), after(since));
    assert_eq!(ids(&by_header.until_id(last).await), after(header));
    assert_eq!(ids(&both.until_id(last).await), after(header));

    // Without a resume point, a plain stream starts at the present.
    let mut fresh = server.stream("?app=feed").await;
    let next = server.publish("feed", 1).await;
    assert_eq!(ids(&fresh.until_id(next).await), [next]);

    match Arc::try_unwrap(server) {
        Ok(server) => server.stop().await.unwrap(),
        Err(_) => panic!("the publisher still holds the server"),
    }
}

#[tokio::test]
async fn types_filter_selects_events_but_the_stream_still_ends() {
    let server = TestServer::start(config()).await;
    let id = server.deploy(&spec("web", &[("db", "postgres")])).await;
    let events = server
        .stream(&format!(
            "?deployment={id}&types=resource.*,deployment.completed"
        ))
        .await
        .until_end()
        .await;
    assert!(
        events
            .iter()
            .all(|e| e.kind.as_str().starts_with("resource.")
                || e.kind == EventKind::DeploymentCompleted),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e.kind == EventKind::ResourceActive));
    assert_eq!(events.last().unwrap().kind, EventKind::DeploymentCompleted);

    // The terminal event is filtered out, yet the stream closes after it.
    let steps = server
        .stream(&format!("?deployment={id}&types=step.*"))
        .await
        .until_end()
        .await;
    assert!(!steps.is_empty());
    assert!(steps.iter().all(|e| e.kind.as_str().starts_with("step.")));

    // An `app` filter that excludes the followed deployment: nothing is sent, yet it ends.
    let other = server.deploy(&spec("web", &[("db", "postgres")])).await;
    let excluded = server
        .stream(&format!("?deployment={other}&app=elsewhere"))
        .await
        .until_end()
        .await;
    assert!(excluded.is_empty());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_finished_deployment_replays_and_closes() {
    let server = TestServer::start(config()).await;
    let id = server.deploy(&spec("web", &[("db", "postgres")])).await;
    let live = server
        .stream(&format!("?deployment={id}"))
        .await
        .until_end()
        .await;
    let mut replay = server.stream(&format!("?deployment={id}")).await;
    replay.connected().await;
    let replayed = replay.until_end().await;
    assert_eq!(ids(&replayed), ids(&live));
    assert_deployment_shape(&replayed, &id);

    // Resuming in the middle replays only the rest.
    let middle = live[live.len() / 2].numeric_id().unwrap();
    let rest = server
        .stream_with(&format!("?deployment={id}"), Some(&middle.to_string()))
        .await
        .until_end()
        .await;
    assert_eq!(
        ids(&rest),
        ids(&live)
            .into_iter()
            .filter(|&i| i > middle)
            .collect::<Vec<_>>()
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_deployment() {
    let server = TestServer::start(config()).await;
    let body = spec("web", &[("db", "postgres")]);
    let first = server.post(&body, Some("retry-1")).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    let second = server.post(&body, Some("retry-1")).await;
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    let location = second.headers()["location"].to_str().unwrap().to_owned();
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second);
    let id: u64 = first["deployment_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(location, format!("/api/deployments/{id}"));

    // Only one deployment was created: the next one gets the very next id.
    let third = server.deploy(&body).await;
    assert_eq!(third, (id + 1).to_string());
    let (_, app) = server.get("/api/applications/web").await;
    assert_eq!(app["latest_deployment_id"], third.as_str());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_refused() {
    let server = TestServer::start(config()).await;
    let first = server
        .post(&spec("web", &[("db", "postgres")]), Some("retry-2"))
        .await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let other = server
        .post(&spec("web", &[("db", "redis")]), Some("retry-2"))
        .await;
    let (status, code, message) = error_of(other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "idempotency_key_reused");
    assert!(message.contains("different request body"), "{message}");
    // The first request, sent again, is still the first deployment.
    let again = server
        .post(&spec("web", &[("db", "postgres")]), Some("retry-2"))
        .await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_not_served() {
    let server = TestServer::start(config()).await;
    let addr = server.base.strip_prefix("http://").unwrap().to_owned();
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The client preface, then an empty SETTINGS frame.
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(DEADLINE, conn.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection instead of speaking HTTP/2");
    // Closed without a word (or reset): no SETTINGS frame, no HTTP/1.1 answer either.
    assert!(answer.is_empty(), "answered {answer:?} ({read:?})");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn teams_see_only_their_own_applications() {
    let keys = KeyRing::new()
        .with_key("red-key", "red")
        .unwrap()
        .with_key("blue-key", "blue")
        .unwrap();
    let server = TestServer::start(ServerConfig { keys, ..config() }).await;
    let red = server.as_key("red-key");
    let blue = server.as_key("blue-key");

    let red_id = red.deploy(&spec("red-app", &[("db", "postgres")])).await;
    red.stream(&format!("?deployment={red_id}"))
        .await
        .until_end()
        .await;

    assert_eq!(red.get("/api/applications/red-app").await.0, StatusCode::OK);
    let (status, body) = blue.get("/api/applications/red-app").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], "Application not found");
    assert_eq!(
        blue.get(&format!("/api/deployments/{red_id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(blue.get("/api/applications").await.1, serde_json::json!({}));
    assert_eq!(
        blue.get("/api/resources?app=red-app").await.1["resources"],
        Value::Null
    );
    let response = blue
        .request(
            reqwest::Method::GET,
            &format!("/api/events/stream?deployment={red_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (status, code, _) = error_of(blue.post(&spec("red-app", &[]), None).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let response = blue
        .request(reqwest::Method::DELETE, "/api/applications/red-app")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Blue's full replay holds only blue's events, though red's came first.
    let blue_id = blue.deploy(&spec("blue-app", &[("cache", "redis")])).await;
    let mut everything = blue.stream("?since=0").await;
    let mut seen = Vec::new();
    while seen.last().is_none_or(|e: &Event| e.outcome().is_none()) {
        seen.push(everything.event().await.unwrap());
    }
    assert!(seen.iter().all(|e| e.app_name == "blue-app"), "{seen:#?}");
    assert_eq!(seen[0].deployment_id.as_deref(), Some(blue_id.as_str()));

    let (_, apps) = red.get("/api/applications").await;
    assert_eq!(
        apps.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["red-app"]
    );
    assert_eq!(apps["red-app"]["team"], "red");
    assert_eq!(apps["red-app"]["latest_deployment_status"], "succeeded");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn keys_are_required_everywhere_but_healthz() {
    let keys = KeyRing::new().with_key("right-key", "red").unwrap();
    let server = TestServer::start(ServerConfig { keys, ..config() }).await;
    let anonymous = &server;
    let wrong = server.as_key("wrong-key");
    for path in [
        "/api/applications",
        "/api/events/stream",
        "/api/deployments/1",
        "/api/resources?app=x",
    ] {
        for client in [anonymous, &wrong] {
            let response = client
                .request(reqwest::Method::GET, path)
                .send()
                .await
                .unwrap();
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let (status, code, message) = error_of(response).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::UNAUTHORIZED, "unauthorized"),
                "{path}"
            );
            assert!(!message.contains("wrong-key") && !message.contains("right-key"));
        }
    }
    let (status, _, _) = error_of(wrong.post(&spec("web", &[]), None).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let health = anonymous
        .request(reqwest::Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let right = server.as_key("right-key");
    assert_eq!(right.get("/api/applications").await.0, StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn retention_announces_a_gap_then_continues() {
    let server = TestServer::start(ServerConfig {
        retention: Some(5),
        ..config()
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(server.publish("kept", 8).await);
    }
    let last = *ids.last().unwrap();
    let first_kept = last - 4;

    let mut stream = server.stream("?app=kept&since=2").await;
    stream.connected().await;
    let gap = stream.event().await.unwrap();
    assert_eq!(gap.kind, EventKind::StreamGap);
    assert_eq!(gap.data_u64("requested_since"), Some(2));
    assert_eq!(gap.data_u64("first_available"), Some(first_kept));
    let rest = stream.until_id(last).await;
    assert_eq!(self::ids(&rest), (first_kept..=last).collect::<Vec<_>>());

    // Resuming from inside the kept window: no gap.
    let mut stream = server
        .stream(&format!("?app=kept&since={first_kept}"))
        .await;
    let rest = stream.until_id(last).await;
    assert_eq!(
        self::ids(&rest),
        (first_kept + 1..=last).collect::<Vec<_>>()
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_restart_continues_ids_and_fails_the_interrupted_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let persistent = || ServerConfig {
        data_dir: Some(dir.path().to_owned()),
        ..config()
    };

    let server = TestServer::start(persistent()).await;
    let id = server
        .deploy(&spec("web", &[("db", "postgres"), ("wait", "slow")]))
        .await;
    let mut stream = server.stream(&format!("?deployment={id}")).await;
    // Wait until the slow step is running, so the deployment is mid-flight.
    let mut seen = Vec::new();
    while seen.last().is_none_or(|e: &Event| {
        !(e.kind == EventKind::StepStarted
            && e.data_str("resource_name").as_deref() == Some("wait"))
    }) {
        seen.push(stream.event().await.unwrap());
    }
    let last_before = seen.last().unwrap().numeric_id().unwrap();
    server.stop().await.unwrap();
    // Shutdown ended the stream cleanly, without a terminal event.
    let tail = stream.until_end().await;
    assert!(tail.iter().all(|e| e.outcome().is_none()));

    let server = TestServer::start(persistent()).await;
    let (_, deployment) = server.get(&format!("/api/deployments/{id}")).await;
    assert_eq!(deployment["status"], "failed");
    assert_eq!(deployment["error"], "server restarted during deployment");
    let events = server
        .stream(&format!("?deployment={id}"))
        .await
        .until_end()
        .await;
    assert_deployment_shape(&events, &id);
    let failed = events.last().unwrap();
    assert_eq!(failed.kind, EventKind::DeploymentFailed);
    assert!(failed.numeric_id().unwrap() > last_before);
    assert_eq!(
        failed.data_str("error").as_deref(),
        Some("server restarted during deployment")
    );

    // The app is free again, and new ids continue after the old ones.
    let next = server.deploy(&spec("web", &[("db", "postgres")])).await;
    let next_events = server
        .stream(&format!("?deployment={next}"))
        .await
        .until_end()
        .await;
    assert!(next_events[0].numeric_id().unwrap() > failed.numeric_id().unwrap());
    assert_eq!(
        next_events.last().unwrap().kind,
        EventKind::DeploymentCompleted
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn deleting_an_application() {
    let server = TestServer::start(config()).await;
    let slow = server.deploy(&spec("busy", &[("wait", "slow")])).await;
    let response = server
        .request(reqwest::Method::DELETE, "/api/applications/busy")
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "conflict"));
    assert_eq!(
        server.get(&format!("/api/deployments/{slow}")).await.1["status"],
        "running"
    );

    let id = server.deploy(&spec("web", &[("db", "postgres")])).await;
    server
        .stream(&format!("?deployment={id}"))
        .await
        .until_end()
        .await;
    let mut watch = server.stream("?app=web").await;
    let response = server
        .request(reqwest::Method::DELETE, "/api/applications/web")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"message": "Successfully deleted 'web'"})
    );
    let deleted = watch.event().await.unwrap();
    assert_eq!(deleted.kind, EventKind::ApplicationDeleted);
    assert_eq!(
        server.get("/api/applications/web").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get("/api/resources?app=web").await.1["resources"],
        Value::Null
    );
    let again = server
        .request(reqwest::Method::DELETE, "/api/applications/web")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    // History stays.
    assert_eq!(
        server.get(&format!("/api/deployments/{id}")).await.1["status"],
        "succeeded"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_run_returns() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ServerConfig {
        keepalive: Duration::from_millis(20),
        ..config()
    };
    let running = tokio::spawn(run(listener, config, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/api/applications"))
        .header("content-type", "application/yaml")
        .body(spec("web", &[("wait", "slow")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = http
        .get(format!("{base}/api/events/stream?app=web&since=0"))
        .send()
        .await
        .unwrap();
    let mut stream = SseReader::new(response);
    stream.connected().await;
    // Keep-alive comments arrive on a quiet stream.
    loop {
        let frame = stream.frame().await.unwrap();
        if frame.comment.as_deref() == Some("keepalive") {
            assert!(frame.data.is_none() && frame.id.is_none());
            break;
        }
    }
    stop.send(()).unwrap();
    // A clean end of the body (`frame` panics on an unclean one) ...
    while stream.frame().await.is_some() {}
    // ... and `run` returns, despite the deployment that would have slept for an hour.
    tokio::time::timeout(DEADLINE, running)
        .await
        .expect("run returns")
        .unwrap()
        .unwrap();
    assert!(http.get(format!("{base}/healthz")).send().await.is_err());
}

#[tokio::test]
async fn run_refuses_open_access_beyond_loopback() {
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = run(listener, config(), std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::OpenAccess { .. }), "{err}");
}

/// Decodes an HTTP/1.1 chunked body incrementally.
#[derive(Default)]
struct Dechunker {
    raw: Vec<u8>,
    headers_done: bool,
}

impl Dechunker {
    fn push(&mut self, bytes: &[u8], body: &mut FrameParser) {
        self.raw.extend_from_slice(bytes);
        if !self.headers_done {
            let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                return;
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).to_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            assert!(head.contains("transfer-encoding: chunked"), "{head}");
            self.raw.drain(..end + 4);
            self.headers_done = true;
        }
        loop {
            let Some(line_end) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size_text = String::from_utf8_lossy(&self.raw[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.trim(), 16).expect("a chunk size");
            let start = line_end + 2;
            if self.raw.len() < start + size + 2 {
                return;
            }
            body.push(&self.raw[start..start + size]);
            self.raw.drain(..start + size + 2);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_neither_blocks_others_nor_loses_events() {
    // A tiny bus ring, so the stalled stream is certain to fall behind it.
    let server = TestServer::start_with(config(), 16).await;
    let addr = server.base.trim_start_matches("http://").parse().unwrap();

    // The stalled client: a raw socket with a small receive buffer that reads nothing yet.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(addr).await.unwrap();
    stalled
        .write_all(
            b"GET /api/events/stream?app=flood HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut reader = server.stream("?app=flood").await;
    reader.connected().await;
    // The stalled stream is subscribed once its connected frame has been written; read it so
    // the flood below is certainly live traffic for it.
    let mut stalled_frames = FrameParser::default();
    let mut dechunker = Dechunker::default();
    let mut buf = vec![0u8; 64 * 1024];
    while stalled_frames.buf.is_empty() {
        let n = tokio::time::timeout(DEADLINE, stalled.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        dechunker.push(&buf[..n], &mut stalled_frames);
    }

    const TOTAL: usize = 2000;
    let publisher = {
        let store = server.state.0.store.clone();
        tokio::spawn(async move {
            let mut ids = Vec::with_capacity(TOTAL);
            for _ in 0..TOTAL {
                let event = Event::new(EventKind::Other("test.flood".into()), "flood")
                    .with("pad", "x".repeat(4096));
                ids.push(
                    store
                        .append(event, Arc::from(auth::DEFAULT_TEAM))
                        .await
                        .unwrap(),
                );
            }
            ids
        })
    };
    // The reading subscriber gets everything, in order, while the other one stalls.
    let published = tokio::time::timeout(DEADLINE, publisher)
        .await
        .unwrap()
        .unwrap();
    let last = *published.last().unwrap();
    assert_eq!(ids(&reader.until_id(last).await), published);
    // Whether the stalled stream fell behind the bus here depends on the kernel's socket
    // buffers (they can hold megabytes); `sse::tests` forces that case deterministically.

    // The stalled subscriber now reads, and catches up with every event in order.
    let mut received = Vec::new();
    let mut connected = false;
    while received.last() != Some(&last) {
        while let Some(frame) = stalled_frames.next_frame() {
            if let Some(event) = frame.event() {
                received.push(event.numeric_id().unwrap());
            } else if frame.data.is_some() {
                connected = true;
            }
        }
        if received.last() == Some(&last) {
            break;
        }
        let n = tokio::time::timeout(DEADLINE, stalled.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the stalled stream ended early");
        dechunker.push(&buf[..n], &mut stalled_frames);
    }
    assert!(connected);
    assert_eq!(received, published);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_answered_408_at_the_body_timeout() {
    let body_timeout = Duration::from_millis(600);
    let server = TestServer::start(ServerConfig {
        body_timeout,
        ..config()
    })
    .await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = conn.into_split();
    let body = spec("slow-body", &[]);
    let head = format!(
        "POST /api/applications HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/yaml\r\n\
         Content-Length: {}\r\n\r\n",
        body.len() + 1000
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    writer.write_all(body.as_bytes()).await.unwrap();
    let started = tokio::time::Instant::now();
    // Then a byte every 50 ms: a body that keeps coming but never ends in time.
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            if writer.write_all(b"#").await.is_err() {
                break;
            }
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Until the answer is complete or the connection closes.
    while !String::from_utf8_lossy(&answer).ends_with("}}") {
        let n = tokio::time::timeout(DEADLINE, reader.read(&mut buf))
            .await
            .expect("the server answers a body that never ends")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    // Then the connection is closed (an end of stream, or a reset as bytes keep coming).
    let closed = tokio::time::timeout(DEADLINE, async {
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    sender.abort();
    assert!(closed.is_ok(), "the connection stays open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
    assert!(started.elapsed() >= body_timeout);
    // Nothing was deployed.
    let list: Value = server
        .http
        .get(format!("{}/api/applications", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list.get("slow-body").is_none(), "{list}");
    server.stop().await.unwrap();
}

/// Property test of `POST /api/applications` (and its alias): arbitrary bodies, content types
/// and idempotency keys get a 2xx or a 4xx with the JSON error envelope, never a 5xx, a panic
/// or a dropped connection; the server stays healthy. A bounded number of cases by default,
/// more with `PROPTEST_CASES`.
#[test]
fn posted_specs_of_any_shape_are_answered_2xx_or_4xx() {
    use proptest::prelude::*;
    use proptest::test_runner::TestRunner;

    let yaml_piece = prop_oneof![
        6 => prop::sample::select(vec![
            "apiVersion: score.dev/v1b1\n", "apiVersion: ", "metadata:\n", "  name: ", "web",
            "web\n", "containers:\n", "  main:\n", "    image: nginx\n", "    image: ",
            "resources:\n", "  db:\n", "  Db_1:\n", "    type: postgres\n", "    type: redis\n",
            "    type: broken\n", "    type: nosuch\n", "    params: {a: 1}\n", "service:\n",
            "&a ", "*a", "<<: *a\n", "{", "}", "[", "]", "- ", ": ", "\n", "  ", "\t", "---\n",
            "...\n", "!!binary ", "!tag ", "'", "\"", "\\u0000", "# c\n", "é", "\0", "~", "null",
            "0x1F", "1e400", "|\n", ">-\n", "? ", ",",
        ])
        .prop_map(|s: &str| s.as_bytes().to_vec()),
        1 => "\\PC{0,8}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..8),
    ];
    // Valid names half the time, so that some specs are accepted and deployed.
    let name = prop_oneof!["[a-z][a-z0-9-]{0,10}", "\\PC{0,12}"];
    let body = prop_oneof![
        // A valid spec with arbitrary names: the names are what validation must refuse.
        2 => (name.clone(), name, prop::sample::select(vec!["postgres", "redis", "broken", "nosuch", ""]))
            .prop_map(|(app, resource, kind)| {
                serde_json::json!({
                    "apiVersion": "score.dev/v1b1",
                    "metadata": {"name": app},
                    "containers": {"main": {"image": "nginx"}},
                    "resources": {resource: {"type": kind}},
                })
                .to_string()
                .into_bytes()
            }),
        3 => prop::collection::vec(yaml_piece, 0..40).prop_map(|pieces| pieces.concat()),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ];
    let content_type = prop_oneof![
        4 => prop::sample::select(vec![
            "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml",
            "application/json", "application/yaml; charset=utf-8", "APPLICATION/YAML",
            "application/yaml; charset=latin1", "text/plain", "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x", "", ";", "application/yaml,text/plain",
        ])
        .prop_map(|s: &str| Some(s.to_owned())),
        1 => "[ -~]{0,30}".prop_map(Some),
        1 => Just(None),
    ];
    let key = prop_oneof![
        3 => Just(None),
        1 => Just(Some("same-key".to_owned())),
        1 => "[ -~]{0,300}".prop_map(Some),
    ];
    let path = prop::sample::select(vec!["/api/applications", "/api/specs"]);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(TestServer::start(config()));
    let mut runner = TestRunner::new(crate::proptests::config(48));
    let result = runner.run(
        &(path, content_type, body, key),
        |(path, content_type, body, key)| {
            let (status, text) = runtime.block_on(async {
                let mut request = server
                    .http
                    .post(format!("{}{path}", server.base))
                    .body(body.clone());
                if let Some(content_type) = &content_type {
                    request = request.header("content-type", content_type);
                }
                if let Some(key) = &key {
                    request = request.header("idempotency-key", key);
                }
                let response = tokio::time::timeout(DEADLINE, request.send())
                    .await
                    .expect("answered in time")
                    .expect("answered, not dropped");
                let status = response.status();
                (status, response.text().await.unwrap())
            });
            prop_assert!(
                status.is_success() || status.is_client_error(),
                "{status}: {text}"
            );
            let answer: Value = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text}")))?;
            if status.is_success() {
                prop_assert_eq!(status, StatusCode::ACCEPTED);
                prop_assert!(answer["deployment_id"].is_string(), "{}", text);
            } else {
                prop_assert!(answer["error"]["code"].is_string(), "{}", text);
                prop_assert!(answer["error"]["message"].is_string(), "{}", text);
            }
            Ok(())
        },
    );
    let healthy = runtime.block_on(async {
        let response = server
            .http
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .unwrap();
        response.status()
    });
    runtime.block_on(server.stop()).unwrap();
    if let Err(failure) = result {
        panic!("{failure}");
    }
    assert_eq!(healthy, StatusCode::OK);
}
