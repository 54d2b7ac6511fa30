//! `[postfix]`: where Postfix's own tools run, and the queue's thresholds.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Platform, Section};
use crate::exec::Place;

/// `[postfix]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where `postqueue` runs: `"host"` or `"service:NAME"` (a compose service). Default:
    /// `service:postfix`.
    pub place: Place,
    /// Configuration directory of the Postfix instance (`postqueue -c DIR`). Default: none
    /// (Postfix's default, `/etc/postfix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_dir: Option<PathBuf>,
    /// Messages in the queue (all queues) that warn. Default: 20.
    pub queue_warn: u64,
    /// Messages in the queue that are critical. Default: 200.
    pub queue_crit: u64,
    /// Age of the oldest message that warns, minutes. Default: 60.
    pub age_warn_minutes: f64,
    /// Age of the oldest message that is critical, minutes. Default: 1440 (a day).
    pub age_crit_minutes: f64,
}

impl Section for Settings {
    fn defaults(_: &Platform<'_>) -> Self {
        Self { place: Place::Service("postfix".into()), config_dir: None, queue_warn: 20, queue_crit: 200, age_warn_minutes: 60.0, age_crit_minutes: 1440.0 }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.queue_warn == 0 || self.queue_warn > self.queue_crit {
            return Err(("queue_warn", "must be at least 1 and not exceed queue_crit".into()));
        }
        if !(self.age_warn_minutes.is_finite() && self.age_warn_minutes > 0.0 && self.age_warn_minutes <= self.age_crit_minutes) {
            return Err(("age_warn_minutes", "must be more than 0 and not exceed age_crit_minutes".into()));
        }
        Ok(())
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![
            ("queue_warn", self.queue_warn.to_string()),
            ("queue_crit", self.queue_crit.to_string()),
            ("age_warn_minutes", self.age_warn_minutes.to_string()),
            ("age_crit_minutes", self.age_crit_minutes.to_string()),
        ]
    }
}
