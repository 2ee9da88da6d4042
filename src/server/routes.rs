//! The HTTP API (PROTOCOL.md B.2): routes, request parsing and response shapes.
//!
//! Handlers are thin: they authenticate ([`Caller`]), parse, call the store or the deployment
//! driver, and shape JSON. Every failure is an [`ApiError`], including axum's own rejections and
//! unknown paths, so clients always get the JSON envelope and never an HTML or text page.
//! This module must never query SQLite itself or show one team another team's data.

use std::collections::BTreeMap;

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api_error::ApiError;
use super::auth::Caller;
use super::deploy;
use super::guard;
use super::sse;
use super::store::{AppRow, Deleted, DeploymentRow, ResourceRow, rfc3339};

/// The API's router over `state`. `/healthz` needs no key; everything else does when keys
/// are configured. Without keys, cross-site requests are refused (`guard`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/applications", get(list_applications).post(submit))
        // Deprecated innominatus alias of `POST /api/applications`.
        .route("/api/specs", post(submit))
        .route(
            "/api/applications/{name}",
            get(get_application).delete(delete_application),
        )
        .route("/api/deployments/{id}", get(get_deployment))
        .route("/api/resources", get(get_resources))
        .route("/api/events/stream", get(sse::stream))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::keyless_same_origin,
        ))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn not_found() -> ApiError {
    ApiError::not_found("Not found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

#[derive(Serialize)]
struct AcceptedBody {
    message: String,
    name: String,
    status: &'static str,
    deployment_id: String,
}

/// `POST /api/applications` (and `/api/specs`): validate, record, answer 202, deploy.
async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if state.0.cancel.is_cancelled() {
        // Shutting down: a deployment accepted now could not run.
        return Err(ApiError::unavailable());
    }
    let key = deploy::idempotency_key(headers.get("idempotency-key").map(|v| v.as_bytes()))?;
    let body = body?;
    let (spec, resources) = deploy::validate_off_workers(body, state.0.catalogue.clone()).await?;
    let accepted = deploy::submit(&state.0, caller.team, spec, resources, key).await?;
    let location = format!("/api/deployments/{}", accepted.deployment_id);
    let body = AcceptedBody {
        message: format!("Deployment of '{}' accepted", accepted.app),
        name: accepted.app,
        status: "accepted",
        deployment_id: accepted.deployment_id.to_string(),
    };
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

#[derive(Serialize)]
struct DeploymentBody {
    id: String,
    app_name: String,
    status: String,
    started_at: String,
    finished_at: Option<String>,
    duration_ms: Option<i64>,
    error: Option<String>,
    resources: Vec<DeploymentResourceBody>,
}

#[derive(Serialize)]
struct DeploymentResourceBody {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    state: String,
    error: Option<String>,
}

impl From<DeploymentRow> for DeploymentBody {
    fn from(row: DeploymentRow) -> Self {
        DeploymentBody {
            id: row.id.to_string(),
            app_name: row.app,
            status: row.status,
            started_at: rfc3339(row.started_at),
            finished_at: row.finished_at.map(rfc3339),
            duration_ms: row.finished_at.map(|f| (f - row.started_at).max(0)),
            error: row.error,
            resources: row
                .resources
                .into_iter()
                .map(|r| DeploymentResourceBody {
                    name: r.name,
                    kind: r.kind,
                    state: r.state,
                    error: r.error,
                })
                .collect(),
        }
    }
}

/// `GET /api/deployments/<id>`.
async fn get_deployment(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<DeploymentBody>, ApiError> {
    let Path(id) = id?;
    let not_found = || ApiError::not_found("Deployment not found");
    let id: u64 = id.parse().map_err(|_| not_found())?;
    let row = state
        .0
        .store
        .call(move |db| db.deployment(id, &caller.team))
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(row.into()))
}

#[derive(Deserialize)]
struct ResourcesQuery {
    app: Option<String>,
}

#[derive(Serialize)]
struct ResourcesBody {
    application: String,
    /// `null` when there are none, as innominatus answers.
    resources: Option<Vec<ResourceBody>>,
}

#[derive(Serialize)]
struct ResourceBody {
    id: u64,
    application_name: String,
    resource_name: String,
    resource_type: String,
    state: String,
    error: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<ResourceRow> for ResourceBody {
    fn from(r: ResourceRow) -> Self {
        ResourceBody {
            id: r.id,
            application_name: r.app,
            resource_name: r.name,
            resource_type: r.kind,
            state: r.state,
            error: r.error,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// `GET /api/resources?app=<name>` (PROTOCOL.md A.4 shape). An unknown application and
/// another team's look the same: no resources.
async fn get_resources(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ResourcesQuery>, QueryRejection>,
) -> Result<Json<ResourcesBody>, ApiError> {
    let Query(query) = query?;
    let app = query
        .app
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::bad_request("the app query parameter is required"))?;
    let name = app.clone();
    let rows = state
        .0
        .store
        .call(move |db| db.resources(&name, &caller.team))
        .await?;
    let resources = (!rows.is_empty()).then(|| rows.into_iter().map(ResourceBody::from).collect());
    Ok(Json(ResourcesBody {
        application: app,
        resources,
    }))
}

#[derive(Serialize)]
struct ApplicationBody {
    name: String,
    team: String,
    created_at: String,
    updated_at: String,
    latest_deployment_id: Option<String>,
    latest_deployment_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spec: Option<String>,
}

fn application_body(row: AppRow, with_spec: bool) -> ApplicationBody {
    let (id, status) = row.latest.unzip();
    ApplicationBody {
        name: row.name,
        team: row.team,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        latest_deployment_id: id.map(|i| i.to_string()),
        latest_deployment_status: status,
        spec: with_spec.then_some(row.spec),
    }
}

/// `GET /api/applications`: the caller's applications, keyed by name.
async fn list_applications(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<BTreeMap<String, ApplicationBody>>, ApiError> {
    let rows = state
        .0
        .store
        .call(move |db| db.applications(&caller.team, None))
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| (r.name.clone(), application_body(r, false)))
            .collect(),
    ))
}

/// `GET /api/applications/<name>`: the application with its stored spec.
async fn get_application(
    State(state): State<AppState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<ApplicationBody>, ApiError> {
    let Path(name) = name?;
    let row = state
        .0
        .store
        .call(move |db| db.applications(&caller.team, Some(&name)))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("Application not found"))?;
    Ok(Json(application_body(row, true)))
}

/// `DELETE /api/applications/<name>`.
async fn delete_application(
    State(state): State<AppState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(name) = name?;
    let app = name.clone();
    let outcome = state
        .0
        .store
        .call(move |db| db.delete_application(&app, &caller.team))
        .await?;
    match outcome {
        Deleted::Done => {
            tracing::info!(app = %name, "application deleted");
            Ok(Json(
                serde_json::json!({"message": format!("Successfully deleted '{name}'")}),
            ))
        }
        Deleted::NotFound => Err(ApiError::not_found("Application not found")),
        Deleted::Busy => Err(ApiError::conflict(format!(
            "Application '{name}' has a deployment in progress; delete it once the deployment has finished"
        ))),
    }
}
