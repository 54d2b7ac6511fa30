//! Configuration layering: zero-config defaults that follow the guide's layout,
//! the platform's `.env`, `mssante-diag.toml`, then overrides (bindings, CLI).
//!
//! This module owns only the layering, [`Secret`], [`EnvFile`] and the top-level
//! keys. Each subsystem owns its `[section]` (struct, defaults, validation) in its
//! folder under `checks/`, as a [`Section`]; the registry in `checks/mod.rs`
//! gathers them into [`Sections`]. Unknown keys and bad values are errors naming
//! the file and the key. Secrets are never stored in plain fields: a section
//! names the variable that holds a password (`password_env`), resolved from the
//! process environment first, then `.env`, or takes an inline [`Secret`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::checks::Sections;
use crate::error::{Error, Result};
use crate::lang::Lang;
use crate::model::Status;

/// Default timeout of every network or process step, in seconds.
pub const DEFAULT_TIMEOUT_SECS: f64 = 5.0;
/// Name of the configuration file looked up in the project folder.
pub const CONFIG_FILE_NAME: &str = "mssante-diag.toml";
/// What replaces a secret wherever it would be shown.
pub const REDACTED: &str = "[REDACTED]";

/// A secret value (password, token). Its `Debug` and `Display` never show it,
/// and it never serialises.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret value itself: pass it to a protocol, never to a message.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        // Not `String::deserialize`: serde's "invalid type: integer `123456`" would quote an
        // unquoted password, and a flattened credential's error path does not say `password`.
        struct Visitor;
        impl Visitor {
            fn not_a_string<E: serde::de::Error>(kind: &str) -> E {
                E::custom(format_args!(
                    "a password must be a quoted string, not {kind} (value not shown)"
                ))
            }
        }
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Secret;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a password as a quoted string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Secret, E> {
                Ok(Secret::new(v))
            }
            fn visit_string<E: serde::de::Error>(
                self,
                v: String,
            ) -> std::result::Result<Secret, E> {
                Ok(Secret(v))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> std::result::Result<Secret, E> {
                Err(Self::not_a_string("a boolean"))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<Secret, E> {
                Err(Self::not_a_string("a number"))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<Secret, E> {
                Err(Self::not_a_string("a number"))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> std::result::Result<Secret, E> {
                Err(Self::not_a_string("a number"))
            }
            fn visit_char<E: serde::de::Error>(self, _: char) -> std::result::Result<Secret, E> {
                Err(Self::not_a_string("a character"))
            }
        }
        d.deserialize_any(Visitor)
    }
}

thread_local! {
    /// Set only while [`Config`] is serialised for merging overrides, so inline secrets survive the merge.
    static REVEAL_SECRETS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Serialises `value` itself during the override merge ([`to_table_with_secrets`]), else `shown()`.
fn serialize_concealed<S: serde::Serializer>(
    s: S,
    value: &str,
    shown: impl FnOnce() -> String,
) -> std::result::Result<S::Ok, S::Error> {
    if REVEAL_SECRETS.with(std::cell::Cell::get) {
        s.serialize_str(value)
    } else {
        s.serialize_str(&shown())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_concealed(s, &self.0, || REDACTED.to_owned())
    }
}

/// Serialises a configuration with its inline secrets (for the override merge only; never printed).
fn to_table_with_secrets(config: &Config) -> std::result::Result<toml::Table, toml::ser::Error> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            REVEAL_SECRETS.with(|r| r.set(false));
        }
    }
    REVEAL_SECRETS.with(|r| r.set(true));
    let _reset = Reset;
    toml::Table::try_from(config)
}

