//! `[docker]`: the Docker engine and the platform's compose project.

use serde::{Deserialize, Serialize};

use crate::config::{check_pct, compose_project_name, Platform, Section};
use crate::docker::DEFAULT_DOCKER_HOST;

/// `[docker]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
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

impl Section for Settings {
    fn defaults(p: &Platform<'_>) -> Self {
        let env = p.env;
        Self {
            enabled: None,
            host: env.lookup("DOCKER_HOST").unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned()),
            project: env.lookup("COMPOSE_PROJECT_NAME").unwrap_or_else(|| compose_project_name(p.dir)),
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

    fn vars(&self, p: &Platform<'_>) -> Vec<(&'static str, String)> {
        let compose = if self.project == compose_project_name(p.dir) { "docker compose".to_owned() } else { format!("docker compose -p {}", self.project) };
        vec![("project", self.project.clone()), ("compose", compose)]
    }

    fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        check_pct("cpu_warn_pct", self.cpu_warn_pct, self.cpu_crit_pct)?;
        check_pct("memory_warn_pct", self.memory_warn_pct, self.memory_crit_pct)?;
        if self.log_errors_warn > self.log_errors_crit {
            return Err(("log_errors_warn", "must not exceed log_errors_crit".into()));
        }
        if self.log_lines == 0 {
            return Err(("log_lines", "must be at least 1".into()));
        }
        if let Err(e) = crate::logscan::Matcher::new(&self.log_error_patterns, &self.log_warning_patterns) {
            return Err(("log_error_patterns", e.to_string()));
        }
        if self.project.is_empty() {
            return Err(("project", "must not be empty".into()));
        }
        Ok(())
    }
}
