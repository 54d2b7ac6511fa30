//! Node bindings of mssante-diag: `require('mssante-diag')`.
//!
//! Each function converts its arguments, calls the core and converts the
//! result or the error; no check logic lives here. A report crosses as the
//! CLI's JSON document, parsed (see [`report`]).
//! `index.js` adds one function per subsystem on top of [`run`].

mod errors;
mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mssante_diag_core::output::{self, Style};
use mssante_diag_core::config::Vars;
use mssante_diag_core::{CheckDef, CheckResult, Config, Report, Selection};
use napi::bindgen_prelude::{Function, PromiseRaw, Unknown};
use napi::threadsafe_function::{ThreadsafeCallContext, ThreadsafeFunctionCallMode};
use napi::{Env, Result};
use napi_derive::napi;
use serde_json::Value;

/// Language of summaries, titles and remedies.
#[napi(string_enum = "lowercase")]
pub enum Lang {
    /// English.
    En,
    /// French.
    Fr,
}

impl From<Lang> for mssante_diag_core::Lang {
    fn from(l: Lang) -> Self {
        match l {
            Lang::En => Self::En,
            Lang::Fr => Self::Fr,
        }
    }
}

/// The language asked for, else the one of the process locale (as the CLI does).
fn lang(l: Option<Lang>) -> mssante_diag_core::Lang {
    l.map_or_else(mssante_diag_core::Lang::from_env, Into::into)
}

/// Output format of [`render`].
#[napi(string_enum = "lowercase")]
pub enum Format {
    /// Grouped by subsystem, for a person.
    Human,
    /// The stable JSON document (as `mssante-diag check --format json`).
    Json,
    /// One status line plus perfdata, as monitoring-plugins print it.
    Nagios,
    /// Prometheus text exposition format.
    Prometheus,
}

impl From<Format> for output::Format {
    fn from(f: Format) -> Self {
        match f {
            Format::Human => Self::Human,
            Format::Json => Self::Json,
            Format::Nagios => Self::Nagios,
            Format::Prometheus => Self::Prometheus,
        }
    }
}

/// What to run and with which configuration. Every field is optional.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct RunOptions<'a> {
    /// The platform's project folder, holding `.env` and `mssante-diag.toml`.
    /// Default: the current working directory.
    pub project_dir: Option<String>,
    /// Configuration file to read instead of the project's `mssante-diag.toml`.
    pub config_path: Option<String>,
    /// Overrides applied last, shaped like `mssante-diag.toml`,
    /// e.g. `{ timeout_secs: 2, timeout_state: 'unknown', lang: 'fr', postgres: { port: 5433 } }`.
    #[napi(ts_type = "Record<string, unknown>")]
    pub config: Option<Value>,
    /// Check ids (`smtp.auth`) and subsystem names (`postgres`) to run. Default: every check.
    pub only: Option<Vec<String>>,
    /// Run the guide's quick-check set (as `mssante-diag quick`); not with `only`.
    pub quick: Option<bool>,
    /// Called with each check's result as soon as it finishes (in completion order, all
    /// before the run resolves), e.g. to show progress; the report still has them all,
    /// in catalogue order. What it throws is an uncaught exception, as in an event listener.
    #[napi(ts_type = "(check: CheckResult) => void")]
    pub on_check: Option<Function<'a, Unknown<'static>, ()>>,
}

/// What `run` calls as each check finishes.
type Progress = dyn Fn(&CheckResult) + Send + Sync;

