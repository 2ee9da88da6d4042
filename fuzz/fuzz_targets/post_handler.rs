//! `POST /api/applications` of the bundled server, in process (the router, without sockets):
//! any body under any content type is answered 2xx or 4xx, never 5xx, and never panics. The
//! first byte chooses the content type and the path; the rest is the body.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use ctl::server::{AppState, ServerConfig, router};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/yaml"),
    Some("application/json"),
    Some("text/yaml; charset=utf-8"),
    Some("text/plain"),
    Some(""),
    None,
];

/// One runtime and one in-memory server for the whole run: deployments accepted by one input
/// keep running in the background while the next inputs arrive, as on a real server.
fn server() -> &'static (tokio::runtime::Runtime, AppState) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, AppState)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let state = runtime
            .block_on(AppState::open(ServerConfig::in_memory()))
            .expect("in-memory server");
        (runtime, state)
    })
}

fuzz_target!(|data: &[u8]| {
    let [choice, body @ ..] = data else {
        return;
    };
    let (runtime, state) = server();
    let content_type = CONTENT_TYPES[usize::from(*choice) % CONTENT_TYPES.len()];
    let path = if choice & 0x80 == 0 {
        "/api/applications"
    } else {
        "/api/specs"
    };
    let mut request = Request::post(path).header("host", "127.0.0.1");
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let request = request.body(Body::from(body.to_vec())).expect("request");
    let response = runtime
        .block_on(router(state.clone()).oneshot(request))
        .expect("the router is infallible");
    let status = response.status();
    assert!(
        status.is_success() || status.is_client_error(),
        "{status} for {content_type:?} and {body:?}"
    );
});
