//! `[smtp]`: Postfix, its test account and the peer domains mail is sent to.

use serde::{Deserialize, Serialize};

use crate::account::TestAccount;
use crate::config::{Platform, Section};
use crate::resolver::Nameserver;

/// `[smtp]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Host. Default: `localhost`.
    pub host: String,
    /// Inbound port (`smtp.inbound`, `smtp.delivery`). Default: 25.
    pub inbound_port: u16,
    /// Submission port (`smtp.submission`, `smtp.auth`). Default: 587.
    pub submission_port: u16,
    /// Name sent in EHLO. Default: `mssante-diag.localdomain`.
    pub hello_name: String,
    /// Name expected in the TLS certificate. Default: `mail.<DOMAIN>` or `localhost`.
    pub tls_name: String,
    /// Local mailbox probed with `RCPT TO` by `smtp.delivery` (no message is sent).
    /// Default: `SMTP_TEST_USER` of `.env`, else none (the check is skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_mailbox: Option<String>,
    /// Sender given in `MAIL FROM` by `smtp.delivery`; empty is the null sender `<>`, as
    /// Postfix's own address verification uses. Default: empty.
    pub delivery_sender: String,
    /// Peer domains `smtp.remote` checks (MX lookup, then port `remote_port` of the best MX).
    /// Default: none (the check is skipped).
    pub peer_domains: Vec<String>,
    /// Port of the peers' MX hosts. Default: 25.
    pub remote_port: u16,
    /// Nameservers for the MX and address lookups (`"IP"` or `"IP:PORT"`). Default: none, the
    /// system's `/etc/resolv.conf`.
    pub resolver: Vec<Nameserver>,
    /// The test account of `smtp.auth` (`username`, `password_env`, `password`,
    /// `bearer_token_file`, `bearer_token_env`). Default: `SMTP_TEST_USER` / `SMTP_TEST_PASSWORD`.
    #[serde(flatten)]
    pub account: TestAccount,
}

impl Section for Settings {
    fn defaults(p: &Platform<'_>) -> Self {
        Self {
            host: "localhost".into(),
            inbound_port: 25,
            submission_port: 587,
            hello_name: "mssante-diag.localdomain".into(),
            tls_name: p.mail_name(),
            delivery_mailbox: p.env.get("SMTP_TEST_USER").map(str::to_owned),
            delivery_sender: String::new(),
            peer_domains: Vec::new(),
            remote_port: 25,
            resolver: Vec::new(),
            account: TestAccount::from_platform(p),
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        let address = |key: &'static str, a: &str| {
            a.parse::<lettre::Address>().map(|_| ()).map_err(|_| (key, format!("`{a}` is not an e-mail address")))
        };
        if let Some(m) = &self.delivery_mailbox {
            address("delivery_mailbox", m)?;
        }
        if !self.delivery_sender.is_empty() {
            address("delivery_sender", &self.delivery_sender)?;
        }
        if let Some(bad) = self.peer_domains.iter().find(|d| !is_domain(d)) {
            return Err(("peer_domains", format!("`{bad}` is not a domain name")));
        }
        if self.remote_port == 0 {
            return Err(("remote_port", "must be a port number (1-65535)".into()));
        }
        Ok(())
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![
            ("host", self.host.clone()),
            ("inbound_port", self.inbound_port.to_string()),
            ("submission_port", self.submission_port.to_string()),
            ("remote_port", self.remote_port.to_string()),
            self.account.username_var(),
            ("delivery_mailbox", self.delivery_mailbox.clone().unwrap_or_else(|| "USER@DOMAIN".into())),
        ]
    }
}

/// Letters, digits, hyphens and dots, at least one dot, no empty label.
fn is_domain(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    d.contains('.') && d.len() <= 253 && d.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}
