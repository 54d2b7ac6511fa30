//! Where the effective configuration comes from (`mssante-diag config`), and the notices a
//! report carries about its project folder (`mssante-diag` run outside a platform's folder).
//!
//! Provenance is computed, not declared: a value differs from the built-in default because of
//! the `.env` variables its section read (found by tracing [`crate::config::EnvFile`] lookups,
//! then recomputing the defaults without each variable), of a key of the configuration file,
//! or of an override (command-line flag, binding argument). Secrets are never shown: a value
//! read from a variable shows as `[REDACTED]` with the variable's name.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{Config, EnvFile, CONFIG_FILE_NAME, REDACTED};
use crate::lang::Lang;
use crate::model::Notice;

/// Where a variable was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VarOrigin {
    /// The platform's `.env` file.
    EnvFile,
    /// The process environment (which wins over `.env`, as with Docker Compose).
    Environment,
    /// Set nowhere.
    Unset,
}

/// A variable a value was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Variable {
    /// Its name, e.g. `POSTGRES_PORT`.
    pub name: String,
    /// Where it was found.
    pub origin: VarOrigin,
}

/// Where an effective value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The built-in default (the guide's layout and ports).
    Default,
    /// Derived from variables of `.env` or of the process environment.
    Env {
        /// The variables read.
        variables: Vec<Variable>,
    },
    /// A key of the configuration file.
    File {
        /// The file.
        file: String,
        /// The key, `section.name`.
        key: String,
    },
    /// Set after loading: a command-line flag (`--timeout`, `--lang`...) or a binding's overrides.
    Override,
}

/// One value of the effective configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Entry {
    /// Dotted key as in `mssante-diag.toml`: `timeout_secs`, `postgres.port`.
    pub key: String,
    /// The value (secrets as `[REDACTED]`; `null` for a secret whose variable is unset).
    pub value: serde_json::Value,
    /// Where it comes from.
    pub source: Source,
    /// True for a secret (its value is never shown).
    #[serde(default)]
    pub secret: bool,
}

/// The effective configuration of a run, each value with its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EffectiveConfig {
    /// The project folder.
    pub project_dir: String,
    /// The `.env` read, if any.
    pub env_file: Option<String>,
    /// The configuration file read, if any.
    pub config_file: Option<String>,
    /// Every value, sorted by key.
    pub entries: Vec<Entry>,
    /// Notices about the project folder (as at the top of a report).
    pub notices: Vec<Notice>,
    /// Sources that could not be read (an `.env` the user may not read): the run goes on
    /// without their values.
    #[serde(default)]
    pub unreadable: Vec<crate::access::Unreadable>,
}

/// Tracing of `.env` lookups while defaults are computed (this thread only).
#[derive(Default)]
struct Trace {
    seen: Vec<Variable>,
    masked: Option<String>,
}

thread_local! {
    static TRACE: RefCell<Option<Trace>> = const { RefCell::new(None) };
}

/// Called by [`crate::config::EnvFile`] when a variable is found: records it while tracing;
/// false when it must be treated as unset (the variable masked to measure its effect).
pub(crate) fn seen(name: &str, origin: VarOrigin) -> bool {
    TRACE.with(|t| match t.borrow_mut().as_mut() {
        None => true,
        Some(trace) if trace.masked.as_deref() == Some(name) => false,
        Some(trace) => {
            if !trace.seen.iter().any(|v| v.name == name) {
                trace.seen.push(Variable {
                    name: name.to_owned(),
                    origin,
                });
            }
            true
        }
    })
}

/// Runs `f` with `.env` lookups traced (and `masked` treated as unset); the variables found.
fn traced<T>(masked: Option<&str>, f: impl FnOnce() -> T) -> (T, Vec<Variable>) {
    struct Stop;
    impl Drop for Stop {
        fn drop(&mut self) {
            TRACE.with(|t| t.borrow_mut().take());
        }
    }
    TRACE.with(|t| {
        *t.borrow_mut() = Some(Trace {
            seen: Vec::new(),
            masked: masked.map(str::to_owned),
        })
    });
    let stop = Stop;
    let value = f();
    let seen = TRACE
        .with(|t| {
            t.borrow_mut()
                .as_mut()
                .map(|tr| std::mem::take(&mut tr.seen))
        })
        .unwrap_or_default();
    drop(stop);
    (value, seen)
}

