//! `[network]`: how the platform reaches the outside (the hospital's proxy).

use serde::{Deserialize, Serialize};

use crate::config::{CredentialUrl, Platform, Section};

/// `[network]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Proxy for HTTP and HTTPS, overriding `HTTPS_PROXY`/`HTTP_PROXY` of the environment and
    /// `.env`; `""` means no proxy. Credentials in it are never shown. Default: none (the variables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<CredentialUrl>,
    /// Hosts reached without the proxy (`NO_PROXY` syntax: names, `.suffix`, `*`, IPs, CIDR),
    /// overriding `NO_PROXY` of the environment and `.env`. Default: none (the variables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// More external URLs `network.proxy` checks, beside the Annuaire, Pro Santé Connect and the
    /// whitelist. Default: none.
    #[serde(default)]
    pub endpoints: Vec<String>,
}

impl Section for Settings {
    fn defaults(_: &Platform<'_>) -> Self {
        Self { proxy: None, no_proxy: None, endpoints: Vec::new() }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(p) = self.proxy.as_ref().filter(|p| !p.expose().is_empty()) {
            // The parser's message, never the URL (it may carry a password).
            crate::proxy::parse_proxy_url(p.expose()).map_err(|e| ("proxy", e.describe(crate::Lang::En)))?;
        }
        for e in &self.endpoints {
            let u = reqwest::Url::parse(e).map_err(|err| ("endpoints", format!("not a URL: {err}")))?;
            if u.host_str().is_none() {
                return Err(("endpoints", "a URL with a host is expected".into()));
            }
        }
        Ok(())
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        let proxy = self.proxy.as_ref().map_or_else(|| "$HTTPS_PROXY".to_owned(), ToString::to_string);
        vec![("proxy", proxy)]
    }
}
