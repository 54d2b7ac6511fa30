//! The check catalogue. A subsystem is one folder `checks/<name>/` that owns
//! everything about it: its `[name]` section (`Settings`, a [`Section`]), its
//! per-run state (`State`), its facts and evaluations, and its `CHECKS` table.
//! The registry below lists the subsystems once, in report order; from that
//! list come the configuration's [`Sections`], the run's [`States`] and the
//! [`catalogue`].
//!
//! Adding a subsystem: write `checks/<name>/`, then add one line to the registry.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::config::{Config, Platform, Section, Vars};
use crate::docker::{DaemonError, Engine};
use crate::lang::Lang;
use crate::model::{Metric, Remedy, Status};

/// Declares the subsystems: their modules, [`Sections`], [`States`] and [`catalogue`].
macro_rules! subsystems {
    ($($name:ident),* $(,)?) => {
        $(pub mod $name;)*

        /// Every subsystem's section of the configuration (`[docker]`, `[postgres]`, ...).
        #[derive(Debug, Clone, Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Sections {
            $(#[doc = concat!("`[", stringify!($name), "]`")] pub $name: $name::Settings,)*
        }

        impl Sections {
            pub(crate) fn defaults(platform: &Platform<'_>) -> Self {
                Self { $($name: Section::defaults(platform),)* }
            }

            pub(crate) fn validate(&self) -> Result<(), (String, String)> {
                $(Section::validate(&self.$name).map_err(|(k, r)| (format!("{}.{k}", stringify!($name)), r))?;)*
                Ok(())
            }

            pub(crate) fn vars(&self, platform: &Platform<'_>) -> Vars {
                let mut vars = Vars::default();
                $(vars.extend(stringify!($name), Section::vars(&self.$name, platform));)*
                vars
            }
        }

        $(
            /// The zero-config defaults of the current folder, with no `.env`.
            impl Default for $name::Settings {
                fn default() -> Self {
                    Section::defaults(&Platform { dir: std::path::Path::new("."), env: &crate::config::EnvFile::default() })
                }
            }
        )*

        /// Every subsystem's per-run state (connections and inventories gathered once per run).
        #[derive(Debug, Default)]
        pub struct States {
            $(#[doc = concat!("State of the `", stringify!($name), ".*` checks.")] pub $name: $name::State,)*
        }

        /// Every check, in catalogue (report) order.
        #[must_use]
        pub fn catalogue() -> Vec<&'static CheckDef> {
            [$($name::CHECKS),*].into_iter().flatten().collect()
        }
    };
}

// The registry: one line per subsystem, in report order.
subsystems! {
    docker,
    system,
    network,
    annuaire,
    config,
    auth,
    api,
    postgres,
    redis,
    smtp,
    imap,
    postfix,
    dns,
    tls,
    mssante,
    backup,
    storage,
}

/// Subsystem names, in catalogue order.
#[must_use]
pub fn subsystems() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for def in catalogue() {
        if !names.contains(&def.subsystem()) {
            names.push(def.subsystem());
        }
    }
    names
}

/// The definition of check `id`.
///
/// # Errors
/// [`crate::Error::UnknownCheck`] when the catalogue has no such id.
pub fn find(id: &str) -> crate::Result<&'static CheckDef> {
    catalogue()
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| crate::Error::UnknownCheck(id.to_owned()))
}

/// A catalogue entry as `mssante-diag list` and `explain` show it, and as every binding returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckInfo {
    /// Stable id, `subsystem.name`.
    pub id: &'static str,
    /// Subsystem the check belongs to.
    pub subsystem: &'static str,
    /// What the check decides.
    pub title: String,
    /// Sections of the troubleshooting guide, e.g. `BD P1`.
    pub guide: &'static str,
    /// Part of the guide's quick-check set.
    pub quick: bool,
    /// The guide's remedy for a non-ok result, step by step.
    pub remediation: Vec<Remedy>,
}

