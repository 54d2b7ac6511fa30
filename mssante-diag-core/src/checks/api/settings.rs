//! `[api]`: the platform's Node API.

use serde::{Deserialize, Serialize};

use crate::config::{CredentialUrl, Platform, Section};

/// `[api]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Health endpoint. Default: `http://localhost:3000/health` (or `API_PORT` of `.env`).
    /// Credentials in it (`user:password@`) are never shown.
    pub url: CredentialUrl,
    /// Latency that turns `api.health` to warning, ms. Default: 1000.
    pub latency_warn_ms: u64,
    /// Latency that turns `api.health` to critical, ms. Default: 3000.
    pub latency_crit_ms: u64,
}

impl Section for Settings {
    fn defaults(p: &Platform<'_>) -> Self {
        Self {
            url: CredentialUrl::new(format!("http://localhost:{}/health", p.port("API_PORT", 3000))),
            latency_warn_ms: 1000,
            latency_crit_ms: 3000,
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.latency_warn_ms > self.latency_crit_ms {
            return Err(("latency_warn_ms", "must not exceed latency_crit_ms".into()));
        }
        // The parser's message, never the URL (it may carry a password).
        reqwest::Url::parse(self.url.expose()).map(drop).map_err(|e| ("url", format!("not a URL: {e}")))
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![("url", self.url.to_string())]
    }
}
