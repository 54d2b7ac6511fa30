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
    /// Data folders whose owner and mode `storage.permissions` checks (absent ones are listed,
    /// not judged). Default: `data`, `data/mail`, `data/logs`.
    pub data_dirs: Vec<PathBuf>,
    /// The user id the services write the data as (the containers' `node`/`vmail` user).
    /// Default: 1000 (the guide's `chown -R 1000:1000 data/`).
    pub service_uid: u32,
    /// The group id of that user. Default: 1000.
    pub service_gid: u32,
    /// Folders searched (4 levels deep) for private keys, which must be mode 600.
    /// Default: `config/certificates`.
    pub key_dirs: Vec<PathBuf>,
    /// The folder whose subfolders `storage.usage` sizes (`du -sh data/*`). Default: `data`.
    pub usage_dir: PathBuf,
    /// Log folders where `storage.usage` counts files older than `log_max_age_days`.
    /// Default: `data/logs`.
    pub log_dirs: Vec<PathBuf>,
    /// Age in days past which a log is reclaimable (`find data/logs -mtime +30`). Default: 30.
    pub log_max_age_days: u32,
    /// Backup folders where `storage.usage` counts uncompressed dumps (`*.sql`, `*.tar`).
    /// Default: `/backup`.
    pub backup_dirs: Vec<PathBuf>,
    /// Reclaimable space (old logs and uncompressed backups) that warns, MiB. Default: 1024.
    pub reclaimable_warn_mib: u64,
}

impl Section for Settings {
    fn defaults(_: &Platform<'_>) -> Self {
        Self {
            smart: true,
            smart_paths: vec!["data".into(), "/var/lib/docker".into(), "/backup".into()],
            data_dirs: vec!["data".into(), "data/mail".into(), "data/logs".into()],
            service_uid: 1000,
            service_gid: 1000,
            key_dirs: vec!["config/certificates".into()],
            usage_dir: "data".into(),
            log_dirs: vec!["data/logs".into()],
            log_max_age_days: 30,
            backup_dirs: vec!["/backup".into()],
            reclaimable_warn_mib: 1024,
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        for (key, paths) in [
            ("smart_paths", &self.smart_paths),
            ("data_dirs", &self.data_dirs),
            ("key_dirs", &self.key_dirs),
            ("log_dirs", &self.log_dirs),
            ("backup_dirs", &self.backup_dirs),
        ] {
            if paths.iter().any(|p| p.as_os_str().is_empty()) {
                return Err((key, "a path must not be empty".into()));
            }
        }
        if self.usage_dir.as_os_str().is_empty() {
            return Err(("usage_dir", "must not be empty".into()));
        }
        Ok(())
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![
            ("service_uid", self.service_uid.to_string()),
            ("service_gid", self.service_gid.to_string()),
            ("usage_dir", self.usage_dir.display().to_string()),
            (
                "log_dir",
                self.log_dirs
                    .first()
                    .map_or_else(|| "data/logs".to_owned(), |p| p.display().to_string()),
            ),
            ("log_max_age_days", self.log_max_age_days.to_string()),
            (
                "backup_dir",
                self.backup_dirs
                    .first()
                    .map_or_else(|| "/backup".to_owned(), |p| p.display().to_string()),
            ),
        ]
    }
}
