//! Runs a selection of checks concurrently and assembles the [`Report`].
//!
//! Each check runs in its own task under a deadline a little over the step
//! timeout: a check that panics, hangs or errors becomes that check's
//! `unknown` with the reason, and never delays or breaks the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::checks::{catalogue, CheckDef, Ctx, Outcome, TimedOut};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{CheckResult, Report, Status, SCHEMA_VERSION};
use crate::tr;

/// Which checks to run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Selection {
    /// Every check of the enabled subsystems.
    #[default]
    All,
    /// The guide's quick-check set.
    Quick,
    /// These check ids and subsystem names.
    Only(Vec<String>),
}

impl Selection {
    /// `All` for an empty list, else `Only`.
    #[must_use]
    pub fn from_names(names: Vec<String>) -> Self {
        if names.is_empty() {
            Selection::All
        } else {
            Selection::Only(names)
        }
    }

    /// The checks selected, in catalogue order.
    ///
    /// # Errors
    /// [`Error::UnknownCheck`] for a name that is neither a check id nor a subsystem.
    pub fn resolve(&self, config: &Config) -> Result<Vec<&'static CheckDef>> {
        let all = catalogue();
        let enabled = |d: &CheckDef| {
            config.subsystems.is_empty() || config.subsystems.iter().any(|s| s == d.subsystem())
        };
        match self {
            Selection::All => Ok(all.into_iter().filter(|d| enabled(d)).collect()),
            Selection::Quick => Ok(all.into_iter().filter(|d| d.quick && enabled(d)).collect()),
            Selection::Only(names) => {
                if let Some(bad) = names.iter().find(|n| {
                    !all.iter()
                        .any(|d| d.id == n.as_str() || d.subsystem() == n.as_str())
                }) {
                    return Err(Error::UnknownCheck(bad.clone()));
                }
                Ok(all
                    .into_iter()
                    .filter(|d| {
                        names
                            .iter()
                            .any(|n| d.id == n.as_str() || d.subsystem() == n.as_str())
                    })
                    .collect())
            }
        }
    }
}

/// A check's deadline: the step timeout times the steps it may take, plus 5 % slack
/// so that the check's own timeout message wins over the runner's.
fn deadline(def: &CheckDef, config: &Config) -> Duration {
    let allowed = config.timeout() * def.steps.max(1);
    allowed + allowed / 20
}

/// Runs the selected checks and returns the report.
///
/// # Errors
/// Only for a selection naming an unknown check; failed checks are results.
pub async fn run(config: Arc<Config>, selection: &Selection) -> Result<Report> {
    run_with_progress(config, selection, |_| {}).await
}

/// As [`run`], calling `progress` as each check finishes (in completion order).
///
/// # Errors
/// Only for a selection naming an unknown check.
pub async fn run_with_progress(
    config: Arc<Config>,
    selection: &Selection,
    mut progress: impl FnMut(&CheckResult),
) -> Result<Report> {
    let defs = selection.resolve(&config)?;
    tracing::info!(
        checks = defs.len(),
        timeout_s = config.timeout_secs,
        "run started"
    );
    let started_at = chrono::Utc::now();
    let start = Instant::now();
    let ctx = Arc::new(Ctx::new(config.clone()));
    let mut set = tokio::task::JoinSet::new();
    for (index, def) in defs.iter().enumerate() {
        let ctx = ctx.clone();
        let def: &'static CheckDef = def;
        set.spawn(async move { (index, run_one(def, ctx).await) });
    }
    let mut results: Vec<Option<CheckResult>> = vec![None; defs.len()];
    while let Some(joined) = set.join_next().await {
        // run_one never panics itself: it catches the check's panic.
        if let Ok((index, result)) = joined {
            progress(&result);
            results[index] = Some(result);
        }
    }
    // Say goodbye to PostgreSQL (its log stays free of "connection reset" lines).
    ctx.state.postgres.close().await;
    let checks: Vec<CheckResult> = results.into_iter().flatten().collect();
    let status = Report::overall(&checks);
    tracing::info!(checks = checks.len(), %status, duration_ms = millis(start.elapsed()), "run finished");
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        version: crate::VERSION.to_owned(),
        host: hostname(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: millis(start.elapsed()),
        status,
        checks,
        notices: crate::provenance::notices(&config),
    })
}

