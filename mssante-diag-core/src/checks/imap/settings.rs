//! `[imap]`: Dovecot, its test account, and where `doveadm` runs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::account::TestAccount;
use crate::config::{Platform, Section};
use crate::exec::Place;

/// `[imap]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Host. Default: `localhost`.
    pub host: String,
    /// Port. Default: 143.
    pub port: u16,
    /// Name expected in the TLS certificate. Default: `mail.<DOMAIN>` or `localhost`.
    pub tls_name: String,
    /// Total of LOGIN, SELECT, FETCH and LOGOUT that warns (`imap.latency`), ms. Default: 500.
    pub latency_warn_ms: f64,
    /// Same, critical, ms. Default: 2000.
    pub latency_crit_ms: f64,
    /// Where `doveadm who` runs: `"host"` or `"service:NAME"`. Default: `service:dovecot`.
    pub doveadm: Place,
    /// Dovecot configuration file given to doveadm (`-c`), for an instance with its own
    /// configuration. Default: none (doveadm's own default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doveadm_config: Option<PathBuf>,
    /// Connections of one user that warn (`imap.sessions`). Default: 10, Dovecot's default
    /// `mail_max_userip_connections`.
    pub sessions_warn_per_user: u32,
    /// The test account of `imap.auth` and `imap.latency` (`username`, `password_env`,
    /// `password`, `bearer_token_file`, `bearer_token_env`). Default: `SMTP_TEST_USER` /
    /// `SMTP_TEST_PASSWORD`.
    #[serde(flatten)]
    pub account: TestAccount,
}

impl Section for Settings {
    fn defaults(p: &Platform<'_>) -> Self {
        Self {
            host: "localhost".into(),
            port: 143,
            tls_name: p.mail_name(),
            latency_warn_ms: 500.0,
            latency_crit_ms: 2000.0,
            doveadm: Place::Service("dovecot".into()),
            doveadm_config: None,
            sessions_warn_per_user: 10,
            account: TestAccount::from_platform(p),
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.latency_warn_ms > 0.0 && self.latency_warn_ms <= self.latency_crit_ms) {
            return Err(("latency_warn_ms", "must be more than 0 and not exceed latency_crit_ms".into()));
        }
        if self.sessions_warn_per_user == 0 {
            return Err(("sessions_warn_per_user", "must be at least 1".into()));
        }
        Ok(())
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![
            ("host", self.host.clone()),
            ("port", self.port.to_string()),
            self.account.username_var(),
            ("latency_warn_ms", self.latency_warn_ms.to_string()),
            ("latency_crit_ms", self.latency_crit_ms.to_string()),
            ("sessions_warn_per_user", self.sessions_warn_per_user.to_string()),
        ]
    }
}
