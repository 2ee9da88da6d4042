//! `ctl deploy FILE [-w]`: validate a spec locally, submit it, and optionally follow the
//! deployment to its end.
//!
//! Order matters for not missing events: the event stream is opened *before* the POST, and
//! read while the POST is in flight, because an innominatus server publishes
//! `resource.created` before it answers (PROTOCOL.md A.4).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::follow::{self, Follow, Stop};
// Re-exported: the option parsers were first defined here, and other code may name them so.
pub use super::values::{parse_duration, parse_size};
use crate::client::backoff::Backoff;
use crate::client::watch::{EventWatch, WatchItem, WatchOptions};
use crate::client::{ApiClient, Submission, SubmitFate};
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

    /// How the event stream is kept alive.
    #[command(flatten)]
    pub stream: StreamArgs,

    /// Run against a throwaway in-process server (in-memory store); implies --watch
    #[arg(long)]
    pub local: bool,

    /// Provider catalogue (YAML) for the --local server
    #[arg(long, value_name = "FILE", requires = "local")]
    pub providers: Option<PathBuf>,
}

/// The event stream options `deploy` and `watch` share.
#[derive(Debug, Clone, Args)]
pub struct StreamArgs {
    /// Declare the event stream dead after this long without a byte (keep-alives count), and
    /// reconnect; keep it above the server's keep-alive interval (15s on ctl server, 30s on
    /// innominatus)
    #[arg(
        long,
        value_name = "DURATION",
        env = "CTL_IDLE_TIMEOUT",
        default_value = "45s",
        value_parser = parse_duration
    )]
    pub idle_timeout: Duration,

    /// Keep reconnecting a lost event stream for this long before giving up (exit code 5);
    /// a stream back within it resumes where it left off
    #[arg(
        long,
        value_name = "DURATION",
        env = "CTL_RETRY_BUDGET",
        default_value = "60s",
        value_parser = parse_duration
    )]
    pub retry_budget: Duration,

    /// Skip (with a note on stderr) any event larger than this, e.g. 1MiB, 256KiB, 4MiB (a bare
    /// number means bytes; at least 1KiB)
    #[arg(
        long,
        value_name = "SIZE",
        env = "CTL_MAX_EVENT_SIZE",
        default_value = "1MiB",
        value_parser = parse_size
    )]
    pub max_event_size: usize,
}

impl StreamArgs {
    /// The watcher's tuning these options ask for.
    pub(crate) fn watch_options(&self) -> WatchOptions {
        WatchOptions {
            idle_timeout: self.idle_timeout,
            retry_budget: self.retry_budget,
            max_event_bytes: self.max_event_size,
            ..WatchOptions::default()
        }
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
        settings.tls = Default::default();
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
    let client = ApiClient::for_settings(settings)?;
    let mut reporter = Reporter::new(settings, args.all);
    reporter.set_local_server(args.local);
    let options = args.stream.watch_options();
    let idempotency_key = new_idempotency_key();
    reporter.submitting(&spec.name)?;

    if !watch {
        let submission =
            submit_unwatched(&client, spec, &idempotency_key, &options, &mut reporter).await?;
        reporter.submitted(&submission)?;
        return Ok(if submission.failed() {
            ExitStatus::DeploymentFailed
        } else {
            ExitStatus::Success
        });
    }

    // From here on Ctrl-C is ours (exit 130 with the reattach hint, never a bare kill), and
    // `--timeout` counts: both hold over every wait below, the first connection included.
    let started = tokio::time::Instant::now();
    let mut stop = Stop::new(Some(started + args.timeout));
    let expected = || {
        spec.resources
            .iter()
            .map(|r| (r.name.as_str(), r.kind.as_str()))
    };
    // Stopped before the deployment is known: the footer (or result line) and its exit code.
    let stopped = |reporter: &mut Reporter, end: WatchEnd| -> Result<ExitStatus, Error> {
        let tracker = Tracker::new(Mode::Terminal, expected());
        reporter.finish(end, &tracker, &spec.name, None, started.elapsed())?;
        Ok(end.exit_status())
    };

    // Subscribe first: once `connect` returns, the server has accepted the stream (and its
    // first frame says whether it speaks Part B of the protocol).
    // A failure before the deployment is known still ends `-o json` output with its result
    // line.
    let connected = stop
        .bound(EventWatch::connect(
            client.clone(),
            &spec.name,
            None,
            None,
            options.clone(),
        ))
        .await;
    let mut watch = match connected {
        Ok(connected) => connected
            .map_err(|e| super::with_result_line(&mut reporter, &spec.name, None, started, e))?,
        Err(end) => {
            reporter.note(
                "stopped while waiting for the server's event stream; the spec was not submitted",
            )?;
            return stopped(&mut reporter, end);
        }
    };

    // Submit while reading the stream, so events published during the POST are kept.
    let mut early = Vec::new();
    let submitted = submit_watched(
        Submit {
            client: &client,
            spec,
            key: &idempotency_key,
            options: &options,
        },
        &mut watch,
        &mut early,
        &mut reporter,
        &mut stop,
    )
    .await
    .map_err(|e| super::with_result_line(&mut reporter, &spec.name, None, started, e))?;
    let submission = match submitted {
        Submitted::Answer(submission) => submission,
        Submitted::Unconfirmed(cause) => {
            let confirmed = stop
                .bound(confirm_unanswered(&client, spec, cause, &mut reporter))
                .await;
            match confirmed {
                Ok(confirmed) => confirmed.map_err(|e| {
                    super::with_result_line(&mut reporter, &spec.name, None, started, e)
                })?,
                Err(end) => return stopped(&mut reporter, end),
            }
        }
        Submitted::Stopped(end) => {
            reporter.note("stopped before the server answered the submission; whether it created the deployment is unknown")?;
            return stopped(&mut reporter, end);
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
    let mut tracker = Tracker::new(mode, expected());
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
            WatchItem::Event(ev, _) => watch.wants(ev),
            WatchItem::Notice(_) => true,
        })
        .collect();
    let follow = Follow {
        client: &client,
        app: &spec.name,
        deployment_id: submission.deployment_id.as_deref(),
        started,
        quiet_loss: Default::default(),
    };
    follow::run(
        follow,
        &mut watch,
        &mut tracker,
        &mut reporter,
        &mut stop,
        early_events,
    )
    .await
}

/// How the submission phase of `deploy -w` ended.
enum Submitted {
    /// The server answered.
    Answer(Submission),
    /// The answer was lost and the server cannot be asked again safely (no idempotency).
    Unconfirmed(Error),
    /// `--timeout` or Ctrl-C came first.
    Stopped(WatchEnd),
}

/// What is submitted, and how.
struct Submit<'a> {
    client: &'a ApiClient,
    spec: &'a spec::Spec,
    /// The `Idempotency-Key` every attempt carries.
    key: &'a str,
    options: &'a WatchOptions,
}