/// Runs one check in its own task, under its deadline, catching its panic.
pub async fn run_one(def: &'static CheckDef, ctx: Arc<Ctx>) -> CheckResult {
    let lang = ctx.lang();
    let limit = deadline(def, &ctx.config);
    tracing::debug!(
        check = def.id,
        deadline_s = limit.as_secs_f64(),
        "check started"
    );
    let start = Instant::now();
    let step = Arc::new(std::sync::Mutex::new(String::new()));
    let task =
        tokio::spawn(crate::checks::CURRENT_STEP.scope(step.clone(), (def.run)(ctx.clone())));
    let abort = task.abort_handle();
    // A cancelled run (its future dropped) stops its checks too.
    let _stop_on_drop = AbortOnDrop(abort.clone());
    let outcome = match tokio::time::timeout(limit, task).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(join)) => {
            let reason = panic_message(join);
            tracing::warn!(check = def.id, %reason, "check failed internally");
            Outcome::unknown(tr!(
                lang,
                "check failed internally: {reason}",
                "échec interne de la vérification : {reason}"
            ))
        }
        Err(_) => {
            abort.abort();
            let secs = limit.as_secs_f64().round();
            let at = step.lock().map(|s| s.clone()).unwrap_or_default();
            let what = if at.is_empty() {
                def.id.to_owned()
            } else {
                tr!(lang, "{} (step {at})", "{} (étape {at})", def.id)
            };
            tracing::debug!(check = def.id, step = %at, deadline_s = limit.as_secs_f64(), "check past its deadline");
            ctx.timed_out(&what, TimedOut(secs))
        }
    };
    let outcome = crate::access::without_env(def.subsystem(), outcome, &ctx.config, lang);
    let result = finish(def, outcome, lang, ctx.vars(), start.elapsed());
    tracing::debug!(check = def.id, status = %result.status, duration_ms = result.duration_ms, summary = %result.summary, "check finished");
    result
}

/// Aborts a spawned check when the run that awaits it is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn finish(
    def: &CheckDef,
    o: Outcome,
    lang: crate::Lang,
    vars: &crate::config::Vars,
    took: Duration,
) -> CheckResult {
    let remediation =
        if o.status == Status::Ok || o.status == Status::Skipped || !o.remediation.is_empty() {
            o.remediation.into_iter().map(|r| r.render(vars)).collect()
        } else {
            def.remediation(lang, vars)
        };
    CheckResult {
        id: def.id.to_owned(),
        subsystem: def.subsystem().to_owned(),
        status: o.status,
        summary: o.summary,
        details: o.details,
        metrics: o.metrics,
        remediation,
        duration_ms: millis(took),
    }
}

fn panic_message(join: tokio::task::JoinError) -> String {
    match join.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned()),
        Err(e) => e.to_string(),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    /// A check that enters a named step and never finishes it.
    static HANGS_IN_BANNER: CheckDef = CheckDef {
        id: "smtp.hangs",
        title_en: "hangs",
        title_fr: "bloque",
        guide: "Général",
        quick: false,
        remedy: &[],
        steps: 1,
        run: |_| {
            async {
                crate::checks::enter_step("banner");
                std::future::pending::<Outcome>().await
            }
            .boxed()
        },
    };

    #[tokio::test]
    async fn a_check_past_its_deadline_names_the_step_it_hung_in() {
        let mut config = Config::default();
        config.timeout_secs = 0.05;
        let r = run_one(
            &HANGS_IN_BANNER,
            Arc::new(Ctx::new(Arc::new(config.clone()))),
        )
        .await;
        assert_eq!(r.status, Status::Critical);
        assert!(
            r.summary.contains("smtp.hangs (step banner)"),
            "{}",
            r.summary
        );
        config.timeout_state = crate::config::TimeoutState::Unknown;
        let r = run_one(&HANGS_IN_BANNER, Arc::new(Ctx::new(Arc::new(config)))).await;
        assert_eq!(r.status, Status::Unknown);
    }
}
