//! Configuration: zero-config defaults that follow the guide's layout, the
//! platform's `.env`, and `mssante-diag.toml` overrides.
//!
//! Load order: defaults (guide layout, `.env` values such as `POSTGRES_USER`),
//! then the TOML file on top. Unknown keys and bad values are errors naming the
//! file and the key. Secrets are never stored in plain fields: a section names
//! the variable that holds a password (`password_env`), resolved from the
//! process environment first, then `.env`, or takes an inline [`Secret`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lang::Lang;

/// Default timeout of every network or process step, in seconds.
pub const DEFAULT_TIMEOUT_SECS: f64 = 5.0;
/// Name of the configuration file looked up in the project folder.
pub const CONFIG_FILE_NAME: &str = "mssante-diag.toml";
/// Disk usage (space or inodes) that turns `system.disk` to warning, in percent.
pub const DEFAULT_DISK_WARN_PCT: f64 = 85.0;
/// Disk usage that turns `system.disk` to critical, in percent.
pub const DEFAULT_DISK_CRIT_PCT: f64 = 95.0;

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
        f.write_str("[REDACTED]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

thread_local! {
    /// Set only while [`Config`] is serialised for merging overrides, so inline secrets survive the merge.
    static REVEAL_SECRETS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if REVEAL_SECRETS.with(std::cell::Cell::get) {
            s.serialize_str(&self.0)
        } else {
            s.serialize_str("[REDACTED]")
        }
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

/// The platform's `.env` variables (kept apart from the process environment).
#[derive(Debug, Clone, Default)]
pub struct EnvFile {
    /// Where it was read from, if it exists.
    pub path: Option<PathBuf>,
    vars: BTreeMap<String, String>,
}

impl EnvFile {
    /// Reads `dir/.env`; a missing file gives an empty set, an unreadable one an error.
    ///
    /// # Errors
    /// [`Error::EnvFile`] when the file exists but cannot be read or parsed.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(".env");
        if !path.exists() {
            return Ok(Self::default());
        }
        let iter = dotenvy::from_path_iter(&path).map_err(|source| Error::EnvFile { path: path.clone(), source })?;
        let mut vars = BTreeMap::new();
        for item in iter {
            let (k, v) = item.map_err(|source| Error::EnvFile { path: path.clone(), source })?;
            vars.insert(k, v);
        }
        Ok(Self { path: Some(path), vars })
    }

    /// Builds one from pairs (tests, bindings).
    #[must_use]
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        Self { path: None, vars: pairs.into_iter().collect() }
    }

    /// A variable of the file (not of the process environment).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A variable: the process environment first (as Docker Compose does), then the file.
    #[must_use]
    pub fn lookup(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty()).or_else(|| self.get(key).map(str::to_owned))
    }

    /// Variable names of the file, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
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

/// Everything a run needs to know. Build it with [`Config::load`] or [`Config::from_toml_str`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The platform's project folder (given by the caller, not by the file). Default: the current folder.
    #[serde(skip)]
    pub project_dir: PathBuf,
    /// Language of messages. Default: from the locale.
    pub lang: Lang,
    /// Timeout of every network or process step, seconds. Default: 5.
    pub timeout_secs: f64,
    /// Subsystems to run; empty means all. Default: all.
    pub subsystems: Vec<String>,
    /// The API (`api.*` checks).
    pub api: ApiConfig,
    /// PostgreSQL (`postgres.*` checks).
    pub postgres: PostgresConfig,
    /// Redis (`redis.*` checks).
    pub redis: RedisConfig,
    /// SMTP (`smtp.*` checks).
    pub smtp: SmtpConfig,
    /// IMAP (`imap.*` checks).
    pub imap: ImapConfig,
    /// The host (`system.*` checks).
    pub system: SystemConfig,
    /// Docker and the compose project (`docker.*` checks).
    pub docker: DockerConfig,
    /// Variables of the platform's `.env` (never serialised).
    #[serde(skip)]
    pub env: EnvFile,
    /// The file this configuration was read from, if any.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `[api]`: the platform's Node API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Health endpoint. Default: `http://localhost:3000/health` (or `API_PORT` of `.env`).
    pub url: String,
    /// Latency that turns `api.health` to warning, ms. Default: 1000.
    pub latency_warn_ms: u64,
    /// Latency that turns `api.health` to critical, ms. Default: 3000.
    pub latency_crit_ms: u64,
}

