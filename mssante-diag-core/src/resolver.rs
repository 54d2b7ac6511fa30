//! DNS lookups through hickory-resolver, shared by every check that resolves names
//! (`smtp.remote` today, the `dns.*` checks later): the configured nameservers
//! (`["127.0.0.1:53", "192.0.2.1"]`), else the system's `/etc/resolv.conf`.
//!
//! Names are queried as absolute names (no search-list expansion), one attempt per
//! nameserver within the step timeout; callers bound the whole lookup with their
//! [`crate::probe::Deadline`]. Failures are classified ([`LookupError`]) so a summary can
//! say "no such domain" rather than quote a resolver's error.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{ResolveError, TokioResolver};
use serde::{Deserialize, Serialize};

use crate::{tr, Lang};

/// A nameserver address: `"IP"` (port 53) or `"IP:PORT"` (`"[IPv6]:PORT"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Nameserver(pub SocketAddr);

impl TryFrom<String> for Nameserver {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(Self(a));
        }
        s.parse::<IpAddr>()
            .map(|ip| Self(SocketAddr::new(ip, 53)))
            .map_err(|_| format!("`{s}`: expected an IP address, optionally with a port (\"192.0.2.1:53\")"))
    }
}

impl From<Nameserver> for String {
    fn from(n: Nameserver) -> String {
        if n.0.port() == 53 {
            n.0.ip().to_string()
        } else {
            n.0.to_string()
        }
    }
}

/// A resolver for `nameservers` (UDP, then TCP for truncated answers), or the system's
/// configuration when the list is empty.
///
/// # Errors
/// The system configuration could not be read (no `/etc/resolv.conf`...), in a few words.
pub fn build(nameservers: &[Nameserver], timeout: Duration) -> Result<TokioResolver, String> {
    let mut builder = if nameservers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| e.to_string())?
    } else {
        let group: Vec<NameServerConfig> = nameservers
            .iter()
            .flat_map(|n| [NameServerConfig::new(n.0, Protocol::Udp), NameServerConfig::new(n.0, Protocol::Tcp)])
            .collect();
        let config = ResolverConfig::from_parts(None, Vec::new(), group);
        TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
    };
    let opts = builder.options_mut();
    opts.timeout = timeout;
    opts.attempts = 1;
    if !nameservers.is_empty() {
        opts.use_hosts_file = ResolveHosts::Never;
    }
    Ok(builder.build())
}

/// Why a lookup gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
#[non_exhaustive]
pub enum LookupError {
    /// NXDOMAIN: the name does not exist.
    NoSuchDomain,
    /// The name exists but has no record of the type asked.
    NoRecords,
    /// The nameserver answered with an error code (SERVFAIL, REFUSED...).
    ServerError(String),
    /// No nameserver answered in time.
    Timeout,
    /// Anything else (no nameserver reachable, malformed answer), in the resolver's words.
    Failed(String),
}

impl LookupError {
    fn from_resolve(e: &ResolveError) -> Self {
        if e.is_nx_domain() {
            return Self::NoSuchDomain;
        }
        match e.proto().map(hickory_resolver::proto::ProtoError::kind) {
            Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => match *response_code {
                ResponseCode::NoError => Self::NoRecords,
                ResponseCode::NXDomain => Self::NoSuchDomain,
                code => Self::ServerError(code.to_string()),
            },
            Some(ProtoErrorKind::Timeout) => Self::Timeout,
            _ => Self::Failed(e.to_string().chars().take(200).collect()),
        }
    }

    /// One phrase for a summary, e.g. "no such domain (NXDOMAIN)".
    #[must_use]
    pub fn describe(&self, lang: Lang) -> String {
        match self {
            Self::NoSuchDomain => tr!(lang, "no such domain (NXDOMAIN)", "domaine inexistant (NXDOMAIN)"),
            Self::NoRecords => tr!(lang, "no record of that type", "aucun enregistrement de ce type"),
            Self::ServerError(code) => tr!(lang, "the nameserver answered {code}", "le serveur DNS a répondu {code}"),
            Self::Timeout => tr!(lang, "no nameserver answered in time", "aucun serveur DNS n'a répondu à temps"),
            Self::Failed(m) => m.clone(),
        }
    }
}

/// An MX record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mx {
    /// Preference (lower is tried first).
    pub preference: u16,
    /// Mail exchanger host, without the final dot (`.` alone for a null MX, RFC 7505).
    pub exchange: String,
}

impl Mx {
    /// A null MX (`0 .`): the domain accepts no mail (RFC 7505).
    #[must_use]
    pub fn is_null(&self) -> bool {
        self.exchange == "."
    }
}

/// `name` as an absolute name, so no search domain is appended.
fn absolute(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

/// The MX records of `domain`, most preferred first.
///
/// # Errors
/// [`LookupError`]: no such domain, no MX record, nameserver error or silence.
pub async fn mx(resolver: &TokioResolver, domain: &str) -> Result<Vec<Mx>, LookupError> {
    let lookup = resolver.mx_lookup(absolute(domain)).await.map_err(|e| LookupError::from_resolve(&e))?;
    let mut records: Vec<Mx> = lookup
        .iter()
        .map(|m| {
            let host = m.exchange().to_utf8();
            let exchange = if host == "." { host } else { host.trim_end_matches('.').to_owned() };
            Mx { preference: m.preference(), exchange }
        })
        .collect();
    if records.is_empty() {
        return Err(LookupError::NoRecords);
    }
    records.sort_by(|a, b| a.preference.cmp(&b.preference).then_with(|| a.exchange.cmp(&b.exchange)));
    Ok(records)
}

/// The addresses (A and AAAA) of `host`.
///
/// # Errors
/// [`LookupError`]: no such name, no address, nameserver error or silence.
pub async fn addresses(resolver: &TokioResolver, host: &str) -> Result<Vec<IpAddr>, LookupError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let lookup = resolver.lookup_ip(absolute(host)).await.map_err(|e| LookupError::from_resolve(&e))?;
    let ips: Vec<IpAddr> = lookup.iter().collect();
    if ips.is_empty() {
        Err(LookupError::NoRecords)
    } else {
        Ok(ips)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_parse_with_and_without_port() {
        assert_eq!(Nameserver::try_from("127.0.77.1:10053".to_owned()), Ok(Nameserver("127.0.77.1:10053".parse().expect("addr"))));
        assert_eq!(Nameserver::try_from("192.0.2.1".to_owned()).map(|n| n.0.port()), Ok(53));
        assert_eq!(Nameserver::try_from("[::1]:5353".to_owned()).map(|n| n.0.port()), Ok(5353));
        assert!(Nameserver::try_from("ns1.example".to_owned()).is_err());
        assert_eq!(String::from(Nameserver("192.0.2.1:53".parse().expect("addr"))), "192.0.2.1");
    }

    #[test]
    fn names_are_absolute() {
        assert_eq!(absolute("example.fr"), "example.fr.");
        assert_eq!(absolute("example.fr."), "example.fr.");
    }
}