/// Every inline secret of a configuration ([`Secret`] values, passwords of [`CredentialUrl`]s):
/// what the diagnostic bundle must never contain. Never print them.
#[must_use]
pub fn inline_secrets(config: &Config) -> Vec<String> {
    fn walk(shown: &toml::Value, real: &toml::Value, out: &mut Vec<String>) {
        match (shown, real) {
            (toml::Value::String(s), toml::Value::String(r)) if s != r => {
                match reqwest::Url::parse(r) {
                    Ok(u) if u.password().is_some() => out.extend(u.password().map(str::to_owned)),
                    _ => out.push(r.clone()),
                }
            }
            (toml::Value::Table(s), toml::Value::Table(r)) => {
                for (k, v) in s {
                    if let Some(rv) = r.get(k) {
                        walk(v, rv, out);
                    }
                }
            }
            (toml::Value::Array(s), toml::Value::Array(r)) => {
                s.iter().zip(r).for_each(|(a, b)| walk(a, b, out))
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let (Ok(shown), Ok(real)) = (toml::Table::try_from(config), to_table_with_secrets(config)) {
        walk(
            &toml::Value::Table(shown),
            &toml::Value::Table(real),
            &mut out,
        );
    }
    out
}

/// A URL with its user information replaced: `postgres://[REDACTED]@host/db`. Text that is
/// not a URL with a host but reads `scheme://...@...` or `user:password@...` (a proxy variable's
/// short form, a URL the parser refuses) loses everything up to its last `@`
/// (`smtp://user:pa/ss@host:bad` shows as `smtp://[REDACTED]@host:bad`); other text comes back
/// unchanged.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() || !u.username().is_empty() => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            let shown = u.to_string();
            match shown.split_once("://") {
                Some((scheme, rest)) => format!("{scheme}://{REDACTED}@{rest}"),
                None => REDACTED.to_owned(),
            }
        }
        Ok(u) if u.has_host() => url.to_owned(),
        _ => match url.rsplit_once('@') {
            Some((before, host)) if before.contains(':') => {
                let scheme = url
                    .split_once("://")
                    .map(|(s, _)| format!("{s}://"))
                    .unwrap_or_default();
                format!("{scheme}{REDACTED}@{host}")
            }
            _ => url.to_owned(),
        },
    }
}

/// A URL that may carry credentials (`user:password@`): its `Debug`, `Display` and
/// serialised form show them as `[REDACTED]`; [`CredentialUrl::expose`] gives the URL to use.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct CredentialUrl(String);

impl CredentialUrl {
    /// Wraps a URL.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }
    /// The URL itself, credentials included: pass it to a client, never to a message.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CredentialUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl std::fmt::Debug for CredentialUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}", self = self.to_string())
    }
}

impl Serialize for CredentialUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_concealed(s, &self.0, || redact_url(&self.0))
    }
}

/// The platform's `.env` variables (kept apart from the process environment).
/// Its `Debug` shows the keys only.
#[derive(Clone, Default)]
pub struct EnvFile {
    /// Where it was read from, if it exists.
    pub path: Option<PathBuf>,
    vars: BTreeMap<String, String>,
    /// Set when the file exists but could not be read (permission denied...): the run goes on
    /// without its values, and the checks that need them say so (see [`crate::access`]).
    pub unreadable: Option<crate::access::Unreadable>,
}

impl std::fmt::Debug for EnvFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvFile")
            .field("path", &self.path)
            .field("keys", &self.vars.keys().collect::<Vec<_>>())
            .field("unreadable", &self.unreadable)
            .finish()
    }
}

