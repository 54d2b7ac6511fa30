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
}

impl Section for Settings {
    fn defaults(_: &Platform<'_>) -> Self {
        Self {
            disk_paths: vec!["data".into(), "data/postgres".into(), ".".into()],
            disk_warn_pct: 85.0,
            disk_crit_pct: 95.0,
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        check_pct("disk_warn_pct", self.disk_warn_pct, self.disk_crit_pct)
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![("disk_warn_pct", self.disk_warn_pct.to_string()), ("disk_crit_pct", self.disk_crit_pct.to_string())]
    }
}
