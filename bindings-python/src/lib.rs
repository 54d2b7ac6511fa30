//! Python bindings of mssante-diag: the extension module `mssante_diag._native`.
//!
//! Conversions only: every function converts its arguments, calls the core,
//! and converts the result or the error. The Python package `mssante_diag`
//! (in `python/`) adds the asyncio `run` coroutine and `mssante_diag.checks`.

mod config;
mod convert;
mod errors;
mod report;

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use mssante_diag_core::output::{Format, Style};
use mssante_diag_core::{catalogue as core_catalogue, Config, Report, Selection};

use crate::config::PyConfig;
use crate::errors::IntoPyResult;
use crate::report::{PyCheckResult, PyMetric, PyRemedy, PyReport};

/// How often a blocking run wakes up to let Python handle signals (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The configuration and selection of a run, checked before it starts
/// (an unknown check name raises at the call).
fn prepare(config: Option<&Bound<'_, PyConfig>>, only: Option<Vec<String>>, quick: bool) -> PyResult<(Arc<Config>, Selection)> {
    let selection = match (only, quick) {
        (Some(_), true) => return Err(PyValueError::new_err("give `only` or `quick`, not both")),
        (Some(names), false) => Selection::from_names(names),
        (None, true) => Selection::Quick,
        (None, false) => Selection::All,
    };
    let config = PyConfig::or_default(config)?;
    selection.resolve(&config).or_raise()?;
    Ok((config, selection))
}

/// Runs checks on the shared tokio runtime; returns an asyncio future of the `Report`.
/// Cancelling the future cancels the run.
#[pyfunction]
#[pyo3(signature = (config = None, only = None, quick = false))]
fn run<'py>(py: Python<'py>, config: Option<&Bound<'py, PyConfig>>, only: Option<Vec<String>>, quick: bool) -> PyResult<Bound<'py, PyAny>> {
    let (config, selection) = prepare(config, only, quick)?;
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        mssante_diag_core::run(config, &selection).await.map(PyReport::from).or_raise()
    })
}

/// Runs checks and blocks until the report is ready, without holding the
/// interpreter lock; Ctrl-C (or any signal handler raising) cancels the run.
#[pyfunction]
#[pyo3(signature = (config = None, only = None, quick = false))]
fn run_sync(py: Python<'_>, config: Option<&Bound<'_, PyConfig>>, only: Option<Vec<String>>, quick: bool) -> PyResult<PyReport> {
    let (config, selection) = prepare(config, only, quick)?;
    let runtime = pyo3_async_runtimes::tokio::get_runtime();
    let mut running = std::pin::pin!(mssante_diag_core::run(config, &selection));
    loop {
        match py.detach(|| runtime.block_on(async { tokio::time::timeout(SIGNAL_POLL, running.as_mut()).await })) {
            Ok(report) => return report.map(PyReport::from).or_raise(),
            Err(_) => py.check_signals()?,
        }
    }
}

/// The catalogue of checks: `id`, `subsystem`, `title`, `guide`, `quick`, `remediation` (as `mssante-diag list`),
/// citing the built-in defaults' values (`{postgres.user}`...).
#[pyfunction]
#[pyo3(signature = (lang = None))]
fn catalogue<'py>(py: Python<'py>, lang: Option<&str>) -> PyResult<Bound<'py, PyAny>> {
    let lang = convert::lang(lang)?;
    let vars = Config::default().vars();
    let items: Vec<_> = core_catalogue().into_iter().map(|d| d.info(lang, &vars)).collect();
    convert::to_py(py, &serde_json::to_value(items).map_err(|e| PyValueError::new_err(e.to_string()))?)
}

/// Subsystem names, in catalogue order.
#[pyfunction]
fn subsystems() -> Vec<&'static str> {
    mssante_diag_core::subsystems()
}

/// What a check decides and the guide's remedy (as `mssante-diag explain ID`), citing the built-in defaults' values.
#[pyfunction]
#[pyo3(signature = (id, lang = None))]
fn explain<'py>(py: Python<'py>, id: &str, lang: Option<&str>) -> PyResult<Bound<'py, PyAny>> {
    let lang = convert::lang(lang)?;
    let info = mssante_diag_core::find(id).or_raise()?.info(lang, &Config::default().vars());
    convert::to_py(py, &serde_json::to_value(info).map_err(|e| PyValueError::new_err(e.to_string()))?)
}

