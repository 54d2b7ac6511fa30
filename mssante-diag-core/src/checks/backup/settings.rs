//! `[backup]`: where the platform's backups are and how old, small or slow to read they may be.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Platform, Section};

/// `[backup]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Folders holding the backup archives (absolute, or relative to the project folder); each
    /// is scanned with its immediate subfolders. Default: `["/backup"]` (the guide's folder).
    pub paths: Vec<PathBuf>,
    /// Age of the newest archive that warns, hours. Default: 26 (a nightly backup that missed
    /// one run by a little).
    pub age_warn_hours: f64,
    /// Age of the newest archive that is critical, hours. Default: 50 (two nightly runs missed).
    pub age_crit_hours: f64,
    /// The newest archive of a series smaller than this percentage of the median of the
    /// previous ones of the same series is a warning (a sudden drop). Default: 50.
    pub size_drop_pct: f64,
    /// Time `backup.integrity` may spend reading archives, seconds (all archives of a run
    /// together). A larger archive is read as far as the bound allows and the check says how
    /// far it got. Capped at 8 × `timeout_secs` so the check always reports its own progress.
    /// Default: 10.
    pub integrity_max_secs: f64,
}

impl Section for Settings {
    fn defaults(_: &Platform<'_>) -> Self {
        Self { paths: vec!["/backup".into()], age_warn_hours: 26.0, age_crit_hours: 50.0, size_drop_pct: 50.0, integrity_max_secs: 10.0 }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.paths.is_empty() || self.paths.iter().any(|p| p.as_os_str().is_empty()) {
            return Err(("paths", "list at least one backup folder, none empty".into()));
        }
        if !(self.age_warn_hours.is_finite() && self.age_crit_hours.is_finite() && self.age_warn_hours > 0.0 && self.age_warn_hours <= self.age_crit_hours) {
            return Err(("age_warn_hours", "must be more than 0 and not exceed age_crit_hours".into()));
        }
        if !(0.0..=100.0).contains(&self.size_drop_pct) {
            return Err(("size_drop_pct", "must be a percentage between 0 and 100".into()));
        }
        if !(self.integrity_max_secs.is_finite() && self.integrity_max_secs > 0.0 && self.integrity_max_secs <= 3600.0) {
            return Err(("integrity_max_secs", "must be more than 0 and at most 3600 seconds".into()));
        }
        Ok(())
    }

    fn vars(&self, platform: &Platform<'_>) -> Vec<(&'static str, String)> {
        let first = self.paths.first().cloned().unwrap_or_else(|| "/backup".into());
        let path = if first.is_absolute() { first } else { platform.dir.join(first) };
        vec![
            ("path", path.display().to_string()),
            ("age_warn_hours", self.age_warn_hours.to_string()),
            ("age_crit_hours", self.age_crit_hours.to_string()),
            ("size_drop_pct", self.size_drop_pct.to_string()),
            ("integrity_max_secs", self.integrity_max_secs.to_string()),
        ]
    }
}