/// The configuration's values as dotted keys (objects flattened; arrays are values; an unset
/// option is `null`).
fn flatten(config: &Config) -> BTreeMap<String, serde_json::Value> {
    fn walk(prefix: &str, value: serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    walk(
                        &if prefix.is_empty() {
                            k
                        } else {
                            format!("{prefix}.{k}")
                        },
                        v,
                        out,
                    );
                }
            }
            other => {
                out.insert(prefix.to_owned(), shown(other));
            }
        }
    }
    /// Credentials written in a URL of a plain setting (`tcp://user:password@host`) are not shown.
    fn shown(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::String(s) => {
                serde_json::Value::String(crate::config::redact_url(&s))
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(shown).collect())
            }
            other => other,
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(value) = serde_json::to_value(config) {
        walk("", value, &mut out);
    }
    out
}

fn flatten_table(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, toml::Value>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten_table(&key, t, out),
            other => {
                out.insert(key, other.clone());
            }
        }
    }
}

/// A copy of `env` where `name` holds another value of the same kind (a number plus one, the
/// other boolean, else a longer text).
fn altered(env: &EnvFile, name: &str) -> EnvFile {
    let change = |v: &str| match (v.parse::<i64>(), v) {
        (Ok(n), _) => n.saturating_add(1).to_string(),
        (_, "true") => "false".to_owned(),
        (_, "false") => "true".to_owned(),
        _ => format!("{v}-altered"),
    };
    let pairs: Vec<(String, String)> = env
        .keys()
        .filter_map(|k| {
            env.get(k).map(|v| {
                (
                    k.to_owned(),
                    if k == name { change(v) } else { v.to_owned() },
                )
            })
        })
        .collect();
    let mut copy = EnvFile::from_pairs(pairs);
    copy.path.clone_from(&env.path);
    copy
}