impl EnvFile {
    /// Reads `dir/.env`; a missing file gives an empty set; one this user may not read gives an
    /// empty set that records why ([`EnvFile::unreadable`]): a finding, not the end of the run.
    ///
    /// # Errors
    /// [`Error::EnvFile`] when the file cannot be parsed (or is not text). The error names
    /// the file, the line number and the key; never the line itself (it may hold a password).
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(".env");
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Ok(Self::unreadable(path, &e)),
            Ok(_) => {}
        }
        let unreadable = |e: &std::io::Error| Error::EnvFile {
            path: path.clone(),
            line: None,
            key: None,
            reason: e.kind().to_string(),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(unreadable(&e)),
            Err(e) => return Ok(Self::unreadable(path, &e)),
        };
        Self::parse(&text, path)
    }

    /// Parses the text of a `.env` read from `path` (named in errors only).
    ///
    /// # Errors
    /// [`Error::EnvFile`] naming the line number and key of a line that cannot be parsed.
    pub fn parse(text: &str, path: PathBuf) -> Result<Self> {
        let unreadable = |e: &std::io::Error| Error::EnvFile {
            path: path.clone(),
            line: None,
            key: None,
            reason: e.kind().to_string(),
        };
        let mut vars = BTreeMap::new();
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            match item {
                Ok((k, v)) => {
                    vars.insert(k, v);
                }
                Err(dotenvy::Error::LineParse(bad, _)) => {
                    let (line, key) = locate_bad_line(text, &bad);
                    return Err(Error::EnvFile {
                        path,
                        line,
                        key,
                        reason: "cannot parse this line (quote values holding spaces)".into(),
                    });
                }
                Err(dotenvy::Error::Io(e)) => return Err(unreadable(&e)),
                Err(_) => {
                    return Err(Error::EnvFile {
                        path,
                        line: None,
                        key: None,
                        reason: "cannot parse".into(),
                    })
                }
            }
        }
        Ok(Self {
            path: Some(path),
            vars,
            unreadable: None,
        })
    }

    /// Parses `data` as a `.env` and derives every section's defaults from it (the `env` fuzz
    /// target): whatever the bytes, it returns.
    #[doc(hidden)]
    pub fn exercise(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(env) = Self::parse(text, PathBuf::from(".env")) {
            let config = Config::defaults(PathBuf::from("/nonexistent/mssante-diag-fuzz"), env);
            let _ = serde_json::to_string(&config);
        }
    }

    /// An empty set recording that `path` could not be read.
    fn unreadable(path: PathBuf, e: &std::io::Error) -> Self {
        let record = crate::access::Unreadable::new(&path, e);
        Self {
            path: Some(path),
            vars: BTreeMap::new(),
            unreadable: Some(record),
        }
    }

    /// Builds one from pairs (tests, bindings).
    #[must_use]
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        Self {
            path: None,
            vars: pairs.into_iter().collect(),
            unreadable: None,
        }
    }

    /// A variable of the file (not of the process environment).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .filter(|_| crate::provenance::seen(key, crate::provenance::VarOrigin::EnvFile))
    }

    /// A variable: the process environment first (as Docker Compose does), then the file.
    #[must_use]
    pub fn lookup(&self, key: &str) -> Option<String> {
        let environment = std::env::var(key).ok().filter(|v| !v.is_empty());
        environment
            .filter(|_| crate::provenance::seen(key, crate::provenance::VarOrigin::Environment))
            .or_else(|| self.get(key).map(str::to_owned))
    }

    /// Variable names of the file, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
}

/// Line number (1-based) and key of the line dotenvy could not parse. dotenvy reports the
/// unparsed part (a whole line, or the value after `=`): find the line holding it.
fn locate_bad_line(text: &str, bad: &str) -> (Option<usize>, Option<String>) {
    let part = bad.lines().next().unwrap_or(bad).trim();
    if part.is_empty() {
        return (None, None);
    }
    let Some((index, line)) = text.lines().enumerate().find(|(_, l)| l.contains(part)) else {
        return (None, None);
    };
    let key = line
        .trim()
        .trim_start_matches("export ")
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        })
        .map(str::to_owned);
    (Some(index + 1), key)
}

/// How a section finds its password: inline, or the name of a variable.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// Inline password (prefer `password_env`). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Variable holding the password, looked up in the environment then `.env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

impl Credential {
    /// A credential read from the variable `name`.
    #[must_use]
    pub fn from_env(name: &str) -> Self {
        Self {
            password: None,
            password_env: Some(name.to_owned()),
        }
    }
}

/// The platform a configuration starts from: its project folder and its `.env`.
/// Sections take their zero-config defaults from it.
#[derive(Debug, Clone, Copy)]
pub struct Platform<'a> {
    /// The project folder.
    pub dir: &'a Path,
    /// Its `.env`.
    pub env: &'a EnvFile,
}