/// A report in one of the CLI's formats: `human`, `json`, `nagios`, `prometheus`.
#[pyfunction]
#[pyo3(signature = (report, format = "human", *, color = false, lang = None))]
fn render(report: &Bound<'_, PyReport>, format: &str, color: bool, lang: Option<&str>) -> PyResult<String> {
    let format: Format = format.parse().map_err(PyValueError::new_err)?;
    let style = Style { color, lang: convert::lang(lang)? };
    Ok(mssante_diag_core::output::render(&report.get().inner, format, style))
}

/// Decodes and judges a JWT as `mssante-diag jwt TOKEN` does (`auth.jwt` alone: expiry, clock
/// skew, signature with the configured secret or PSC's keys); returns the report as a dict.
/// The token, its signature and the secret never enter it. Blocks without holding the
/// interpreter lock (PSC's keys may be fetched).
#[pyfunction]
#[pyo3(signature = (token, config = None))]
fn decode_jwt<'py>(py: Python<'py>, token: &str, config: Option<&Bound<'py, PyConfig>>) -> PyResult<Bound<'py, PyAny>> {
    let config = PyConfig::or_default(config)?;
    let runtime = pyo3_async_runtimes::tokio::get_runtime();
    let report = py.detach(|| runtime.block_on(mssante_diag_core::checks::auth::decode_jwt(config, token))).or_raise()?;
    convert::serde_to_py(py, &report)
}

/// Reconciles the platform's mailboxes with the BALs the Annuaire Santé publishes, as
/// `mssante-diag annuaire reconcile [--mask] --format json` does (`annuaire.mailboxes` alone);
/// returns the report as a dict, the full lists in the check's details, unlisted BALs counted
/// only. Blocks without holding the interpreter lock.
/// The effective configuration, as `mssante-diag config --format json` shows it: every value
/// with its source (built-in default, `.env` variable, configuration file key, override);
/// secrets as `[REDACTED]` with the variable they are read from.
#[pyfunction]
#[pyo3(signature = (config = None))]
fn effective_config<'py>(py: Python<'py>, config: Option<&Bound<'py, PyConfig>>) -> PyResult<Bound<'py, PyAny>> {
    let config = PyConfig::or_default(config)?;
    convert::serde_to_py(py, &mssante_diag_core::provenance::effective_config(&config))
}

#[pyfunction]
#[pyo3(signature = (config = None, mask = false))]
fn reconcile_annuaire<'py>(py: Python<'py>, config: Option<&Bound<'py, PyConfig>>, mask: bool) -> PyResult<Bound<'py, PyAny>> {
    let config = PyConfig::or_default(config)?;
    let runtime = pyo3_async_runtimes::tokio::get_runtime();
    let report = py.detach(|| runtime.block_on(mssante_diag_core::checks::annuaire::reconcile_annuaire(config, mask))).or_raise()?;
    convert::serde_to_py(py, &report)
}

/// Builds the diagnostic bundle (`.tar.gz`, secrets redacted) at `output`, as
/// `mssante-diag bundle -o OUTPUT` does; returns its manifest as a dict (`members` with size
/// and SHA-256, `missing` with the reasons). Blocks without holding the interpreter lock.
#[pyfunction]
#[pyo3(signature = (output, config = None, mask_emails = true))]
fn build_bundle<'py>(py: Python<'py>, output: std::path::PathBuf, config: Option<&Bound<'py, PyConfig>>, mask_emails: bool) -> PyResult<Bound<'py, PyAny>> {
    use mssante_diag_core::bundle;
    let config = PyConfig::or_default(config)?;
    let runtime = pyo3_async_runtimes::tokio::get_runtime();
    let opts = bundle::Options { mask_emails, ..bundle::Options::default() };
    let manifest = py.detach(|| runtime.block_on(bundle::build(config, opts, &output))).or_raise()?;
    convert::serde_to_py(py, &manifest)
}

