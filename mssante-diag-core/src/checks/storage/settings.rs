//! `[storage]`: the disks and folders under the platform's data.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Platform, Section};

/// `[storage]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Run `storage.smart` (`false`: the check is `skipped` and says it was disabled here).
    /// Default: true.
    pub smart: bool,
    /// Folders whose disks `storage.smart` reads (absolute, or relative to the project folder);
    /// folders that do not exist are left out. Default: `data`, `/var/lib/docker` and `/backup`
    /// (list your backup folders here when they are elsewhere).
    pub smart_paths: Vec<PathBuf>,
}

impl Section for Settings {
    fn defaults(_: &Platform<'_>) -> Self {
        Self { smart: true, smart_paths: vec!["data".into(), "/var/lib/docker".into(), "/backup".into()] }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.smart_paths.iter().any(|p| p.as_os_str().is_empty()) {
            return Err(("smart_paths", "a path must not be empty".into()));
        }
        Ok(())
    }
}