/// The definition of a check id: what it decides, where the guide speaks of it, how to run it.
pub struct CheckDef {
    /// Stable id, `subsystem.name`.
    pub id: &'static str,
    /// What the check decides, in English.
    pub title_en: &'static str,
    /// What the check decides, in French.
    pub title_fr: &'static str,
    /// Sections of the troubleshooting guide, e.g. `BD P1`.
    pub guide: &'static str,
    /// Part of the guide's quick-check set (`mssante-diag quick`).
    pub quick: bool,
    /// The generic remedy, attached to a non-ok result that brings none of its own.
    /// Its texts and commands may cite the configuration as `{section.name}`.
    pub remedy: &'static [Step],
    /// Timed steps the check may take one after the other (connect, then query...):
    /// its deadline is that many step timeouts.
    pub steps: u32,
    /// Runs the check.
    pub run: fn(Arc<Ctx>) -> BoxFuture<'static, Outcome>,
}

impl CheckDef {
    /// Subsystem part of the id.
    #[must_use]
    pub fn subsystem(&self) -> &'static str {
        self.id.split_once('.').map_or(self.id, |(s, _)| s)
    }

    /// Title in a language, citing the effective configuration.
    #[must_use]
    pub fn title(&self, lang: Lang, vars: &Vars) -> String {
        vars.render(lang.pick(self.title_en, self.title_fr))
    }

    /// The catalogue entry in a language, citing the effective configuration.
    #[must_use]
    pub fn info(&self, lang: Lang, vars: &Vars) -> CheckInfo {
        CheckInfo {
            id: self.id,
            subsystem: self.subsystem(),
            title: self.title(lang, vars),
            guide: self.guide,
            quick: self.quick,
            remediation: self.remediation(lang, vars),
        }
    }

    /// The generic remedy in a language, citing the effective configuration.
    #[must_use]
    pub fn remediation(&self, lang: Lang, vars: &Vars) -> Vec<Remedy> {
        self.remedy
            .iter()
            .map(|s| s.to_remedy(lang).render(vars))
            .collect()
    }
}

impl std::fmt::Debug for CheckDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckDef")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A remedy step as written in the catalogue (both languages).
#[derive(Debug)]
pub struct Step {
    /// Text in English.
    pub en: &'static str,
    /// Text in French.
    pub fr: &'static str,
    /// Command to run, if any.
    pub command: Option<&'static str>,
    /// Guide section.
    pub guide: &'static str,
    /// Deletes data or interrupts service.
    pub destructive: bool,
}

impl Step {
    /// The step in a language.
    #[must_use]
    pub fn to_remedy(&self, lang: Lang) -> Remedy {
        Remedy {
            text: lang.pick(self.en, self.fr).to_owned(),
            command: self.command.map(str::to_owned),
            guide: self.guide.to_owned(),
            destructive: self.destructive,
        }
    }
}

/// Shorthand for a catalogue [`Step`]:
/// `step!("en", "fr", guide = "BD P1", cmd = "...", destructive = true)`.
macro_rules! step {
    ($en:literal, $fr:literal, guide = $g:literal $(, cmd = $c:literal)? $(, destructive = $d:literal)?) => {
        $crate::checks::Step {
            en: $en,
            fr: $fr,
            command: step!(@cmd $($c)?),
            guide: $g,
            destructive: step!(@d $($d)?),
        }
    };
    (@cmd) => { None };
    (@cmd $c:literal) => { Some($c) };
    (@d) => { false };
    (@d $d:literal) => { $d };
}
pub(crate) use step;

/// What a check hands to the runner: the result without its id and timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Status.
    pub status: Status,
    /// One-line summary.
    pub summary: String,
    /// Structured facts.
    pub details: serde_json::Value,
    /// Measured values.
    pub metrics: Vec<Metric>,
    /// Cause-specific remedy steps (else the catalogue's are used).
    pub remediation: Vec<Remedy>,
}

impl Outcome {
    /// An outcome with a status and summary.
    #[must_use]
    pub fn new(status: Status, summary: impl Into<String>) -> Self {
        Self {
            status,
            summary: summary.into(),
            details: serde_json::Value::Null,
            metrics: Vec::new(),
            remediation: Vec::new(),
        }
    }

