//! `[tls]`: the platform's certificate files, its CA set (IGC Santé) and its TLS endpoints.
//!
//! The IGC Santé CA names below come from `shared/reference/health-sector-facts.md`
//! ("IGC Santé certificate authorities", after ansforge/dops-cryptolib and the TEST names of
//! ansforge/esignsante-ws): production roots `AC RACINE IGC-SANTE {ELEMENTAIRE,STANDARD,FORT}`,
//! intermediates `AC IGC-SANTE {ELEMENTAIRE,STANDARD,FORT} {ORGANISATIONS,PERSONNES}`; the test
//! hierarchy uses the same names prefixed with `TEST ` (e.g. `TEST AC RACINE IGC-SANTE ELEMENTAIRE`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Platform, Section};

/// Production IGC Santé roots (health-sector-facts.md). Their `TEST ` variants are recognised too.
pub const IGC_ROOTS: [&str; 3] = [
    "AC RACINE IGC-SANTE ELEMENTAIRE",
    "AC RACINE IGC-SANTE STANDARD",
    "AC RACINE IGC-SANTE FORT",
];

/// Production IGC Santé intermediate CAs (health-sector-facts.md). Their `TEST ` variants too.
pub const IGC_ISSUERS: [&str; 6] = [
    "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
    "AC IGC-SANTE ELEMENTAIRE PERSONNES",
    "AC IGC-SANTE STANDARD ORGANISATIONS",
    "AC IGC-SANTE STANDARD PERSONNES",
    "AC IGC-SANTE FORT ORGANISATIONS",
    "AC IGC-SANTE FORT PERSONNES",
];

/// The default endpoints: the guide's HTTPS, SMTP (inbound, submission) and IMAP ports.
pub const DEFAULT_ENDPOINTS: [&str; 4] = [
    "https://localhost:443",
    "smtp://localhost:25",
    "smtp://localhost:587",
    "imap://localhost:143",
];

/// What the platform is: a production platform must not use TEST IGC Santé certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Production: a certificate under a `TEST ...` IGC Santé CA is critical (the default).
    #[default]
    Production,
    /// Test / recette platform: certificates of the TEST IGC Santé hierarchy are expected.
    Test,
}

impl Environment {
    /// `production` or `test`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Test => "test",
        }
    }
}

/// How an endpoint starts TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Upgrade {
    /// TLS from the first byte (HTTPS 443, SMTPS 465, IMAPS 993).
    Direct,
    /// SMTP `STARTTLS` (25, 587).
    Smtp,
    /// IMAP `STARTTLS` (143).
    Imap,
}

/// A TLS endpoint, written `scheme://host:port`: `https`, `tls`, `smtps`, `imaps` (TLS from the
/// first byte), `smtp` or `imap` (STARTTLS). The port defaults to the scheme's (443, 443, 465,
/// 993, 25, 143).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Endpoint {
    /// Scheme as written (`https`, `smtp`...).
    pub scheme: String,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// How TLS starts.
    #[serde(skip)]
    pub upgrade: Upgrade,
}

impl Endpoint {
    /// `host:port` (an IPv6 address in brackets).
    #[must_use]
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl TryFrom<String> for Endpoint {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let bad = |why: &str| {
            // Credentials written in it (`https://user:password@host`) are not shown.
            let shown = crate::config::redact_url(&s);
            format!("`{shown}` is not an endpoint (`scheme://host:port`, scheme https, tls, smtps, imaps, smtp or imap): {why}")
        };
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let (upgrade, default_port) = match scheme.as_str() {
            "https" | "tls" => (Upgrade::Direct, 443),
            "smtps" => (Upgrade::Direct, 465),
            "imaps" => (Upgrade::Direct, 993),
            "smtp" => (Upgrade::Smtp, 25),
            "imap" => (Upgrade::Imap, 143),
            _ => return Err(bad("unknown scheme")),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            (h.to_owned(), after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (rest.to_owned(), None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("bad port"))?,
            None => default_port,
        };
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return Err(bad("bad host"));
        }
        Ok(Self {
            scheme,
            host,
            port,
            upgrade,
        })
    }
}

impl From<Endpoint> for String {
    fn from(e: Endpoint) -> String {
        e.to_string()
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.address())
    }
}