/// Runs the selected checks concurrently, off the event loop.
///
/// Resolves with the report (the same document as `mssante-diag check --format json`);
/// a failed check is data in it, not a rejection. Rejects with an `Error` whose `code` is:
/// - `CONFIG`: the configuration file or the `config` overrides are invalid (message names the key);
/// - `ENV_FILE`: the project's `.env` exists but cannot be read or parsed;
/// - `UNKNOWN_CHECK`: `only` names no check id or subsystem of the catalogue;
/// - `IO`: an I/O error outside any check.
///
/// Throws synchronously, with napi's codes, for arguments of the wrong type (e.g.
/// `ArrayExpected`), and with code `InvalidArg` for `only` combined with `quick`.
#[napi(ts_return_type = "Promise<Report>")]
pub fn run<'env>(env: &'env Env, options: Option<RunOptions<'env>>) -> Result<PromiseRaw<'env, Unknown<'env>>> {
    let RunOptions { project_dir, config_path, config, only, quick, on_check } = options.unwrap_or_default();
    let selection = match (only.filter(|o| !o.is_empty()), quick.unwrap_or(false)) {
        (Some(_), true) => return Err(napi::Error::new(napi::Status::InvalidArg, "`only` and `quick` cannot be combined")),
        (Some(names), false) => Selection::Only(names),
        (None, true) => Selection::Quick,
        (None, false) => Selection::All,
    };
    // Boxed as a plain `dyn Fn`: the future's `Send` check then does not meet the
    // threadsafe function's lifetime-generic bounds (which rustc cannot prove there).
    let progress: Option<Box<Progress>> = match on_check {
        Some(f) => {
            let tsfn = f
                .build_threadsafe_function::<String>()
                .callee_handled::<false>()
                .build_callback(|ctx: ThreadsafeCallContext<String>| report::parse(&ctx.env, ctx.value))?;
            Some(Box::new(move |check| {
                tsfn.call(report::check_json(check), ThreadsafeFunctionCallMode::NonBlocking);
            }))
        }
        None => None,
    };
    let job = async move {
        let config = load_config(project_dir.map(PathBuf::from), config_path.map(PathBuf::from), config.as_ref())?;
        mssante_diag_core::run_with_progress(Arc::new(config), &selection, |check| progress.iter().for_each(|p| p(check))).await
    };
    env.spawn_future_with_callback(async move { Ok(job.await) }, |env, result| match result {
        Ok(report) => report::to_js(env, &report),
        Err(e) => Err(errors::to_js(env, &e)),
    })
}

/// Loads a configuration as the CLI does, then applies the overrides.
fn load_config(project_dir: Option<PathBuf>, config_path: Option<PathBuf>, overrides: Option<&Value>) -> mssante_diag_core::Result<Config> {
    let dir = project_dir.unwrap_or_else(|| PathBuf::from("."));
    let config = Config::load(Path::new(&dir), config_path.as_deref())?;
    match overrides {
        Some(o) => config.with_overrides(o),
        None => Ok(config),
    }
}

/// A check of the catalogue: what it decides, where the guide speaks of it, its generic remedy.
#[napi(object)]
pub struct CheckInfo {
    /// Stable id, `subsystem.name`.
    pub id: String,
    /// Subsystem the check belongs to.
    pub subsystem: String,
    /// What the check decides.
    pub title: String,
    /// Sections of the troubleshooting guide, e.g. `BD P1`.
    pub guide: String,
    /// Part of the guide's quick-check set.
    pub quick: bool,
    /// The guide's remedy for a non-ok result, step by step.
    #[napi(ts_type = "Remedy[]")]
    pub remediation: Value,
}

impl CheckInfo {
    /// The entry of `def`, citing the values of `vars` (`{postgres.user}`...).
    fn new(def: &CheckDef, lang: mssante_diag_core::Lang, vars: &Vars) -> Result<Self> {
        let info = def.info(lang, vars);
        Ok(Self {
            id: info.id.to_owned(),
            subsystem: info.subsystem.to_owned(),
            title: info.title,
            guide: info.guide.to_owned(),
            quick: info.quick,
            remediation: serde_json::to_value(info.remediation)?,
        })
    }
}

/// Every check, in report order (as `mssante-diag list`); remedies cite the built-in defaults' values.
#[napi]
pub fn catalogue(lang: Option<Lang>) -> Result<Vec<CheckInfo>> {
    let lang = self::lang(lang);
    let vars = Config::default().vars();
    mssante_diag_core::catalogue().into_iter().map(|d| CheckInfo::new(d, lang, &vars)).collect()
}

/// One check and its remedy (as `mssante-diag explain ID`), citing the built-in defaults' values.
/// Throws an `Error` with code `UNKNOWN_CHECK` for an id that is not in the catalogue.
#[napi]
pub fn explain(env: &Env, id: String, lang: Option<Lang>) -> Result<CheckInfo> {
    match mssante_diag_core::find(&id) {
        Ok(def) => CheckInfo::new(def, self::lang(lang), &Config::default().vars()),
        Err(e) => Err(errors::to_js(env, &e)),
    }
}

/// Options of [`render`].
#[napi(object)]
#[derive(Default)]
pub struct RenderOptions {
    /// ANSI colours in the human format. Default: false.
    pub color: Option<bool>,
    /// Language of the human format's headings. Default: from the locale.
    pub lang: Option<Lang>,
}