    /// Healthy.
    #[must_use]
    pub fn ok(summary: impl Into<String>) -> Self {
        Self::new(Status::Ok, summary)
    }

    /// Degraded.
    #[must_use]
    pub fn warning(summary: impl Into<String>) -> Self {
        Self::new(Status::Warning, summary)
    }

    /// Broken.
    #[must_use]
    pub fn critical(summary: impl Into<String>) -> Self {
        Self::new(Status::Critical, summary)
    }

    /// Undecided.
    #[must_use]
    pub fn unknown(summary: impl Into<String>) -> Self {
        Self::new(Status::Unknown, summary)
    }

    /// Not applicable or not configured.
    #[must_use]
    pub fn skipped(summary: impl Into<String>) -> Self {
        Self::new(Status::Skipped, summary)
    }

    /// Attaches structured facts (any serialisable value).
    #[must_use]
    pub fn details(mut self, details: impl Serialize) -> Self {
        self.details = serde_json::to_value(details).unwrap_or(serde_json::Value::Null);
        self
    }

    /// Adds a metric.
    #[must_use]
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metrics.push(metric);
        self
    }

    /// Adds a cause-specific remedy step.
    #[must_use]
    pub fn remedy(mut self, step: &Step, lang: Lang) -> Self {
        self.remediation.push(step.to_remedy(lang));
        self
    }

    /// Adds cause-specific remedy steps, in order.
    #[must_use]
    pub fn remedies(mut self, steps: &[Step], lang: Lang) -> Self {
        self.remediation
            .extend(steps.iter().map(|s| s.to_remedy(lang)));
        self
    }
}

/// What a running check can use: the configuration and the per-run shared state.
#[derive(Debug)]
pub struct Ctx {
    /// The run's configuration.
    pub config: Arc<Config>,
    /// Per-run state of each subsystem.
    pub state: States,
    /// The Docker engine, connected once per run on first use (docker checks, exec runner).
    engine: OnceCell<Result<Engine, DaemonError>>,
    /// The values remedies and titles cite, computed once per run on first use.
    vars: std::sync::OnceLock<Vars>,
}

tokio::task_local! {
    /// The step a check is in, shared with the runner, which names it when the check's
    /// deadline passes (the check's task is aborted by then).
    pub(crate) static CURRENT_STEP: std::sync::Arc<std::sync::Mutex<String>>;
}

/// Records the step the running check is in (see [`CURRENT_STEP`]); nothing outside a check.
pub(crate) fn enter_step(name: &str) {
    let _ = CURRENT_STEP.try_with(|s| {
        if let Ok(mut step) = s.lock() {
            name.clone_into(&mut step);
        }
    });
}

impl Ctx {
    /// A context for a configuration.
    #[must_use]
    pub fn new(config: Arc<Config>) -> Self {
        Self {
            config,
            state: States::default(),
            engine: OnceCell::new(),
            vars: std::sync::OnceLock::new(),
        }
    }

    /// Values that remedies and titles cite ([`Config::vars`]), computed once per run.
    #[must_use]
    pub fn vars(&self) -> &Vars {
        self.vars.get_or_init(|| self.config.vars())
    }

    /// Language of messages.
    #[must_use]
    pub fn lang(&self) -> Lang {
        self.config.lang
    }

    /// The run's Docker engine, connected on first use. Call it under a step.
    ///
    /// # Errors
    /// Why Docker cannot be used.
    pub async fn engine(&self) -> Result<Engine, DaemonError> {
        let cfg = &self.config;
        let d = &cfg.docker;
        self.engine
            .get_or_init(|| {
                crate::docker::connect(
                    &d.host,
                    d.enabled,
                    &cfg.project_dir,
                    cfg.timeout(),
                    cfg.lang,
                )
            })
            .await
            .clone()
    }

    /// Runs one network or process step under the configured timeout.
    ///
    /// # Errors
    /// [`TimedOut`] when the step did not finish in time.
    pub async fn step<F: std::future::Future>(&self, fut: F) -> Result<F::Output, TimedOut> {
        tokio::time::timeout(self.config.timeout(), fut)
            .await
            .map_err(|_| TimedOut(self.config.timeout_secs))
    }

