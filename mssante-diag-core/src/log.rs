//! The tool's log: `tracing` events of the core (configuration read, each check's start and
//! end, HTTP requests, commands run, PostgreSQL and Redis connections, scrapes), written to
//! standard error when asked (`-v` info, `-vv` debug, `-vvv` trace, or [`ENV_VAR`]), never to
//! standard output (JSON, Nagios and Prometheus output stay parseable). Nothing is logged by
//! default.
//!
//! No event carries a secret: URLs go through [`crate::config::redact_url`], passwords and
//! tokens are never a field (they only travel as [`crate::config::Secret`]), connection events
//! name host, port and user only.

use tracing_subscriber::filter::{EnvFilter, LevelFilter};

use crate::error::{Error, Result};

/// Environment variable holding the log's directives when no `-v` is given: a level
/// (`debug`) applies to mssante-diag's own events; `target=level` directives are as
/// `RUST_LOG`'s (`debug,reqwest=debug`).
pub const ENV_VAR: &str = "MSSANTE_DIAG_LOG";

/// The tool's own targets (the core and the CLI).
const OWN_TARGETS: [&str; 2] = ["mssante_diag_core", "mssante_diag"];

/// Level of the libraries' events unless a directive names them.
const LIBRARIES: LevelFilter = LevelFilter::WARN;

/// The filter directives for `verbosity` (the count of `-v`, which wins) or else the value of
/// [`ENV_VAR`]; `None`: no log.
///
/// # Errors
/// [`Error::Config`] for a value of [`ENV_VAR`] that is not a filter (named, with the reason).
pub fn directives(verbosity: u8, env: Option<&str>) -> Result<Option<String>> {
    let own = |level: LevelFilter| OWN_TARGETS.map(|t| format!("{t}={level}")).join(",");
    let level = match verbosity {
        0 => None,
        1 => Some(LevelFilter::INFO),
        2 => Some(LevelFilter::DEBUG),
        _ => Some(LevelFilter::TRACE),
    };
    if let Some(level) = level {
        return Ok(Some(format!("{LIBRARIES},{}", own(level))));
    }
    let Some(env) = env.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let mut out = vec![LIBRARIES.to_string()];
    for d in env.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match d.parse::<LevelFilter>() {
            Ok(level) => out.push(own(level)),
            Err(_) => out.push(d.to_owned()),
        }
    }
    let text = out.join(",");
    parse(&text)?;
    Ok(Some(text))
}

/// The filter of `text`; its error names [`ENV_VAR`].
fn parse(text: &str) -> Result<EnvFilter> {
    EnvFilter::builder().parse(text).map_err(|e| Error::Config {
        file: ENV_VAR.into(),
        key: "-".into(),
        reason: e.to_string(),
    })
}

/// Installs the log on standard error as [`directives`] says; `false` when no log is asked
/// for (nothing installed) or one was already installed.
///
/// # Errors
/// As [`directives`].
pub fn init_stderr(verbosity: u8, env: Option<&str>) -> Result<bool> {
    let Some(text) = directives(verbosity, env)? else {
        return Ok(false);
    };
    let filter = parse(&text)?;
    Ok(tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init()
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_levels_are_the_tools_and_bad_values_are_named() {
        assert_eq!(directives(0, None).ok().flatten(), None);
        assert_eq!(directives(0, Some(" ")).ok().flatten(), None);
        assert_eq!(
            directives(2, Some("trace")).ok().flatten().as_deref(),
            Some("warn,mssante_diag_core=debug,mssante_diag=debug")
        );
        assert_eq!(
            directives(1, None).ok().flatten().as_deref(),
            Some("warn,mssante_diag_core=info,mssante_diag=info")
        );
        assert_eq!(
            directives(9, None).ok().flatten().as_deref(),
            Some("warn,mssante_diag_core=trace,mssante_diag=trace")
        );
        assert_eq!(
            directives(0, Some("debug,reqwest=info"))
                .ok()
                .flatten()
                .as_deref(),
            Some("warn,mssante_diag_core=debug,mssante_diag=debug,reqwest=info")
        );
        let e = directives(0, Some("reqwest=loud")).expect_err("not a level");
        assert!(e.to_string().contains(ENV_VAR), "{e}");
    }
}
