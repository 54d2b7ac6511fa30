//! `[auth]`: Pro Santé Connect (the OIDC provider) and the tokens the platform accepts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Platform, Secret, Section};

/// Pro Santé Connect's production issuer.
pub const PSC_PRODUCTION_ISSUER: &str = "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet";

/// `[auth]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Run `auth.psc` (false on a host that may not reach PSC). Default: true.
    pub psc: bool,
    /// The PSC issuer the platform is registered with. Default: `PSC_ISSUER` of `.env`, else
    /// PSC's production issuer.
    pub issuer: String,
    /// The discovery document's URL. Default: `PSC_DISCOVERY_URL` of `.env`, else none:
    /// `<issuer>/.well-known/wallet-openid-configuration` (PSC's own path), then the standard
    /// `<issuer>/.well-known/openid-configuration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_url: Option<String>,
    /// PEM file of CA certificates trusted besides the built-in roots (a TLS-inspecting
    /// proxy's CA, a test CA), relative to the project folder. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// Discovery plus JWKS time that warns, ms. Default: 1000.
    pub latency_warn_ms: u64,
    /// Discovery plus JWKS time that is critical, ms. Default: 3000.
    pub latency_crit_ms: u64,
    /// A token for `auth.jwt` to decode (prefer `token_env`; `mssante-diag jwt TOKEN` gives
    /// one for a single run). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// Variable holding a token for `auth.jwt`, looked up in the environment then `.env`.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// Variable holding the platform's HMAC secret (HS256/384/512 tokens). Default: `JWT_SECRET`.
    pub jwt_secret_env: String,
    /// Clock difference tolerated on `exp`, `nbf` and `iat`, seconds. Default: 60.
    pub clock_skew_secs: u64,
}

impl Section for Settings {
    fn defaults(p: &Platform<'_>) -> Self {
        Self {
            psc: true,
            issuer: p.value("PSC_ISSUER", PSC_PRODUCTION_ISSUER),
            discovery_url: p.env.get("PSC_DISCOVERY_URL").map(str::to_owned),
            ca_bundle: None,
            latency_warn_ms: 1000,
            latency_crit_ms: 3000,
            token: None,
            token_env: None,
            jwt_secret_env: "JWT_SECRET".to_owned(),
            clock_skew_secs: 60,
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.latency_warn_ms > self.latency_crit_ms {
            return Err(("latency_warn_ms", "must not exceed latency_crit_ms".into()));
        }
        reqwest::Url::parse(&self.issuer).map_err(|e| ("issuer", format!("not a URL: {e}")))?;
        if let Some(u) = &self.discovery_url {
            reqwest::Url::parse(u).map_err(|e| ("discovery_url", format!("not a URL: {e}")))?;
        }
        Ok(())
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        let discovery = self.discovery_url.clone().unwrap_or_else(|| format!("{}/.well-known/wallet-openid-configuration", self.issuer.trim_end_matches('/')));
        let shown = crate::config::redact_url;
        vec![("issuer", shown(&self.issuer)), ("discovery_url", shown(&discovery)), ("clock_skew_secs", self.clock_skew_secs.to_string())]
    }
}