/// `[postgres]`: the platform's database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// Host. Default: `POSTGRES_HOST` of `.env` when it is not a compose service name, else `localhost`.
    pub host: String,
    /// Port. Default: `POSTGRES_PORT` or 5432.
    pub port: u16,
    /// User. Default: `POSTGRES_USER` or `mssante`.
    pub user: String,
    /// Database. Default: `POSTGRES_DB` or `mssante`.
    pub database: String,
    /// Password. Default: variable `POSTGRES_PASSWORD`.
    #[serde(flatten)]
    pub credential: Credential,
    /// Connections in use that warn, percent of the slots open to ordinary roles
    /// (`max_connections` minus the reserved ones). Default: 80.
    pub connections_warn_pct: f64,
    /// Connections in use that are critical, percent. Default: 95.
    pub connections_crit_pct: f64,
    /// Idle connections older than this are listed, and `idle in transaction` sessions older
    /// than this warn, minutes. Default: 10.
    pub idle_minutes: f64,
    /// Active queries running longer than this warn, as do statements whose mean time
    /// exceeds it, seconds. Default: 1.
    pub long_query_secs: f64,
    /// Rows of `audit_logs` older than this many months warn. Default: 6.
    pub retention_months: u32,
    /// Indexes the platform needs, written `table(column, ...)` (optionally `schema.table`),
    /// matched on the leading indexed columns, never on the index name.
    /// Default: `mailboxes(email)`, `users(rpps_id)`.
    pub expected_indexes: Vec<ExpectedIndex>,
    /// Table recording the applied migrations (optionally `schema.table`). Default: `schema_migrations`.
    pub migrations_table: String,
    /// Folder of the migration files, relative to the project folder. Default: `database/migrations`.
    pub migrations_dir: PathBuf,
    /// A role allowed in the slots PostgreSQL reserves (a superuser; on 16+ also a member of
    /// `pg_use_reserved_connections`), used only when the server refuses the configured user
    /// with "too many clients". Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved: Option<PgReserved>,
}

/// `[postgres.reserved]`: the role used only when the server is full for the platform's user.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PgReserved {
    /// Role name, e.g. a superuser.
    pub user: String,
    /// Its password (`password_env` preferred).
    #[serde(flatten)]
    pub credential: Credential,
}

/// An index the platform needs: a table and the columns an index must start with,
/// written `table(column, ...)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExpectedIndex {
    /// Table, optionally schema-qualified, resolved through the search path.
    pub table: String,
    /// Leading indexed columns, in order.
    pub columns: Vec<String>,
}

impl TryFrom<String> for ExpectedIndex {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        let bad = || format!("`{s}` is not `table(column, ...)`");
        let (table, rest) = s.split_once('(').ok_or_else(bad)?;
        let cols = rest.trim().strip_suffix(')').ok_or_else(bad)?;
        let table = table.trim().to_owned();
        let columns: Vec<String> = cols.split(',').map(|c| c.trim().to_owned()).collect();
        if !is_sql_name(&table, true) || !columns.iter().all(|c| is_sql_name(c, false)) {
            return Err(bad());
        }
        Ok(Self { table, columns })
    }
}

impl From<ExpectedIndex> for String {
    fn from(i: ExpectedIndex) -> String {
        i.to_string()
    }
}

impl std::fmt::Display for ExpectedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.table, self.columns.join(", "))
    }
}