/// Prints a report as the CLI would in a format.
/// Throws with code `InvalidArg` when `report` is not a report document.
#[napi]
pub fn render(#[napi(ts_arg_type = "Report")] report: Value, format: Format, options: Option<RenderOptions>) -> Result<String> {
    let report = report::from_js(report)?;
    let options = options.unwrap_or_default();
    let style = Style { color: options.color.unwrap_or(false), lang: lang(options.lang) };
    Ok(output::render(&report, format.into(), style))
}

/// Where [`decode_jwt`] and [`audit_dns`] take their configuration from. Every field is optional.
#[napi(object)]
#[derive(Default)]
pub struct ProjectOptions {
    /// The platform's project folder (its `.env` holds `JWT_SECRET`). Default: the current working directory.
    pub project_dir: Option<String>,
    /// Configuration file to read instead of the project's `mssante-diag.toml`.
    pub config_path: Option<String>,
    /// Overrides applied last, shaped like `mssante-diag.toml`, e.g. `{ auth: { clock_skew_secs: 300 } }`.
    #[napi(ts_type = "Record<string, unknown>")]
    pub config: Option<Value>,
}

/// Decodes and judges a JWT as `mssante-diag jwt TOKEN` does (`auth.jwt` alone: expiry, clock
/// skew, signature with the configured secret or PSC's keys). Resolves with the report; the
/// token, its signature and the secret never enter it. Rejects with code `CONFIG` or `ENV_FILE`
/// as [`run`] does.
#[napi(ts_return_type = "Promise<Report>")]
pub fn decode_jwt<'env>(env: &'env Env, token: String, options: Option<ProjectOptions>) -> Result<PromiseRaw<'env, Unknown<'env>>> {
    let ProjectOptions { project_dir, config_path, config } = options.unwrap_or_default();
    let job = async move {
        let config = load_config(project_dir.map(PathBuf::from), config_path.map(PathBuf::from), config.as_ref())?;
        mssante_diag_core::checks::auth::decode_jwt(Arc::new(config), &token).await
    };
    env.spawn_future_with_callback(async move { Ok(job.await) }, |env, result| match result {
        Ok(report) => report::to_js(env, &report),
        Err(e) => Err(errors::to_js(env, &e)),
    })
}

/// Reconciles the platform's mailboxes with the BALs the Annuaire Santé publishes, as
/// `mssante-diag annuaire reconcile --format json` does (`annuaire.mailboxes` alone). Resolves
/// with the report, the full lists in the check's details, unlisted BALs counted only; mask the
/// addresses with the override `{ annuaire: { mask: true } }`. Rejects with code `CONFIG` or
/// `ENV_FILE` as [`run`] does.
#[napi(ts_return_type = "Promise<Report>")]
pub fn reconcile_annuaire<'env>(env: &'env Env, options: Option<ProjectOptions>) -> Result<PromiseRaw<'env, Unknown<'env>>> {
    let ProjectOptions { project_dir, config_path, config } = options.unwrap_or_default();
    let job = async move {
        let config = load_config(project_dir.map(PathBuf::from), config_path.map(PathBuf::from), config.as_ref())?;
        mssante_diag_core::checks::annuaire::reconcile_annuaire(Arc::new(config), false).await
    };
    env.spawn_future_with_callback(async move { Ok(job.await) }, |env, result| match result {
        Ok(report) => report::to_js(env, &report),
        Err(e) => Err(errors::to_js(env, &e)),
    })
}

/// Audits the DNS of mail domains as `mssante-diag dns DOMAIN... --format json` does (the
/// `dns.*` checks but `dns.resolver`, at most `dns.concurrency` domains at once, with the
/// project's `[dns]` settings). Resolves with `{ status, addresses, domains }`: the platform's
/// address checks (`dns.ptr`, `dns.blocklist`) once, then one `{ domain, status, checks }` per
/// domain, in order. Rejects with code `CONFIG` or `ENV_FILE` as [`run`] does.
#[napi(ts_return_type = "Promise<{ status: Status; addresses: CheckResult[]; domains: Array<{ domain: string; status: Status; checks: CheckResult[] }> }>")]
pub fn audit_dns<'env>(env: &'env Env, domains: Vec<String>, options: Option<ProjectOptions>) -> Result<PromiseRaw<'env, Unknown<'env>>> {
    let ProjectOptions { project_dir, config_path, config } = options.unwrap_or_default();
    let job = async move {
        let config = load_config(project_dir.map(PathBuf::from), config_path.map(PathBuf::from), config.as_ref())?;
        mssante_diag_core::checks::dns::audit(&config, &domains).await
    };
    env.spawn_future_with_callback(async move { Ok(job.await) }, |env, result| match result {
        Ok(audits) => report::parse(env, serde_json::to_string(&audits).unwrap_or_default()),
        Err(e) => Err(errors::to_js(env, &e)),
    })
}

