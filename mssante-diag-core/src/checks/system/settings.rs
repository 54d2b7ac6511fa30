//! `[system]`: the host itself.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{check_pct, Platform, Section};

/// `[system]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Paths whose filesystems `system.disk` watches (relative to the project folder).
    /// Default: `data`, `data/postgres` and the project folder (Docker's own root is
    /// measured by `docker.disk`, wherever the engine keeps it).
    pub disk_paths: Vec<PathBuf>,
    /// Usage (space or inodes) that warns, percent. Default: 85.
    pub disk_warn_pct: f64,
    /// Usage that is critical, percent. Default: 95.
    pub disk_crit_pct: f64,
    /// The listeners `system.ports` expects (`[[system.ports]]`). Default: the guide's ports
    /// 80, 443 (Traefik), 25, 587 (Postfix's `master`), 143 (Dovecot), 3000 (the API, `node`),
    /// 5432 (PostgreSQL), 6379 (Redis), each also accepted from `docker-proxy` (a port
    /// published by Docker).
    pub ports: Vec<ExpectedPort>,
    /// The kernel's maximum clock error that warns, milliseconds. Default: 100.
    pub clock_warn_ms: f64,
    /// The kernel's maximum clock error that is critical, milliseconds. Default: 1000.
    pub clock_crit_ms: f64,
    /// 5-minute load per CPU that warns. Default: 1.5.
    pub load_warn_per_cpu: f64,
    /// 5-minute load per CPU that is critical. Default: 3.
    pub load_crit_per_cpu: f64,
    /// Memory available (`MemAvailable`, percent of the total) below which `system.resources`
    /// warns. Default: 15.
    pub memory_warn_pct: f64,
    /// Memory available below which it is critical, percent. Default: 5.
    pub memory_crit_pct: f64,
    /// Swap in use that warns, percent of the swap. Default: 50.
    pub swap_warn_pct: f64,
    /// Swap in use that is critical, percent. Default: 80.
    pub swap_crit_pct: f64,
    /// Kernel log `system.io_errors` reads: a file (`/var/log/kern.log`, its last 8 MiB),
    /// or unset for the kernel's ring buffer (`/dev/kmsg`, as `dmesg`). Default: unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_log: Option<PathBuf>,
    /// Lines of the kernel log that are I/O errors (case-insensitive substrings). Default:
    /// `I/O error`, `blk_update_request`, `EXT4-fs error`, `BTRFS error`, `XFS`'s
    /// `Corruption`, `critical medium error`, `Medium Error`, `csum failed`, `SCSI error`,
    /// `failed command: READ`/`WRITE`, `Remounting filesystem read-only`.
    pub io_error_patterns: Vec<String>,
}

/// A listener `system.ports` expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedPort {
    /// What it serves (`smtp`, `api`...), shown in summaries.
    pub name: String,
    /// TCP port.
    pub port: u16,
    /// The address it should listen on; unset: any (a listener on any address, or on the
    /// wildcard, counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<std::net::IpAddr>,
    /// Process names (as `/proc/PID/comm` shows them) allowed to hold it; any other is a conflict.
    pub processes: Vec<String>,
}

/// Default I/O error patterns of the kernel log.
pub const DEFAULT_IO_ERROR_PATTERNS: &[&str] = &[
    "I/O error",
    "blk_update_request",
    "EXT4-fs error",
    "BTRFS error",
    "Corruption of in-memory data",
    "critical medium error",
    "Medium Error",
    "csum failed",
    "SCSI error",
    "failed command: READ",
    "failed command: WRITE",
    "Remounting filesystem read-only",
];

fn port(name: &str, port: u16, own: &str) -> ExpectedPort {
    ExpectedPort {
        name: name.into(),
        port,
        address: None,
        processes: vec!["docker-proxy".into(), own.into()],
    }
}

impl Section for Settings {
    fn defaults(_: &Platform<'_>) -> Self {
        Self {
            disk_paths: vec!["data".into(), "data/postgres".into(), ".".into()],
            disk_warn_pct: 85.0,
            disk_crit_pct: 95.0,
            ports: vec![
                port("http", 80, "traefik"),
                port("https", 443, "traefik"),
                port("smtp", 25, "master"),
                port("submission", 587, "master"),
                port("imap", 143, "dovecot"),
                port("api", 3000, "node"),
                port("postgres", 5432, "postgres"),
                port("redis", 6379, "redis-server"),
            ],
            clock_warn_ms: 100.0,
            clock_crit_ms: 1000.0,
            load_warn_per_cpu: 1.5,
            load_crit_per_cpu: 3.0,
            memory_warn_pct: 15.0,
            memory_crit_pct: 5.0,
            swap_warn_pct: 50.0,
            swap_crit_pct: 80.0,
            kernel_log: None,
            io_error_patterns: DEFAULT_IO_ERROR_PATTERNS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        check_pct("disk_warn_pct", self.disk_warn_pct, self.disk_crit_pct)?;
        check_pct("swap_warn_pct", self.swap_warn_pct, self.swap_crit_pct)?;
        // Memory is "available": lower is worse.
        if !((0.0..=100.0).contains(&self.memory_warn_pct)
            && (0.0..=100.0).contains(&self.memory_crit_pct)
            && self.memory_crit_pct <= self.memory_warn_pct)
        {
            return Err((
                "memory_crit_pct",
                "percentages between 0 and 100, the critical one at most the warning one".into(),
            ));
        }
        for (key, warn, crit) in [
            ("clock_warn_ms", self.clock_warn_ms, self.clock_crit_ms),
            (
                "load_warn_per_cpu",
                self.load_warn_per_cpu,
                self.load_crit_per_cpu,
            ),
        ] {
            if !(warn.is_finite() && crit.is_finite() && warn >= 0.0 && warn <= crit) {
                return Err((
                    key,
                    "must be a number >= 0, at most the matching critical threshold".into(),
                ));
            }
        }
        if let Some(p) = self
            .ports
            .iter()
            .find(|p| p.port == 0 || p.processes.is_empty() || p.name.is_empty())
        {
            return Err((
                "ports",
                format!(
                    "`{}`: a port needs a name, a port number above 0 and at least one process",
                    p.name
                ),
            ));
        }
        if self.io_error_patterns.is_empty() || self.io_error_patterns.iter().any(String::is_empty)
        {
            return Err((
                "io_error_patterns",
                "needs at least one pattern, none empty".into(),
            ));
        }
        Ok(())
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![
            ("disk_warn_pct", self.disk_warn_pct.to_string()),
            ("disk_crit_pct", self.disk_crit_pct.to_string()),
        ]
    }
}