/// A plain SQL identifier (`[A-Za-z_][A-Za-z0-9_$]*`), or `schema.name` when `qualified`.
fn is_sql_name(s: &str, qualified: bool) -> bool {
    let part = |p: &str| {
        let mut c = p.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    match s.split_once('.') {
        Some((schema, name)) if qualified => part(schema) && part(name),
        Some(_) => false,
        None => part(s),
    }
}

impl PostgresConfig {
    fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        let (w, c) = (self.connections_warn_pct, self.connections_crit_pct);
        if !(0.0..=100.0).contains(&w) || !(0.0..=100.0).contains(&c) {
            return Err(("postgres.connections_warn_pct", "percentages must be between 0 and 100".into()));
        }
        if w > c {
            return Err(("postgres.connections_warn_pct", "must not exceed connections_crit_pct".into()));
        }
        if !(self.idle_minutes.is_finite() && self.idle_minutes >= 0.0) {
            return Err(("postgres.idle_minutes", "must be 0 or more".into()));
        }
        if !(self.long_query_secs.is_finite() && self.long_query_secs > 0.0) {
            return Err(("postgres.long_query_secs", "must be more than 0".into()));
        }
        if self.retention_months == 0 {
            return Err(("postgres.retention_months", "must be at least 1".into()));
        }
        if !is_sql_name(&self.migrations_table, true) {
            return Err(("postgres.migrations_table", format!("`{}` is not a table name", self.migrations_table)));
        }
        if self.reserved.as_ref().is_some_and(|r| r.user.is_empty()) {
            return Err(("postgres.reserved.user", "must not be empty".into()));
        }
        Ok(())
    }
}

/// `[redis]`: the platform's cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Host. Default: `localhost`.
    pub host: String,
    /// Port. Default: `REDIS_PORT` or 6379.
    pub port: u16,
    /// ACL user name (Redis 6+), if any. Default: none.
    pub username: Option<String>,
    /// Password. Default: variable `REDIS_PASSWORD` (none set means no AUTH).
    #[serde(flatten)]
    pub credential: Credential,
}

/// `[smtp]`: Postfix.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Host. Default: `localhost`.
    pub host: String,
    /// Inbound port. Default: 25.
    pub inbound_port: u16,
    /// Submission port. Default: 587.
    pub submission_port: u16,
    /// Name sent in EHLO. Default: `mssante-diag.localdomain`.
    pub hello_name: String,
    /// Name expected in the TLS certificate. Default: `mail.<DOMAIN>` or the host.
    pub tls_name: String,
}

/// `[imap]`: Dovecot.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImapConfig {
    /// Host. Default: `localhost`.
    pub host: String,
    /// Port. Default: 143.
    pub port: u16,
    /// Name expected in the TLS certificate. Default: as `[smtp] tls_name`.
    pub tls_name: String,
}

/// `[system]`: the host itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemConfig {
    /// Paths whose filesystems `system.disk` watches (relative to the project folder).
    /// Default: `data`, `data/postgres`, `/var/lib/docker`, and the project folder.
    pub disk_paths: Vec<PathBuf>,
    /// Usage (space or inodes) that warns, percent. Default: 85.
    pub disk_warn_pct: f64,
    /// Usage that is critical, percent. Default: 95.
    pub disk_crit_pct: f64,
}

/// Docker host used when neither `DOCKER_HOST` nor `[docker] host` says otherwise.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// `[docker]`: the Docker engine and the platform's compose project.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// `true`: always run the `docker.*` checks; `false`: skip them. Default (unset): run them
    /// when `host` is not the default socket, the default socket exists, or the project folder
    /// has a compose file; otherwise they are `skipped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Engine address: `unix:///path`, a socket path, or `tcp://host:port`.
    /// Default: `DOCKER_HOST` (environment, then `.env`), else `unix:///var/run/docker.sock`.
    pub host: String,
    /// Compose project (label `com.docker.compose.project`). Default: `COMPOSE_PROJECT_NAME`
    /// (environment, then `.env`), else the project folder's name normalised as compose does.
    pub project: String,
    /// Services expected to run. Default: api, postgres, redis, postfix, dovecot, traefik.
    pub services: Vec<String>,
    /// CPU use that warns, percent of the container's CPU limit (or of all host CPUs). Default: 80.
    pub cpu_warn_pct: f64,
    /// CPU use that is critical, percent. Default: 95.
    pub cpu_crit_pct: f64,
    /// Memory use that warns, percent of the container's limit (or of the host's memory). Default: 80.
    pub memory_warn_pct: f64,
    /// Memory use that is critical, percent. Default: 95.
    pub memory_crit_pct: f64,
    /// Log lines read per container, the most recent. Default: 500.
    pub log_lines: u32,
    /// Only log lines younger than this are read, seconds. Default: 3600.
    pub log_since_secs: u64,
    /// Substrings (case-insensitive) that make a log line an error.
    /// Default: `error`, `fatal`, `panic`, `critical`.
    pub log_error_patterns: Vec<String>,
    /// Substrings (case-insensitive) that make a log line a warning. Default: `warn`.
    pub log_warning_patterns: Vec<String>,
    /// Error lines of one service that turn `docker.logs` to warning. Default: 1.
    pub log_errors_warn: u64,
    /// Error lines of one service that turn `docker.logs` to critical. Default: 100.
    pub log_errors_crit: u64,
}

