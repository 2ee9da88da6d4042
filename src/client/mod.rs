//! The HTTP side of the client: talking to a platform server (ours or an innominatus-compatible
//! one) over its REST API, and opening its event stream.
//!
//! - [`ApiClient`]: base URL, API key, submit a spec, read resources and deployments;
//! - [`watch`]: the event-stream watcher (reconnect, resume, dedupe, idle deadline);
//! - [`sse`]: the Server-Sent Events parser the watcher feeds;
//! - [`backoff`]: the reconnection schedule;
//! - [`tls`]: which certificates are trusted, and what a refused one means.
//!
//! Rules from PROTOCOL.md Part A that shape this module: always send `Accept: application/json`
//! (or an innominatus server redirects to a login page instead of answering 401); accept errors
//! as JSON or as plain text; check `Content-Type` before trusting a body (unknown paths answer an
//! HTML page).
//!
//! Redirects are followed here, not by reqwest (`ApiClient::send`): reqwest's policy keeps
//! the `Authorization` header across a change of scheme, and would turn a `POST` answered with
//! `301`/`302`/`303` into a bodiless `GET`. GETs and the event stream follow up to
//! [`MAX_REDIRECTS`]; a submission follows only `307`/`308` (with its body). Credentials (the
//! API key, or a user and password in the server URL) go only to the origin they were
//! configured for: same scheme, host and port, the rule of curl and gh. Proxies come from
//! `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (either case), which reqwest reads
//! for every request, the event stream included.

pub mod backoff;
pub mod sse;
pub mod tls;
pub mod watch;

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;

use crate::error::Error;
use crate::secret::Secret;
use crate::settings::{KeyOrigin, Settings};
use crate::spec::Spec;

pub use tls::TlsOptions;

/// How long to wait for a TCP connection before calling the server unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request limit for ordinary (non-streaming) calls.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The media type of every request but the event stream: an innominatus server answers a
/// request without it with a redirect to its login page instead of 401 (PROTOCOL.md A.1).
const JSON: &str = "application/json";
/// Error bodies longer than this are cut: a message is a sentence, not a page.
const MAX_ERROR_BODY: usize = 4096;
/// At most this many redirects are followed per request (browsers allow 20, curl 50 with
/// `-L`; an API that needs more than a scheme and a trailing-slash fix-up is misconfigured).
pub const MAX_REDIRECTS: usize = 5;

/// A client for one platform server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// The server URL without credentials and without a trailing slash: safe to print.
    base: String,
    /// Scheme, host and port of `base`: credentials are sent there and nowhere else.
    origin: reqwest::Url,
    api_key: Option<Secret>,
    /// A user and password from the server URL, sent as Basic authentication when no API key
    /// is given.
    basic: Option<(String, Option<Secret>)>,
    /// Where the key came from (or why there is none), said when the server answers 401.
    key_origin: KeyOrigin,
}

/// The server's answer to a submitted spec.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Submission {
    /// The application name.
    #[serde(default)]
    pub name: String,
    /// `accepted` (our server), `success` (innominatus) or `failed` (innominatus: a
    /// spec-embedded workflow failed during the POST).
    #[serde(default)]
    pub status: String,
    /// The server's message.
    #[serde(default)]
    pub message: String,
    /// The deployment id (our server only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// Error texts of a failed submission (innominatus `errors`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Submission {
    /// Whether the server says the deployment already failed during the POST.
    pub fn failed(&self) -> bool {
        self.status == "failed"
    }
}

/// One resource as `GET /api/resources?app=` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResourceRecord {
    /// The server's numeric id, for `GET /api/resources/<id>` (innominatus).
    #[serde(default)]
    pub id: Option<u64>,
    /// Resource name within the app.
    pub resource_name: String,
    /// Resource type.
    #[serde(default)]
    pub resource_type: String,
    /// `requested`, `provisioning`, `active` or `failed`.
    #[serde(default)]
    pub state: String,
    /// Failure text, when the server gives one.
    #[serde(default, alias = "error_message")]
    pub error: Option<String>,
}

