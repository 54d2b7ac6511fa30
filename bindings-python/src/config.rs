//! `mssante_diag.Config`: the core's configuration, loaded or built from keyword arguments.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use mssante_diag_core::config::TimeoutState;
use mssante_diag_core::Config;

use crate::convert;
use crate::errors::IntoPyResult;

/// What a run needs to know: endpoints, credentials (by variable name), thresholds, timeouts.
#[pyclass(name = "Config", module = "mssante_diag", frozen)]
pub struct PyConfig {
    /// The core configuration (shared with the runs using it).
    pub inner: Arc<Config>,
}

impl PyConfig {
    fn wrap(config: Config, overrides: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let config = match overrides {
            Some(kw) if !kw.is_empty() => config.with_overrides(&convert::from_py(kw.as_any())?).or_raise()?,
            _ => config,
        };
        Ok(Self { inner: Arc::new(config) })
    }

    /// The configuration of an optional `Config` argument: the zero-config one of the
    /// current folder when none is given.
    pub fn or_default(config: Option<&Bound<'_, PyConfig>>) -> PyResult<Arc<Config>> {
        match config {
            Some(c) => Ok(c.get().inner.clone()),
            None => Config::load(Path::new("."), None).map(Arc::new).or_raise(),
        }
    }
}

#[pymethods]
impl PyConfig {
    /// Loads a project folder as the CLI does (its `.env`, then `config_file` or its
    /// `mssante-diag.toml`), then applies keyword overrides shaped like the TOML file.
    #[new]
    #[pyo3(signature = (project = None, *, config_file = None, **overrides))]
    fn new(project: Option<PathBuf>, config_file: Option<PathBuf>, overrides: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let project = project.unwrap_or_else(|| PathBuf::from("."));
        Self::wrap(Config::load(&project, config_file.as_deref()).or_raise()?, overrides)
    }

    /// The built-in defaults (the guide's layout and ports), reading no file, with overrides.
    #[staticmethod]
    #[pyo3(signature = (**overrides))]
    fn defaults(overrides: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Self::wrap(Config::default(), overrides)
    }

    /// Parses TOML text (the shape of `mssante-diag.toml`) over the defaults of `project`.
    #[staticmethod]
    #[pyo3(signature = (text, project = None))]
    fn from_toml(text: &str, project: Option<PathBuf>) -> PyResult<Self> {
        let project = project.unwrap_or_else(|| PathBuf::from("."));
        Self::wrap(Config::from_toml_str(text, &project).or_raise()?, None)
    }

    /// A copy with keyword overrides applied.
    #[pyo3(signature = (**overrides))]
    fn with_overrides(&self, overrides: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Self::wrap((*self.inner).clone(), overrides)
    }

    /// The platform's project folder.
    #[getter]
    fn project_dir(&self) -> PathBuf {
        self.inner.project_dir.clone()
    }

    /// The configuration file read, if any.
    #[getter]
    fn source(&self) -> Option<PathBuf> {
        self.inner.source.clone()
    }

    /// Timeout of every network or process step, in seconds.
    #[getter]
    fn timeout_secs(&self) -> f64 {
        self.inner.timeout_secs
    }

    /// Status of a target that does not answer in time: `"critical"` (default) or `"unknown"`.
    #[getter]
    fn timeout_state(&self) -> &'static str {
        match self.inner.timeout_state {
            TimeoutState::Critical => "critical",
            TimeoutState::Unknown => "unknown",
        }
    }

    /// Language of messages, `"en"` or `"fr"`.
    #[getter]
    fn lang(&self) -> &'static str {
        self.inner.lang.pick("en", "fr")
    }

    /// Subsystems to run; empty means all.
    #[getter]
    fn subsystems(&self) -> Vec<String> {
        self.inner.subsystems.clone()
    }

    /// The whole configuration as a dict (the TOML shape; inline secrets show as `[REDACTED]`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::serde_to_py(py, &*self.inner)
    }

    fn __repr__(&self) -> String {
        let source = self.inner.source.as_ref().map_or_else(|| "None".to_owned(), |s| format!("'{}'", s.display()));
        format!("Config(project_dir='{}', source={source})", self.inner.project_dir.display())
    }
}
