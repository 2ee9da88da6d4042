//! `ctl status APP`: an application, its latest deployment and its resources, read from the
//! server's state of record (`GET /api/applications/<name>`, `GET /api/deployments/<id>`,
//! `GET /api/resources?app=`).
//!
//! An unknown application is the server's 404: exit 4, naming the app and suggesting
//! `ctl list`. On servers without deployments the
//! deployment part is simply absent. `-o json` writes one `application.status` object
//! (`docs/json-output.md`).

use std::time::Duration;

use chrono::Utc;
use clap::Args;
use serde::Serialize;
use serde_json::Value;

use super::list::{age, table};
use crate::cli::OutputFormat;
use crate::client::ApiClient;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::render::palette::Palette;
use crate::render::text::{human_duration, sanitize};
use crate::render::{JSON_SCHEMA_VERSION, Reporter};
use crate::settings::Settings;

/// Arguments of `ctl status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// The application
    #[arg(value_name = "APP")]
    pub app: String,
}

/// The `-o json` answer of `ctl status`.
#[derive(Debug, Serialize)]
pub struct AppStatus {
    /// Always `application.status`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Schema version of the JSON output.
    pub schema_version: u32,
    /// The application.
    pub app_name: String,
    /// The team that owns it (our server).
    pub team: Option<String>,
    /// When it was first submitted (RFC 3339).
    pub created_at: Option<String>,
    /// When it was last submitted (RFC 3339).
    pub updated_at: Option<String>,
    /// Its latest deployment, on servers that have deployments.
    pub deployment: Option<DeploymentInfo>,
    /// Its resources and their current states.
    pub resources: Vec<ResourceInfo>,
}

