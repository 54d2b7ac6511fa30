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
            .map_err(|_| {
                format!("`{s}`: expected an IP address, optionally with a port (\"192.0.2.1:53\")")
            })
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
    Ok(builder(nameservers, timeout)?.build())
}

/// A validating resolver (DNSSEC, RFC 4035) for `nameservers`: answers carry a proof
/// (secure, insecure, bogus). `trust_anchors` is a file of DNSKEY records (zone-file syntax);
/// without it, the root zone's keys.
///
/// # Errors
/// The system configuration or the trust anchor file could not be read, in a few words.
pub fn build_validating(
    nameservers: &[Nameserver],
    timeout: Duration,
    trust_anchors: Option<&std::path::Path>,
) -> Result<TokioResolver, String> {
    let mut b = builder(nameservers, timeout)?;
    b.options_mut().validate = true;
    if let Some(path) = trust_anchors {
        let anchors = hickory_resolver::proto::dnssec::TrustAnchors::from_file(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if anchors.is_empty() {
            return Err(format!("{}: no DNSKEY record", path.display()));
        }
        b = b.with_trust_anchor(std::sync::Arc::new(anchors));
    }
    Ok(b.build())
}

/// The nameservers a resolver built from `nameservers` asks: those, else the system's
/// (`/etc/resolv.conf`), without duplicates.
///
/// # Errors
/// The system configuration could not be read.
pub fn effective_nameservers(nameservers: &[Nameserver]) -> Result<Vec<Nameserver>, String> {
    if !nameservers.is_empty() {
        return Ok(nameservers.to_vec());
    }
    let (config, _) =
        hickory_resolver::system_conf::read_system_conf().map_err(|e| e.to_string())?;
    let mut out: Vec<Nameserver> = Vec::new();
    for ns in config.name_servers() {
        let n = Nameserver(ns.socket_addr);
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

fn builder(
    nameservers: &[Nameserver],
    timeout: Duration,
) -> Result<hickory_resolver::ResolverBuilder<TokioConnectionProvider>, String> {
    let mut builder = if nameservers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| e.to_string())?
    } else {
        let group: Vec<NameServerConfig> = nameservers
            .iter()
            .flat_map(|n| {
                [
                    NameServerConfig::new(n.0, Protocol::Udp),
                    NameServerConfig::new(n.0, Protocol::Tcp),
                ]
            })
            .collect();
        let config = ResolverConfig::from_parts(None, Vec::new(), group);
        TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
    };
    let opts = builder.options_mut();
    opts.timeout = timeout;
    opts.attempts = 1;
    // One resolver serves a whole audit of many domains (`mssante-diag dns`): room for their
    // answers (the default, 32, would evict shared names such as SPF includes).
    opts.cache_size = CACHE_SIZE;
    if !nameservers.is_empty() {
        opts.use_hosts_file = ResolveHosts::Never;
    }
    Ok(builder)
}

/// Answers kept in a resolver's cache (bounded: evicted least recently used).
pub const CACHE_SIZE: usize = 8192;

/// A resolver as the name resolution of an HTTP client (reqwest): its addresses, port 0 (the
/// client puts the URL's port).
#[derive(Clone)]
pub struct ForHttp(pub TokioResolver);

impl reqwest::dns::Resolve for ForHttp {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.0.clone();
        Box::pin(async move {
            let ips = addresses(&resolver, name.as_str()).await.map_err(|e| {
                Box::new(std::io::Error::other(e.describe(Lang::En)))
                    as Box<dyn std::error::Error + Send + Sync>
            })?;
            let addrs: reqwest::dns::Addrs = Box::new(
                ips.into_iter()
                    .take(4)
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
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
    /// No nameserver answered in time, or only with answers that do not parse.
    Timeout,
    /// Anything else (no nameserver reachable, malformed answer), in the resolver's words.
    Failed(String),
}

impl LookupError {
    /// No such name, or no record of the type asked: the name answers, with nothing.
    #[must_use]
    pub fn is_empty_answer(&self) -> bool {
        matches!(self, Self::NoSuchDomain | Self::NoRecords)
    }

    /// Classifies a resolver error.
    #[must_use]
    pub fn from_resolve_error(e: &ResolveError) -> Self {
        Self::from_resolve(e)
    }

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
            Self::NoSuchDomain => tr!(
                lang,
                "no such domain (NXDOMAIN)",
                "domaine inexistant (NXDOMAIN)"
            ),
            Self::NoRecords => tr!(
                lang,
                "no record of that type",
                "aucun enregistrement de ce type"
            ),
            Self::ServerError(code) => tr!(
                lang,
                "the nameserver answered {code}",
                "le serveur DNS a répondu {code}"
            ),
            // hickory drops an answer that does not parse (it could be spoofed) and waits on.
            Self::Timeout => tr!(
                lang,
                "no nameserver answered in time (silence, or answers that do not parse)",
                "aucun serveur DNS n'a répondu à temps (silence, ou réponses illisibles)"
            ),
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
    let lookup = resolver
        .mx_lookup(absolute(domain))
        .await
        .map_err(|e| LookupError::from_resolve(&e))?;
    let mut records: Vec<Mx> = lookup
        .iter()
        .map(|m| {
            let host = m.exchange().to_utf8();
            let exchange = if host == "." {
                host
            } else {
                host.trim_end_matches('.').to_owned()
            };
            Mx {
                preference: m.preference(),
                exchange,
            }
        })
        .collect();
    if records.is_empty() {
        return Err(LookupError::NoRecords);
    }
    records.sort_by(|a, b| {
        a.preference
            .cmp(&b.preference)
            .then_with(|| a.exchange.cmp(&b.exchange))
    });
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
    let lookup = resolver
        .lookup_ip(absolute(host))
        .await
        .map_err(|e| LookupError::from_resolve(&e))?;
    let ips: Vec<IpAddr> = lookup.iter().collect();
    if ips.is_empty() {
        Err(LookupError::NoRecords)
    } else {
        Ok(ips)
    }
}

/// Longest TXT record kept, bytes (its character-strings joined): longer ones are cut there
/// (and said so by [`Txt::truncated`]); DNS answers are bounded by the 64 KiB message anyway.
pub const TXT_MAX: usize = 16 * 1024;

/// A TXT record, its character-strings joined (RFC 7208 3.3), as text (invalid UTF-8 replaced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Txt {
    /// The text.
    pub text: String,
    /// It was longer than [`TXT_MAX`] bytes and was cut.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// The TXT records at `name`.
///
/// # Errors
/// [`LookupError`]: no such name, no TXT record, nameserver error or silence.
pub async fn txt(resolver: &TokioResolver, name: &str) -> Result<Vec<Txt>, LookupError> {
    let lookup = resolver
        .txt_lookup(absolute(name))
        .await
        .map_err(|e| LookupError::from_resolve(&e))?;
    Ok(lookup
        .iter()
        .map(|t| {
            let mut bytes = Vec::new();
            let mut truncated = false;
            for part in t.txt_data() {
                let room = TXT_MAX - bytes.len();
                if part.len() > room {
                    bytes.extend_from_slice(&part[..room]);
                    truncated = true;
                    break;
                }
                bytes.extend_from_slice(part);
            }
            Txt {
                text: String::from_utf8_lossy(&bytes).into_owned(),
                truncated,
            }
        })
        .collect())
}

/// The names (PTR records) of `ip`, without the final dot, asked of the nameservers directly:
/// the resolver's cache layer answers `localhost` for any 127.0.0.0/8 address (RFC 6761),
/// whatever the zone says, which would hide the reverse zone of a loopback test platform.
///
/// # Errors
/// [`LookupError`]: no PTR record, nameserver error or silence.
pub async fn reverse(
    nameservers: &[Nameserver],
    ip: IpAddr,
    timeout: Duration,
) -> Result<Vec<String>, LookupError> {
    use hickory_resolver::name_server::NameServerPool;
    use hickory_resolver::proto::op::Query;
    use hickory_resolver::proto::rr::{Name, RData, RecordType};
    use hickory_resolver::proto::xfer::{DnsHandle, DnsRequestOptions, FirstAnswer};
    let servers = effective_nameservers(nameservers).map_err(LookupError::Failed)?;
    let group: Vec<NameServerConfig> = servers
        .iter()
        .flat_map(|n| {
            [
                NameServerConfig::new(n.0, Protocol::Udp),
                NameServerConfig::new(n.0, Protocol::Tcp),
            ]
        })
        .collect();
    let mut opts = hickory_resolver::config::ResolverOpts::default();
    opts.timeout = timeout;
    opts.attempts = 1;
    let pool = NameServerPool::from_config(group.into(), opts, TokioConnectionProvider::default());
    let mut request = DnsRequestOptions::default();
    request.recursion_desired = true;
    let query = Query::query(Name::from(ip), RecordType::PTR);
    let answer = tokio::time::timeout(
        timeout + timeout / 10,
        pool.lookup(query, request).first_answer(),
    )
    .await
    .map_err(|_| LookupError::Timeout)?
    .map_err(|e| match e.kind() {
        ProtoErrorKind::Timeout => LookupError::Timeout,
        ProtoErrorKind::NoRecordsFound {
            response_code: ResponseCode::NXDomain,
            ..
        } => LookupError::NoSuchDomain,
        ProtoErrorKind::NoRecordsFound {
            response_code: ResponseCode::NoError,
            ..
        } => LookupError::NoRecords,
        ProtoErrorKind::NoRecordsFound { response_code, .. } => {
            LookupError::ServerError(response_code.to_string())
        }
        _ => LookupError::Failed(e.to_string().chars().take(200).collect()),
    })?;
    match answer.response_code() {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Err(LookupError::NoSuchDomain),
        code => return Err(LookupError::ServerError(code.to_string())),
    }
    let names: Vec<String> = answer
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::PTR(p) => Some(p.0.to_utf8().trim_end_matches('.').to_owned()),
            _ => None,
        })
        .take(32)
        .collect();
    if names.is_empty() {
        Err(LookupError::NoRecords)
    } else {
        Ok(names)
    }
}

/// Only the IPv4 addresses (A records) of `host`.
///
/// # Errors
/// [`LookupError`]: no such name, no A record, nameserver error or silence.
pub async fn ipv4(
    resolver: &TokioResolver,
    host: &str,
) -> Result<Vec<std::net::Ipv4Addr>, LookupError> {
    let lookup = resolver
        .ipv4_lookup(absolute(host))
        .await
        .map_err(|e| LookupError::from_resolve(&e))?;
    Ok(lookup.iter().map(|a| a.0).collect())
}

/// A TLSA record (RFC 6698): certificate usage, selector, matching type, data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tlsa {
    /// 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// 0 full certificate, 1 SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    /// Association data, hexadecimal.
    pub data: String,
}

/// The TLSA records at `name` (e.g. `_25._tcp.mx.example.fr`).
///
/// # Errors
/// [`LookupError`]: no such name, no TLSA record, nameserver error or silence.
pub async fn tlsa(resolver: &TokioResolver, name: &str) -> Result<Vec<Tlsa>, LookupError> {
    use hickory_resolver::proto::rr::{RData, RecordType};
    let lookup = resolver
        .lookup(absolute(name), RecordType::TLSA)
        .await
        .map_err(|e| LookupError::from_resolve(&e))?;
    Ok(lookup
        .iter()
        .filter_map(|r| match r {
            RData::TLSA(t) => Some(Tlsa {
                usage: t.cert_usage().into(),
                selector: t.selector().into(),
                matching: t.matching().into(),
                data: t.cert_data().iter().map(|b| format!("{b:02x}")).collect(),
            }),
            _ => None,
        })
        .collect())
}

/// DNSSEC verdict on one answer of a validating resolver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Proof {
    /// Signed and validated from a trust anchor.
    Secure,
    /// Provably unsigned.
    Insecure,
    /// Signed, and the signatures do not validate.
    Bogus,
    /// Could not be decided (missing keys or proofs).
    Indeterminate,
}

