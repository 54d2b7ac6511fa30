//! `[dns]`: the platform's domains and public addresses as receiving servers see them in DNS.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Platform, Section};
use crate::resolver::Nameserver;

/// Public blocklists queried by default (answers in 127.255.255.0/24 mean "refused", not listed).
pub const DEFAULT_BLOCKLISTS: &[&str] = &["zen.spamhaus.org", "bl.spamcop.net"];

/// Domains audited concurrently by `mssante-diag dns` at most, by default.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// `[dns]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Nameservers asked (`"IP"` or `"IP:PORT"`). Default: none, the system's `/etc/resolv.conf`.
    pub nameservers: Vec<Nameserver>,
    /// Mail domains of the platform. Default: `MAIL_DOMAIN`, else `DOMAIN` of `.env`; none
    /// skips the checks.
    pub domains: Vec<String>,
    /// Public addresses the platform sends mail from (SPF, PTR, blocklists). Default:
    /// `PUBLIC_IP` of `.env`, else none: the addresses of each domain's MX hosts.
    pub addresses: Vec<IpAddr>,
    /// DKIM selectors (`<selector>._domainkey.<domain>`). Default: `["default"]` (the guide's
    /// OpenDKIM selector).
    pub dkim_selectors: Vec<String>,
    /// The local OpenDKIM key (PEM private or public key; relative to the project folder) the
    /// published key must match. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dkim_key: Option<PathBuf>,
    /// DNS blocklist zones. Default: `zen.spamhaus.org`, `bl.spamcop.net`.
    pub blocklists: Vec<String>,
    /// Port of the MX hosts' SMTP servers (DANE handshake, banner). Default: 25.
    pub smtp_port: u16,
    /// Port of the MTA-STS policy host (`https://mta-sts.<domain>`). Default: 443.
    pub mta_sts_port: u16,
    /// CA bundle (PEM) trusted for the MTA-STS policy fetch. Default: none, the public roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// DNSSEC trust anchors: a file of DNSKEY records (zone-file syntax). Default: none, the
    /// root zone's keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_anchors: Option<PathBuf>,
    /// Domains audited at once by `mssante-diag dns`. Default: 64.
    pub concurrency: usize,
}

impl Section for Settings {
    fn defaults(p: &Platform<'_>) -> Self {
        let domain = p.env.get("MAIL_DOMAIN").or_else(|| p.env.get("DOMAIN")).filter(|d| !d.is_empty());
        Self {
            nameservers: Vec::new(),
            domains: domain.map(|d| vec![d.to_owned()]).unwrap_or_default(),
            addresses: p.env.get("PUBLIC_IP").and_then(|a| a.parse().ok()).into_iter().collect(),
            dkim_selectors: vec!["default".to_owned()],
            dkim_key: None,
            blocklists: DEFAULT_BLOCKLISTS.iter().map(|s| (*s).to_owned()).collect(),
            smtp_port: 25,
            mta_sts_port: 443,
            ca_bundle: None,
            trust_anchors: None,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(bad) = self.domains.iter().find(|d| !is_domain(d)) {
            return Err(("domains", format!("`{bad}` is not a domain name")));
        }
        if let Some(bad) = self.blocklists.iter().find(|d| !is_domain(d)) {
            return Err(("blocklists", format!("`{bad}` is not a domain name")));
        }
        if let Some(bad) = self.dkim_selectors.iter().find(|s| s.is_empty() || !is_domain(&format!("{s}.x"))) {
            return Err(("dkim_selectors", format!("`{bad}` is not a selector (labels of letters, digits, hyphens)")));
        }
        if self.smtp_port == 0 {
            return Err(("smtp_port", "must be a port number (1-65535)".into()));
        }
        if self.mta_sts_port == 0 {
            return Err(("mta_sts_port", "must be a port number (1-65535)".into()));
        }
        if !(1..=1024).contains(&self.concurrency) {
            return Err(("concurrency", "must be between 1 and 1024".into()));
        }
        Ok(())
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        let domain = self.domains.first().cloned().unwrap_or_else(|| "DOMAIN".into());
        let address = self.addresses.first().map_or_else(|| "PLATFORM_IP".into(), ToString::to_string);
        let spf_ips = if self.addresses.is_empty() {
            "ip4:PLATFORM_IP".to_owned()
        } else {
            self.addresses.iter().map(|a| if a.is_ipv4() { format!("ip4:{a}") } else { format!("ip6:{a}") }).collect::<Vec<_>>().join(" ")
        };
        vec![
            ("domain", domain),
            ("address", address),
            ("spf_ips", spf_ips),
            ("selector", self.dkim_selectors.first().cloned().unwrap_or_else(|| "default".into())),
            ("smtp_port", self.smtp_port.to_string()),
            ("mta_sts_port", self.mta_sts_port.to_string()),
        ]
    }
}

/// Letters, digits, hyphens, underscores and dots, at least one dot, no empty label.
pub(crate) fn is_domain(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    d.contains('.') && d.len() <= 253 && d.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}