/// The compose file of the project folder, if any.
fn compose_file(dir: &Path) -> Option<std::path::PathBuf> {
    crate::docker::COMPOSE_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

/// The notices of a run on this configuration: a project folder with no `.env`, no
/// configuration file and no compose file is probably not the platform's folder.
#[must_use]
pub fn notices(config: &Config) -> Vec<Notice> {
    let dir = &config.project_dir;
    let env_file = config.env.path.is_some() || dir.join(".env").exists();
    if env_file
        || config.source.is_some()
        || dir.join(CONFIG_FILE_NAME).exists()
        || compose_file(dir).is_some()
    {
        return Vec::new();
    }
    let shown = dir.display();
    let message = crate::tr!(
        config.lang,
        "{shown} has no .env, no {CONFIG_FILE_NAME} and no compose file: it does not look like the platform's folder, so the checks below use built-in defaults. Run from the platform's folder or name it: mssante-diag --project /srv/mssante quick",
        "{shown} ne contient ni .env, ni {CONFIG_FILE_NAME}, ni fichier compose : ce n'est pas le dossier de la plateforme, les vérifications ci-dessous utilisent les valeurs par défaut. Lancer depuis le dossier de la plateforme ou le nommer : mssante-diag --project /srv/mssante quick",
    );
    vec![Notice {
        id: "project.empty".into(),
        message,
    }]
}

/// The effective configuration of `config`, each value with its source.
///
/// `config` is what a run uses: loaded from its project folder (its `.env`, its configuration
/// file), then possibly changed by flags or overrides; a value that differs from what the
/// folder's files give is reported as an override.
#[must_use]
pub fn effective_config(config: &Config) -> EffectiveConfig {
    let dir = config.project_dir.clone();
    // Built-in defaults with `.env`, tracing which variables the sections read.
    let (with_env, read) = traced(None, || Config::defaults(dir.clone(), config.env.clone()));
    let with_env_flat = flatten(&with_env);
    let mut env_sources: BTreeMap<String, Vec<Variable>> = BTreeMap::new();
    for var in &read {
        // A value depends on a variable if it changes when the variable is unset, or (for a
        // `.env` variable, whose value may equal the default) when its value changes.
        let (without, _) = traced(Some(&var.name), || {
            Config::defaults(dir.clone(), config.env.clone())
        });
        let mut changed = vec![without];
        if var.origin == VarOrigin::EnvFile {
            changed.push(Config::defaults(
                dir.clone(),
                altered(&config.env, &var.name),
            ));
        }
        for (key, value) in changed.iter().flat_map(flatten) {
            if with_env_flat.get(&key) != Some(&value) {
                let vars = env_sources.entry(key).or_default();
                if !vars.contains(var) {
                    vars.push(var.clone());
                }
            }
        }
    }
    // The configuration file over those defaults: what the files give, without overrides.
    let (file_keys, from_files) = match config
        .source
        .as_deref()
        .map(|f| (f, std::fs::read_to_string(f)))
    {
        Some((file, Ok(text))) => {
            let mut keys = BTreeMap::new();
            if let Ok(table) = text.parse::<toml::Table>() {
                flatten_table("", &table, &mut keys);
            }
            let files = with_env
                .clone()
                .overlay(&text, file)
                .map_or_else(|_| flatten(config), |c| flatten(&c));
            (keys, files)
        }
        // Unreadable since it was loaded: no override can be told apart.
        Some((_, Err(_))) => (BTreeMap::new(), flatten(config)),
        None => (BTreeMap::new(), with_env_flat.clone()),
    };
    let file_name = config.source.as_ref().map(|f| f.display().to_string());
    let effective = flatten(config);
    let secrets = secret_entries(config, &effective);
    let mut entries: Vec<Entry> = effective
        .iter()
        .filter(|(key, _)| !secrets.iter().any(|s| &s.key == *key))
        .map(|(key, value)| {
            let source = if from_files.get(key) != Some(value) {
                Source::Override
            } else if let (true, Some(file)) = (file_keys.contains_key(key), &file_name) {
                Source::File {
                    file: file.clone(),
                    key: key.clone(),
                }
            } else if key == "lang" {
                locale_source()
            } else if let Some(vars) = env_sources.get(key) {
                Source::Env {
                    variables: vars.clone(),
                }
            } else {
                Source::Default
            };
            let secret = value.as_str().is_some_and(|s| s.contains(REDACTED));
            Entry {
                key: key.clone(),
                value: value.clone(),
                source,
                secret,
            }
        })
        .collect();
    entries.extend(secrets);
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    EffectiveConfig {
        project_dir: dir.display().to_string(),
        env_file: config.env.path.as_ref().map(|p| p.display().to_string()),
        config_file: file_name,
        entries,
        notices: notices(config),
        unreadable: config.env.unreadable.iter().cloned().collect(),
    }
}

/// The locale variable the language comes from, if one is set.
fn locale_source() -> Source {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .find(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()))
        .map_or(Source::Default, |v| Source::Env {
            variables: vec![Variable {
                name: (*v).to_owned(),
                origin: VarOrigin::Environment,
            }],
        })
}

/// One entry per secret read from a variable (`password_env = "VAR"` gives `password`):
/// `[REDACTED]` when the variable is set, `null` when not, with the variable as its source.
fn secret_entries(config: &Config, effective: &BTreeMap<String, serde_json::Value>) -> Vec<Entry> {
    effective
        .iter()
        .filter_map(|(key, value)| {
            let secret_key = key.strip_suffix("_env")?;
            let name = value.as_str()?;
            if effective.get(secret_key).is_some_and(|v| !v.is_null()) {
                return None; // an inline secret wins and is listed already
            }
            let origin = if std::env::var(name).is_ok_and(|v| !v.is_empty()) {
                VarOrigin::Environment
            } else if config.env.get(name).is_some() {
                VarOrigin::EnvFile
            } else {
                VarOrigin::Unset
            };
            let value = if origin == VarOrigin::Unset {
                serde_json::Value::Null
            } else {
                serde_json::Value::String(REDACTED.into())
            };
            Some(Entry {
                key: secret_key.to_owned(),
                value,
                source: Source::Env {
                    variables: vec![Variable {
                        name: name.to_owned(),
                        origin,
                    }],
                },
                secret: true,
            })
        })
        .collect()
}

