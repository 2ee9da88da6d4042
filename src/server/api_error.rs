//! The one error type of the HTTP API and its JSON envelope.
//!
//! Every failure a handler can answer with becomes an [`ApiError`], rendered as
//! `{"error":{"code":"...","message":"..."}}` (PROTOCOL.md B.2). The `message` texts are the ones
//! of PROTOCOL.md A.2 where one exists, so a client prints the same sentence for both kinds of
//! server. This module must never put secrets (keys, headers) or internal details (SQL errors)
//! into a message: internal failures are logged and answered with a generic text.

use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::store::StoreError;

/// An error answer of the HTTP API: a status, a stable machine-readable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is malformed (bad query parameter, bad header).
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 400: the Score spec is invalid (PROTOCOL.md A.2 rules 1 and 3-6).
    pub(crate) fn invalid_spec(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_spec", message)
    }

    /// 400: resource types with no provider (PROTOCOL.md A.2 rule 2).
    pub(crate) fn unknown_resource_types(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "unknown_resource_types", message)
    }

    /// 401: no key, or a key the server does not know.
    pub(crate) fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized: a valid API key is required (Authorization: Bearer <key>)",
        )
    }

    /// 403: the caller may not act on this thing (an application of another team).
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 403: a cross-site request to a server without API keys (see `guard`).
    pub(crate) fn cross_site(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "cross_site", message)
    }

    /// 415: a POST body whose declared type is not YAML or JSON (servers without keys).
    pub(crate) fn unsupported_media_type(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    /// 422: an `Idempotency-Key` reused with a different request body.
    pub(crate) fn idempotency_key_reused() -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "This Idempotency-Key was already used with a different request body; \
             use a new key for a new request",
        )
    }

    /// 404 with a specific message (`Application not found`, `Deployment not found`).
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the request conflicts with the current state (a deployment is running).
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 405: the path exists but not with this method.
    pub(crate) fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
        )
    }

    /// 503: the server is shutting down and can no longer serve this request.
    pub(crate) fn unavailable() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The server is shutting down",
        )
    }

    /// 503: a cap on open connections or event streams is reached (docs/server.md, "Limits and
    /// hardening"); `what` says which ("open connections", "event streams").
    pub(crate) fn busy(what: &str) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("The server has too many {what}"),
        )
    }

    /// 500: something failed inside the server. The cause is logged, never sent.
    pub(crate) fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
        )
    }

    /// The HTTP status.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The message sent to the client.
    #[cfg(test)]
    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: a 401 names the scheme the client should use.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Closed => ApiError::unavailable(),
            other => {
                tracing::error!(error = %other, "store operation failed");
                ApiError::internal()
            }
        }
    }
}

// axum's own rejections answer in text/plain; these keep the one JSON envelope.

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        // A body cut by `--body-timeout` arrives here as a body error like any other.
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
        while let Some(error) = cause {
            if let Some(timeout) = error.downcast_ref::<super::conn::BodyTimeout>() {
                return ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    format!("The request body did not arrive within {:?}", timeout.0),
                );
            }
            cause = error.source();
        }
        let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "payload_too_large"
        } else {
            "bad_request"
        };
        ApiError::new(rejection.status(), code, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new(rejection.status(), "bad_request", rejection.body_text())
    }
}
