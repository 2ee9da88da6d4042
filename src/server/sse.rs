//! `GET /api/events/stream`: replay from the store, then live from the bus, with no gap and no
//! duplicate (PROTOCOL.md B.1).
//!
//! The order of operations is the whole trick (STYLE.md 12):
//! 1. subscribe to the bus *first*, so every event committed from now on reaches us;
//! 2. replay from the store every matching event with an id above the resume point, page by
//!    page, until a page comes back short (the log's end at that moment);
//! 3. forward live events, skipping every id not above the last one handled (the bus also
//!    holds events the replay already covered);
//! 4. if the bus says we lagged, go back to 2 from the last id handled; nothing is dropped.
//!
//! Each stream is the body of its response ([`Session`]): it makes its next chunk when the
//! connection asks for one, which is when the previous chunk has been written, so a stream
//! has no task and no queue of its own. Events that are ready together travel together: a
//! replayed page, or every live event already waiting on the bus, becomes one chunk of up to
//! [`BATCH_BYTES`] rather than one chunk per event, which is what lets a catching-up client
//! read at wire speed. A client that stops reading stops asking for chunks; meanwhile the bus
//! overwrites its backlog (a fixed ring shared by all), and the store serves the catch-up
//! later. So one stuck client costs bounded memory and never slows the others.
//!
//! Frames: `retry: <ms>` with the `connected` frame first, then `id: <id>\ndata: <json>\n\n`
//! per event, and `: keepalive\n\n` at a fixed interval. The stream ends cleanly (end of the
//! chunked body) at shutdown and, with `deployment=<id>`, after that deployment's terminal
//! event.
//!
//! This module must never write anything to a stream that is not valid SSE, and never send an
//! event of another team.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::api_error::ApiError;
use super::auth::Caller;
use super::bus::{self, Published};
use super::state::App;
use super::store::{self, EventFilter, Store};
use crate::event::{CANONICAL_HEADER, Event, EventKind};

const KEEPALIVE: &[u8] = b": keepalive\n\n";

/// Events ready at the same moment are sent as one chunk, up to about this many bytes.
const BATCH_BYTES: usize = 64 * 1024;

/// Query parameters of the stream endpoint.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamParams {
    /// Only this application's events.
    app: Option<String>,
    /// Only this deployment's events; the stream ends after its terminal event.
    deployment: Option<String>,
    /// Comma-separated types; each may end in `.*`.
    types: Option<String>,
    /// Resume after this id (like `Last-Event-ID`).
    since: Option<String>,
}

/// The stream was told to stop (client gone, shutdown, deployment finished).
struct End;

type Flow = Result<(), End>;

/// The handler of `GET /api/events/stream`.
pub(crate) async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<StreamParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let app = state.0.clone();
    let resume = resume_point(&headers, params.since.as_deref())?;
    let types: Vec<String> = params
        .types
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let filter = EventFilter {
        team: caller.team.clone(),
        app: params.app.filter(|a| !a.is_empty()),
        deployment: params.deployment.filter(|d| !d.is_empty()),
    };

    // Step 1: subscribe before any read of the store (see the module docs).
    let live = app.store.subscribe();
    let (team, deployment) = (filter.team.clone(), filter.deployment.clone());
    let (head, info) = app
        .store
        .call(move |db| {
            let info = match &deployment {
                Some(d) => db.deployment_info(d, &team)?,
                None => None,
            };
            Ok((db.head()?, info))
        })
        .await?;
    if filter.deployment.is_some() && info.is_none() {
        return Err(ApiError::not_found("Deployment not found"));
    }

    // Without a resume point: a deployment stream starts at the deployment's beginning; any
    // other stream starts now, like innominatus (there is no sensible "all history" default).
    let start = resume.unwrap_or(if filter.deployment.is_some() {
        0
    } else {
        head.last_id
    });
    // Ids start..=pruned_through are gone. For a deployment stream that only matters if the
    // deployment had events among them; other streams cannot tell cheaply whether any of the
    // lost events would have matched, so they are told whenever something is missing.
    let gap = head.pruned_through > start
        && info
            .as_ref()
            .is_none_or(|i| i.first_event_id.is_some_and(|f| f <= head.pruned_through));

    let client = app.next_client.fetch_add(1, Ordering::Relaxed) + 1;
    let mut connected = Event::new(EventKind::Connected, "");
    connected
        .extra
        .insert("client_id".to_owned(), format!("client-{client}").into());
    let first = format!(
        "retry: {}\ndata: {}\n\n",
        app.retry.as_millis(),
        connected.to_json()
    );
    let mut ready = VecDeque::from([Bytes::from(first)]);
    let mut last = start;
    if gap {
        ready.push_back(gap_frame(&filter, start, head.pruned_through));
        last = head.pruned_through;
    }
    let session = Session::new(app.clone(), filter, types, last, live, ready);
    let body = Body::from_stream(session.into_stream());
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    // Events are stored as `Event::to_json` wrote them: clients may pass them through as is.
    h.insert(CANONICAL_HEADER, HeaderValue::from_static("canonical"));
    // nginx buffers proxied responses unless told otherwise.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The resume point: the larger of `Last-Event-ID` and `?since=`. A reconnecting client sends