/// What `GET /api/deployments/<id>` says of a deployment (our server only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeploymentStatus {
    /// The deployment id.
    #[serde(default)]
    pub id: String,
    /// The application it deploys.
    #[serde(default)]
    pub app_name: String,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Its resources and their states.
    #[serde(default)]
    pub resources: Vec<DeploymentResource>,
}

/// One resource of a [`DeploymentStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeploymentResource {
    /// Resource name.
    pub name: String,
    /// Resource type.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Its state.
    #[serde(default)]
    pub state: String,
    /// Failure text.
    #[serde(default)]
    pub error: Option<String>,
}

/// How much a failed submission says about whether the server acted on it.
///
/// Only a transport failure leaves the answer unknown. Any status line is the server's answer:
/// a `5xx` says the submission failed (exit 5 with the server's text), and is never read as
/// "the answer was lost", which would send `ctl` looking for what the server stored and, on an
/// app whose resources outlived an earlier deployment, report a success that never happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitFate {
    /// The request never reached the server (connection refused, connect timeout): sending
    /// it again cannot deploy twice.
    NotSent,
    /// No answer came (connection reset or closed before a status line, a timeout before any
    /// answer): the server may or may not have acted on it. Only a server that honours
    /// `Idempotency-Key` can be asked again safely.
    Unknown,
    /// The server, or a gateway before it, said it is unavailable for now (`502`, `503`,
    /// `504`): a definite failure, which a server that honours `Idempotency-Key` may be asked
    /// again (the same key never deploys twice).
    Unavailable,
    /// A definite answer (`4xx`, another `5xx`, a malformed answer, a local problem):
    /// retrying changes nothing.
    Final,
}

impl SubmitFate {
    /// Classifies an error returned by [`ApiClient::submit`].
    pub fn of(error: &Error) -> Self {
        match error {
            Error::Unreachable { .. } => SubmitFate::NotSent,
            Error::Server { status: None, .. } => SubmitFate::Unknown,
            Error::Server {
                status: Some(502..=504),
                ..
            } => SubmitFate::Unavailable,
            _ => SubmitFate::Final,
        }
    }
}

#[derive(Deserialize)]
struct ResourcesAnswer {
    #[serde(default)]
    resources: Option<Vec<ResourceRecord>>,
}

impl ApiClient {
    /// A client for `base` (already normalised, see [`crate::settings::normalize_server`]),
    /// trusting the platform's certificate authorities.
    pub fn new(base: &str, api_key: Option<Secret>) -> Result<Self, Error> {
        Self::with_tls(base, api_key, &TlsOptions::default())
    }

    /// The client the settings describe: server, key and TLS options.
    pub fn for_settings(settings: &Settings) -> Result<Self, Error> {
        let mut client = Self::with_tls(&settings.server, settings.api_key.clone(), &settings.tls)?;
        client.key_origin = settings.api_key_origin.clone();
        Ok(client)
    }

    /// A client for `base` with the given TLS options. A user and password in `base` are taken
    /// out of it (so that no message can show them) and sent as Basic authentication when no
    /// API key is given.
    pub fn with_tls(base: &str, api_key: Option<Secret>, tls: &TlsOptions) -> Result<Self, Error> {
        let mut url = Url::parse(base).map_err(|e| {
            Error::Usage(format!(
                "invalid server URL {:?}: {e}",
                crate::settings::redact_url(base)
            ))
        })?;
        let basic = match (url.username(), url.password()) {
            ("", None) => None,
            (user, password) => Some((
                percent_decode(user),
                password.map(|p| Secret::new(percent_decode(p))),
            )),
        };
        // Cannot fail for an http(s) URL with a host, which normalisation guarantees.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // Followed by `send`, under our rules.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ctl/", env!("CARGO_PKG_VERSION")));
        let http = tls::configure(builder, tls)?.build().map_err(|e| {
            Error::Usage(format!("cannot set up the HTTP client: {}", describe(&e)))
        })?;
        Ok(ApiClient {
            http,
            base: url.as_str().trim_end_matches('/').to_owned(),
            origin: url,
            api_key,
            basic,
            key_origin: KeyOrigin::None,
        })
    }