impl DockerConfig {
    fn defaults(project_dir: &Path, env: &EnvFile) -> Self {
        Self {
            enabled: None,
            host: env.lookup("DOCKER_HOST").unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned()),
            project: env.lookup("COMPOSE_PROJECT_NAME").unwrap_or_else(|| compose_project_name(project_dir)),
            services: ["api", "postgres", "redis", "postfix", "dovecot", "traefik"].map(str::to_owned).to_vec(),
            cpu_warn_pct: 80.0,
            cpu_crit_pct: 95.0,
            memory_warn_pct: 80.0,
            memory_crit_pct: 95.0,
            log_lines: 500,
            log_since_secs: 3600,
            log_error_patterns: crate::logscan::DEFAULT_ERROR_PATTERNS.iter().map(|s| (*s).to_owned()).collect(),
            log_warning_patterns: crate::logscan::DEFAULT_WARNING_PATTERNS.iter().map(|s| (*s).to_owned()).collect(),
            log_errors_warn: 1,
            log_errors_crit: 100,
        }
    }

    fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        for (key, warn, crit) in [
            ("docker.cpu_warn_pct", self.cpu_warn_pct, self.cpu_crit_pct),
            ("docker.memory_warn_pct", self.memory_warn_pct, self.memory_crit_pct),
        ] {
            if !(0.0..=100.0).contains(&warn) || !(0.0..=100.0).contains(&crit) {
                return Err((key, "percentages must be between 0 and 100".into()));
            }
            if warn > crit {
                return Err((key, "must not exceed the matching _crit_pct".into()));
            }
        }
        if self.log_errors_warn > self.log_errors_crit {
            return Err(("docker.log_errors_warn", "must not exceed log_errors_crit".into()));
        }
        if self.log_lines == 0 {
            return Err(("docker.log_lines", "must be at least 1".into()));
        }
        if let Err(e) = crate::logscan::Matcher::new(&self.log_error_patterns, &self.log_warning_patterns) {
            return Err(("docker.log_error_patterns", e.to_string()));
        }
        if self.project.is_empty() {
            return Err(("docker.project", "must not be empty".into()));
        }
        Ok(())
    }
}

/// A folder name as Docker Compose turns it into a project name: lower case, only
/// `[a-z0-9_-]`, no leading `_` or `-`.
#[must_use]
pub fn compose_project_name(dir: &Path) -> String {
    let name = dir
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .or_else(|| dir.canonicalize().ok().and_then(|d| d.file_name().map(std::ffi::OsStr::to_os_string)))
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let kept: String = name.chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-').collect();
    let trimmed = kept.trim_start_matches(['_', '-']);
    if trimmed.is_empty() { "default".to_owned() } else { trimmed.to_owned() }
}

/// Compose service names that mean "inside the Docker network": from the host, use localhost.
const COMPOSE_HOSTS: &[&str] = &["postgres", "redis", "postfix", "dovecot", "api", "traefik", "db"];

fn host_from(env: &EnvFile, key: &str) -> String {
    match env.get(key) {
        Some(h) if !COMPOSE_HOSTS.contains(&h) => h.to_owned(),
        _ => "localhost".to_owned(),
    }
}

fn port_from(env: &EnvFile, key: &str, default: u16) -> u16 {
    env.get(key).and_then(|p| p.parse().ok()).unwrap_or(default)
}

