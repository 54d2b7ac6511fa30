//! `[redis]`: the platform's cache.

use serde::{Deserialize, Serialize};

use crate::config::{Credential, Platform, Section};

/// `[redis]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Host. Default: `REDIS_HOST` of `.env` when it is not a compose service name, else `localhost`.
    pub host: String,
    /// Port. Default: `REDIS_PORT` or 6379.
    pub port: u16,
    /// ACL user name (Redis 6+), if any. Default: none.
    pub username: Option<String>,
    /// Password. Default: variable `REDIS_PASSWORD` (none set means no AUTH).
    #[serde(flatten)]
    pub credential: Credential,
    /// PING round trip that warns, ms. Default: 250.
    pub latency_warn_ms: f64,
    /// PING round trip that is critical, ms. Default: 1000.
    pub latency_crit_ms: f64,
}

impl Section for Settings {
    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![("host", self.host.clone()), ("port", self.port.to_string()), ("latency_warn_ms", self.latency_warn_ms.to_string())]
    }

    fn defaults(p: &Platform<'_>) -> Self {
        Self {
            host: p.host("REDIS_HOST"),
            port: p.port("REDIS_PORT", 6379),
            username: None,
            credential: Credential::from_env("REDIS_PASSWORD"),
            latency_warn_ms: 250.0,
            latency_crit_ms: 1000.0,
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.latency_warn_ms > 0.0 && self.latency_warn_ms <= self.latency_crit_ms) {
            return Err(("latency_warn_ms", "must be more than 0 and not exceed latency_crit_ms".into()));
        }
        Ok(())
    }
}