/// The records of `rtype` at `name` through a validating resolver, with the worst proof among
/// them (an answer with no record: the proof of the denial when the resolver kept it).
///
/// # Errors
/// [`LookupError`]: no such name, no record, nameserver error or silence; a validation failure
/// is `Failed` with the resolver's reason.
pub async fn validated(
    resolver: &TokioResolver,
    name: &str,
    rtype: hickory_resolver::proto::rr::RecordType,
) -> Result<(usize, Proof), LookupError> {
    use hickory_resolver::proto::dnssec::Proof as P;
    let lookup = resolver
        .lookup(absolute(name), rtype)
        .await
        .map_err(|e| LookupError::from_resolve(&e))?;
    let mut worst = Proof::Secure;
    let mut n = 0;
    for r in lookup.record_iter().filter(|r| r.record_type() == rtype) {
        n += 1;
        let p = match r.proof() {
            P::Secure => Proof::Secure,
            P::Insecure => Proof::Insecure,
            P::Bogus => Proof::Bogus,
            P::Indeterminate => Proof::Indeterminate,
        };
        let rank = |p: Proof| match p {
            Proof::Secure => 0,
            Proof::Insecure => 1,
            Proof::Indeterminate => 2,
            Proof::Bogus => 3,
        };
        if rank(p) > rank(worst) {
            worst = p;
        }
    }
    Ok((n, worst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_parse_with_and_without_port() {
        assert_eq!(
            Nameserver::try_from("127.0.77.1:10053".to_owned()),
            Ok(Nameserver("127.0.77.1:10053".parse().expect("addr")))
        );
        assert_eq!(
            Nameserver::try_from("192.0.2.1".to_owned()).map(|n| n.0.port()),
            Ok(53)
        );
        assert_eq!(
            Nameserver::try_from("[::1]:5353".to_owned()).map(|n| n.0.port()),
            Ok(5353)
        );
        assert!(Nameserver::try_from("ns1.example".to_owned()).is_err());
        assert_eq!(
            String::from(Nameserver("192.0.2.1:53".parse().expect("addr"))),
            "192.0.2.1"
        );
    }

    #[test]
    fn names_are_absolute() {
        assert_eq!(absolute("example.fr"), "example.fr.");
        assert_eq!(absolute("example.fr."), "example.fr.");
    }
}
