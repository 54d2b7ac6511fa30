//! Typed views of the core's report model. Every object keeps the core value and
//! serialises it with the core's serde, so `to_json()` is the CLI's JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use mssante_diag_core::{CheckResult, Metric, Remedy, Report};

use crate::convert;

fn pretty(value: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string_pretty(value).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A whole run: every selected check, in catalogue order.
#[pyclass(name = "Report", module = "mssante_diag", frozen)]
pub struct PyReport {
    /// The core report.
    pub inner: Arc<Report>,
}

impl From<Report> for PyReport {
    fn from(report: Report) -> Self {
        Self { inner: Arc::new(report) }
    }
}

#[pymethods]
impl PyReport {
    /// Parses a report JSON document (e.g. the output of `mssante-diag check --format json`).
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        serde_json::from_str::<Report>(text).map(Self::from).map_err(|e| PyValueError::new_err(format!("not a report: {e}")))
    }

    /// Version of the report format.
    #[getter]
    fn schema_version(&self) -> u32 {
        self.inner.schema_version
    }
    /// Version of mssante-diag that produced it.
    #[getter]
    fn version(&self) -> &str {
        &self.inner.version
    }
    /// Host name of the machine that ran the checks.
    #[getter]
    fn host(&self) -> &str {
        &self.inner.host
    }
    /// Start of the run, RFC 3339.
    #[getter]
    fn started_at(&self) -> &str {
        &self.inner.started_at
    }
    /// Wall time of the whole run, in milliseconds.
    #[getter]
    fn duration_ms(&self) -> u64 {
        self.inner.duration_ms
    }
    /// Worst status among the checks.
    #[getter]
    fn status(&self) -> &'static str {
        self.inner.status.as_str()
    }
    /// Exit code of the monitoring-plugins convention for the overall status (0, 1, 2, 3).
    #[getter]
    fn exit_code(&self) -> i32 {
        self.inner.status.exit_code()
    }
    /// Notices about the whole run (e.g. the project folder looks empty), `{"id", "message"}` dicts.
    #[getter]
    fn notices<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::serde_to_py(py, &self.inner.notices)
    }
    /// The results, in catalogue order.
    #[getter]
    fn checks(&self) -> Vec<PyCheckResult> {
        self.inner.checks.iter().cloned().map(PyCheckResult::from).collect()
    }
    /// The result of check `id`, or `None` if it did not run.
    fn check(&self, id: &str) -> Option<PyCheckResult> {
        self.inner.check(id).cloned().map(PyCheckResult::from)
    }
    /// The report as plain Python objects (the JSON document's shape).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::serde_to_py(py, &*self.inner)
    }
    /// The stable JSON document, as `mssante-diag check --format json` prints it.
    fn to_json(&self) -> String {
        self.inner.to_json()
    }
    fn __len__(&self) -> usize {
        self.inner.checks.len()
    }
    fn __repr__(&self) -> String {
        format!("<Report status={} checks={} host='{}'>", self.inner.status, self.inner.checks.len(), self.inner.host)
    }
}

/// The result of one check.
#[pyclass(name = "CheckResult", module = "mssante_diag", frozen)]
pub struct PyCheckResult {
    inner: CheckResult,
}

impl From<CheckResult> for PyCheckResult {
    fn from(inner: CheckResult) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl PyCheckResult {
    /// Stable identifier, `subsystem.name`.
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }
    /// Subsystem the check belongs to.
    #[getter]
    fn subsystem(&self) -> &str {
        &self.inner.subsystem
    }
    /// `ok`, `warning`, `critical`, `unknown` or `skipped`.
    #[getter]
    fn status(&self) -> &'static str {
        self.inner.status.as_str()
    }
    /// One line saying what was found.
    #[getter]
    fn summary(&self) -> &str {
        &self.inner.summary
    }
    /// Structured facts gathered by the check (shape depends on the check).
    #[getter]
    fn details<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_py(py, &self.inner.details)
    }
    /// Measured values with thresholds.
    #[getter]
    fn metrics(&self) -> Vec<PyMetric> {
        self.inner.metrics.iter().cloned().map(|inner| PyMetric { inner }).collect()
    }
    /// What to do about a non-ok status, step by step.
    #[getter]
    fn remediation(&self) -> Vec<PyRemedy> {
        self.inner.remediation.iter().cloned().map(PyRemedy::from).collect()
    }
    /// Wall time the check took, in milliseconds.
    #[getter]
    fn duration_ms(&self) -> u64 {
        self.inner.duration_ms
    }
    /// The result as plain Python objects.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::serde_to_py(py, &self.inner)
    }
    /// The result as JSON (the shape of one item of the report's `checks`).
    fn to_json(&self) -> PyResult<String> {
        pretty(&self.inner)
    }
    fn __repr__(&self) -> String {
        format!("<CheckResult {} {}: {}>", self.inner.id, self.inner.status, self.inner.summary)
    }
}

/// A measured value with the thresholds it was judged against.
#[pyclass(name = "Metric", module = "mssante_diag", frozen)]
pub struct PyMetric {
    inner: Metric,
}

#[pymethods]
impl PyMetric {
    /// Metric name, unique within its check.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    /// Measured value.
    #[getter]
    fn value(&self) -> f64 {
        self.inner.value
    }
    /// Unit: `s`, `ms`, `B`, `%`, or empty for a plain count.
    #[getter]
    fn unit(&self) -> &str {
        &self.inner.unit
    }
    /// Warning threshold, if any.
    #[getter]
    fn warn(&self) -> Option<f64> {
        self.inner.warn
    }
    /// Critical threshold, if any.
    #[getter]
    fn crit(&self) -> Option<f64> {
        self.inner.crit
    }
    /// Smallest possible value, if bounded.
    #[getter]
    fn min(&self) -> Option<f64> {
        self.inner.min
    }
    /// Largest possible value, if bounded.
    #[getter]
    fn max(&self) -> Option<f64> {
        self.inner.max
    }
    /// What the value is about when a check measures several things.
    #[getter]
    fn labels(&self) -> BTreeMap<String, String> {
        self.inner.labels.clone()
    }
    /// The metric as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::serde_to_py(py, &self.inner)
    }
    /// The metric as JSON.
    fn to_json(&self) -> PyResult<String> {
        pretty(&self.inner)
    }
    fn __repr__(&self) -> String {
        format!("<Metric {}={}{}>", self.inner.name, self.inner.value, self.inner.unit)
    }
}

/// One step of a remedy, taken from the troubleshooting guide.
#[pyclass(name = "Remedy", module = "mssante_diag", frozen)]
pub struct PyRemedy {
    inner: Remedy,
}

impl From<Remedy> for PyRemedy {
    fn from(inner: Remedy) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl PyRemedy {
    /// What to do, in the report's language.
    #[getter]
    fn text(&self) -> &str {
        &self.inner.text
    }
    /// The command to run, if the step is one.
    #[getter]
    fn command(&self) -> Option<&str> {
        self.inner.command.as_deref()
    }
    /// The guide section this step comes from, e.g. `Démarrage P2`.
    #[getter]
    fn guide(&self) -> &str {
        &self.inner.guide
    }
    /// True when the step deletes data or interrupts service.
    #[getter]
    fn destructive(&self) -> bool {
        self.inner.destructive
    }
    /// The step as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::serde_to_py(py, &self.inner)
    }
    /// The step as JSON.
    fn to_json(&self) -> PyResult<String> {
        pretty(&self.inner)
    }
    fn __repr__(&self) -> String {
        format!("<Remedy ({}) {}>", self.inner.guide, self.inner.text)
    }
}
