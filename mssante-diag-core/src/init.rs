//! `mssante-diag init`: a commented `mssante-diag.toml` holding what the tool discovered in the
//! project folder (values derived from `.env`, overrides), every other value as a commented
//! default. Never a secret: secrets stay references to variables (`password_env = "VAR"`).
//! An existing file is never overwritten.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use crate::config::{Config, CONFIG_FILE_NAME};
use crate::error::{Error, Result};
use crate::provenance::{effective_config, Entry, Source, VarOrigin};

/// Whether an entry is written as an active line: discovered in `.env` or set by an override,
/// or a reference to the variable holding a secret. Values from the process environment or
/// the locale stay commented (they belong to the shell, not to the platform).
fn active(e: &Entry) -> bool {
    match &e.source {
        Source::Override | Source::File { .. } => true,
        Source::Env { variables } => variables.iter().all(|v| v.origin == VarOrigin::EnvFile),
        Source::Default => e.key.ends_with("_env"),
    }
}

/// A JSON value as a TOML value (inline form).
fn toml_value(v: &serde_json::Value) -> Option<String> {
    toml::Value::try_from(v).ok().map(|t| t.to_string())
}

/// The text `init` writes for `config`: header, top-level keys, then one `[section]` each.
#[must_use]
pub fn render(config: &Config) -> String {
    let effective = effective_config(config);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# mssante-diag configuration of {}, written by `mssante-diag init`.",
        effective.project_dir
    );
    let _ = writeln!(
        out,
        "# Active lines: what was discovered (from .env) or given on the command line."
    );
    let _ = writeln!(
        out,
        "# Commented lines: built-in defaults, shown for reference."
    );
    let _ = writeln!(
        out,
        "# Secrets are never written here: each is read from the variable its *_env key names"
    );
    let _ = writeln!(out, "# (process environment first, then .env). `mssante-diag config` shows every value's source.");
    let mut sections: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    let mut top = Vec::new();
    for e in effective.entries.iter().filter(|e| !e.secret) {
        match e.key.split_once('.') {
            Some((section, _)) => sections.entry(section).or_default().push(e),
            None => top.push(e),
        }
    }
    let line = |out: &mut String, key: &str, e: &Entry| {
        let Some(value) = toml_value(&e.value) else {
            return;
        };
        let why = match &e.source {
            Source::Env { variables } => format!(
                "  # from .env {}",
                variables
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Source::Override => "  # given on the command line".to_owned(),
            _ => String::new(),
        };
        let comment = if active(e) { "" } else { "# " };
        let _ = writeln!(out, "{comment}{key} = {value}{why}");
    };
    out.push('\n');
    for e in top {
        line(&mut out, &e.key, e);
    }
    for (section, entries) in sections {
        let _ = writeln!(out, "\n[{section}]");
        for e in entries {
            let key = e.key.split_once('.').map_or(e.key.as_str(), |(_, k)| k);
            line(&mut out, key, e);
        }
    }
    out
}

/// Writes [`render`]'s text to `mssante-diag.toml` of the project folder; its path.
///
/// # Errors
/// [`Error::Io`] when the file exists already (it is never overwritten) or cannot be written.
pub fn write(config: &Config) -> Result<PathBuf> {
    let path = config.project_dir.join(CONFIG_FILE_NAME);
    let text = render(config);
    let io = |source: std::io::Error| Error::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                io(std::io::Error::new(
                    e.kind(),
                    "exists already, not overwritten (edit it, or move it away and run init again)",
                ))
            } else {
                io(e)
            }
        })?;
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provenance::effective_config;

    #[test]
    fn written_file_loads_back_to_the_same_configuration() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(".env"),
            "POSTGRES_PORT=6543\nPOSTGRES_PASSWORD=hunter2\nDOMAIN=example.test\nREDIS_PORT=7001\n",
        )
        .expect("write");
        let before = Config::load(dir.path(), None).expect("loads");
        let path = write(&before).expect("written");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("password_env = \"POSTGRES_PASSWORD\""),
            "{text}"
        );
        assert!(text.contains("port = 6543"), "{text}");
        let after = Config::load(dir.path(), None).expect("the written file is valid");
        let values = |c: &Config| {
            effective_config(c)
                .entries
                .into_iter()
                .map(|e| (e.key, e.value))
                .collect::<Vec<_>>()
        };
        assert_eq!(values(&before), values(&after));
        let e = write(&after).expect_err("never overwrites");
        assert!(e.to_string().contains("exists already"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    }
}