/// Builds the diagnostic bundle (`.tar.gz`, secrets redacted, e-mail addresses masked) at
/// `output`, as `mssante-diag bundle -o OUTPUT` does. Resolves with its manifest: `members`
/// (`name`, `size`, `sha256`) and `missing` (`name`, `reason`). Rejects with code `IO` when the
/// output cannot be written, `CONFIG` or `ENV_FILE` as [`run`] does.
#[napi(ts_return_type = "Promise<{ version: string; created_at: string; host: string; root: string; emails_masked: boolean; members: Array<{ name: string; size: number; sha256: string }>; missing: Array<{ name: string; reason: string }> }>")]
pub fn build_bundle<'env>(env: &'env Env, output: String, options: Option<ProjectOptions>) -> Result<PromiseRaw<'env, Unknown<'env>>> {
    let ProjectOptions { project_dir, config_path, config } = options.unwrap_or_default();
    let job = async move {
        let config = load_config(project_dir.map(PathBuf::from), config_path.map(PathBuf::from), config.as_ref())?;
        let opts = mssante_diag_core::bundle::Options::default();
        mssante_diag_core::bundle::build(Arc::new(config), opts, std::path::Path::new(&output)).await
    };
    env.spawn_future_with_callback(async move { Ok(job.await) }, |env, result| match result {
        Ok(manifest) => report::parse(env, serde_json::to_string(&manifest).unwrap_or_default()),
        Err(e) => Err(errors::to_js(env, &e)),
    })
}

/// Options of [`summarize_logs`]. Every field is optional.
#[napi(object)]
#[derive(Default)]
pub struct LogOptions {
    /// Leave out lines before: RFC 3339, a date, or an age (`"30m"`, `"1h"`, `"2d"`).
    pub since: Option<String>,
    /// Leave out lines after (same forms).
    pub until: Option<String>,
    /// Hide client addresses and e-mail addresses.
    pub mask_addresses: Option<bool>,
}

/// Summarises Postfix and Dovecot log files as `mssante-diag logs summarize --format json`
/// does (plain or `.gz`, read in order as one log). Resolves with the summary object; rejects
/// with code `CONFIG` (a bad `since`/`until`) or `IO` (a file unreadable).
#[napi(ts_return_type = "Promise<Record<string, unknown>>")]
pub fn summarize_logs<'env>(env: &'env Env, paths: Vec<String>, options: Option<LogOptions>) -> Result<PromiseRaw<'env, Unknown<'env>>> {
    use mssante_diag_core::maillog;
    let LogOptions { since, until, mask_addresses } = options.unwrap_or_default();
    let job = async move {
        let opts = maillog::Options::from_text(since.as_deref(), until.as_deref(), mask_addresses.unwrap_or(false))?;
        let input = maillog::Input::Files(paths.into_iter().map(PathBuf::from).collect());
        tokio::task::spawn_blocking(move || maillog::summarize(&input, &opts))
            .await
            .map_err(|e| mssante_diag_core::Error::Io { path: "<summarize_logs>".into(), source: std::io::Error::other(e.to_string()) })?
    };
    env.spawn_future_with_callback(async move { Ok(job.await) }, |env, result| match result {
        Ok(summary) => report::parse(env, serde_json::to_string(&summary).unwrap_or_default()),
        Err(e) => Err(errors::to_js(env, &e)),
    })
}

/// What [`serve`] takes besides the address.
#[napi(object)]
#[derive(Default)]
pub struct ServeOptions {
    /// The platform's project folder. Default: the current working directory.
    pub project_dir: Option<String>,
    /// Configuration file to read instead of the project's `mssante-diag.toml`.
    pub config_path: Option<String>,
    /// Overrides applied last, shaped like `mssante-diag.toml`.
    #[napi(ts_type = "Record<string, unknown>")]
    pub config: Option<Value>,
    /// Subsystems or check ids each scrape runs. Default: every check.
    pub only: Option<Vec<String>>,
    /// Seconds a report is served again before a scrape runs the checks anew. Default: 30.
    pub cache_secs: Option<u32>,
    /// Connections served at once. Default: 32.
    pub max_connections: Option<u32>,
}