    /// [`error_from_response`], and for a 401 which key was refused, or why none was sent.
    async fn error_from(&self, resp: Response) -> Error {
        match error_from_response(resp).await {
            Error::Rejected {
                status: 401,
                message,
            } => Error::Rejected {
                status: 401,
                message: format!("{message} ({})", self.key_origin.explain_refusal()),
            },
            other => other,
        }
    }

    /// The server base URL, without credentials.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base` + `path` + `query` as a URL.
    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, Error> {
        let mut url = Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| Error::Usage(format!("invalid request path {path:?}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// A request with the headers every call carries: exactly one `Accept` (`accept`), and the
    /// credentials when `url` is on the configured origin. One `Accept`, not two:
    /// `RequestBuilder::header` appends, and a server that reads the field as a list (nginx +
    /// nchan) refuses `application/json, text/event-stream` on its event stream with 403.
    fn request(&self, method: Method, url: Url, accept: &'static str) -> RequestBuilder {
        let same_origin = self.sends_credentials_to(&url);
        let mut req = self.http.request(method, url).header(ACCEPT, accept);
        if !same_origin {
            return req;
        }
        if let Some(key) = &self.api_key {
            // Marked sensitive so that no debug print of the request can show it.
            if let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", key.expose())) {
                value.set_sensitive(true);
                req = req.header(AUTHORIZATION, value);
            }
        } else if let Some((user, password)) = &self.basic {
            req = req.basic_auth(user, password.as_ref().map(Secret::expose));
        }
        req
    }

    /// Whether a request to `url` carries the configured credentials (if there are any).
    fn sends_credentials_to(&self, url: &Url) -> bool {
        url.origin() == self.origin.origin()
    }

    /// Sends `method url`, following redirects under the rules in the module doc; `decorate`
    /// adds what every hop carries (headers, body, timeout). Returns the first answer that is
    /// not a redirect to follow; redirects not followed (a login page, no usable `Location`)
    /// come back as they are, for [`error_from_response`] to explain.
    async fn send(
        &self,
        method: Method,
        url: Url,
        accept: &'static str,
        decorate: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, Error> {
        let mut url = url;
        let mut hops = 0;
        loop {
            let resp = decorate(self.request(method.clone(), url.clone(), accept))
                .send()
                .await
                .map_err(|e| self.transport_error(e))?;
            let status = resp.status();
            let has_credentials = self.api_key.is_some() || self.basic.is_some();
            if status == StatusCode::UNAUTHORIZED
                && has_credentials
                && !self.sends_credentials_to(&url)
            {
                // Say why, or the user is told to pass the key they passed.
                return Err(Error::Rejected {
                    status: status.as_u16(),
                    message: format!(
                        "{} answered 401 after a redirect; the API key is sent only to {} (same scheme, host and port), never to another origin; if that server is the right one, use it as --server",
                        redact(&url),
                        self.base
                    ),
                });
            }
            if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let Some(next) = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| url.join(location).ok())
                .filter(|next| matches!(next.scheme(), "http" | "https"))
            else {
                return Ok(resp);
            };
            // innominatus sends a request it will not serve to its login page (PROTOCOL.md
            // A.1): following it would only fetch an HTML form.
            if next.path().ends_with("/login") {
                return Ok(resp);
            }
            if method == Method::POST && !matches!(status.as_u16(), 307 | 308) {
                return Err(post_redirected(status, &next));
            }
            if hops == MAX_REDIRECTS {
                return Err(Error::Server {
                    status: Some(status.as_u16()),
                    message: format!(
                        "more than {MAX_REDIRECTS} redirects, the last to {} (check the --server URL)",
                        redact(&next)
                    ),
                });
            }
            hops += 1;
            url = next;
        }
    }

    fn unreachable(&self, source: reqwest::Error) -> Error {
        Error::Unreachable {
            url: self.base.clone(),
            source,
        }
    }

    /// Submits a spec (`POST /api/applications`). `idempotency_key` makes a retry of the same
    /// submission safe on servers that support it (ours); others ignore the header.
    pub async fn submit(&self, spec: &Spec, idempotency_key: &str) -> Result<Submission, Error> {
        // A 307 or 308 sends the same body again.
        let resp = self
            .send(
                Method::POST,
                self.url("/api/applications", &[])?,
                JSON,
                |req| {
                    req.header(CONTENT_TYPE, "application/yaml")
                        .header("Idempotency-Key", idempotency_key)
                        .timeout(REQUEST_TIMEOUT)
                        .body(spec.source.clone())
                },
            )
            .await?;
        let status = resp.status();
        if status.is_success() {
            return json_body(resp).await;
        }
        if status == StatusCode::INTERNAL_SERVER_ERROR && is_json(&resp) {
            // innominatus reports a failed spec-embedded workflow as 500 with
            // `"status":"failed"`: a failed deployment, not a server fault (PROTOCOL.md A.2).
            let text = resp.text().await.map_err(|e| self.transport_error(e))?;
            if let Ok(sub) = serde_json::from_str::<Submission>(&text) {
                if sub.failed() {
                    return Ok(sub);
                }
            }
            return Err(Error::Server {
                status: Some(status.as_u16()),
                message: error_message(&text),
            });
        }
        Err(self.error_from(resp).await)
    }

    /// `GET path` and decode the JSON answer; 4xx and 5xx become errors with the server's text.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let resp = self
            .send(Method::GET, self.url(path, &[])?, JSON, |req| {
                req.timeout(REQUEST_TIMEOUT)
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.error_from(resp).await);
        }
        json_body(resp).await
    }

    /// The resources the server knows for `app` (`GET /api/resources?app=`), the state of
    /// record on servers without terminal events.
    pub async fn resources(&self, app: &str) -> Result<Vec<ResourceRecord>, Error> {
        let url = self.url("/api/resources", &[("app", app)])?;
        let resp = self
            .send(Method::GET, url, JSON, |req| req.timeout(REQUEST_TIMEOUT))
            .await?;
        if !resp.status().is_success() {
            return Err(self.error_from(resp).await);
        }
        let answer: ResourcesAnswer = json_body(resp).await?;
        Ok(answer.resources.unwrap_or_default())
    }

    /// The resources of `app`, with the reason of every failure the list leaves out filled in
    /// from [`ApiClient::failure_reason`]: an innominatus server never sets `error_message`
    /// when its engine fails a resource, so without this a failure learned by polling (after a
    /// stream gap, on a redeploy that publishes nothing) would have no reason at all.
    pub async fn resources_with_reasons(&self, app: &str) -> Result<Vec<ResourceRecord>, Error> {
        let mut records = self.resources(app).await?;
        for record in &mut records {
            if record.state == "failed" && record.error.is_none() {
                if let Some(id) = record.id {
                    record.error = self.failure_reason(id).await;
                }
            }
        }
        Ok(records)
    }

    /// Why a resource failed, from its state history (`GET /api/resources/<id>`, innominatus:
    /// `state_transitions`, newest first, each with `to_state` and `reason`). `None` when the
    /// server keeps no such history or cannot be asked: the reason is a courtesy, never a
    /// reason to fail the command.
    pub async fn failure_reason(&self, id: u64) -> Option<String> {
        #[derive(Deserialize)]
        struct Transition {
            #[serde(default)]
            to_state: String,
            #[serde(default)]
            reason: Option<String>,
        }
        #[derive(Deserialize)]
        struct Detail {
            #[serde(default)]
            state_transitions: Vec<Transition>,
        }
        let detail: Detail = self.get_json(&format!("/api/resources/{id}")).await.ok()?;
        let reason = detail
            .state_transitions
            .into_iter()
            .find(|t| t.to_state == "failed")?
            .reason?;
        // innominatus words an engine failure `Failed to provision: <error>`.
        let reason = reason
            .strip_prefix("Failed to provision: ")
            .unwrap_or(&reason)
            .trim()
            .to_owned();
        (!reason.is_empty()).then_some(reason)
    }

    /// A deployment's status (`GET /api/deployments/<id>`, our server only).
    pub async fn deployment(&self, id: &str) -> Result<DeploymentStatus, Error> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::Usage(format!("{id:?} is not a deployment id")));
        }
        self.get_json(&format!("/api/deployments/{id}")).await
    }

    /// Whether the server has an application of this name (`GET /api/applications/<name>`):
    /// `2xx` yes, `404` no. `name` must be a DNS label (validated specs always are).
    pub async fn application_known(&self, name: &str) -> Result<bool, Error> {
        if !crate::spec::is_dns_label(name) {
            return Err(Error::Usage(format!("{name:?} is not an application name")));
        }
        let url = self.url(&format!("/api/applications/{name}"), &[])?;
        let resp = self
            .send(Method::GET, url, JSON, |req| req.timeout(REQUEST_TIMEOUT))
            .await?;
        match resp.status() {
            s if s.is_success() && is_json(&resp) => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.error_from(resp).await),
        }
    }

    /// Opens the event stream. Returns once the server has answered with `200
    /// text/event-stream`: from then on it is subscribed, so anything published afterwards
    /// reaches this stream. `last_event_id` asks the server to replay what came after it.
    ///
    /// The HTML standard's rules for the answer: only `200` with the media type
    /// `text/event-stream` (compared without regard to case, parameters allowed) is a stream.
    /// `204 No Content` tells the client to stop reconnecting; any other `2xx`, or another
    /// media type, is no stream either. All three are [`Error::NoStream`], which the watcher
    /// never retries. Errors (`3xx`, `4xx`, `5xx`) are reported as for any other request.
    pub async fn open_stream(
        &self,
        query: &[(&str, &str)],
        last_event_id: Option<&str>,
    ) -> Result<Response, Error> {
        // No whole-request timeout here: it would cut a healthy stream. The watcher applies an
        // idle deadline instead.
        let url = self.url("/api/events/stream", query)?;
        let last_event_id = last_event_id.filter(|id| !id.is_empty());
        let resp = self
            .send(
                Method::GET,
                url,
                "text/event-stream",
                |req| match last_event_id {
                    Some(id) => req.header("Last-Event-ID", last_event_id_header(id)),
                    None => req,
                },
            )
            .await?;
        let status = resp.status();
        if status == StatusCode::NO_CONTENT {
            return Err(Error::NoStream {
                status: status.as_u16(),
                message: format!(
                    "the event stream of {} answered 204 No Content: the server asks clients to stop reconnecting",
                    self.base
                ),
            });
        }
        if !status.is_success() {
            return Err(self.error_from(resp).await);
        }
        if status != StatusCode::OK {
            return Err(Error::NoStream {
                status: status.as_u16(),
                message: format!(
                    "the event stream of {} answered {status} instead of 200 OK, so it is not a stream",
                    self.base
                ),
            });
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !is_event_stream(content_type) {
            return Err(Error::NoStream {
                status: status.as_u16(),
                message: format!(
                    "the event stream of {} answered with {:?} instead of text/event-stream (is it a platform server?)",
                    self.base,
                    String::from_utf8_lossy(content_type)
                ),
            });
        }
        Ok(resp)
    }

    /// Connection refused, DNS failure or connect timeout mean the server is unreachable; other
    /// transport errors (reset mid-request, timeout) are server failures.
    fn transport_error(&self, e: reqwest::Error) -> Error {
        if let Some(problem) = tls::TlsProblem::of(&e) {
            Error::Tls {
                url: self.base.clone(),
                problem,
                source: e,
            }
        } else if e.is_connect() {
            self.unreachable(e)
        } else if e.is_timeout() {
            Error::Server {
                status: None,
                message: format!("the request to {} timed out", self.base),
            }
        } else {
            Error::Server {
                status: None,
                message: format!("the connection to {} failed: {}", self.base, describe(&e)),
            }
        }
    }

    /// Deletes an application (`DELETE /api/applications/<name>`) and returns the server's
    /// answer (`{"message":"Successfully deleted '<name>'"}` on both kinds of server). 404 and
    /// our server's 409 (a deployment is running) come back as [`Error::Rejected`].
    pub async fn delete_application(&self, name: &str) -> Result<serde_json::Value, Error> {
        // Names are DNS labels (checked by the caller), so they need no escaping in a path.
        // DELETE follows no redirect: like a POST it must not change method, and a server
        // that moved its API should be named in --server.
        let url = self.url(&format!("/api/applications/{name}"), &[])?;
        let resp = self
            .request(Method::DELETE, url, JSON)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        if !resp.status().is_success() {
            return Err(self.error_from(resp).await);
        }
        json_body(resp).await
    }
}

