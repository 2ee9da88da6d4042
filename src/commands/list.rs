//! `ctl list`: the applications the server holds (for the caller's team), with the state of
//! each one's latest deployment.
//!
//! Text is a table (`-o wide` adds columns); `-o json` is one object, `application.list`,
//! described in `docs/json-output.md`. Also the home of the small table formatter `ctl status`
//! shares.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;
use serde_json::Value;

use crate::cli::OutputFormat;
use crate::client::ApiClient;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::render::palette::Palette;
use crate::render::text::sanitize;
use crate::render::{JSON_SCHEMA_VERSION, Reporter};
use crate::settings::Settings;

/// Arguments of `ctl list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {}

/// One application as `ctl list -o json` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppItem {
    /// Application name.
    pub name: String,
    /// The team that owns it (our server).
    pub team: Option<String>,
    /// When it was first submitted (RFC 3339).
    pub created_at: Option<String>,
    /// When it was last submitted (RFC 3339).
    pub updated_at: Option<String>,
    /// Its latest deployment's id (our server).
    pub latest_deployment_id: Option<String>,
    /// `running`, `succeeded` or `failed` (our server).
    pub latest_deployment_status: Option<String>,
}

/// The `-o json` answer of `ctl list`.
#[derive(Debug, Serialize)]
pub struct AppList {
    /// Always `application.list`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Schema version of the JSON output.
    pub schema_version: u32,
    /// The applications, by name.
    pub applications: Vec<AppItem>,
}

/// Runs `ctl list`.
pub async fn run(_args: ListArgs, settings: Settings) -> Result<ExitStatus, Error> {
    let client = ApiClient::for_settings(&settings)?;
    let mut reporter = Reporter::new(&settings, false);
    let apps: BTreeMap<String, Value> = client.get_json("/api/applications").await?;
    let mut applications: Vec<AppItem> = apps
        .iter()
        .map(|(name, value)| app_item(name, value))
        .collect();
    // A server without deployments (innominatus) lists its stored specs only: the status
    // column comes from each app's resources, the state of record there.
    for (app, value) in applications.iter_mut().zip(apps.values()) {
        if value.get("latest_deployment_id").is_none() && crate::spec::is_dns_label(&app.name) {
            if let Ok(resources) = client.resources(&app.name).await {
                app.latest_deployment_status = status_from_resources(&resources);
            }
        }
    }
    if applications.is_empty() {
        reporter.note("no applications")?;
    }
    let text = if applications.is_empty() {
        String::new()
    } else {
        render_table(
            &applications,
            settings.output == OutputFormat::Wide,
            Utc::now(),
            reporter.palette(),
        )
    };
    let list = AppList {
        kind: "application.list",
        schema_version: JSON_SCHEMA_VERSION,
        applications,
    };
    reporter.output(&text, &list)?;
    Ok(ExitStatus::Success)
}

/// What an app's resources say of its deployment: `failed` if one failed, `succeeded` when
/// all are active, `running` while any is still on its way; `None` without resources.
fn status_from_resources(resources: &[crate::client::ResourceRecord]) -> Option<String> {
    if resources.is_empty() {
        return None;
    }
    let status = if resources.iter().any(|r| r.state == "failed") {
        "failed"
    } else if resources.iter().all(|r| r.state == "active") {
        "succeeded"
    } else {
        "running"
    };
    Some(status.to_owned())
}

/// Reads one entry of `GET /api/applications`; every key but the name is optional, because
/// other servers answer with other shapes.
pub(crate) fn app_item(name: &str, value: &Value) -> AppItem {
    let text = |key: &str| match value.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    AppItem {
        name: text("name").unwrap_or_else(|| name.to_owned()),
        team: text("team"),
        created_at: text("created_at"),
        updated_at: text("updated_at"),
        latest_deployment_id: text("latest_deployment_id"),
        latest_deployment_status: text("latest_deployment_status"),
    }
}

