//! `[annuaire]`: the Annuaire Santé FHIR API (read by `network.annuaire` too) and how the
//! platform's mailboxes are reconciled with the BALs it publishes.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{redact_url, Platform, Secret, Section};

/// `[annuaire]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Run `network.annuaire` and `annuaire.mailboxes` (false on a platform that does not use
    /// the Annuaire). Default: true.
    pub enabled: bool,
    /// Base URL of the FHIR API. Default: `ANNUAIRE_URL` of `.env`, else the production
    /// `https://gateway.api.esante.gouv.fr/fhir/v2`.
    pub url: String,
    /// The API key (prefer `api_key_env`). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// Variable holding the API key (sent as `ESANTE-API-KEY`), looked up in the environment
    /// then `.env`. Default: `ESANTE_API_KEY`, or `ANNUAIRE_API_KEY` when only that one is in `.env`.
    pub api_key_env: String,
    /// PEM file of CA certificates trusted besides the built-in roots (a TLS-inspecting
    /// proxy's CA, a test CA), relative to the project folder. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// The operator's domains whose BALs are reconciled. Default: `DOMAIN` of `.env`.
    pub domains: Vec<String>,
    /// `/metadata` time that warns, ms. Default: 1000.
    pub latency_warn_ms: u64,
    /// `/metadata` time that is critical, ms. Default: 3000.
    pub latency_crit_ms: u64,
    /// `_count` of each search page. Default: 100.
    pub page_size: u32,
    /// Most pages read in one reconciliation. Default: 1000.
    pub max_pages: u32,
    /// Most bytes read of one page, MiB. Default: 16.
    pub page_max_mib: u32,
    /// Longest time for the whole search, seconds (the check's deadline bounds it too). Default: 50.
    pub fetch_secs: f64,
    /// The platform's table of mailboxes (read-only). Default: `mailboxes`.
    pub table: String,
    /// Its column holding the address. Default: `email`.
    pub address_column: String,
    /// Its column holding the BAL type (PER, ORG, APP, CAB); types are not compared when the
    /// table has no such column. Default: `type`.
    pub type_column: String,
    /// Most local mailboxes read, and most published BALs kept. Default: 1000000.
    pub max_local: u32,
    /// Addresses shown per list in summaries (the JSON details list them all). Default: 10.
    pub show_first: usize,
    /// Show addresses masked (`d***@domain`). Default: false.
    pub mask: bool,
}

impl Section for Settings {
    fn defaults(p: &Platform<'_>) -> Self {
        let api_key_env =
            if p.env.get("ESANTE_API_KEY").is_none() && p.env.get("ANNUAIRE_API_KEY").is_some() {
                "ANNUAIRE_API_KEY"
            } else {
                "ESANTE_API_KEY"
            };
        Self {
            enabled: true,
            url: p.value("ANNUAIRE_URL", crate::annuaire::PRODUCTION_URL),
            api_key: None,
            api_key_env: api_key_env.to_owned(),
            ca_bundle: None,
            domains: p
                .env
                .get("DOMAIN")
                .map(|d| vec![d.to_ascii_lowercase()])
                .unwrap_or_default(),
            latency_warn_ms: 1000,
            latency_crit_ms: 3000,
            page_size: 100,
            max_pages: 1000,
            page_max_mib: 16,
            fetch_secs: 50.0,
            table: "mailboxes".to_owned(),
            address_column: "email".to_owned(),
            type_column: "type".to_owned(),
            max_local: 1_000_000,
            show_first: 10,
            mask: false,
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        let u = reqwest::Url::parse(&self.url).map_err(|e| ("url", format!("not a URL: {e}")))?;
        if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none() {
            return Err(("url", "an http(s) URL with a host is expected".into()));
        }
        if self.latency_warn_ms > self.latency_crit_ms {
            return Err(("latency_warn_ms", "must not exceed latency_crit_ms".into()));
        }
        if !(1..=1000).contains(&self.page_size) {
            return Err(("page_size", "must be between 1 and 1000".into()));
        }
        if self.max_pages == 0 {
            return Err(("max_pages", "must be at least 1".into()));
        }
        if !(1..=1024).contains(&self.page_max_mib) {
            return Err(("page_max_mib", "must be between 1 and 1024".into()));
        }
        if !(self.fetch_secs > 0.0 && self.fetch_secs <= 3600.0) {
            return Err(("fetch_secs", "must be between 0 and 3600 seconds".into()));
        }
        for d in &self.domains {
            if d.is_empty() || d.contains(['@', '/', ' ']) {
                return Err(("domains", format!("not a domain: {d:?}")));
            }
        }
        let ident = |key: &'static str, v: &str, dotted: bool| {
            let ok = !v.is_empty()
                && v.split('.').count() <= if dotted { 2 } else { 1 }
                && v.split('.').all(|p| {
                    !p.is_empty()
                        && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !p.starts_with(|c: char| c.is_ascii_digit())
                });
            if ok {
                Ok(())
            } else {
                Err((
                    key,
                    "a plain SQL name is expected (letters, digits, _)".to_owned(),
                ))
            }
        };
        ident("table", &self.table, true)?;
        ident("address_column", &self.address_column, false)?;
        ident("type_column", &self.type_column, false)
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![
            ("url", redact_url(&self.url)),
            ("api_key_env", self.api_key_env.clone()),
            ("domains", self.domains.join(" ")),
            ("table", self.table.clone()),
            ("address_column", self.address_column.clone()),
        ]
    }
}