/// An error and its causes on one line (`error decoding response body: connection closed
/// before message completed`): reqwest's own message alone rarely says what happened.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether a `Content-Type` value is the media type `text/event-stream`: the type and subtype
/// compared without regard to case (RFC 9110 §8.3.1), parameters (`; charset=utf-8`) allowed.
fn is_event_stream(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default();
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"text/event-stream")
}

/// What the percent-encoded form of a `Last-Event-ID` escapes: control bytes, the space (so
/// that no leading or trailing whitespace is stripped on the way), `%` itself (so that the
/// encoding can be undone), and, as percent-encoding always does, every non-ASCII byte.
const LAST_EVENT_ID_ESCAPED: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b' ').add(b'%');

/// The `Last-Event-ID` header for an id the server sent. The parser guarantees the id has no
/// CR, LF or NUL, but it may hold bytes that a header value cannot carry as they are.
///
/// - An id that is a valid header value as it is (visible ASCII, spaces and tabs inside, and
///   non-ASCII UTF-8 as `obs-text`), with no space or tab at either end, is sent byte for byte,
///   as a browser sends it: virtually every real id, and it reaches the server unchanged.
/// - Any other id (a control character, or whitespace at an end, which HTTP strips) is sent
///   percent-encoded: each control byte, space, `%` and non-ASCII byte becomes `%XX`, so a
///   server that uses such ids can decode it exactly.
///
/// Either way the header can always be built: a reconnect never fails because of an id.
pub(crate) fn last_event_id_header(id: &str) -> HeaderValue {
    let bytes = id.as_bytes();
    let padded = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if !padded(bytes.first()) && !padded(bytes.last()) {
        if let Ok(value) = HeaderValue::from_bytes(bytes) {
            return value;
        }
    }
    let encoded = percent_encoding::percent_encode(bytes, LAST_EVENT_ID_ESCAPED).to_string();
    // Percent-encoding leaves nothing but visible ASCII, which is always a valid value.
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `url` without its user and password, for messages.
fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// Percent-decodes a user or password taken from a URL (`p%40ss` is `p@ss`).
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The error for a submission answered with `301`, `302` or `303`: following it would send a
/// bodiless `GET`, so the user is told which `--server` to use instead.
fn post_redirected(status: StatusCode, location: &Url) -> Error {
    let mut server = location.clone();
    server.set_query(None);
    server.set_fragment(None);
    let path = server.path().trim_end_matches('/').to_owned();
    let suggestion = match path.strip_suffix("/api/applications") {
        Some(prefix) => {
            server.set_path(prefix);
            format!("use --server {}", redact(&server).trim_end_matches('/'))
        }
        None => "check the --server URL".to_owned(),
    };
    Error::Rejected {
        status: status.as_u16(),
        message: format!(
            "the server redirected the submission to {}; a submission is never re-sent as a GET ({suggestion})",
            redact(location)
        ),
    }
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

async fn json_body<T: serde::de::DeserializeOwned>(resp: Response) -> Result<T, Error> {
    let status = resp.status().as_u16();
    if !is_json(&resp) {
        return Err(Error::Server {
            status: Some(status),
            message:
                "the server answered with something other than JSON (is the --server URL right?)"
                    .to_owned(),
        });
    }
    let text = resp.text().await.map_err(|e| Error::Server {
        status: Some(status),
        message: format!("the response body could not be read: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Server {
        status: Some(status),
        message: format!("the server's answer is not what the protocol says: {e}"),
    })
}

/// Turns a non-success response into an error carrying the server's own message.
async fn error_from_response(resp: Response) -> Error {
    let status = resp.status();
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let html = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let text = resp.text().await.unwrap_or_default();
    let message = if status.is_redirection() {
        format!(
            "the server redirected to {} (check the --server URL; a login redirect means the API key is missing or wrong)",
            location.as_deref().unwrap_or("another location")
        )
    } else if html {
        "the server answered with an HTML page (is the --server URL a platform API?)".to_owned()
    } else {
        error_message(&text)
    };
    if status.is_client_error() || status.is_redirection() {
        Error::Rejected {
            status: status.as_u16(),
            message,
        }
    } else {
        Error::Server {
            status: Some(status.as_u16()),
            message,
        }
    }
}

/// The human message in an error body: our JSON envelope `{"error":{"message":..}}`, a
/// `{"message":..}` or `{"error":".."}` object, or innominatus' plain text.
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let msg = v
                .pointer("/error/message")
                .or_else(|| v.get("error").filter(|e| e.is_string()))
                .or_else(|| v.get("message"))?;
            let mut text = msg.as_str()?.to_owned();
            if let Some(errors) = v.get("errors").and_then(|e| e.as_array()) {
                for e in errors.iter().filter_map(|e| e.as_str()) {
                    text.push_str("; ");
                    text.push_str(e);
                }
            }
            Some(text)
        });
    let mut message = from_json.unwrap_or_else(|| body.trim().to_owned());
    if message.len() > MAX_ERROR_BODY {
        let mut cut = MAX_ERROR_BODY;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    if message.is_empty() {
        message = "(no message)".to_owned();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorization(client: &ApiClient, url: &str) -> Option<String> {
        let request = client
            .request(Method::GET, Url::parse(url).unwrap(), JSON)
            .build()
            .unwrap();
        request
            .headers()
            .get(AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn credentials_go_only_to_the_configured_origin() {
        let client =
            ApiClient::new("https://api.example:8443/idp", Some(Secret::new("k1"))).unwrap();
        let same = [
            "https://api.example:8443/idp/api/applications",
            "https://api.example:8443/elsewhere",
            "https://API.example:8443/x",
        ];
        for url in same {
            assert_eq!(
                authorization(&client, url).as_deref(),
                Some("Bearer k1"),
                "{url}"
            );
        }
        for url in [
            "http://api.example:8443/idp/api/applications",
            "https://api.example/idp/api/applications",
            "https://other.example:8443/idp/api/applications",
        ] {
            assert_eq!(authorization(&client, url), None, "{url}");
        }
        // The default port is the port.
        let client = ApiClient::new("https://api.example", Some(Secret::new("k1"))).unwrap();
        assert!(authorization(&client, "https://api.example:443/x").is_some());
        assert!(authorization(&client, "http://api.example:443/x").is_none());
    }

    #[test]
    fn url_credentials_are_taken_out_of_the_url_and_sent_as_basic_auth() {
        let client = ApiClient::new("https://user:p%40ss@api.example/idp", None).unwrap();
        assert_eq!(client.base(), "https://api.example/idp");
        assert!(!format!("{client:?}").contains("p%40ss"));
        assert!(!format!("{client:?}").contains("p@ss"));
        // base64("user:p@ss")
        assert_eq!(
            authorization(&client, "https://api.example/idp/api/x").as_deref(),
            Some("Basic dXNlcjpwQHNz")
        );
        assert_eq!(authorization(&client, "https://other.example/x"), None);
        // An API key wins.
        let client =
            ApiClient::new("https://user:pw@api.example", Some(Secret::new("k2"))).unwrap();
        assert_eq!(
            authorization(&client, "https://api.example/x").as_deref(),
            Some("Bearer k2")
        );
    }

    #[test]
    fn a_redirected_post_names_the_server_to_use() {
        let location = Url::parse("https://u:pw@new.example/idp/api/applications").unwrap();
        let err = post_redirected(StatusCode::MOVED_PERMANENTLY, &location);
        assert_eq!(err.exit_status(), crate::ExitStatus::Rejected);
        let text = err.to_string();
        assert!(
            text.contains("use --server https://new.example/idp)"),
            "{text}"
        );
        assert!(!text.contains("pw"), "{text}");
        let elsewhere = Url::parse("https://new.example/moved").unwrap();
        let text = post_redirected(StatusCode::FOUND, &elsewhere).to_string();
        assert!(text.contains("https://new.example/moved"), "{text}");
        assert!(text.contains("check the --server URL"), "{text}");
    }

    #[test]
    fn error_messages_from_every_server_style() {
        assert_eq!(
            error_message(r#"{"error":{"code":"invalid_spec","message":"Error: x"}}"#),
            "Error: x"
        );
        assert_eq!(
            error_message("Error: metadata.name is required in Score specification\n"),
            "Error: metadata.name is required in Score specification"
        );
        assert_eq!(error_message(r#"{"error":"nope"}"#), "nope");
        assert_eq!(
            error_message(r#"{"message":"Deployment of 'a' failed","errors":["step x failed"]}"#),
            "Deployment of 'a' failed; step x failed"
        );
        assert_eq!(error_message(""), "(no message)");
        assert!(error_message(&"é".repeat(5000)).ends_with('…'));
    }

    #[test]
    fn the_event_stream_media_type_ignores_case_and_parameters() {
        for yes in [
            "text/event-stream",
            "Text/Event-Stream; charset=utf-8",
            " TEXT/EVENT-STREAM ;charset=UTF-8",
        ] {
            assert!(is_event_stream(yes.as_bytes()), "{yes}");
        }
        for no in [
            "",
            "text/html",
            "text/event-streams",
            "text/event-stream-x; a=b",
            "application/json",
            "text/plain; x=text/event-stream",
        ] {
            assert!(!is_event_stream(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn every_last_event_id_becomes_a_header_that_round_trips() {
        let decode = |v: &HeaderValue| {
            percent_encoding::percent_decode(v.as_bytes())
                .decode_utf8()
                .unwrap()
                .into_owned()
        };
        // Sent as they are: ASCII, inner spaces and tabs, non-ASCII UTF-8.
        for id in ["42", "a b\tc", "1731430000000000200", "événement-7", "50%"] {
            let value = last_event_id_header(id);
            assert_eq!(value.as_bytes(), id.as_bytes(), "{id:?}");
        }
        // Encoded: control characters, DEL, whitespace at an end; `%` with them.
        for (id, sent) in [
            ("a\u{1}b", "a%01b"),
            ("x\u{7f}", "x%7F"),
            (" lead", "%20lead"),
            ("trail\t", "trail%09"),
            ("100%\u{1b}", "100%25%1B"),
            ("é\u{2}", "%C3%A9%02"),
        ] {
            let value = last_event_id_header(id);
            assert_eq!(value.to_str().unwrap(), sent, "{id:?}");
            assert_eq!(decode(&value), id, "{id:?} round-trips");
        }
        // Every single character the parser can produce (all but CR, LF and NUL) gives a header.
        for c in (1u32..0x800).filter_map(char::from_u32) {
            if c == '\r' || c == '\n' {
                continue;
            }
            let id = format!("a{c}b");
            let value = last_event_id_header(&id);
            assert!(
                value.as_bytes() == id.as_bytes() || decode(&value) == id,
                "{c:?}"
            );
        }
    }

    #[test]
    fn submit_fates() {
        let server = |status| Error::Server {
            status,
            message: String::new(),
        };
        assert_eq!(SubmitFate::of(&server(None)), SubmitFate::Unknown);
        assert_eq!(SubmitFate::of(&server(Some(503))), SubmitFate::Unavailable);
        // A status line is an answer: never "was it stored?".
        assert_eq!(SubmitFate::of(&server(Some(500))), SubmitFate::Final);
        assert_eq!(SubmitFate::of(&server(Some(200))), SubmitFate::Final);
        let rejected = Error::Rejected {
            status: 400,
            message: String::new(),
        };
        assert_eq!(SubmitFate::of(&rejected), SubmitFate::Final);
    }
}
