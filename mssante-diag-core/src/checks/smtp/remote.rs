//! `smtp.remote`: can mail leave for the configured peer domains? For each one: MX lookup,
//! the best MX's address, a TCP connection to its port 25 and its banner — the guide's
//! "telnet mail-distant 25" — saying which step failed.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::checks::{elapsed_ms, Outcome};
use crate::model::{Metric, Status};
use crate::probe::{Deadline, Hung, Phase};
use crate::resolver::{self, LookupError, Mx};
use crate::starttls::{self, Failure, SmtpReply};
use crate::{tr, Lang};

/// What was found for one peer domain.
#[derive(Debug, Clone, Serialize)]
pub struct PeerDomain {
    /// The domain.
    pub domain: String,
    /// Its MX records, most preferred first (empty without MX).
    pub mx: Vec<Mx>,
    /// No MX: mail goes to the domain's own address (RFC 5321 implicit MX).
    pub implicit_mx: bool,
    /// The host tried (the best MX).
    pub host: Option<String>,
    /// The address connected to.
    pub address: Option<SocketAddr>,
    /// The banner's reply.
    pub banner: Option<SmtpReply>,
    /// What failed, if anything.
    pub failure: Option<PeerFailure>,
    /// Time from the MX lookup to the banner, ms.
    pub latency_ms: f64,
}

/// The step that failed for a peer domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum PeerFailure {
    /// The MX lookup failed (no such domain, nameserver error...).
    MxLookup {
        /// Why.
        error: LookupError,
    },
    /// A null MX (`0 .`): the domain accepts no mail.
    NullMx,
    /// The best MX host has no address.
    AddressLookup {
        /// Why.
        error: LookupError,
    },
    /// The TCP connection failed.
    Connect {
        /// Why, in a few words.
        cause: String,
    },
    /// The banner was not `220`, not SMTP, or did not come.
    Banner {
        /// What went wrong.
        cause: String,
    },
    /// A step got no answer in time.
    NoAnswer(Hung),
}

/// Checks one peer domain within deadline `d`.
pub async fn probe_peer(r: &hickory_resolver::TokioResolver, domain: &str, port: u16, d: &Deadline, lang: Lang) -> PeerDomain {
    let start = Instant::now();
    let mut p = PeerDomain { domain: domain.to_owned(), mx: Vec::new(), implicit_mx: false, host: None, address: None, banner: None, failure: None, latency_ms: 0.0 };
    p.failure = walk(&mut p, r, port, d, lang).await.err();
    p.latency_ms = elapsed_ms(start);
    p
}

async fn walk(p: &mut PeerDomain, r: &hickory_resolver::TokioResolver, port: u16, d: &Deadline, lang: Lang) -> Result<(), PeerFailure> {
    let hung = PeerFailure::NoAnswer;
    let host = match d.step(Phase::MxLookup, resolver::mx(r, &p.domain)).await.map_err(hung)? {
        Ok(mx) => {
            p.mx = mx;
            let best = p.mx.first().map(|m| m.exchange.clone()).unwrap_or_default();
            if p.mx.iter().all(Mx::is_null) {
                return Err(PeerFailure::NullMx);
            }
            best
        }
        Err(LookupError::NoRecords) => {
            p.implicit_mx = true;
            p.domain.clone()
        }
        Err(error) => return Err(PeerFailure::MxLookup { error }),
    };
    p.host = Some(host.clone());
    let ips: Vec<IpAddr> = d.step(Phase::AddressLookup, resolver::addresses(r, &host)).await.map_err(hung)?.map_err(|error| PeerFailure::AddressLookup { error })?;
    // IPv4 first: most MTAs still deliver over it.
    let ip = ips.iter().copied().find(IpAddr::is_ipv4).or_else(|| ips.first().copied()).ok_or(PeerFailure::AddressLookup { error: LookupError::NoRecords })?;
    let addr = SocketAddr::new(ip, port);
    p.address = Some(addr);
    let banner = starttls::smtp_banner(addr, d, lang).await.map_err(|f| match f {
        Failure::Connect { cause } => PeerFailure::Connect { cause },
        Failure::NoAnswer(h) => PeerFailure::NoAnswer(h),
        Failure::Protocol { cause, .. } | Failure::Tls { cause, .. } => PeerFailure::Banner { cause },
        Failure::Refused { code, text, .. } => PeerFailure::Banner { cause: format!("{code} {text}") },
    })?;
    let shown = banner.shown();
    p.banner = Some(shown.clone());
    if banner.code == 220 {
        Ok(())
    } else {
        Err(PeerFailure::Banner { cause: tr!(lang, "refuses sessions: {shown}", "refuse les sessions : {shown}") })
    }
}