/// Compose service names that mean "inside the Docker network": from the host, use localhost.
const COMPOSE_HOSTS: &[&str] = &[
    "postgres", "redis", "postfix", "dovecot", "api", "traefik", "db",
];

impl Platform<'_> {
    /// A host from `.env`, or `localhost` when it is unset or a compose service name.
    #[must_use]
    pub fn host(&self, key: &str) -> String {
        match self.env.get(key) {
            Some(h) if !COMPOSE_HOSTS.contains(&h) => h.to_owned(),
            _ => "localhost".to_owned(),
        }
    }

    /// A port from `.env`, else `default`.
    #[must_use]
    pub fn port(&self, key: &str, default: u16) -> u16 {
        self.env
            .get(key)
            .and_then(|p| p.parse().ok())
            .unwrap_or(default)
    }

    /// A value from `.env`, else `default`.
    #[must_use]
    pub fn value(&self, key: &str, default: &str) -> String {
        self.env.get(key).unwrap_or(default).to_owned()
    }

    /// The name mail clients and the certificate use: `mail.<DOMAIN>`, else `localhost`.
    #[must_use]
    pub fn mail_name(&self) -> String {
        self.env
            .get("DOMAIN")
            .map_or_else(|| "localhost".to_owned(), |d| format!("mail.{d}"))
    }
}

/// A subsystem's `[section]`: where its zero-config defaults come from, what makes a value
/// invalid, and which values its remedies and titles cite.
pub trait Section: Sized {
    /// Defaults for a platform (the guide's layout and ports, values of its `.env`).
    fn defaults(platform: &Platform<'_>) -> Self;

    /// The first invalid value: its key within the section and the reason.
    ///
    /// # Errors
    /// `(key, reason)`.
    fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        Ok(())
    }

    /// Values that remedies and titles cite as `{section.name}` (e.g. `{postgres.user}`).
    fn vars(&self, _platform: &Platform<'_>) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// Checks that `warn <= crit` and both are percentages.
///
/// # Errors
/// `(key, reason)` naming `key`.
pub fn check_pct(
    key: &'static str,
    warn: f64,
    crit: f64,
) -> std::result::Result<(), (&'static str, String)> {
    if !(0.0..=100.0).contains(&warn) || !(0.0..=100.0).contains(&crit) {
        return Err((key, "percentages must be between 0 and 100".into()));
    }
    if warn > crit {
        return Err((
            key,
            "must not exceed the matching critical threshold".into(),
        ));
    }
    Ok(())
}

/// What a check reports when its target does not answer within the timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeoutState {
    /// A dead service (the default, as monitoring-plugins' socket timeout).
    #[default]
    Critical,
    /// Undecided, as check_http's `-t N:UNKNOWN`.
    Unknown,
}

impl From<TimeoutState> for Status {
    fn from(t: TimeoutState) -> Status {
        match t {
            TimeoutState::Critical => Status::Critical,
            TimeoutState::Unknown => Status::Unknown,
        }
    }
}

/// Values cited in remedies and titles, `{section.name}` → value.
#[derive(Debug, Clone, Default)]
pub struct Vars(Vec<(String, String)>);

impl Vars {
    /// The text with every known `{name}` replaced; anything else (`{{.Name}}`) is kept.
    #[must_use]
    pub fn render(&self, text: &str) -> String {
        if !text.contains('{') {
            return text.to_owned();
        }
        let mut out = text.to_owned();
        for (k, v) in &self.0 {
            let pat = format!("{{{k}}}");
            if out.contains(&pat) {
                out = out.replace(&pat, v);
            }
        }
        out
    }