    /// As [`Ctx::step`], naming the step (`"connect"`, `"banner"`...) so that a check stopped
    /// by its deadline says where it hung.
    ///
    /// # Errors
    /// [`TimedOut`] when the step did not finish in time.
    pub async fn step_named<F: std::future::Future>(
        &self,
        name: &str,
        fut: F,
    ) -> Result<F::Output, TimedOut> {
        enter_step(name);
        self.step(fut).await
    }

    /// The outcome of a target that did not answer in time: `critical` by default (a dead
    /// service), or as `timeout_state` says; the summary names what hung.
    #[must_use]
    pub fn timed_out(&self, what: &str, t: TimedOut) -> Outcome {
        let secs = t.0;
        let summary = crate::tr!(
            self.lang(),
            "{what}: no answer within {secs} s",
            "{what} : pas de réponse en {secs} s"
        );
        Outcome::new(self.config.timeout_state.into(), summary)
    }
}

/// A step did not finish within the timeout (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedOut(pub f64);

/// Milliseconds since `start`, for latency metrics.
#[must_use]
pub fn elapsed_ms(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Status of a value against warn/crit thresholds (higher is worse).
#[must_use]
pub fn grade(value: f64, warn: f64, crit: f64) -> Status {
    if value >= crit {
        Status::Critical
    } else if value >= warn {
        Status::Warning
    } else {
        Status::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `{word.word}` placeholder left in a rendered text: a typo in a remedy or title.
    fn unrendered(text: &str) -> Vec<String> {
        let mut left = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('}') else { break };
            let inner = &after[..end];
            if inner.contains('.')
                && inner
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
                && !inner.starts_with('.')
            {
                left.push(inner.to_owned());
            }
            rest = &after[end..];
        }
        left
    }

    #[test]
    fn catalogue_is_consistent() {
        let all = catalogue();
        let mut ids: Vec<&str> = all.iter().map(|d| d.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "duplicate check ids");
        let vars = Config::default().vars();
        for d in &all {
            let (sub, name) = d.id.split_once('.').expect("id is subsystem.name");
            assert!(subsystems().contains(&sub) && !name.is_empty(), "{}", d.id);
            assert!(
                !d.title_en.is_empty() && !d.title_fr.is_empty(),
                "{}: both titles",
                d.id
            );
            assert_ne!(
                d.title_en, d.title_fr,
                "{}: the French title is a translation",
                d.id
            );
            assert!(!d.remedy.is_empty(), "{}: a remedy", d.id);
            assert!(!d.guide.is_empty() && d.steps >= 1, "{}", d.id);
            for lang in [Lang::En, Lang::Fr] {
                let title = d.title(lang, &vars);
                assert!(unrendered(&title).is_empty(), "{}: {title}", d.id);
                for r in d.remediation(lang, &vars) {
                    let text = format!("{} {}", r.text, r.command.unwrap_or_default());
                    assert!(unrendered(&text).is_empty(), "{}: {text}", d.id);
                }
            }
        }
    }

    #[test]
    fn remedies_cite_the_effective_configuration() {
        let text = "[postgres]\nuser = \"alice\"\ndatabase = \"mail\"\nretention_months = 24\n[docker]\nproject = \"prod\"\n";
        let config =
            Config::from_toml_str(text, std::path::Path::new("/srv/mssante")).expect("valid");
        let vars = config.vars();
        let retention = find("postgres.retention").expect("in the catalogue");
        let destructive: Vec<Remedy> = retention
            .remediation(Lang::En, &vars)
            .into_iter()
            .filter(|r| r.destructive)
            .collect();
        assert!(!destructive.is_empty());
        for r in &destructive {
            let cmd = r.command.as_deref().unwrap_or_default();
            assert!(
                cmd.contains("INTERVAL '24 months'") && !cmd.contains("6 months"),
                "{cmd}"
            );
            assert!(
                cmd.contains("docker compose -p prod ") && cmd.contains("-U alice -d mail"),
                "{cmd}"
            );
        }
        assert!(retention.title(Lang::Fr, &vars).contains("24 mois"));
    }
}
