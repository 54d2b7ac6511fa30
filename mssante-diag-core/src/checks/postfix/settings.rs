//! `[postfix]`: where Postfix's own tools run, the queue's thresholds, and the mail log
//! `postfix.log` reads (files, Docker service, window, thresholds).

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
    /// Mail log files of `postfix.log`: paths or glob patterns (`*`, `?`, `[..]`), relative to
    /// the project folder; rotated `.gz` files are read too. Default: the mail logs under
    /// `data/logs/` ([`DEFAULT_LOG_PATHS`]).
    pub log_paths: Vec<String>,
    /// Compose service whose Docker log is read when no file matches. Default: `postfix`.
    pub log_service: String,
    /// Window of `postfix.log`, minutes (the most recent ones). Default: 60.
    pub log_window_minutes: f64,
    /// Delivery attempts in the window below which rates are not judged. Default: 20.
    pub log_min_attempts: u64,
    /// Deferrals per delivery attempt that warn, percent. Default: 20.
    pub deferral_rate_warn: f64,
    /// Deferrals per delivery attempt that are critical, percent. Default: 50.
    pub deferral_rate_crit: f64,
    /// Bounces per delivery attempt that warn, percent. Default: 5.
    pub bounce_rate_warn: f64,
    /// Bounces per delivery attempt that are critical, percent. Default: 20.
    pub bounce_rate_crit: f64,
    /// Failed logins (SMTP AUTH and IMAP) in the window that warn. Default: 100.
    pub auth_failures_warn: u64,
    /// Failed logins in the window that are critical. Default: 1000.
    pub auth_failures_crit: u64,
    /// Hide client addresses and e-mail addresses in the mail log summary of `postfix.log`.
    /// Default: false (the diagnostic bundle turns it on).
    pub mask_addresses: bool,
}

/// Mail logs looked for under the project folder when `log_paths` is not set (the guide's
/// layout: `du -sh data/logs/*`).
pub const DEFAULT_LOG_PATHS: &[&str] = &[
    "data/logs/mail.log*",
    "data/logs/maillog*",
    "data/logs/mail/*.log*",
    "data/logs/postfix*",
    "data/logs/postfix/*.log*",
    "data/logs/dovecot*",
    "data/logs/dovecot/*.log*",
];

impl Section for Settings {
    fn defaults(_: &Platform<'_>) -> Self {
        Self {
            place: Place::Service("postfix".into()),
            config_dir: None,
            queue_warn: 20,
            queue_crit: 200,
            age_warn_minutes: 60.0,
            age_crit_minutes: 1440.0,
            log_paths: DEFAULT_LOG_PATHS.iter().map(|p| (*p).to_owned()).collect(),
            log_service: "postfix".into(),
            log_window_minutes: 60.0,
            log_min_attempts: 20,
            deferral_rate_warn: 20.0,
            deferral_rate_crit: 50.0,
            bounce_rate_warn: 5.0,
            bounce_rate_crit: 20.0,
            auth_failures_warn: 100,
            auth_failures_crit: 1000,
            mask_addresses: false,
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.queue_warn == 0 || self.queue_warn > self.queue_crit {
            return Err(("queue_warn", "must be at least 1 and not exceed queue_crit".into()));
        }
        if !(self.age_warn_minutes.is_finite() && self.age_warn_minutes > 0.0 && self.age_warn_minutes <= self.age_crit_minutes) {
            return Err(("age_warn_minutes", "must be more than 0 and not exceed age_crit_minutes".into()));
        }
        if !(self.log_window_minutes.is_finite() && self.log_window_minutes > 0.0 && self.log_window_minutes <= 366.0 * 1440.0) {
            return Err(("log_window_minutes", "must be more than 0 and at most a year".into()));
        }
        for (key, warn, crit) in [("deferral_rate_warn", self.deferral_rate_warn, self.deferral_rate_crit), ("bounce_rate_warn", self.bounce_rate_warn, self.bounce_rate_crit)] {
            if !(warn.is_finite() && crit.is_finite() && warn > 0.0 && warn <= crit && crit <= 100.0) {
                return Err((key, "must be a percentage more than 0, not above its _crit (at most 100)".into()));
            }
        }
        if self.auth_failures_warn == 0 || self.auth_failures_warn > self.auth_failures_crit {
            return Err(("auth_failures_warn", "must be at least 1 and not exceed auth_failures_crit".into()));
        }
        if self.log_service.is_empty() {
            return Err(("log_service", "must name a compose service".into()));
        }
        if let Some(bad) = self.log_paths.iter().find(|p| glob::Pattern::new(p).is_err()) {
            return Err(("log_paths", format!("`{bad}` is not a valid pattern")));
        }
        Ok(())
    }

    fn vars(&self, p: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![
            // The platform's mail domain (`DOMAIN` of .env), cited by the DNS steps of postfix.log.
            ("domain", p.env.get("DOMAIN").unwrap_or("votre-domaine.mssante.fr").to_owned()),
            ("queue_warn", self.queue_warn.to_string()),
            ("queue_crit", self.queue_crit.to_string()),
            ("age_warn_minutes", self.age_warn_minutes.to_string()),
            ("age_crit_minutes", self.age_crit_minutes.to_string()),
            ("log_window_minutes", self.log_window_minutes.to_string()),
            ("log_service", self.log_service.clone()),
            ("deferral_rate_warn", self.deferral_rate_warn.to_string()),
            ("deferral_rate_crit", self.deferral_rate_crit.to_string()),
            ("bounce_rate_warn", self.bounce_rate_warn.to_string()),
            ("bounce_rate_crit", self.bounce_rate_crit.to_string()),
            ("auth_failures_warn", self.auth_failures_warn.to_string()),
            ("auth_failures_crit", self.auth_failures_crit.to_string()),
        ]
    }
}
