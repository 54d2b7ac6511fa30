//! `[imap]`: Dovecot.

use serde::{Deserialize, Serialize};

use crate::config::{Platform, Section};

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
}

impl Section for Settings {
    fn defaults(p: &Platform<'_>) -> Self {
        Self { host: "localhost".into(), port: 143, tls_name: p.mail_name() }
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![("host", self.host.clone()), ("port", self.port.to_string())]
    }
}
