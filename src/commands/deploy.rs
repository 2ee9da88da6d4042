//! `ctl deploy FILE [-w]`: validate a spec locally, submit it, and optionally follow the
//! deployment to its end.
//!
//! Order matters for not missing events: the event stream is opened *before* the POST, and
//! read while the POST is in flight, because an innominatus server publishes
//! `resource.created` before it answers (PROTOCOL.md A.4).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::follow::{self, Follow};
use crate::client::ApiClient;
use crate::client::watch::{EventWatch, WatchItem, WatchOptions};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::render::{Reporter, WatchEnd};
use crate::settings::Settings;
use crate::spec;
use crate::tracker::{Mode, Tracker};

/// Arguments of `ctl deploy`.
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// Score spec file, or `-` to read it from stdin
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Watch the deployment and exit with its outcome
    #[arg(short, long)]
    pub watch: bool,

    /// Also show internal events (stream bookkeeping, unknown event types)
    #[arg(long)]
    pub all: bool,

    /// Stop watching after this long, e.g. 90s, 10m, 1h30m (exit code 3)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Run against a throwaway in-process server (in-memory store); implies --watch
    #[arg(long)]
    pub local: bool,

    /// Provider catalogue (YAML) for the --local server
    #[arg(long, value_name = "FILE", requires = "local")]
    pub providers: Option<PathBuf>,
}

/// Parses human durations such as `90s`, `10m` or `1h30m` (a bare number means seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() {
        text.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| e.to_string())
    } else {
        humantime::parse_duration(text).map_err(|e| e.to_string())
    };
    match parsed {
        Ok(d) if d.is_zero() => Err("the duration must be greater than zero".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (expected e.g. 90s, 10m or 1h30m)")),
    }
}

/// Runs `ctl deploy`.
pub async fn run(args: DeployArgs, settings: Settings) -> Result<ExitStatus, Error> {
    // Validate before anything touches the network: an invalid spec sends nothing.
    let spec = spec::load(&args.file)?;
    if args.local {
        let local = super::local::LocalServer::start(args.providers.as_deref()).await?;
        let mut settings = settings;
        settings.server = local.url();
        settings.api_key = None;
        let result = deploy(&args, &settings, &spec, true).await;
        local.stop().await;
        return result;
    }
    deploy(&args, &settings, &spec, args.watch).await
}

async fn deploy(
    args: &DeployArgs,
    settings: &Settings,
    spec: &spec::Spec,
    watch: bool,
) -> Result<ExitStatus, Error> {
    let client = ApiClient::new(&settings.server, settings.api_key.clone())?;
    let mut reporter = Reporter::new(settings, args.all);
    let idempotency_key = new_idempotency_key();
    reporter.submitting(&spec.name)?;

    if !watch {
        let submission = client.submit(spec, &idempotency_key).await?;
        reporter.submitted(&submission)?;
        return Ok(if submission.failed() {
            ExitStatus::DeploymentFailed
        } else {
            ExitStatus::Success
        });
    }

    let started = tokio::time::Instant::now();
    let deadline = started + args.timeout;
    let expected = spec
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r.kind.as_str()));

    // Subscribe first: once `connect` returns, the server has accepted the stream.
    let mut watch = EventWatch::connect(
        client.clone(),
        &spec.name,
        None,
        None,
        WatchOptions::default(),
    )
    .await
    .map_err(|e| super::with_result_line(&mut reporter, &spec.name, None, started, e))?;

    // Submit while reading the stream, so events published during the POST are kept.
    let mut early = Vec::new();
    let submission = {
        let post = client.submit(spec, &idempotency_key);
        tokio::pin!(post);
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                // The POST answered: the deployment id (if any) is now known.
                // A rejected spec still ends `-o json` output with its result line.
                res = &mut post => break res.map_err(|e| super::with_result_line(&mut reporter, &spec.name, None, started, e))?,
                // Events published while the POST is in flight; filtered once the id is known.
                item = watch.next() => early.push(item.map_err(|e| super::with_result_line(&mut reporter, &spec.name, None, started, e))?),
                // `--timeout` can elapse even before the server answers.
                () = &mut sleep => {
                    let tracker = Tracker::new(Mode::Terminal, expected);
                    reporter.finish(WatchEnd::Timeout, &tracker, &spec.name, None, started.elapsed())?;
                    return Ok(ExitStatus::Timeout);
                }
                _ = tokio::signal::ctrl_c() => {
                    let tracker = Tracker::new(Mode::Terminal, expected);
                    reporter.finish(WatchEnd::Interrupted, &tracker, &spec.name, None, started.elapsed())?;
                    return Ok(ExitStatus::Interrupted);
                }
            }
        }
    };

    reporter.watching(&spec.name)?;
    // Our server names the deployment and ends it with a terminal event; servers without
    // deployment ids never do, so the end is inferred from resource states.
    let mode = if submission.deployment_id.is_some() {
        Mode::Terminal
    } else {
        Mode::Inferred
    };
    let mut tracker = Tracker::new(mode, expected);
    watch.set_deployment(submission.deployment_id.clone());

    if submission.failed() {
        // innominatus: a spec-embedded workflow failed inside the POST.
        let error = if submission.errors.is_empty() {
            submission.message.clone()
        } else {
            submission.errors.join("; ")
        };
        reporter.note(&format!(
            "the server reported the deployment failed: {error}"
        ))?;
        let mut failed = Tracker::new(Mode::Terminal, []);
        failed.apply(
            &crate::event::Event::new(crate::event::EventKind::DeploymentFailed, &spec.name)
                .with("error", error),
        );
        reporter.finish(
            WatchEnd::Finished(crate::event::Outcome::Failed),
            &failed,
            &spec.name,
            None,
            started.elapsed(),
        )?;
        return Ok(ExitStatus::DeploymentFailed);
    }

    let early_events: Vec<WatchItem> = early
        .into_iter()
        .filter(|item| match item {
            WatchItem::Event(ev) => watch.wants(ev),
            WatchItem::Notice(_) => true,
        })
        .collect();
    let follow = Follow {
        client: &client,
        app: &spec.name,
        deployment_id: submission.deployment_id.as_deref(),
        deadline: Some(deadline),
        started,
    };
    follow::run(
        follow,
        &mut watch,
        &mut tracker,
        &mut reporter,
        early_events,
    )
    .await
}

/// A random token for the `Idempotency-Key` header: 128 bits, hex.
fn new_idempotency_key() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("0s").is_err());
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("expected e.g. 90s")
        );
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn idempotency_keys_differ() {
        assert_ne!(new_idempotency_key(), new_idempotency_key());
        assert_eq!(new_idempotency_key().len(), 32);
    }
}