    /// Adds the values of one section, prefixed by its name.
    pub fn extend(&mut self, section: &str, vars: Vec<(&'static str, String)>) {
        self.0
            .extend(vars.into_iter().map(|(k, v)| (format!("{section}.{k}"), v)));
    }
}

/// Everything a run needs to know. Build it with [`Config::load`] or [`Config::from_toml_str`].
/// The subsystems' sections are reached through it (`config.postgres`: [`Sections`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// The platform's project folder (given by the caller, not by the file). Default: the current folder.
    pub project_dir: PathBuf,
    /// Language of messages. Default: from the locale.
    pub lang: Lang,
    /// Timeout of every network or process step, seconds. Default: 5.
    pub timeout_secs: f64,
    /// Status of a target that does not answer in time. Default: critical.
    pub timeout_state: TimeoutState,
    /// Subsystems to run; empty means all. Default: all.
    pub subsystems: Vec<String>,
    /// Every subsystem's section.
    pub sections: Sections,
    /// Variables of the platform's `.env` (never serialised).
    pub env: EnvFile,
    /// The file this configuration was read from, if any.
    pub source: Option<PathBuf>,
}

impl std::ops::Deref for Config {
    type Target = Sections;
    fn deref(&self) -> &Sections {
        &self.sections
    }
}

impl std::ops::DerefMut for Config {
    fn deref_mut(&mut self) -> &mut Sections {
        &mut self.sections
    }
}

/// The top-level keys of `mssante-diag.toml`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopLevel {
    lang: Lang,
    timeout_secs: f64,
    timeout_state: TimeoutState,
    subsystems: Vec<String>,
}

const TOP_LEVEL_KEYS: [&str; 4] = ["lang", "timeout_secs", "timeout_state", "subsystems"];

impl Serialize for Config {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shape<'a> {
            #[serde(flatten)]
            top: TopLevel,
            #[serde(flatten)]
            sections: &'a Sections,
        }
        let top = TopLevel {
            lang: self.lang,
            timeout_secs: self.timeout_secs,
            timeout_state: self.timeout_state,
            subsystems: self.subsystems.clone(),
        };
        Shape {
            top,
            sections: &self.sections,
        }
        .serialize(s)
    }
}

/// A folder name as Docker Compose turns it into a project name: lower case, only
/// `[a-z0-9_-]`, no leading `_` or `-`.
#[must_use]
pub fn compose_project_name(dir: &Path) -> String {
    let name = dir
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .or_else(|| {
            dir.canonicalize()
                .ok()
                .and_then(|d| d.file_name().map(std::ffi::OsStr::to_os_string))
        })
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let kept: String = name
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    let trimmed = kept.trim_start_matches(['_', '-']);
    if trimmed.is_empty() {
        "default".to_owned()
    } else {
        trimmed.to_owned()
    }
}

impl Config {
    /// Zero-config defaults for a project folder: the guide's layout and ports,
    /// with values from the platform's `.env`.
    #[must_use]
    pub fn defaults(project_dir: PathBuf, env: EnvFile) -> Self {
        let sections = Sections::defaults(&Platform {
            dir: &project_dir,
            env: &env,
        });
        Self {
            project_dir,
            lang: Lang::from_env(),
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            timeout_state: TimeoutState::default(),
            subsystems: Vec::new(),
            sections,
            env,
            source: None,
        }
    }