impl Config {
    /// Zero-config defaults for a project folder: the guide's layout and ports,
    /// with values from the platform's `.env`.
    #[must_use]
    pub fn defaults(project_dir: PathBuf, env: EnvFile) -> Self {
        let domain = env.get("DOMAIN").map(str::to_owned);
        let tls_name = domain.as_ref().map_or_else(|| "localhost".to_owned(), |d| format!("mail.{d}"));
        let docker = DockerConfig::defaults(&project_dir, &env);
        Self {
            project_dir,
            lang: Lang::from_env(),
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            subsystems: Vec::new(),
            api: ApiConfig {
                url: format!("http://localhost:{}/health", port_from(&env, "API_PORT", 3000)),
                latency_warn_ms: 1000,
                latency_crit_ms: 3000,
            },
            postgres: PostgresConfig {
                host: host_from(&env, "POSTGRES_HOST"),
                port: port_from(&env, "POSTGRES_PORT", 5432),
                user: env.get("POSTGRES_USER").unwrap_or("mssante").to_owned(),
                database: env.get("POSTGRES_DB").unwrap_or("mssante").to_owned(),
                credential: Credential { password: None, password_env: Some("POSTGRES_PASSWORD".into()) },
                connections_warn_pct: 80.0,
                connections_crit_pct: 95.0,
                idle_minutes: 10.0,
                long_query_secs: 1.0,
                retention_months: 6,
                expected_indexes: [("mailboxes", "email"), ("users", "rpps_id")]
                    .map(|(t, c)| ExpectedIndex { table: t.into(), columns: vec![c.into()] })
                    .to_vec(),
                migrations_table: "schema_migrations".into(),
                migrations_dir: PathBuf::from("database/migrations"),
                reserved: None,
            },
            redis: RedisConfig {
                host: host_from(&env, "REDIS_HOST"),
                port: port_from(&env, "REDIS_PORT", 6379),
                username: None,
                credential: Credential { password: None, password_env: Some("REDIS_PASSWORD".into()) },
            },
            smtp: SmtpConfig {
                host: "localhost".into(),
                inbound_port: 25,
                submission_port: 587,
                hello_name: "mssante-diag.localdomain".into(),
                tls_name: tls_name.clone(),
            },
            imap: ImapConfig { host: "localhost".into(), port: 143, tls_name },
            system: SystemConfig {
                disk_paths: vec!["data".into(), "data/postgres".into(), "/var/lib/docker".into(), ".".into()],
                disk_warn_pct: DEFAULT_DISK_WARN_PCT,
                disk_crit_pct: DEFAULT_DISK_CRIT_PCT,
            },
            docker,
            env,
            source: None,
        }
    }

    /// Loads the configuration of a project folder: its `.env`, then `config_file`
    /// if given, else `mssante-diag.toml` of the folder if it exists.
    ///
    /// # Errors
    /// [`Error::EnvFile`] for an unreadable `.env`, [`Error::Config`] for an
    /// unreadable or invalid configuration file (naming the key at fault).
    pub fn load(project_dir: &Path, config_file: Option<&Path>) -> Result<Self> {
        let env = EnvFile::read(project_dir)?;
        let dir = project_dir.canonicalize().unwrap_or_else(|_| project_dir.to_path_buf());
        let defaults = Self::defaults(dir, env);
        let file = match config_file {
            Some(f) => Some(f.to_path_buf()),
            None => Some(project_dir.join(CONFIG_FILE_NAME)).filter(|f| f.exists()),
        };
        let Some(file) = file else { return Ok(defaults) };
        let text = std::fs::read_to_string(&file).map_err(|e| Error::Config {
            file: file.clone(),
            key: "-".into(),
            reason: format!("cannot read: {e}"),
        })?;
        let mut cfg = defaults.overlay(&text, &file)?;
        cfg.source = Some(file);
        Ok(cfg)
    }