/// `[tls]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `production` (a TEST IGC Santé CA is critical) or `test` (a recette platform, where the
    /// TEST IGC Santé hierarchy is expected). Default: `production`.
    pub environment: Environment,
    /// The server certificate (PEM or DER; may hold the chain after it).
    /// Default: `config/certificates/server/server.crt`.
    pub cert: PathBuf,
    /// Its private key (PEM or DER). Default: `config/certificates/server/server.key`.
    pub key: PathBuf,
    /// The chain file the servers serve (leaf, then intermediates), judged when it exists.
    /// Default: `config/certificates/server/fullchain.pem`.
    pub fullchain: PathBuf,
    /// The CA set: a folder of PEM/DER files (`*.pem`, `*.crt`, `*.cer`, `*.der`) or one
    /// bundle file; its self-signed certificates are the trust anchors.
    /// Default: `config/certificates/igc-sante`.
    pub ca_dir: PathBuf,
    /// Names the certificate must cover (SAN); the first is sent as SNI to the endpoints.
    /// Default: `mail.<DOMAIN>` of `.env`, else `localhost`.
    pub names: Vec<String>,
    /// Days of validity left that warn. Default: 30.
    pub warn_days: f64,
    /// Days of validity left that are critical. Default: 7.
    pub crit_days: f64,
    /// Smallest RSA key accepted, bits. Default: 2048.
    pub min_rsa_bits: u32,
    /// Smallest elliptic-curve key accepted, bits. Default: 256.
    pub min_ec_bits: u32,
    /// Who must own the private key (user name or uid). Default: root or the owner of the
    /// project folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_owner: Option<String>,
    /// Names (CN) of the accepted root CAs; `TEST ` + a name is the test hierarchy's.
    /// Default: the IGC Santé roots ([`IGC_ROOTS`]).
    pub igc_roots: Vec<String>,
    /// Names (CN) of the CAs allowed to issue the server certificate; `TEST ` + a name too.
    /// Default: the IGC Santé intermediates ([`IGC_ISSUERS`]).
    pub igc_issuers: Vec<String>,
    /// Live endpoints to handshake with (`scheme://host:port`). Default: `https://localhost:443`,
    /// `smtp://localhost:25`, `smtp://localhost:587`, `imap://localhost:143`.
    pub endpoints: Vec<Endpoint>,
}

impl Section for Settings {
    fn defaults(p: &Platform<'_>) -> Self {
        Self {
            environment: Environment::Production,
            cert: PathBuf::from("config/certificates/server/server.crt"),
            key: PathBuf::from("config/certificates/server/server.key"),
            fullchain: PathBuf::from("config/certificates/server/fullchain.pem"),
            ca_dir: PathBuf::from("config/certificates/igc-sante"),
            names: vec![p.mail_name()],
            warn_days: 30.0,
            crit_days: 7.0,
            min_rsa_bits: 2048,
            min_ec_bits: 256,
            key_owner: None,
            igc_roots: IGC_ROOTS.map(str::to_owned).to_vec(),
            igc_issuers: IGC_ISSUERS.map(str::to_owned).to_vec(),
            endpoints: DEFAULT_ENDPOINTS
                .iter()
                .filter_map(|s| Endpoint::try_from((*s).to_owned()).ok())
                .collect(),
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.crit_days.is_finite()
            && self.warn_days.is_finite()
            && self.crit_days >= 0.0
            && self.crit_days <= self.warn_days)
        {
            return Err((
                "warn_days",
                "must be 0 or more and not below crit_days".into(),
            ));
        }
        if self.names.is_empty() || self.names.iter().any(|n| n.trim().is_empty()) {
            return Err(("names", "must list at least one non-empty name".into()));
        }
        if self.min_rsa_bits > 16384 || self.min_ec_bits > 1024 {
            return Err(("min_rsa_bits", "unrealistic minimum key size".into()));
        }
        if self.key_owner.as_deref().is_some_and(str::is_empty) {
            return Err(("key_owner", "must not be empty".into()));
        }
        Ok(())
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        let show = |p: &PathBuf| p.display().to_string();
        vec![
            ("cert", show(&self.cert)),
            ("key", show(&self.key)),
            ("fullchain", show(&self.fullchain)),
            ("ca_dir", show(&self.ca_dir)),
            ("name", self.names.first().cloned().unwrap_or_default()),
            ("warn_days", self.warn_days.to_string()),
            ("crit_days", self.crit_days.to_string()),
            ("min_rsa_bits", self.min_rsa_bits.to_string()),
            ("environment", self.environment.as_str().to_owned()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_endpoints_are_valid() {
        assert_eq!(Settings::default().endpoints.len(), DEFAULT_ENDPOINTS.len());
    }

    #[test]
    fn endpoints_parse_with_default_ports() {
        let e = |s: &str| Endpoint::try_from(s.to_owned());
        let https = e("https://mail.example.fr").expect("valid");
        assert_eq!((https.port, https.upgrade), (443, Upgrade::Direct));
        assert_eq!(
            e("smtp://127.0.0.1:587").expect("valid").upgrade,
            Upgrade::Smtp
        );
        assert_eq!(e("imap://h").expect("valid").port, 143);
        assert_eq!(e("imaps://h").expect("valid").port, 993);
        assert_eq!(
            e("smtps://[::1]:465").expect("valid").address(),
            "[::1]:465"
        );
        for bad in [
            "mail.example.fr:443",
            "ftp://h",
            "https://",
            "https://h:0",
            "https://h:99999",
            "smtp://u@h",
        ] {
            assert!(e(bad).is_err(), "{bad}");
        }
        assert_eq!(
            e("HTTPS://h:8443/").expect("valid").to_string(),
            "https://h:8443"
        );
    }
}