/// Checks every domain concurrently under one deadline of `timeout`.
///
/// # Errors
/// The resolver could not be set up (no system configuration), in a few words.
pub async fn probe_peers(domains: &[String], nameservers: &[resolver::Nameserver], port: u16, timeout: Duration, lang: Lang) -> Result<Vec<PeerDomain>, String> {
    let r = resolver::build(nameservers, timeout)?;
    let d = Deadline::after(timeout);
    Ok(futures::future::join_all(domains.iter().map(|dom| probe_peer(&r, dom, port, &d, lang))).await)
}

/// One phrase for what failed for a peer domain.
fn failure_phrase(p: &PeerDomain, f: &PeerFailure, lang: Lang) -> String {
    let host = p.host.as_deref().unwrap_or("?");
    let addr = p.address.map_or_else(|| "?".to_owned(), |a| a.to_string());
    match f {
        PeerFailure::MxLookup { error } => {
            let e = error.describe(lang);
            tr!(lang, "MX lookup failed: {e}", "échec de la recherche MX : {e}")
        }
        PeerFailure::NullMx => tr!(lang, "null MX: the domain accepts no mail", "MX nul : le domaine n'accepte aucun courrier"),
        PeerFailure::AddressLookup { error } => {
            let e = error.describe(lang);
            tr!(lang, "MX host {host} does not resolve: {e}", "l'hôte MX {host} ne se résout pas : {e}")
        }
        PeerFailure::Connect { cause } => tr!(lang, "MX {host} ({addr}): {cause}", "MX {host} ({addr}) : {cause}"),
        PeerFailure::Banner { cause } => tr!(lang, "MX {host} ({addr}), banner: {cause}", "MX {host} ({addr}), bannière : {cause}"),
        PeerFailure::NoAnswer(h) => h.describe(lang, &format!("MX {host} ({addr})")),
    }
}

/// Judges the peer domains: every best MX answering `220` on `port` is `ok`; a domain without MX (mail
/// goes to its own address) is a `warning`; any failed step is `critical` (a step without
/// answer in time takes `timeout_status`), naming the domain and the step.
#[must_use]
pub fn evaluate_remote(peers: &[PeerDomain], port: u16, timeout_status: Status, lang: Lang) -> Outcome {
    let mut status = Status::Ok;
    let mut problems = Vec::new();
    let mut fine = Vec::new();
    for p in peers {
        let d = &p.domain;
        match &p.failure {
            Some(f) => {
                let s = if matches!(f, PeerFailure::NoAnswer(_)) { timeout_status } else { Status::Critical };
                status = status.worst(s);
                problems.push(format!("{d}: {}", failure_phrase(p, f, lang)));
            }
            None if p.implicit_mx => {
                status = status.worst(Status::Warning);
                problems.push(tr!(lang, "{d}: no MX record, mail goes to the domain's own address", "{d} : aucun enregistrement MX, le courrier va à l'adresse du domaine lui-même"));
            }
            None => {
                let host = p.host.as_deref().unwrap_or("?");
                fine.push(format!("{d} ({host})"));
            }
        }
    }
    let n = peers.len();
    let summary = if problems.is_empty() {
        let list = fine.join(", ");
        tr!(lang, "{n} peer domain(s) reachable on port {port} of their best MX: {list}", "{n} domaine(s) partenaire(s) joignable(s) sur le port {port} de leur meilleur MX : {list}")
    } else {
        problems.join("; ")
    };
    let mut o = Outcome::new(status, summary);
    for p in peers {
        o = o.metric(Metric::new("latency", p.latency_ms, "ms").label("domain", p.domain.clone()));
    }
    o.details(serde_json::json!({ "peers": peers }))
}
