//! Errors that stop a run before any check starts. A failed check is not an
//! error: it is a [`crate::CheckResult`] with a non-ok status.

use std::path::PathBuf;

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file is unreadable or invalid; fix the named key.
    #[error("{}: {key}: {reason}", file.display())]
    Config {
        /// The file at fault.
        file: PathBuf,
        /// The key at fault (dotted path), or `-` when the file as a whole is.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The platform's `.env` exists but cannot be read or parsed. The message names the
    /// file, the line and the key, never the line's text (it may hold a password).
    #[error("{path}{}{}: cannot read the environment file: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default(), key.as_ref().map(|k| format!(" (key {k})")).unwrap_or_default(), path = path.display())]
    EnvFile {
        /// The `.env` file.
        path: PathBuf,
        /// The line at fault (1-based), when one is.
        line: Option<usize>,
        /// The key of that line, when it has one.
        key: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// A check id or subsystem name that the catalogue does not have; `mssante-diag list` shows them.
    #[error("unknown check or subsystem `{0}` (see `mssante-diag list`)")]
    UnknownCheck(String),
    /// An I/O error outside any check (writing a report or bundle).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Stable machine-readable code of the error kind, used by the bindings
    /// (`error.code` in Node, the exception class in Python).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config { .. } => "CONFIG",
            Error::EnvFile { .. } => "ENV_FILE",
            Error::UnknownCheck(_) => "UNKNOWN_CHECK",
            Error::Io { .. } => "IO",
        }
    }

    /// The message with its whole source chain, on one line.
    #[must_use]
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut src = std::error::Error::source(self);
        while let Some(s) = src {
            out.push_str(": ");
            out.push_str(&s.to_string());
            src = s.source();
        }
        out
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