    /// The platform this configuration describes.
    #[must_use]
    pub fn platform(&self) -> Platform<'_> {
        Platform {
            dir: &self.project_dir,
            env: &self.env,
        }
    }

    /// Values that remedies and titles cite, from the effective configuration.
    #[must_use]
    pub fn vars(&self) -> Vars {
        self.sections.vars(&self.platform())
    }

    /// Loads the configuration of a project folder: its `.env`, then `config_file`
    /// if given, else `mssante-diag.toml` of the folder if it exists.
    ///
    /// # Errors
    /// [`Error::EnvFile`] for a `.env` that does not parse (one this user may not read is
    /// recorded in [`EnvFile::unreadable`] instead), [`Error::Config`] for an unreadable or
    /// invalid configuration file (naming the key at fault, or the grant that would let it be read).
    pub fn load(project_dir: &Path, config_file: Option<&Path>) -> Result<Self> {
        let env = EnvFile::read(project_dir)?;
        match (&env.path, &env.unreadable) {
            (Some(path), None) => {
                tracing::debug!(file = %path.display(), keys = env.vars.len(), ".env read (values not logged)")
            }
            (Some(path), Some(u)) => {
                tracing::info!(file = %path.display(), why = ?u, ".env not readable: its values are not used")
            }
            (None, _) => tracing::debug!(folder = %project_dir.display(), "no .env"),
        }
        let dir = project_dir
            .canonicalize()
            .unwrap_or_else(|_| project_dir.to_path_buf());
        let defaults = Self::defaults(dir, env);
        let file = match config_file {
            Some(f) => Some(f.to_path_buf()),
            None => Some(project_dir.join(CONFIG_FILE_NAME)).filter(|f| f.exists()),
        };
        let Some(file) = file else {
            tracing::debug!(folder = %project_dir.display(), "no {CONFIG_FILE_NAME}: defaults and .env only");
            return Ok(defaults);
        };
        let text = std::fs::read_to_string(&file).map_err(|e| Error::Config {
            file: file.clone(),
            key: "-".into(),
            reason: match crate::access::Unreadable::new(&file, &e).grant {
                Some(grant) => format!("cannot read: {} (grant read access: {grant})", e.kind()),
                None => format!("cannot read: {}", e.kind()),
            },
        })?;
        let mut cfg = defaults.overlay(&text, &file)?;
        tracing::debug!(file = %file.display(), bytes = text.len(), "configuration file read");
        cfg.source = Some(file);
        Ok(cfg)
    }

    /// Parses TOML text over the zero-config defaults of `project_dir` (no `.env` read).
    ///
    /// # Errors
    /// [`Error::Config`] naming the key at fault.
    pub fn from_toml_str(text: &str, project_dir: &Path) -> Result<Self> {
        Self::defaults(project_dir.to_path_buf(), EnvFile::default())
            .overlay(text, Path::new("<inline>"))
    }

    /// Applies overrides given as a JSON object (the shape of `mssante-diag.toml`),
    /// as the bindings receive them: `{"postgres": {"port": 5433}, "timeout_secs": 2}`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key at fault (file shown as `<overrides>`).
    pub fn with_overrides(self, overrides: &serde_json::Value) -> Result<Self> {
        let file = Path::new("<overrides>");
        let table = match toml::Value::try_from(overrides) {
            Ok(toml::Value::Table(t)) => t,
            Ok(_) => {
                return Err(Error::Config {
                    file: file.into(),
                    key: "-".into(),
                    reason: "overrides must be an object".into(),
                })
            }
            Err(e) => {
                return Err(Error::Config {
                    file: file.into(),
                    key: "-".into(),
                    reason: e.to_string(),
                })
            }
        };
        tracing::debug!(keys = ?table.keys().collect::<Vec<_>>(), "overrides applied (values not logged)");
        self.overlay_table(table, file)
    }

    /// Applies a TOML document over this configuration.
    pub(crate) fn overlay(self, text: &str, file: &Path) -> Result<Self> {
        let overrides: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map_or(1, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            });
            let reason = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
            Error::Config {
                file: file.to_path_buf(),
                key: format!("line {line}"),
                reason,
            }
        })?;
        self.overlay_table(overrides, file)
    }

    fn overlay_table(self, overrides: toml::Table, file: &Path) -> Result<Self> {
        let err = |key: String, reason: String| Error::Config {
            file: file.to_path_buf(),
            key,
            reason,
        };
        let mut base = to_table_with_secrets(&self).map_err(|e| err("-".into(), e.to_string()))?;
        merge(&mut base, overrides);
        let mut top = toml::Table::new();
        for k in TOP_LEVEL_KEYS {
            if let Some(v) = base.remove(k) {
                top.insert(k.to_owned(), v);
            }
        }
        let path_error = |e: serde_path_to_error::Error<toml::de::Error>| {
            let key = e.path().to_string();
            // serde quotes the rejected value: never for a key that may hold a secret.
            let reason = if ["password", "secret", "token"]
                .iter()
                .any(|w| key.contains(w))
            {
                "invalid value (not shown: it may be a secret)".to_owned()
            } else {
                e.inner().message().to_owned()
            };
            err(if key == "." { "-".into() } else { key }, reason)
        };
        let t: TopLevel =
            serde_path_to_error::deserialize(toml::Value::Table(top)).map_err(path_error)?;
        let sections: Sections =
            serde_path_to_error::deserialize(toml::Value::Table(base)).map_err(path_error)?;
        let cfg = Config {
            project_dir: self.project_dir,
            lang: t.lang,
            timeout_secs: t.timeout_secs,
            timeout_state: t.timeout_state,
            subsystems: t.subsystems,
            sections,
            env: self.env,
            source: self.source,
        };
        cfg.validate().map_err(|(key, reason)| err(key, reason))?;
        Ok(cfg)
    }

    fn validate(&self) -> std::result::Result<(), (String, String)> {
        if !(self.timeout_secs > 0.0 && self.timeout_secs <= 600.0) {
            return Err((
                "timeout_secs".into(),
                format!(
                    "must be between 0 and 600 seconds, got {}",
                    self.timeout_secs
                ),
            ));
        }
        let known = crate::checks::subsystems();
        if let Some(bad) = self
            .subsystems
            .iter()
            .find(|s| !known.contains(&s.as_str()))
        {
            return Err((
                "subsystems".into(),
                format!("unknown subsystem `{bad}` (see `mssante-diag list`)"),
            ));
        }
        self.sections.validate()
    }

    /// The step timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_secs)
    }

    /// Resolves a credential: inline value, else its variable from the environment, then `.env`.
    #[must_use]
    pub fn secret(&self, cred: &Credential) -> Option<Secret> {
        cred.password.clone().or_else(|| {
            cred.password_env
                .as_deref()
                .and_then(|k| self.env.lookup(k))
                .map(Secret::new)
        })
    }

    /// A path of the configuration made absolute against the project folder.
    #[must_use]
    pub fn project_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else if p == Path::new(".") {
            self.project_dir.clone()
        } else {
            self.project_dir.join(p)
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::defaults(PathBuf::from("."), EnvFile::default())
    }
}