/// the header with its latest id while the URL keeps the original `since`, so the larger one
/// is always what the client already has.
fn resume_point(headers: &HeaderMap, since: Option<&str>) -> Result<Option<u64>, ApiError> {
    let header = match headers.get("last-event-id") {
        None => None,
        Some(v) => {
            let text = v.to_str().unwrap_or("?").trim();
            if text.is_empty() {
                None
            } else {
                Some(text.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(
                        "invalid Last-Event-ID header: expected an event id (a non-negative integer)",
                    )
                })?)
            }
        }
    };
    let query = match since.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            ApiError::bad_request(
                "invalid since parameter: expected an event id (a non-negative integer)",
            )
        })?),
    };
    Ok(header.max(query))
}

/// The one `stream.gap` event: events after `since` up to `pruned_through` are gone. Its id is
/// the last missing one, so a client resuming from it is not told twice.
fn gap_frame(filter: &EventFilter, since: u64, pruned_through: u64) -> Bytes {
    let mut event = Event::new(EventKind::StreamGap, filter.app.clone().unwrap_or_default())
        .with_source("ctl-server")
        .with("requested_since", since)
        .with("first_available", pruned_through + 1);
    event.id = pruned_through.to_string();
    event.timestamp = Some(chrono::Local::now().fixed_offset());
    event.deployment_id = filter.deployment.clone();
    let mut frame = BytesMut::new();
    event_frame(&mut frame, pruned_through, &event.to_json());
    frame.freeze()
}

/// Appends one event's frame to `out` (the page encoder handed to the store).
fn event_frame(out: &mut BytesMut, id: u64, json: &str) {
    bus::encode_frame(out, id, json);
}

/// One connected stream: the body of its response. It produces its next chunk when the
/// connection asks for one, that is when the previous chunk has been written, so a stream
/// costs no task and no channel of its own, and a client that stops reading simply stops
/// asking (the bus overwrites its backlog; the store serves the catch-up later).
struct Session {
    store: Store,
    filter: EventFilter,
    /// Type patterns; empty means all.
    types: Vec<String>,
    cancel: CancellationToken,
    /// The highest id handled (sent or filtered out). Never decreases.
    last: u64,
    app: Arc<App>,
    live: bus::Receiver,
    ticks: tokio::time::Interval,
    /// Where the stream is: replaying from the store, or forwarding the bus.
    phase: Phase,
    /// Chunks made and not yet handed out.
    ready: VecDeque<Bytes>,
    /// Frames of handled events not yet made into a chunk.
    batch: BytesMut,
    /// Nothing more will be produced once `ready` is empty.
    ended: bool,
}

/// What a [`Session`] is doing.
enum Phase {
    /// Replaying from the store: the page being sent and how far into it, and the read of the
    /// next page, started while this one is sent.
    CatchUp {
        page: Option<(store::Page, usize)>,
        next: Option<PageRead>,
    },
    /// Forwarding events from the bus.
    Live,
}

type PageRead = tokio::task::JoinHandle<Result<store::Page, store::StoreError>>;

impl Session {
    /// A stream that first hands out `ready`, then replays everything after `last` and goes
    /// live. `live` must have been subscribed before the store was read (module docs).
    fn new(
        app: Arc<App>,
        filter: EventFilter,
        types: Vec<String>,
        last: u64,
        live: bus::Receiver,
        ready: VecDeque<Bytes>,
    ) -> Session {
        let keepalive = app.keepalive;
        let mut ticks = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut session = Session {
            store: app.store.clone(),
            filter,
            types,
            cancel: app.cancel.clone(),
            last,
            app,
            live,
            ticks,
            phase: Phase::Live,
            ready,
            batch: BytesMut::new(),
            ended: false,
        };
        session.phase = session.catch_up_from_last();
        session
    }

    /// The session as a stream of chunks, ending when the session does.
    fn into_stream(self) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send {
        futures::stream::unfold(self, |mut session| async move {
            let chunk = session.next_chunk().await?;
            Some((Ok(chunk), session))
        })
    }