fn render_table(apps: &[AppItem], wide: bool, now: DateTime<Utc>, palette: Palette) -> String {
    let dash = || "-".to_owned();
    let show = |v: &Option<String>| v.as_deref().map(|s| sanitize(s).into_owned());
    let mut headers = vec!["NAME", "STATUS", "DEPLOYMENT", "UPDATED"];
    if wide {
        headers.extend(["TEAM", "CREATED", "LAST SUBMITTED"]);
    }
    let rows = apps
        .iter()
        .map(|app| {
            let mut row = vec![
                sanitize(&app.name).into_owned(),
                show(&app.latest_deployment_status)
                    .map(|s| palette.state(&s))
                    .unwrap_or_else(dash),
                show(&app.latest_deployment_id).unwrap_or_else(dash),
                app.updated_at
                    .as_deref()
                    .and_then(|t| age(t, now))
                    .unwrap_or_else(dash),
            ];
            if wide {
                row.push(show(&app.team).unwrap_or_else(dash));
                row.push(show(&app.created_at).unwrap_or_else(dash));
                row.push(show(&app.updated_at).unwrap_or_else(dash));
            }
            row
        })
        .collect();
    table(&headers, rows)
}

/// `45s ago`, `3m ago`, `2h ago`, `4d ago`, like kubectl's AGE column.
pub(crate) fn age(rfc3339: &str, now: DateTime<Utc>) -> Option<String> {
    let then = DateTime::parse_from_rfc3339(rfc3339).ok()?;
    let secs = (now - then.with_timezone(&Utc)).num_seconds().max(0);
    Some(match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    })
}

/// Left-aligned columns two spaces apart; the last column is not padded. No trailing newline.
pub(crate) fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    // Cells may be coloured: escape codes take no columns.
    let width = |s: &str| console::measure_text_width(s);
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - width(cell) + 2));
            }
        }
        out.trim_end().to_owned()
    };
    let mut lines = vec![line(headers.to_vec())];
    for row in &rows {
        lines.push(line(row.iter().map(String::as_str).collect()));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_line_up() {
        let out = table(
            &["NAME", "STATE"],
            vec![
                vec!["database".into(), "active".into()],
                vec!["db".into(), String::new()],
            ],
        );
        assert_eq!(out, "NAME      STATE\ndatabase  active\ndb");
    }

    #[test]
    fn entries_of_both_server_kinds() {
        let ours: Value = serde_json::from_str(
            r#"{"name":"shop","team":"default","created_at":"2024-11-12T15:04:05Z","updated_at":"2024-11-12T15:04:05Z","latest_deployment_id":"3","latest_deployment_status":"succeeded"}"#,
        )
        .unwrap();
        let item = app_item("shop", &ours);
        assert_eq!(item.latest_deployment_id.as_deref(), Some("3"));
        assert_eq!(item.team.as_deref(), Some("default"));
        let other: Value = serde_json::from_str(r#"{"metadata":{"name":"x"}}"#).unwrap();
        let item = app_item("x", &other);
        assert_eq!(item.name, "x");
        assert_eq!(item.latest_deployment_status, None);
    }

    #[test]
    fn ages_and_wide_columns() {
        let now = DateTime::parse_from_rfc3339("2024-11-12T16:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(age("2024-11-12T16:03:20Z", now).as_deref(), Some("45s ago"));
        assert_eq!(age("2024-11-12T15:04:05Z", now).as_deref(), Some("1h ago"));
        assert_eq!(age("2024-11-10T15:04:05Z", now).as_deref(), Some("2d ago"));
        assert_eq!(age("yesterday", now), None);
        let apps = vec![AppItem {
            name: "shop".into(),
            team: Some("default".into()),
            created_at: Some("2024-11-12T15:04:05Z".into()),
            updated_at: Some("2024-11-12T16:03:05Z".into()),
            latest_deployment_id: Some("3".into()),
            latest_deployment_status: Some("succeeded".into()),
        }];
        let narrow = render_table(&apps, false, now, Palette::plain());
        assert_eq!(
            narrow,
            "NAME  STATUS     DEPLOYMENT  UPDATED\nshop  succeeded  3           1m ago"
        );
        let wide = render_table(&apps, true, now, Palette::plain());
        assert!(wide.starts_with("NAME  STATUS     DEPLOYMENT  UPDATED  TEAM     CREATED"));
        assert!(wide.contains("2024-11-12T15:04:05Z"));
    }
}
