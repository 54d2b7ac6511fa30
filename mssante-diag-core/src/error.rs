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

    /// The message with its whole source chain, on one line, each cause once (a message
    /// that already ends with its cause's text does not repeat it).
    #[must_use]
    pub fn chain(&self) -> String {
        chain_of(self)
    }
}

/// Any error with its source chain on one line, each cause once.
#[must_use]
pub fn chain_of(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_prints_each_cause_once() {
        let e = Error::Io {
            path: "/srv/p/report.json".into(),
            source: std::io::Error::from_raw_os_error(13),
        };
        let chain = e.chain();
        assert_eq!(chain.matches("os error 13").count(), 1, "{chain}");
        assert!(
            chain.starts_with("/srv/p/report.json: Permission denied"),
            "{chain}"
        );
        // A cause that adds something is kept.
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        assert_eq!(
            chain_of(&Outer(std::io::Error::other("inner"))),
            "outer: inner"
        );
    }
}