    /// The next chunk to send, waiting for events if there are none; `None` once the stream
    /// has ended (shutdown, or the followed deployment finished).
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.ready.pop_front() {
                return Some(chunk);
            }
            if self.ended {
                return None;
            }
            let flow = match self.phase {
                Phase::CatchUp { .. } => self.catch_up().await,
                Phase::Live => self.live().await,
            };
            // Whatever was handled goes out, also when the stream ends right after it.
            if !self.batch.is_empty() {
                self.ready.push_back(self.batch.split().freeze());
            }
            self.ended = flow.is_err();
        }
    }

    /// Waits for the next thing to send while live: events from the bus (every one already
    /// waiting, up to one batch), or a keep-alive.
    async fn live(&mut self) -> Flow {
        tokio::select! {
            // Shutdown: end the body cleanly; the client resumes elsewhere with its last id.
            _ = self.cancel.cancelled() => Err(End),
            // Keep proxies and the client's idle timer from giving up on a quiet stream.
            _ = self.ticks.tick() => {
                self.ready.push_back(Bytes::from_static(KEEPALIVE));
                Ok(())
            }
            received = self.live.recv() => match received {
                Ok(published) => self.on_live_burst(&published),
                // Fell behind the bus: the store has everything we missed.
                Err(RecvError::Lagged(missed)) => {
                    self.lagged(missed);
                    Ok(())
                }
                // The store thread is gone: the server is stopping.
                Err(RecvError::Closed) => Err(End),
            },
        }
    }

    /// Handles `first`, then every event already waiting on the bus (up to one batch), so a
    /// burst is sent as one chunk.
    fn on_live_burst(&mut self, first: &Published) -> Flow {
        self.on_live(first)?;
        while self.batch.len() < BATCH_BYTES {
            match self.live.try_recv() {
                Ok(published) => self.on_live(&published)?,
                Err(TryRecvError::Lagged(missed)) => {
                    self.lagged(missed);
                    break;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return Err(End),
            }
        }
        Ok(())
    }

    /// Fell behind the bus: the store has everything we missed.
    fn lagged(&mut self, missed: u64) {
        tracing::debug!(
            missed,
            after = self.last,
            "stream lagged; catching up from the store"
        );
        self.app.lag_recoveries.fetch_add(1, Ordering::Relaxed);
        self.phase = self.catch_up_from_last();
    }

    /// A replay of everything after `last`, its first page already being read.
    fn catch_up_from_last(&self) -> Phase {
        Phase::CatchUp {
            page: None,
            next: Some(self.read_page(self.last)),
        }
    }

    /// Replays from the store until one batch is full, a page is done, or the log's end is
    /// reached (then the stream goes live). The next page is read while this one is sent, so
    /// the store thread and the connection overlap.
    async fn catch_up(&mut self) -> Flow {
        // Taken out while it is worked on, and put back unless the replay is over.
        let Phase::CatchUp { page, mut next } = std::mem::replace(&mut self.phase, Phase::Live)
        else {
            return Ok(());
        };
        let (read, mut at) = match page {
            Some(page) => page,
            None => {
                // No page left to read: the replay is done, and the stream is live.
                let Some(reading) = next.take() else {
                    return Ok(());
                };
                let read = tokio::select! {
                    biased;
                    // Shutdown ends a replay too, at the next page.
                    _ = self.cancel.cancelled() => return Err(End),
                    read = reading => read,
                };
                let read = read.map_err(|_| End)?.map_err(|_| End)?;
                if !read.at_end {
                    if let Some(last) = read.events.last() {
                        next = Some(self.read_page(last.id));
                    }
                }
                (read, 0)
            }
        };
        while let Some(event) = read.events.get(at) {
            at += 1;
            let (send, flow) = self.handle(event.id, &event.kind, event.deployment_id.as_deref());
            if send {
                self.batch
                    .extend_from_slice(&read.encoded[event.encoded.clone()]);
            }
            flow?;
            if self.batch.len() >= BATCH_BYTES {
                self.phase = Phase::CatchUp {
                    page: Some((read, at)),
                    next,
                };
                return Ok(());
            }
        }
        self.phase = Phase::CatchUp { page: None, next };
        // The deployment had ended when this page was read, yet its terminal event was not
        // delivered: retention deleted it. Nothing more will come.
        if read.at_end && self.filter.deployment.is_some() && read.deployment_finished {
            return Err(End);
        }
        Ok(())
    }

    /// Starts reading the page of events after `after`, each encoded as its SSE frame.
    fn read_page(&self, after: u64) -> PageRead {
        let (store, filter) = (self.store.clone(), self.filter.clone());
        tokio::spawn(async move {
            store
                .call(move |db| db.read_events(&filter, after, event_frame))
                .await
        })
    }

    fn on_live(&mut self, published: &Published) -> Flow {
        let event = &published.event;
        if !self.filter.admits(
            &published.team,
            &event.app_name,
            event.deployment_id.as_deref(),
        ) {
            // Ids are global and arrive in order, so passing over an id we do not want is
            // handling it too.
            self.last = self.last.max(published.id);
            // `app=` may exclude the followed deployment entirely; its end still ends us.
            let followed = self.filter.deployment.as_deref();
            let ends = followed.is_some()
                && event.deployment_id.as_deref() == followed
                && *published.team == *self.filter.team
                && event.outcome().is_some();
            return if ends { Err(End) } else { Ok(()) };
        }
        let (send, flow) = self.handle(published.id, &event.kind, event.deployment_id.as_deref());
        if send {
            self.batch.extend_from_slice(published.frame());
        }
        flow
    }

    /// Decides about one event the filter admits: whether to send it (not already handled,
    /// and of a type asked for by `types`), and whether the stream ends after it (the followed
    /// deployment's terminal event, even if `types` hides it). The caller adds the frame.
    fn handle(&mut self, id: u64, kind: &EventKind, deployment: Option<&str>) -> (bool, Flow) {
        if id <= self.last {
            return (false, Ok(()));
        }
        self.last = id;
        let send = self.types.is_empty() || self.types.iter().any(|t| kind.matches(t));
        let followed = self.filter.deployment.as_deref();
        if followed.is_some() && deployment == followed && kind.outcome().is_some() {
            return (send, Err(End));
        }
        (send, Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_point_takes_the_larger_of_header_and_query() {
        let mut headers = HeaderMap::new();
        assert_eq!(resume_point(&headers, None).unwrap(), None);
        assert_eq!(resume_point(&headers, Some("7")).unwrap(), Some(7));
        headers.insert("last-event-id", HeaderValue::from_static("12"));
        assert_eq!(resume_point(&headers, Some("7")).unwrap(), Some(12));
        assert_eq!(resume_point(&headers, Some("20")).unwrap(), Some(20));
        assert!(resume_point(&headers, Some("x")).is_err());
        headers.insert("last-event-id", HeaderValue::from_static("-1"));
        assert!(resume_point(&headers, None).is_err());
        headers.insert("last-event-id", HeaderValue::from_static(""));
        assert_eq!(resume_point(&headers, None).unwrap(), None);
    }

    #[tokio::test]
    async fn lagging_behind_the_bus_falls_back_to_the_store() {
        // A bus ring of 4, and a stream nobody reads while 50 events are published: by the
        // time it is asked for a chunk, the ring has overwritten most of them.
        let state = AppState::open_with(super::super::ServerConfig::in_memory(), 4)
            .await
            .unwrap();
        let app = state.0.clone();
        let team: Arc<str> = Arc::from("default");
        let live = app.store.subscribe();
        let filter = EventFilter {
            team: team.clone(),
            app: None,
            deployment: None,
        };
        let head = app.store.call(|db| db.head()).await.unwrap();
        let mut session = Session::new(
            app.clone(),
            filter,
            Vec::new(),
            head.last_id,
            live,
            VecDeque::new(),
        );
        let mut expected = Vec::new();
        for _ in 0..50 {
            let event = Event::new(EventKind::Other("test.tick".into()), "a");
            expected.push(app.store.append(event, team.clone()).await.unwrap());
        }
        let deadline = std::time::Duration::from_secs(15);
        let mut received = Vec::new();
        while received.last() != expected.last() {
            let chunk = tokio::time::timeout(deadline, session.next_chunk())
                .await
                .expect("a chunk before the deadline")
                .expect("the session is running");
            // A chunk holds one or more frames.
            let text = std::str::from_utf8(&chunk).unwrap();
            assert!(text.ends_with("\n\n"), "whole frames only: {text:?}");
            for line in text.lines() {
                if let Some(id) = line.strip_prefix("id: ") {
                    received.push(id.parse::<u64>().unwrap());
                }
            }
        }
        assert_eq!(received, expected);
        assert!(app.lag_recoveries.load(Ordering::Relaxed) > 0);
        state.shutdown().await;
        let end = tokio::time::timeout(deadline, session.next_chunk())
            .await
            .expect("the session ends at shutdown");
        assert_eq!(end, None);
    }

    #[test]
    fn gap_frame_is_one_sse_event() {
        let filter = EventFilter {
            team: Arc::from("t"),
            app: Some("web".to_owned()),
            deployment: None,
        };
        let frame = gap_frame(&filter, 3, 10);
        let text = std::str::from_utf8(&frame).unwrap();
        assert!(text.starts_with("id: 10\ndata: {"), "{text}");
        assert!(text.ends_with("}\n\n"));
        let event = Event::from_json(text["id: 10\ndata: ".len()..].trim_end()).unwrap();
        assert_eq!(event.kind, EventKind::StreamGap);
        assert_eq!(event.data_u64("requested_since"), Some(3));
        assert_eq!(event.data_u64("first_available"), Some(11));
    }
}