/// `POST`s the spec while reading the already open stream, retrying as the rules of
/// "submit exactly once" allow:
/// - a request that never reached the server (connection refused) is sent again, on any server;
/// - one whose fate is unknown (connection lost before a status line) is sent again with the
///   same `Idempotency-Key` only if the server speaks Part B (its stream said so), which
///   promises the same deployment for the same key; otherwise it is not sent again, and
///   whether the server stored it is asked instead;
/// - a `502`/`503`/`504` is sent again only to a Part B server too; anywhere else it is the
///   answer (exit 5), like every other status line;
/// - retries follow the watcher's backoff and stop when the retry budget is spent.
async fn submit_watched(
    submit: Submit<'_>,
    watch: &mut EventWatch,
    early: &mut Vec<WatchItem>,
    reporter: &mut Reporter,
    stop: &mut Stop,
) -> Result<Submitted, Error> {
    let Submit {
        client,
        spec,
        key,
        options,
    } = submit;
    let mut backoff = Backoff::new(options.retry_base, options.retry_cap, u32::MAX);
    let mut first_failure = None;
    let mut post = Box::pin(client.submit(spec, key));
    // Set while waiting to send the POST again.
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            // The POST answered: the deployment id (if any) is now known.
            res = &mut post, if retry_at.is_none() => match res {
                Ok(submission) => return Ok(Submitted::Answer(submission)),
                Err(e) => {
                    let fate = SubmitFate::of(&e);
                    let safe = match fate {
                        SubmitFate::NotSent => true,
                        SubmitFate::Unknown | SubmitFate::Unavailable => watch.server_resumes(),
                        SubmitFate::Final => false,
                    };
                    if fate == SubmitFate::Unknown && !safe {
                        return Ok(Submitted::Unconfirmed(e));
                    }
                    if !safe {
                        return Err(e);
                    }
                    let now = tokio::time::Instant::now();
                    let since = *first_failure.get_or_insert(now);
                    let delay = backoff.next_delay(fastrand::f64()).unwrap_or(options.retry_cap);
                    if now + delay > since + options.retry_budget {
                        return Err(e);
                    }
                    reporter.note(&format!(
                        "submission failed ({e}); sending it again with the same Idempotency-Key (attempt {})...",
                        backoff.attempts()
                    ))?;
                    retry_at = Some(now + delay);
                }
            },
            // Time to send the POST again.
            () = wait_until(retry_at) => {
                retry_at = None;
                post = Box::pin(client.submit(spec, key));
            }
            // Events published while the POST is in flight; filtered once the id is known.
            item = watch.next() => early.push(item?),
            // `--timeout` can elapse, and Ctrl-C come, before the server answers.
            end = stop.reached() => return Ok(Submitted::Stopped(end)),
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn wait_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The POST's answer was lost on a server that cannot be asked twice. Whether the spec was
/// stored is asked instead: if the server has the application, its resources are followed
/// (the end is inferred from them); if not, nothing was deployed.
async fn confirm_unanswered(
    client: &ApiClient,
    spec: &spec::Spec,
    cause: Error,
    reporter: &mut Reporter,
) -> Result<Submission, Error> {
    reporter.note(&format!(
        "the submission's answer was lost ({cause}); this server does not support idempotent submission, so the spec is not sent again"
    ))?;
    match client.application_known(&spec.name).await {
        Ok(true) if !spec.workflows.is_empty() => Err(Error::Server {
            status: None,
            message: format!(
                "the submission's answer was lost ({cause}); the server has the application, but the spec's workflows ({}) ran inside that request and their outcome was in the lost answer, so success cannot be reported on resources alone; check the server's workflow history before deploying again",
                spec.workflows.join(", ")
            ),
        }),
        Ok(true) => {
            reporter.note(
                "the server has the application: following its resources to learn the outcome",
            )?;
            Ok(Submission {
                name: spec.name.clone(),
                status: "unconfirmed".to_owned(),
                message: String::new(),
                deployment_id: None,
                errors: Vec::new(),
            })
        }
        Ok(false) => Err(Error::Server {
            status: None,
            message: format!(
                "the submission failed ({cause}) and the server has no application {:?}: nothing was deployed, and running the command again is safe",
                spec.name
            ),
        }),
        Err(e) => Err(Error::Server {
            status: None,
            message: format!(
                "the submission's outcome is unknown ({cause}), and the server could not be asked whether it stored the spec ({e}); check with `ctl watch {}`",
                spec.name
            ),
        }),
    }
}

/// `deploy` without `-w`: one POST, sent again only when that cannot deploy twice (see
/// [`submit_watched`]). Whether the server honours `Idempotency-Key` is learnt, only when it
/// matters, from the first frame of its event stream.
async fn submit_unwatched(
    client: &ApiClient,
    spec: &spec::Spec,
    key: &str,
    options: &WatchOptions,
    reporter: &mut Reporter,
) -> Result<Submission, Error> {
    let mut backoff = Backoff::new(options.retry_base, options.retry_cap, u32::MAX);
    let mut first_failure = None;
    let mut idempotent = None;
    loop {
        let e = match client.submit(spec, key).await {
            Ok(submission) => return Ok(submission),
            Err(e) => e,
        };
        let safe = match SubmitFate::of(&e) {
            // Never reached the server: on the first attempt that is an unreachable server
            // (fail fast); later, a server that went away between attempts.
            SubmitFate::NotSent => first_failure.is_some(),
            fate @ (SubmitFate::Unknown | SubmitFate::Unavailable) => {
                if idempotent.is_none() {
                    idempotent = Some(speaks_part_b(client, spec, options).await);
                }
                if idempotent == Some(false) && fate == SubmitFate::Unavailable {
                    return Err(e);
                }
                if idempotent == Some(false) {
                    return Err(Error::Server {
                        status: None,
                        message: format!(
                            "the submission's outcome is unknown ({e}); this server does not support idempotent submission, so it is not sent again; check with `ctl watch {}`",
                            spec.name
                        ),
                    });
                }
                true
            }
            SubmitFate::Final => false,
        };
        if !safe {
            return Err(e);
        }
        let now = tokio::time::Instant::now();
        let since = *first_failure.get_or_insert(now);
        let delay = backoff
            .next_delay(fastrand::f64())
            .unwrap_or(options.retry_cap);
        if now + delay > since + options.retry_budget {
            return Err(e);
        }
        reporter.note(&format!(
            "submission failed ({e}); sending it again with the same Idempotency-Key (attempt {})...",
            backoff.attempts()
        ))?;
        tokio::time::sleep(delay).await;
    }
}

/// Whether the server speaks Part B (and so honours `Idempotency-Key`): the first frame of
/// its event stream tells. A server that cannot be asked is assumed not to.
async fn speaks_part_b(client: &ApiClient, spec: &spec::Spec, options: &WatchOptions) -> bool {
    EventWatch::connect(client.clone(), &spec.name, None, None, options.clone())
        .await
        .is_ok_and(|watch| watch.server_resumes())
}

/// A random token for the `Idempotency-Key` header: 128 bits, hex.
fn new_idempotency_key() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_differ() {
        assert_ne!(new_idempotency_key(), new_idempotency_key());
        assert_eq!(new_idempotency_key().len(), 32);
    }
}
