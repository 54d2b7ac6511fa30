//! `[mssante]`: the MSSanté espace de confiance (the trust space's whitelist of domains).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Platform, Section};

/// The official whitelist of the espace de confiance.
pub const OFFICIAL_WHITELIST_URL: &str = "https://espacedeconfiance.mssante.fr/listeblanchemssante.xml";

/// `[mssante]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The whitelist (`listeblanchemssante.xml`): an `https://` URL, or a local copy (a path,
    /// relative to the project folder). Default: `MSSANTE_WHITELIST` of `.env`, else the
    /// official URL.
    pub whitelist: String,
    /// The operator's domains, each of which must be listed. Default: `DOMAIN` of `.env`.
    pub domains: Vec<String>,
    /// Age of the list (its `DateDeGeneration`) that warns, days. Default: 7.
    pub max_age_days: f64,
    /// PEM file of CA certificates trusted besides the built-in roots to fetch the list (a
    /// TLS-inspecting proxy's CA, a test CA), relative to the project folder. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// Name the domains of deferred mail (Postfix's queue, read as `[postfix]` says) that are
    /// not in the list. Default: true.
    pub deferred: bool,
}

impl Section for Settings {
    fn defaults(p: &Platform<'_>) -> Self {
        Self {
            whitelist: p.value("MSSANTE_WHITELIST", OFFICIAL_WHITELIST_URL),
            domains: p.env.get("DOMAIN").map(|d| vec![d.to_ascii_lowercase()]).unwrap_or_default(),
            max_age_days: 7.0,
            ca_bundle: None,
            deferred: true,
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.whitelist.trim().is_empty() {
            return Err(("whitelist", "a URL or a file path is expected".into()));
        }
        if self.whitelist.contains("://") {
            let u = reqwest::Url::parse(&self.whitelist).map_err(|e| ("whitelist", format!("not a URL: {e}")))?;
            if !matches!(u.scheme(), "https" | "http") {
                return Err(("whitelist", "only http(s):// URLs or file paths are read".into()));
            }
        }
        if !(self.max_age_days.is_finite() && self.max_age_days > 0.0) {
            return Err(("max_age_days", "must be a number of days above 0".into()));
        }
        if let Some(d) = self.domains.iter().find(|d| d.is_empty() || d.contains(['@', '/', ' '])) {
            return Err(("domains", format!("`{d}` is not a domain name")));
        }
        Ok(())
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        let domain = self.domains.first().cloned().unwrap_or_else(|| "votre-domaine.mssante.fr".to_owned());
        vec![("whitelist", crate::config::redact_url(&self.whitelist)), ("domain", domain), ("max_age_days", self.max_age_days.to_string())]
    }
}