    /// Parses TOML text over the zero-config defaults of `project_dir` (no `.env` read).
    ///
    /// # Errors
    /// [`Error::Config`] naming the key at fault.
    pub fn from_toml_str(text: &str, project_dir: &Path) -> Result<Self> {
        Self::defaults(project_dir.to_path_buf(), EnvFile::default()).overlay(text, Path::new("<inline>"))
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
            Ok(_) => return Err(Error::Config { file: file.into(), key: "-".into(), reason: "overrides must be an object".into() }),
            Err(e) => return Err(Error::Config { file: file.into(), key: "-".into(), reason: e.to_string() }),
        };
        self.overlay_table(table, file)
    }

    /// Applies a TOML document over this configuration.
    fn overlay(self, text: &str, file: &Path) -> Result<Self> {
        let overrides: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let reason = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
            Error::Config { file: file.to_path_buf(), key: format!("line {line}"), reason }
        })?;
        self.overlay_table(overrides, file)
    }

    fn overlay_table(self, overrides: toml::Table, file: &Path) -> Result<Self> {
        let err = |key: String, reason: String| Error::Config { file: file.to_path_buf(), key, reason };
        let mut base = to_table_with_secrets(&self).map_err(|e| err("-".into(), e.to_string()))?;
        merge(&mut base, overrides);
        let mut cfg: Config = serde_path_to_error::deserialize(toml::Value::Table(base)).map_err(|e| {
            let key = e.path().to_string();
            err(if key == "." { "-".into() } else { key }, e.inner().message().to_owned())
        })?;
        cfg.validate().map_err(|(key, reason)| err(key.into(), reason))?;
        cfg.project_dir = self.project_dir;
        cfg.env = self.env;
        Ok(cfg)
    }

    fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        if !(self.timeout_secs > 0.0 && self.timeout_secs <= 600.0) {
            return Err(("timeout_secs", format!("must be between 0 and 600 seconds, got {}", self.timeout_secs)));
        }
        let known = crate::checks::catalogue();
        if let Some(bad) = self.subsystems.iter().find(|s| !known.iter().any(|d| d.subsystem() == s.as_str())) {
            return Err(("subsystems", format!("unknown subsystem `{bad}` (see `mssante-diag list`)")));
        }
        let s = &self.system;
        if !(0.0..=100.0).contains(&s.disk_warn_pct) || !(0.0..=100.0).contains(&s.disk_crit_pct) {
            return Err(("system.disk_warn_pct", "percentages must be between 0 and 100".into()));
        }
        if s.disk_warn_pct > s.disk_crit_pct {
            return Err(("system.disk_warn_pct", "must not exceed disk_crit_pct".into()));
        }
        if self.api.latency_warn_ms > self.api.latency_crit_ms {
            return Err(("api.latency_warn_ms", "must not exceed latency_crit_ms".into()));
        }
        if let Err(e) = reqwest::Url::parse(&self.api.url) {
            return Err(("api.url", format!("not a URL: {e}")));
        }
        self.docker.validate()?;
        self.postgres.validate()?;
        Ok(())
    }

    /// The step timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_secs)
    }

    /// Resolves a credential: inline value, else its variable from the environment, then `.env`.
    #[must_use]
    pub fn secret(&self, cred: &Credential) -> Option<Secret> {
        cred.password
            .clone()
            .or_else(|| cred.password_env.as_deref().and_then(|k| self.env.lookup(k)).map(Secret::new))
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

macro_rules! section_default {
    ($($t:ty => $field:ident),*) => {$(
        impl Default for $t {
            fn default() -> Self { Config::default().$field }
        }
    )*};
}
section_default!(ApiConfig => api, PostgresConfig => postgres, RedisConfig => redis, SmtpConfig => smtp, ImapConfig => imap, SystemConfig => system, DockerConfig => docker);

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
        let e = Config::from_toml_str("subsystems = [\"postgress\"]\n", Path::new(".")).unwrap_err();
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
        let c = Config::from_toml_str("[postgres]\npassword = \"s3cret\"\n", Path::new(".")).unwrap();
        let c = c.with_overrides(&serde_json::json!({"postgres": {"port": 6000}})).unwrap();
        assert_eq!(c.postgres.credential.password.as_ref().map(Secret::expose), Some("s3cret"));
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
        assert_eq!(compose_project_name(Path::new("/srv/My Platform.v2")), "myplatformv2");
        assert_eq!(compose_project_name(Path::new("/srv/_-MSSante_prod")), "mssante_prod");
        let c = Config::from_toml_str("[docker]\nproject = \"p\"\nenabled = true\n", Path::new("/srv/x")).unwrap();
        assert_eq!((c.docker.project.as_str(), c.docker.enabled), ("p", Some(true)));
        assert_eq!(c.docker.services.len(), 6);
        let e = Config::from_toml_str("[docker]\ncpu_warn_pct = 99\n", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("docker.cpu_warn_pct"), "{e}");
        let e = Config::from_toml_str("[docker]\nlog_warning_patterns = [\"\"]\n", Path::new(".")).unwrap_err();
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
}