/// A running exporter of [`serve`]: its address, and `close()` to stop it. Keep a reference
/// while it should serve: once collected, it stops.
#[napi]
pub struct Exporter {
    address: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

#[napi]
impl Exporter {
    /// `host:port` it listens on (the port chosen when 0 was asked for).
    #[napi(getter)]
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// Stops serving (again: no effect).
    #[napi]
    pub fn close(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The Prometheus exporter of `mssante-diag serve --listen ADDR`: binds `listen`
/// (`"127.0.0.1:9917"`, port 0 for a free one) and serves `/metrics` (the checks run per
/// scrape, a report cached `cacheSecs` and shared by concurrent scrapes) until `close()`.
/// Resolves once listening; rejects with code `CONFIG`, `ENV_FILE`, `UNKNOWN_CHECK` or `IO`
/// (an address that cannot be bound) as [`run`] does.
#[napi(ts_return_type = "Promise<Exporter>")]
pub fn serve<'env>(env: &'env Env, listen: String, options: Option<ServeOptions>) -> Result<PromiseRaw<'env, Exporter>> {
    use mssante_diag_core::serve::{Options, Server, DEFAULT_CACHE_SECS, DEFAULT_MAX_CONNECTIONS};
    let ServeOptions { project_dir, config_path, config, only, cache_secs, max_connections } = options.unwrap_or_default();
    let listen: std::net::SocketAddr = listen.parse().map_err(|e| napi::Error::new(napi::Status::InvalidArg, format!("listen `{listen}`: {e}")))?;
    let job = async move {
        let config = load_config(project_dir.map(PathBuf::from), config_path.map(PathBuf::from), config.as_ref())?;
        let options = Options {
            cache: std::time::Duration::from_secs(cache_secs.map_or(DEFAULT_CACHE_SECS, u64::from)),
            selection: Selection::from_names(only.unwrap_or_default()),
            max_connections: max_connections.map_or(DEFAULT_MAX_CONNECTIONS, |m| usize::try_from(m).unwrap_or(usize::MAX)),
            ..Options::new(listen)
        };
        let server = Server::bind(Arc::new(config), options).await?;
        let address = server.local_addr()?.to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            tokio::select! {
                _ = server.run() => {}
                _ = stopped => {}
            }
        });
        Ok::<_, mssante_diag_core::Error>((address, stop))
    };
    env.spawn_future_with_callback(async move { Ok(job.await) }, |env, result| match result {
        Ok((address, stop)) => Ok(Exporter { address, stop: Some(stop) }),
        Err(e) => Err(errors::to_js(env, &e)),
    })
}

/// The effective configuration, as `mssante-diag config --format json` shows it: every value
/// with its source (built-in default, `.env` variable, configuration file key, override);
/// secrets as `[REDACTED]` with the variable they are read from. Throws with code `CONFIG` or
/// `ENV_FILE` as [`run`] rejects.
#[napi(ts_return_type = "{ project_dir: string; env_file: string | null; config_file: string | null; entries: Array<{ key: string; value: unknown; source: { kind: 'default' | 'env' | 'file' | 'override'; variables?: Array<{ name: string; origin: 'env_file' | 'environment' | 'unset' }>; file?: string; key?: string }; secret: boolean }>; notices: Array<{ id: string; message: string }> }")]
pub fn effective_config(env: &Env, options: Option<ProjectOptions>) -> Result<Value> {
    let ProjectOptions { project_dir, config_path, config } = options.unwrap_or_default();
    let config = load_config(project_dir.map(PathBuf::from), config_path.map(PathBuf::from), config.as_ref()).map_err(|e| errors::to_js(env, &e))?;
    serde_json::to_value(mssante_diag_core::provenance::effective_config(&config)).map_err(|e| napi::Error::from_reason(e.to_string()))
}

/// JSON Schema of the report document (as `mssante-diag schema`).
#[napi(ts_return_type = "Record<string, unknown>")]
pub fn report_schema() -> Value {
    Report::json_schema()
}

/// Version of mssante-diag (the core), as written into every report.
#[napi]
pub fn version() -> &'static str {
    mssante_diag_core::VERSION
}