/// How a source reads in the human rendering.
fn describe(source: &Source, lang: Lang) -> String {
    match source {
        Source::Default => lang.pick("default", "défaut").to_owned(),
        Source::Override => lang
            .pick(
                "override (command line or binding)",
                "surcharge (ligne de commande ou binding)",
            )
            .to_owned(),
        Source::File { file, key } => format!("{file}: {key}"),
        Source::Env { variables } => variables
            .iter()
            .map(|v| match v.origin {
                VarOrigin::EnvFile => format!(".env {}", v.name),
                VarOrigin::Environment => {
                    format!("{} {}", lang.pick("environment", "environnement"), v.name)
                }
                VarOrigin::Unset => format!("{} {}", v.name, lang.pick("(unset)", "(non définie)")),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The effective configuration as text: one `key = value  # source` line per value.
#[must_use]
pub fn render_human(config: &EffectiveConfig, lang: Lang) -> String {
    let mut out = String::new();
    for n in &config.notices {
        let _ = writeln!(
            out,
            "{} {}\n",
            lang.pick("NOTICE:", "REMARQUE :"),
            n.message
        );
    }
    let none = lang.pick("none", "aucun");
    let _ = writeln!(
        out,
        "# {}: {}",
        lang.pick("project folder", "dossier du projet"),
        config.project_dir
    );
    let _ = writeln!(
        out,
        "# .env: {}",
        config.env_file.as_deref().unwrap_or(none)
    );
    for u in &config.unreadable {
        let _ = writeln!(
            out,
            "# {} {}: {} ({}){}",
            lang.pick("NOT READ", "NON LU"),
            u.path.display(),
            u.reason,
            u.user,
            u.grant.as_ref().map_or_else(String::new, |g| format!(
                " — {}: {g}",
                lang.pick("grant", "accorder")
            ))
        );
    }
    let _ = writeln!(
        out,
        "# {}: {}",
        lang.pick("configuration file", "fichier de configuration"),
        config.config_file.as_deref().unwrap_or(none)
    );
    let lines: Vec<(String, String)> = config
        .entries
        .iter()
        .map(|e| {
            let value = match &e.value {
                serde_json::Value::String(s) if e.secret => s.clone(),
                serde_json::Value::Null => lang.pick("(unset)", "(non défini)").to_owned(),
                v => v.to_string(),
            };
            (format!("{} = {value}", e.key), describe(&e.source, lang))
        })
        .collect();
    let width = lines
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    for (line, source) in lines {
        let _ = writeln!(out, "{line:<width$}  # {source}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(c: &'a EffectiveConfig, key: &str) -> &'a Entry {
        c.entries
            .iter()
            .find(|e| e.key == key)
            .unwrap_or_else(|| panic!("no {key} in {:?}", c.entries))
    }

    #[test]
    fn sources_are_told_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(".env"),
            "POSTGRES_PORT=6543\nPOSTGRES_PASSWORD=hunter2\nDOMAIN=example.test\n",
        )
        .expect("write");
        std::fs::write(dir.path().join(CONFIG_FILE_NAME), "[redis]\nport = 7000\n").expect("write");
        let mut config = Config::load(dir.path(), None).expect("loads");
        config.timeout_secs = 2.0;
        let c = effective_config(&config);
        let env = |name: &str| Source::Env {
            variables: vec![Variable {
                name: name.into(),
                origin: VarOrigin::EnvFile,
            }],
        };
        assert_eq!(entry(&c, "postgres.port").source, env("POSTGRES_PORT"));
        assert_eq!(entry(&c, "smtp.tls_name").source, env("DOMAIN"));
        assert!(
            matches!(&entry(&c, "redis.port").source, Source::File { key, .. } if key == "redis.port")
        );
        assert_eq!(entry(&c, "timeout_secs").source, Source::Override);
        assert_eq!(entry(&c, "postgres.user").source, Source::Default);
        let pw = entry(&c, "postgres.password");
        assert!(
            pw.secret && pw.value == serde_json::json!(REDACTED),
            "{pw:?}"
        );
        assert_eq!(pw.source, env("POSTGRES_PASSWORD"));
        let shown = format!(
            "{}{}",
            render_human(&c, Lang::En),
            serde_json::to_string(&c).expect("json")
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(c.notices.is_empty());
    }

    #[test]
    fn empty_folder_gets_a_notice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::defaults(dir.path().to_path_buf(), EnvFile::default());
        config.lang = Lang::Fr;
        let n = notices(&config);
        assert_eq!(n.len(), 1);
        assert!(
            n[0].message.contains("--project")
                && n[0].message.contains(&dir.path().display().to_string()),
            "{n:?}"
        );
        std::fs::write(dir.path().join("docker-compose.yml"), "services: {}\n").expect("write");
        assert!(notices(&config).is_empty());
    }
}