/// A deployment as `ctl status` reports it.
#[derive(Debug, Serialize)]
pub struct DeploymentInfo {
    /// Deployment id.
    pub id: String,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// When it finished (RFC 3339), once it has.
    pub finished_at: Option<String>,
    /// How long it took, once finished.
    pub duration_ms: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A resource as `ctl status` reports it.
#[derive(Debug, Serialize)]
pub struct ResourceInfo {
    /// Resource name.
    pub name: String,
    /// Resource type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `requested`, `provisioning`, `active` or `failed`.
    pub state: String,
    /// Failure text.
    pub error: Option<String>,
    /// When its state last changed (RFC 3339), when the server says.
    pub updated_at: Option<String>,
    /// The server's numeric id (where to ask why it failed); not part of the output.
    #[serde(skip)]
    pub id: Option<u64>,
}

/// Runs `ctl status`.
pub async fn run(args: StatusArgs, settings: Settings) -> Result<ExitStatus, Error> {
    super::check_app_name(&args.app)?;
    let client = ApiClient::for_settings(&settings)?;
    let mut reporter = Reporter::new(&settings, false);
    let app: Value = client
        .get_json(&format!("/api/applications/{}", args.app))
        .await
        .map_err(|e| match e {
            Error::Rejected { status: 404, .. } => Error::unknown_app(&args.app),
            other => other,
        })?;
    let deployment = match text(&app, "latest_deployment_id") {
        Some(id) => {
            let body: Value = client.get_json(&format!("/api/deployments/{id}")).await?;
            Some(deployment_info(&id, &body))
        }
        None => None,
    };
    // The app name was checked to be a DNS label, so it needs no escaping in a query.
    let resources: Value = client
        .get_json(&format!("/api/resources?app={}", args.app))
        .await?;
    let mut resources = resource_infos(&resources);
    // A failure's reason, where the list leaves it out (innominatus keeps it in the
    // resource's state history).
    for r in &mut resources {
        if r.state == "failed" && r.error.is_none() {
            if let Some(id) = r.id {
                r.error = client.failure_reason(id).await;
            }
        }
    }
    let status = AppStatus {
        kind: "application.status",
        schema_version: JSON_SCHEMA_VERSION,
        app_name: args.app.clone(),
        team: text(&app, "team"),
        created_at: text(&app, "created_at"),
        updated_at: text(&app, "updated_at"),
        deployment,
        resources,
    };
    let shown = render_text(
        &status,
        settings.output == OutputFormat::Wide,
        reporter.palette(),
    );
    reporter.output(&shown, &status)?;
    Ok(ExitStatus::Success)
}

/// A string (or number) value of a JSON object.
fn text(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn deployment_info(id: &str, body: &Value) -> DeploymentInfo {
    DeploymentInfo {
        id: text(body, "id").unwrap_or_else(|| id.to_owned()),
        status: text(body, "status").unwrap_or_else(|| "unknown".to_owned()),
        started_at: text(body, "started_at"),
        finished_at: text(body, "finished_at"),
        duration_ms: body.get("duration_ms").and_then(Value::as_u64),
        error: text(body, "error"),
    }
}

/// Reads `GET /api/resources` (PROTOCOL.md A.4: `resources` may be `null`).
fn resource_infos(body: &Value) -> Vec<ResourceInfo> {
    let Some(list) = body.get("resources").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out: Vec<ResourceInfo> = list
        .iter()
        .map(|r| ResourceInfo {
            name: text(r, "resource_name").unwrap_or_default(),
            kind: text(r, "resource_type").unwrap_or_default(),
            state: text(r, "state").unwrap_or_default(),
            error: text(r, "error").or_else(|| text(r, "error_message")),
            updated_at: text(r, "updated_at"),
            id: r.get("id").and_then(Value::as_u64),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn render_text(status: &AppStatus, wide: bool, palette: Palette) -> String {
    let clean = |s: &str| sanitize(s).into_owned();
    let now = Utc::now();
    let mut rows: Vec<(&str, String)> = vec![("Application", clean(&status.app_name))];
    if let Some(team) = &status.team {
        rows.push(("Team", clean(team)));
    }
    if let Some(created) = &status.created_at {
        rows.push(("Created", clean(created)));
    }
    if let Some(updated) = &status.updated_at {
        let ago = age(updated, now)
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        rows.push(("Last submitted", format!("{}{ago}", clean(updated))));
    }
    match &status.deployment {
        Some(d) => {
            let mut line = format!("{} {}", clean(&d.id), palette.state(&clean(&d.status)));
            match (d.duration_ms, &d.started_at) {
                (Some(ms), _) => line.push_str(&format!(
                    " after {}",
                    human_duration(Duration::from_millis(ms))
                )),
                (None, Some(started)) => line.push_str(&format!(", started {}", clean(started))),
                (None, None) => {}
            }
            rows.push(("Deployment", line));
            if let Some(error) = &d.error {
                rows.push(("Error", clean(error)));
            }
        }
        None => rows.push(("Deployment", "-".to_owned())),
    }
    if status.resources.is_empty() {
        rows.push(("Resources", "none".to_owned()));
    }
    let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 3;
    let mut out: Vec<String> = rows
        .into_iter()
        .map(|(label, value)| format!("{:<label_width$}{value}", format!("{label}:")))
        .collect();
    if !status.resources.is_empty() {
        let with_errors = status.resources.iter().any(|r| r.error.is_some());
        let mut headers = vec!["NAME", "TYPE", "STATE"];
        if wide {
            headers.push("UPDATED");
        }
        if with_errors {
            headers.push("ERROR");
        }
        let table_rows = status
            .resources
            .iter()
            .map(|r| {
                let mut row = vec![
                    clean(&r.name),
                    clean(&r.kind),
                    palette.state(&clean(&r.state)),
                ];
                if wide {
                    row.push(
                        r.updated_at
                            .as_deref()
                            .and_then(|t| age(t, now))
                            .unwrap_or_else(|| "-".to_owned()),
                    );
                }
                if with_errors {
                    row.push(r.error.as_deref().map(clean).unwrap_or_default());
                }
                row
            })
            .collect();
        out.push(String::new());
        out.push(table(&headers, table_rows));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_of_both_server_kinds() {
        let ours: Value = serde_json::from_str(
            r#"{"application":"a","resources":[
                {"id":2,"resource_name":"db","resource_type":"postgres","state":"failed","error":"quota"},
                {"id":1,"resource_name":"cache","resource_type":"redis","state":"active","error":null}]}"#,
        )
        .unwrap();
        let infos = resource_infos(&ours);
        assert_eq!(infos[0].name, "cache");
        assert_eq!(infos[1].error.as_deref(), Some("quota"));
        let none: Value = serde_json::from_str(r#"{"application":"a","resources":null}"#).unwrap();
        assert!(resource_infos(&none).is_empty());
    }

    #[test]
    fn text_shows_deployment_and_a_table() {
        let status = AppStatus {
            kind: "application.status",
            schema_version: JSON_SCHEMA_VERSION,
            app_name: "shop".into(),
            team: Some("default".into()),
            created_at: None,
            updated_at: None,
            deployment: Some(DeploymentInfo {
                id: "3".into(),
                status: "failed".into(),
                started_at: Some("2024-11-12T15:04:05Z".into()),
                finished_at: Some("2024-11-12T15:04:07Z".into()),
                duration_ms: Some(2000),
                error: Some("db: quota\x1b[2J".into()),
            }),
            resources: vec![ResourceInfo {
                name: "db".into(),
                kind: "postgres".into(),
                state: "failed".into(),
                error: Some("quota".into()),
                updated_at: None,
                id: None,
            }],
        };
        let text = render_text(&status, false, Palette::plain());
        assert!(text.contains("Deployment:   3 failed after 2s"), "{text}");
        assert!(text.contains("Error:        db: quota"), "{text}");
        assert!(!text.contains('\x1b'), "server text is sanitised");
        assert!(
            text.contains("NAME  TYPE      STATE   ERROR\ndb    postgres  failed  quota"),
            "{text}"
        );
    }
}