/// Deep-merges `over` into `base` (tables recursively, other values replaced).
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_user_information_in_every_form() {
        for (url, shown) in [
            (
                "postgres://u:pw1@h:5432/db",
                "postgres://[REDACTED]@h:5432/db",
            ),
            ("http://u:pw2@proxy:3128", "http://[REDACTED]@proxy:3128/"),
            ("u:pw3@proxy:3128", "[REDACTED]@proxy:3128"),
            ("smtp://u:pw/4@host:bad", "smtp://[REDACTED]@host:bad"),
            ("https://u:pw5@[::1", "https://[REDACTED]@[::1"),
            ("https://host/p?to=a@b.fr", "https://host/p?to=a@b.fr"),
            ("proxy:3128", "proxy:3128"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::from_toml_str("[postgres]\nprot = 5432\n", Path::new(".")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("postgres") && msg.contains("prot"), "{msg}");
    }

    #[test]
    fn bad_value_is_named() {
        let e = Config::from_toml_str("[postgres]\nport = \"x\"\n", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("postgres.port"), "{e}");
        let e = Config::from_toml_str("timeout_secs = -1\n", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("timeout_secs"), "{e}");
    }

    #[test]
    fn unknown_subsystem_is_named() {
        let e =
            Config::from_toml_str("subsystems = [\"postgress\"]\n", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("postgress"), "{e}");
    }

    #[test]
    fn overrides_keep_other_defaults() {
        let c = Config::from_toml_str("[postgres]\nport = 6543\n", Path::new("/srv/p")).unwrap();
        assert_eq!(c.postgres.port, 6543);
        assert_eq!(c.postgres.user, "mssante");
        assert_eq!(c.project_dir, PathBuf::from("/srv/p"));
    }

    #[test]
    fn inline_secret_survives_overrides() {
        let c =
            Config::from_toml_str("[postgres]\npassword = \"s3cret\"\n", Path::new(".")).unwrap();
        let c = c
            .with_overrides(&serde_json::json!({"postgres": {"port": 6000}}))
            .unwrap();
        assert_eq!(
            c.postgres.credential.password.as_ref().map(Secret::expose),
            Some("s3cret")
        );
        assert!(!serde_json::to_string(&c).unwrap().contains("s3cret"));
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[REDACTED]\"");
    }

    #[test]
    fn docker_defaults() {
        assert_eq!(
            compose_project_name(Path::new("/srv/My Platform.v2")),
            "myplatformv2"
        );
        assert_eq!(
            compose_project_name(Path::new("/srv/_-MSSante_prod")),
            "mssante_prod"
        );
        let c = Config::from_toml_str(
            "[docker]\nproject = \"p\"\nenabled = true\n",
            Path::new("/srv/x"),
        )
        .unwrap();
        assert_eq!(
            (c.docker.project.as_str(), c.docker.enabled),
            ("p", Some(true))
        );
        assert_eq!(c.docker.services.len(), 6);
        let e = Config::from_toml_str("[docker]\ncpu_warn_pct = 99\n", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("docker.cpu_warn_pct"), "{e}");
        let e = Config::from_toml_str("[docker]\nlog_warning_patterns = [\"\"]\n", Path::new("."))
            .unwrap_err();
        assert!(e.to_string().contains("docker.log_error_patterns"), "{e}");
    }

    #[test]
    fn env_defaults_follow_dotenv() {
        let env = EnvFile::from_pairs([
            ("POSTGRES_USER".into(), "alice".into()),
            ("POSTGRES_HOST".into(), "postgres".into()),
            ("DOMAIN".into(), "example.mssante.fr".into()),
        ]);
        let c = Config::defaults(".".into(), env);
        assert_eq!(c.postgres.user, "alice");
        assert_eq!(c.postgres.host, "localhost");
        assert_eq!(c.smtp.tls_name, "mail.example.mssante.fr");
    }

    #[test]
    fn broken_env_line_is_named_never_quoted() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(".env"),
            "DOMAIN=x.test\n# comment\nPOSTGRES_PASSWORD=hunter2 s3cret\n",
        )
        .expect("write");
        let e = EnvFile::read(dir.path()).expect_err("unquoted space");
        let msg = e.chain();
        assert!(
            msg.contains(".env:3") && msg.contains("POSTGRES_PASSWORD"),
            "{msg}"
        );
        assert!(
            !msg.contains("hunter2")
                && !msg.contains("s3cret")
                && !format!("{e:?}").contains("hunter2"),
            "{msg}"
        );
    }

    #[test]
    fn debug_shows_no_value() {
        let env = EnvFile::from_pairs([("POSTGRES_PASSWORD".into(), "hunter2".into())]);
        let c = Config::defaults("/srv/p".into(), env)
            .with_overrides(&serde_json::json!({"api": {"url": "http://u:pw-in-url@h:3000/health"}, "postgres": {"password": "inline-pw"}}))
            .expect("valid");
        let shown = format!(
            "{c:?} {:?}",
            crate::Ctx::new(std::sync::Arc::new(c.clone()))
        );
        for secret in ["hunter2", "pw-in-url", "inline-pw"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(c.vars().render("{api.url}").contains(REDACTED));
    }

    #[test]
    fn readme_configuration_is_valid() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```toml\n").expect("README has a TOML example") + 8;
        let text = &readme[start..start + readme[start..].find("```").expect("closed")];
        let c = Config::from_toml_str(text, Path::new("/srv/mssante"))
            .expect("the README's example is a valid configuration");
        assert_eq!(c.timeout_state, TimeoutState::Critical);
    }
}
