//! `[smtp]`: Postfix.

use serde::{Deserialize, Serialize};

use crate::config::{Platform, Section};

/// `[smtp]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Host. Default: `localhost`.
    pub host: String,
    /// Inbound port (`smtp.inbound`). Default: 25.
    pub inbound_port: u16,
    /// Submission port (`smtp.submission`). Default: 587.
    pub submission_port: u16,
    /// Name sent in EHLO. Default: `mssante-diag.localdomain`.
    pub hello_name: String,
    /// Name expected in the TLS certificate. Default: `mail.<DOMAIN>` or `localhost`.
    pub tls_name: String,
}

impl Section for Settings {
    fn defaults(p: &Platform<'_>) -> Self {
        Self {
            host: "localhost".into(),
            inbound_port: 25,
            submission_port: 587,
            hello_name: "mssante-diag.localdomain".into(),
            tls_name: p.mail_name(),
        }
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![("host", self.host.clone()), ("inbound_port", self.inbound_port.to_string()), ("submission_port", self.submission_port.to_string())]
    }
}
