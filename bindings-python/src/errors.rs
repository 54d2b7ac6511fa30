//! The core's error kinds as a Python exception hierarchy.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyString;

use mssante_diag_core::Error;

create_exception!(mssante_diag, DiagError, PyException, "Base of every mssante-diag error; `code` is the core's error kind.");
create_exception!(mssante_diag, ConfigError, DiagError, "Invalid configuration; `file`, `key` and `reason` name what to fix.");
create_exception!(
    mssante_diag,
    EnvFileError,
    DiagError,
    "The platform's `.env` exists but cannot be read or parsed; `path`, `line` and `key` name what to fix (never the value)."
);
create_exception!(mssante_diag, UnknownCheckError, DiagError, "A check id or subsystem the catalogue does not have; `name` is the one given.");
create_exception!(mssante_diag, DiagIOError, DiagError, "An I/O error outside any check; `path` names the file.");

/// Registers the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("DiagError", py.get_type::<DiagError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("EnvFileError", py.get_type::<EnvFileError>())?;
    m.add("UnknownCheckError", py.get_type::<UnknownCheckError>())?;
    m.add("DiagIOError", py.get_type::<DiagIOError>())?;
    Ok(())
}

/// The Python exception of a core error: its class from the error kind, its message
/// with the whole source chain, and the error's fields as attributes.
pub fn to_py(err: &Error) -> PyErr {
    let message = err.chain();
    Python::attach(|py| {
        let text = |s: &str| PyString::new(py, s).into_any();
        let (exc, attrs): (PyErr, Vec<(&str, Bound<'_, PyAny>)>) = match err {
            Error::Config { file, key, reason } => (
                ConfigError::new_err(message),
                vec![("file", text(&file.display().to_string())), ("key", text(key)), ("reason", text(reason))],
            ),
            Error::EnvFile { path, line, key, reason } => {
                let Ok(line) = line.into_pyobject(py);
                let Ok(key) = key.as_deref().into_pyobject(py);
                let attrs = vec![("path", text(&path.display().to_string())), ("line", line), ("key", key), ("reason", text(reason))];
                (EnvFileError::new_err(message), attrs)
            }
            Error::UnknownCheck(name) => (UnknownCheckError::new_err(message), vec![("name", text(name))]),
            Error::Io { path, .. } => (DiagIOError::new_err(message), vec![("path", text(&path.display().to_string()))]),
            _ => (DiagError::new_err(message), Vec::new()),
        };
        let value = exc.value(py);
        let set = std::iter::once(("code", text(err.code()))).chain(attrs).try_for_each(|(k, v)| value.setattr(k, v));
        set.map_or_else(|e| e, |()| exc)
    })
}

/// Shorthand for `map_err` on core results.
pub trait IntoPyResult<T> {
    /// The result with its error as a Python exception.
    fn or_raise(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(|e| to_py(&e))
    }
}