/// Audits the DNS of mail domains as `mssante-diag dns DOMAIN... --format json` does; returns
/// `{status, addresses, domains}`: the platform's address checks once, one dict
/// `{domain, status, checks}` per domain, in order. Blocks without holding the
/// interpreter lock.
#[pyfunction]
#[pyo3(signature = (domains, config = None))]
fn audit_dns<'py>(py: Python<'py>, domains: Vec<String>, config: Option<&Bound<'py, PyConfig>>) -> PyResult<Bound<'py, PyAny>> {
    let config = PyConfig::or_default(config)?;
    let runtime = pyo3_async_runtimes::tokio::get_runtime();
    let audit = py.detach(|| runtime.block_on(mssante_diag_core::checks::dns::audit(&config, &domains))).or_raise()?;
    convert::serde_to_py(py, &audit)
}

/// Summarises Postfix and Dovecot log files as `mssante-diag logs summarize --format json`
/// does (plain or `.gz`, read in order as one log; `-` is stdin); returns the summary as a
/// dict. `since` / `until`: RFC 3339, a date or an age (`"1h"`, `"2d"`). Blocks without
/// holding the interpreter lock.
#[pyfunction]
#[pyo3(signature = (paths, since = None, until = None, mask_addresses = false))]
fn summarize_logs<'py>(py: Python<'py>, paths: Vec<std::path::PathBuf>, since: Option<&str>, until: Option<&str>, mask_addresses: bool) -> PyResult<Bound<'py, PyAny>> {
    use mssante_diag_core::maillog;
    let opts = maillog::Options::from_text(since, until, mask_addresses).or_raise()?;
    let summary = py.detach(|| maillog::summarize(&maillog::Input::Files(paths), &opts)).or_raise()?;
    convert::serde_to_py(py, &summary)
}

/// The Prometheus exporter of `mssante-diag serve --listen ADDR`: an asyncio future that binds
/// `listen` (`"127.0.0.1:9917"`) and serves `/metrics` (the checks run per scrape, a report
/// cached `cache_secs` and shared by concurrent scrapes) until it is cancelled. A bad address,
/// a bound port or an unknown check raises at the call or when awaited.
#[pyfunction]
#[pyo3(signature = (listen, config = None, only = None, cache_secs = mssante_diag_core::serve::DEFAULT_CACHE_SECS, max_connections = mssante_diag_core::serve::DEFAULT_MAX_CONNECTIONS))]
fn serve<'py>(py: Python<'py>, listen: &str, config: Option<&Bound<'py, PyConfig>>, only: Option<Vec<String>>, cache_secs: u64, max_connections: usize) -> PyResult<Bound<'py, PyAny>> {
    use mssante_diag_core::serve::{Options, Server};
    let listen = listen.parse().map_err(|e| PyValueError::new_err(format!("listen `{listen}`: {e}")))?;
    let (config, selection) = prepare(config, only, false)?;
    let options = Options { cache: Duration::from_secs(cache_secs), selection, max_connections, ..Options::new(listen) };
    pyo3_async_runtimes::tokio::future_into_py(py, async move { Server::bind(config, options).await.or_raise()?.run().await.or_raise() })
}

/// The JSON Schema of the report document.
#[pyfunction]
fn report_schema(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    convert::to_py(py, &Report::json_schema())
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyConfig>()?;
    m.add_class::<PyReport>()?;
    m.add_class::<PyCheckResult>()?;
    m.add_class::<PyMetric>()?;
    m.add_class::<PyRemedy>()?;
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(run_sync, m)?)?;
    m.add_function(wrap_pyfunction!(serve, m)?)?;
    m.add_function(wrap_pyfunction!(catalogue, m)?)?;
    m.add_function(wrap_pyfunction!(subsystems, m)?)?;
    m.add_function(wrap_pyfunction!(explain, m)?)?;
    m.add_function(wrap_pyfunction!(render, m)?)?;
    m.add_function(wrap_pyfunction!(report_schema, m)?)?;
    m.add_function(wrap_pyfunction!(decode_jwt, m)?)?;
    m.add_function(wrap_pyfunction!(build_bundle, m)?)?;
    m.add_function(wrap_pyfunction!(audit_dns, m)?)?;
    m.add_function(wrap_pyfunction!(reconcile_annuaire, m)?)?;
    m.add_function(wrap_pyfunction!(summarize_logs, m)?)?;
    m.add_function(wrap_pyfunction!(effective_config, m)?)?;
    m.add("__version__", mssante_diag_core::VERSION)?;
    m.add("DEFAULT_TIMEOUT_SECS", mssante_diag_core::config::DEFAULT_TIMEOUT_SECS)?;
    Ok(())
}
