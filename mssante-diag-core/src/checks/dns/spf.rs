//! `dns.spf`: exactly one `v=spf1` record, its syntax, the RFC 7208 limits counted through
//! includes and redirects (10 DNS-querying terms, 2 void lookups), the final `all`, and the
//! platform's addresses evaluated against the record.
//!
//! Crates weighed for SPF (see also the module doc of `checks/dns`):
//! - `viaspf` evaluates SPF completely (a `Lookup` trait over any resolver, query limits,
//!   traces) but is GPL-3.0: it cannot enter this MIT/Apache-2.0 workspace.
//! - `mail-auth` parses SPF, DKIM, DMARC, MTA-STS and TLS-RPT well, but its current release
//!   needs rustc 1.98 (mail-parser 1.x) and every release brings its own hickory-resolver
//!   (0.26 or a pinned alpha) for the lookups: a second DNS stack beside ours, with its own
//!   configuration, a fixed 20 s budget and no lookup counts in its result.
//! - `decon-spf` (MIT, small: regex + ipnetwork) parses a record into mechanisms with
//!   qualifiers and rejects malformed ones, and does no DNS. Chosen for the syntax; the walk
//!   (through includes and redirects, counting lookups and void lookups) and the evaluation
//!   of an address (`check_host()` without macros) are here, over the configured resolver.

use std::net::IpAddr;

use decon_spf::mechanism::{Kind, Qualifier};
use serde::Serialize;

use super::env::{lookup_failed, publish, spf_term, Env};
use crate::checks::Outcome;
use crate::model::{Metric, Status};
use crate::resolver::{self, LookupError};
use crate::{tr, Lang};

/// The RFC 7208 limit on DNS-querying terms (include, a, mx, ptr, exists, redirect).
pub const MAX_LOOKUPS: u32 = 10;
/// The RFC 7208 limit on void lookups (no such name, or no record).
pub const MAX_VOID: u32 = 2;
/// Terms walked at most: past this many lookups the walk stops (a loop or an abuse).
const WALK_BUDGET: u32 = 40;

/// A result of `check_host()` (RFC 7208 2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpfResult {
    /// Authorised.
    Pass,
    /// Not authorised.
    Fail,
    /// Probably not authorised.
    SoftFail,
    /// No assertion.
    Neutral,
    /// No record.
    None,
    /// A broken record or a limit exceeded.
    PermError,
    /// A lookup failed transiently.
    TempError,
}

/// What a term of a record resolved to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Resolved {
    /// `all`.
    All,
    /// `ip4:` / `ip6:` network.
    Network {
        /// Network address.
        addr: IpAddr,
        /// Prefix length.
        prefix: u8,
    },
    /// `a` / `mx`: the addresses found, with the CIDR lengths that apply.
    Addresses {
        /// The addresses.
        addrs: Vec<IpAddr>,
        /// IPv4 prefix length.
        v4: u8,
        /// IPv6 prefix length.
        v6: u8,
    },
    /// `include:` / `redirect=` target and its record.
    Record {
        /// The target's record, if it has one.
        record: Option<Box<SpfRecord>>,
    },
    /// `exists:` found an A record.
    Exists {
        /// Whether the name has an address.
        found: bool,
    },
    /// Not evaluated (`ptr`, a macro, a lookup that failed).
    NotEvaluated,
}

/// One term of a record.
#[derive(Debug, Clone, Serialize)]
pub struct Term {
    /// As written (`-all`, `include:_spf.example.fr`).
    pub text: String,
    /// Qualifier: `+ - ~ ?`.
    pub qualifier: char,
    /// Whether it is the `redirect=` modifier.
    pub redirect: bool,
    /// What it resolved to.
    pub resolved: Resolved,
}

/// An SPF record and its terms, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct SpfRecord {
    /// Where it was found.
    pub domain: String,
    /// The record text.
    pub text: String,
    /// Its terms (mechanisms, then the redirect).
    pub terms: Vec<Term>,
}

/// What DNS says about a domain's SPF policy.
#[derive(Debug, Clone, Serialize)]
pub struct SpfFacts {
    /// The domain.
    pub domain: String,
    /// Every `v=spf1` TXT record at the domain.
    pub records: Vec<String>,
    /// One of them is longer than [`resolver::TXT_MAX`] bytes (kept cut, not evaluated).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub too_long: bool,
    /// The TXT lookup's failure (other than "no record").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LookupError>,
    /// Why the record (or one it includes) does not parse, or a target has no record.
    pub problems: Vec<String>,
    /// The walked record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<SpfRecord>,
    /// DNS-querying terms counted through includes and redirects.
    pub lookups: u32,
    /// Void lookups counted.
    pub void_lookups: u32,
    /// A lookup that failed transiently during the walk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp_error: Option<LookupError>,
    /// The effective `all` qualifier (after redirects), if any.
    pub all: Option<char>,
    /// Each platform address and its result.
    pub evaluations: Vec<(IpAddr, SpfResult)>,
}

fn is_spf1(t: &str) -> bool {
    let t = t.trim_start();
    // By bytes: a multi-byte character across byte 6 must not split the string (a panic).
    let b = t.as_bytes();
    b.len() >= 6 && b[..6].eq_ignore_ascii_case(b"v=spf1") && b.get(6).is_none_or(u8::is_ascii_whitespace)
}

fn qualifier_char(q: &Qualifier) -> char {
    q.as_char()
}

/// `name/24//64` → (name, v4, v6); an empty name is `current`.
fn split_cidr(data: Option<&str>, current: &str) -> (String, u8, u8) {
    let data = data.unwrap_or("");
    let (name, cidr) = match data.find('/') {
        Some(i) => (&data[..i], &data[i..]),
        None => (data, ""),
    };
    let mut v4 = 32;
    let mut v6 = 128;
    if let Some(rest) = cidr.strip_prefix("//") {
        v6 = rest.parse().unwrap_or(128);
    } else if let Some(rest) = cidr.strip_prefix('/') {
        let (a, b) = rest.split_once("//").unwrap_or((rest, ""));
        v4 = a.parse().unwrap_or(32);
        if !b.is_empty() {
            v6 = b.parse().unwrap_or(128);
        }
    }
    let name = if name.is_empty() { current.to_owned() } else { name.trim_end_matches('.').to_owned() };
    (name, v4.min(32), v6.min(128))
}

struct Walk<'a> {
    r: &'a hickory_resolver::TokioResolver,
    lookups: u32,
    voids: u32,
    problems: Vec<String>,
    temp: Option<LookupError>,
    seen: Vec<String>,
}

impl Walk<'_> {
    fn count(&mut self, e: Option<&LookupError>) {
        match e {
            Some(e) if e.is_empty_answer() => self.voids += 1,
            Some(e) if self.temp.is_none() => self.temp = Some(e.clone()),
            _ => {}
        }
    }

    /// The single SPF record of `domain`, parsed; `None` with a problem noted when there is
    /// none, several, or a malformed one.
    async fn record_of(&mut self, domain: &str) -> Option<(String, decon_spf::Spf<String>)> {
        let txt = match resolver::txt(self.r, domain).await {
            Ok(t) => t,
            Err(e) => {
                self.count(Some(&e));
                if e.is_empty_answer() {
                    self.problems.push(format!("{domain}: no SPF record"));
                }
                return None;
            }
        };
        if txt.iter().any(|t| t.truncated && is_spf1(&t.text)) {
            let max = resolver::TXT_MAX / 1024;
            self.problems.push(format!("{domain}: SPF record longer than {max} KiB"));
            return None;
        }
        let spf: Vec<String> = txt.into_iter().map(|t| t.text).filter(|t| is_spf1(t)).collect();
        match spf.as_slice() {
            [] => {
                self.voids += 1;
                self.problems.push(format!("{domain}: no SPF record"));
                None
            }
            [one] => match one.parse::<decon_spf::Spf<String>>() {
                Ok(p) => Some((one.clone(), p)),
                Err(e) => {
                    self.problems.push(format!("{domain}: {e}"));
                    None
                }
            },
            _ => {
                self.problems.push(format!("{domain}: {} SPF records", spf.len()));
                None
            }
        }
    }

    fn walk<'b>(&'b mut self, domain: String, text: String, parsed: decon_spf::Spf<String>, depth: u32) -> futures::future::BoxFuture<'b, SpfRecord> {
        Box::pin(async move {
            self.seen.push(domain.to_ascii_lowercase());
            let mut terms = Vec::new();
            for m in parsed.iter() {
                let kind = *m.kind();
                let data = m.rr_data().as_deref();
                let mut term = local_term(m);
                let macro_used = data.is_some_and(|d| d.contains('%'));
                match kind {
                    Kind::All | Kind::IpV4 | Kind::IpV6 => {}
                    Kind::A | Kind::MX => {
                        self.lookups += 1;
                        let (name, v4, v6) = split_cidr(data, &domain);
                        if !macro_used && self.lookups <= WALK_BUDGET {
                            let addrs = if kind == Kind::A { self.addresses(&name).await } else { self.mx_addresses(&name).await };
                            term.resolved = Resolved::Addresses { addrs, v4, v6 };
                        }
                    }
                    Kind::Include | Kind::Redirect => {
                        self.lookups += 1;
                        let target = data.unwrap_or("").trim_end_matches('.').to_owned();
                        if !macro_used && self.lookups <= WALK_BUDGET && depth < 10 && !self.seen.contains(&target.to_ascii_lowercase()) {
                            let child = match self.record_of(&target).await {
                                Some((t, p)) => Some(Box::new(self.walk(target.clone(), t, p, depth + 1).await)),
                                None => None,
                            };
                            term.resolved = Resolved::Record { record: child };
                        } else if self.seen.contains(&target.to_ascii_lowercase()) {
                            self.problems.push(format!("{domain}: {target} includes itself (loop)"));
                        }
                    }
                    Kind::Exists => {
                        self.lookups += 1;
                        if !macro_used && self.lookups <= WALK_BUDGET {
                            let r = resolver::ipv4(self.r, data.unwrap_or("")).await;
                            self.count(r.as_ref().err());
                            term.resolved = Resolved::Exists { found: r.is_ok_and(|a| !a.is_empty()) };
                        }
                    }
                    Kind::Ptr => self.lookups += 1,
                }
                terms.push(term);
            }
            SpfRecord { domain, text, terms }
        })
    }

    async fn addresses(&mut self, name: &str) -> Vec<IpAddr> {
        match resolver::addresses(self.r, name).await {
            Ok(a) => a,
            Err(e) => {
                self.count(Some(&e));
                Vec::new()
            }
        }
    }

    async fn mx_addresses(&mut self, name: &str) -> Vec<IpAddr> {
        match resolver::mx(self.r, name).await {
            Ok(mx) => {
                let mut out = Vec::new();
                for m in mx.iter().filter(|m| !m.is_null()).take(10) {
                    // Lookups of the MX hosts' addresses count as void only as a whole (RFC 7208 4.6.4).
                    if let Ok(a) = resolver::addresses(self.r, &m.exchange).await {
                        out.extend(a);
                    }
                }
                out
            }
            Err(e) => {
                self.count(Some(&e));
                Vec::new()
            }
        }
    }
}

/// A mechanism as a term, resolved as far as it goes without DNS (`all`, `ip4`, `ip6`).
fn local_term(m: &decon_spf::mechanism::Mechanism<String>) -> Term {
    let kind = *m.kind();
    let mut term = Term { text: m.to_string(), qualifier: qualifier_char(m.qualifier()), redirect: kind == Kind::Redirect, resolved: Resolved::NotEvaluated };
    match kind {
        Kind::All => term.resolved = Resolved::All,
        Kind::IpV4 | Kind::IpV6 => {
            let raw = m.rr_data().as_deref().unwrap_or("");
            let (a, p) = raw.split_once('/').unwrap_or((raw, ""));
            if let Ok(addr) = a.parse::<IpAddr>() {
                let max = if addr.is_ipv4() { 32 } else { 128 };
                term.resolved = Resolved::Network { addr, prefix: p.parse().unwrap_or(max).min(max) };
            }
        }
        _ => {}
    }
    term
}

/// Parses `data` as an SPF TXT record the way the walk does, without DNS: the terms, their
/// CIDR suffixes, and the verdict for a few addresses (the `spf` fuzz target). Never panics.
#[doc(hidden)]
pub fn exercise(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if !is_spf1(&text) {
        return;
    }
    let Ok(parsed) = text.parse::<decon_spf::Spf<String>>() else { return };
    let terms = parsed
        .iter()
        .map(|m| {
            let _ = split_cidr(m.rr_data().as_deref(), "example.fr");
            local_term(m)
        })
        .collect();
    let record = SpfRecord { domain: "example.fr".into(), text: text.into_owned(), terms };
    let _ = final_all(&record);
    for ip in [IpAddr::from([192, 0, 2, 1]), IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), IpAddr::from([0, 0, 0, 0])] {
        let _ = evaluate_for(&record, ip);
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix.min(128))) };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

fn result_of(q: char) -> SpfResult {
    match q {
        '-' => SpfResult::Fail,
        '~' => SpfResult::SoftFail,
        '?' => SpfResult::Neutral,
        _ => SpfResult::Pass,
    }
}

/// Evaluates a walked record for `ip` (`check_host()`; `ptr` and macro terms never match).
#[must_use]
pub fn evaluate_for(record: &SpfRecord, ip: IpAddr) -> SpfResult {
    let mut redirect = None;
    for t in &record.terms {
        if t.redirect {
            redirect = Some(t);
            continue;
        }
        let matched = match &t.resolved {
            Resolved::All => true,
            Resolved::Network { addr, prefix } => in_network(ip, *addr, *prefix),
            Resolved::Addresses { addrs, v4, v6 } => addrs.iter().any(|a| in_network(ip, *a, if a.is_ipv4() { *v4 } else { *v6 })),
            Resolved::Exists { found } => *found,
            Resolved::Record { record: Some(r) } => match evaluate_for(r, ip) {
                SpfResult::Pass => true,
                SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => false,
                SpfResult::TempError => return SpfResult::TempError,
                SpfResult::None | SpfResult::PermError => return SpfResult::PermError,
            },
            Resolved::Record { record: None } => return SpfResult::PermError,
            Resolved::NotEvaluated => false,
        };
        if matched {
            return result_of(t.qualifier);
        }
    }
    match redirect.map(|t| &t.resolved) {
        Some(Resolved::Record { record: Some(r) }) => match evaluate_for(r, ip) {
            SpfResult::None => SpfResult::PermError,
            other => other,
        },
        Some(_) => SpfResult::PermError,
        None => SpfResult::Neutral,
    }
}

/// The qualifier of the `all` that ends the policy, following redirects.
fn final_all(record: &SpfRecord) -> Option<char> {
    if let Some(t) = record.terms.iter().find(|t| matches!(t.resolved, Resolved::All)) {
        return Some(t.qualifier);
    }
    record.terms.iter().find(|t| t.redirect).and_then(|t| match &t.resolved {
        Resolved::Record { record: Some(r) } => final_all(r),
        _ => None,
    })
}

/// Fetches and walks the SPF record of `domain`, evaluating it for `addresses`.
pub async fn spf_facts(env: &Env, domain: &str, addresses: &[IpAddr]) -> SpfFacts {
    let mut f = SpfFacts {
        domain: domain.to_owned(),
        records: Vec::new(),
        too_long: false,
        error: None,
        problems: Vec::new(),
        record: None,
        lookups: 0,
        void_lookups: 0,
        temp_error: None,
        all: None,
        evaluations: Vec::new(),
    };
    match resolver::txt(&env.plain, domain).await {
        Ok(t) => {
            f.too_long = t.iter().any(|t| t.truncated && is_spf1(&t.text));
            f.records = t.into_iter().map(|t| t.text).filter(|t| is_spf1(t)).collect();
        }
        Err(e) if e.is_empty_answer() => {}
        Err(e) => f.error = Some(e),
    }
    if f.records.len() != 1 || f.too_long {
        return f;
    }
    let text = f.records[0].clone();
    let parsed = match text.parse::<decon_spf::Spf<String>>() {
        Ok(p) => p,
        Err(e) => {
            f.problems.push(e.to_string());
            return f;
        }
    };
    let mut w = Walk { r: &env.plain, lookups: 0, voids: 0, problems: Vec::new(), temp: None, seen: Vec::new() };
    let record = w.walk(domain.to_owned(), text, parsed, 0).await;
    f.lookups = w.lookups;
    f.void_lookups = w.voids;
    f.problems = w.problems;
    f.temp_error = w.temp;
    f.all = final_all(&record);
    f.evaluations = addresses.iter().map(|ip| (*ip, evaluate_for(&record, *ip))).collect();
    f.record = Some(record);
    f
}

/// Judges the SPF facts (`addresses` empty: the authorisation is not judged).
#[must_use]
pub fn evaluate_spf(f: &SpfFacts, lang: Lang, suggested: &str) -> Outcome {
    let d = &f.domain;
    let fix = |lang| publish(lang, "Publish one SPF record ending in -all", "Publier un seul enregistrement SPF terminé par -all", format!("{d}. IN TXT \"v=spf1 mx {suggested} -all\""), "Messagerie P3");
    if let Some(e) = &f.error {
        return lookup_failed(&format!("TXT {d}"), e, lang);
    }
    let n = f.records.len();
    if n == 0 {
        let mut o = Outcome::critical(tr!(lang, "{d} publishes no SPF record (v=spf1)", "{d} ne publie aucun enregistrement SPF (v=spf1)")).details(f);
        o.remediation.push(fix(lang));
        return o;
    }
    if n > 1 {
        let mut o = Outcome::critical(tr!(
            lang,
            "{d} publishes {n} SPF records: receivers answer permerror (exactly one allowed)",
            "{d} publie {n} enregistrements SPF : les destinataires répondent permerror (un seul autorisé)"
        ))
        .details(f);
        o.remediation.push(fix(lang));
        return o;
    }
    if f.too_long {
        let max = resolver::TXT_MAX / 1024;
        let mut o = Outcome::critical(tr!(
            lang,
            "SPF record of {d} is longer than {max} KiB (read up to there, not evaluated): receivers answer permerror or temperror",
            "l'enregistrement SPF de {d} dépasse {max} Kio (lu jusque-là, non évalué) : les destinataires répondent permerror ou temperror"
        ))
        .details(f);
        o.remediation.push(fix(lang));
        return o;
    }
    if let Some(e) = &f.temp_error {
        return lookup_failed(&tr!(lang, "SPF of {d}", "SPF de {d}"), e, lang).details(f);
    }
    let (lookups, voids) = (f.lookups, f.void_lookups);
    let mut findings: Vec<(Status, String)> = Vec::new();
    if !f.problems.is_empty() && f.record.is_none() {
        let p = f.problems.join("; ");
        findings.push((Status::Critical, tr!(lang, "SPF record of {d} does not parse: {p}", "l'enregistrement SPF de {d} est invalide : {p}")));
    } else if !f.problems.is_empty() {
        let p = f.problems.join("; ");
        findings.push((Status::Critical, tr!(lang, "SPF of {d} is broken: {p}", "le SPF de {d} est cassé : {p}")));
    }
    if lookups > MAX_LOOKUPS {
        findings.push((Status::Critical, tr!(lang, "SPF of {d} needs {lookups} DNS lookups (limit 10): permerror", "le SPF de {d} demande {lookups} requêtes DNS (limite 10) : permerror")));
    }
    if voids > MAX_VOID {
        findings.push((Status::Critical, tr!(lang, "SPF of {d} has {voids} void lookups (limit 2): permerror", "le SPF de {d} a {voids} requêtes sans réponse (limite 2) : permerror")));
    }
    if f.record.is_some() {
        match f.all {
            Some('-') => {}
            Some('~') => findings.push((Status::Warning, tr!(lang, "SPF of {d} ends in ~all (softfail): forged mail is only marked", "le SPF de {d} se termine par ~all (softfail) : le courrier falsifié est seulement marqué"))),
            Some(q) => {
                let q = if q == '?' { "?all" } else { "+all" };
                findings.push((Status::Critical, tr!(lang, "SPF of {d} ends in {q}: anyone may send as {d}", "le SPF de {d} se termine par {q} : n'importe qui peut envoyer au nom de {d}")));
            }
            None => findings.push((Status::Critical, tr!(lang, "SPF of {d} has no final all: unlisted senders are neutral", "le SPF de {d} n'a pas de all final : les expéditeurs non listés sont neutres"))),
        }
    }
    for (ip, r) in &f.evaluations {
        if *r != SpfResult::Pass && f.problems.is_empty() && lookups <= MAX_LOOKUPS {
            let r = serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            findings.push((Status::Critical, tr!(lang, "SPF of {d} does not authorise the platform's address {ip} (result {r})", "le SPF de {d} n'autorise pas l'adresse de la plateforme {ip} (résultat {r})")));
        }
    }
    let status = findings.iter().fold(Status::Ok, |s, (st, _)| s.worst(*st));
    let summary = if findings.is_empty() {
        let ips = f.evaluations.iter().map(|(ip, _)| ip.to_string()).collect::<Vec<_>>().join(", ");
        let who = if ips.is_empty() { String::new() } else { tr!(lang, ", authorises {ips}", ", autorise {ips}") };
        tr!(lang, "{d}: one SPF record, -all, {lookups} lookup(s), {voids} void{who}", "{d} : un enregistrement SPF, -all, {lookups} requête(s), {voids} sans réponse{who}")
    } else {
        findings.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>().join("; ")
    };
    let mut o = Outcome::new(status, summary)
        .metric(Metric::new("lookups", f64::from(lookups), "").thresholds(f64::from(MAX_LOOKUPS), f64::from(MAX_LOOKUPS + 1)))
        .metric(Metric::new("void_lookups", f64::from(voids), "").thresholds(f64::from(MAX_VOID), f64::from(MAX_VOID + 1)))
        .details(f);
    if status != Status::Ok {
        o.remediation.push(fix(lang));
    }
    o
}

/// `dns.spf` for one domain.
pub async fn check_spf(env: &Env, domain: &str) -> Outcome {
    let addresses = match env.addresses_for(domain).await {
        Ok(a) => a,
        Err(e) => return lookup_failed(&format!("MX {domain}"), &e, env.lang),
    };
    let suggested = if addresses.is_empty() { "ip4:PLATFORM_IP".to_owned() } else { addresses.iter().map(|a| spf_term(*a)).collect::<Vec<_>>().join(" ") };
    evaluate_spf(&spf_facts(env, domain, &addresses).await, env.lang, &suggested)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `spf` fuzz target: a multi-byte character at byte 6 split the string.
    #[test]
    fn a_multibyte_character_after_the_version_is_not_spf_and_no_panic() {
        assert!(!is_spf1("v=spf\u{e9}1 -all"));
        assert!(!is_spf1("v=spf1\u{e9} -all"));
        assert!(is_spf1("  V=SPF1 ip4:192.0.2.1 -all"));
        assert!(is_spf1("v=spf1"));
        exercise("v=spf\u{e9}".as_bytes());
        exercise(b"v=spf1 ip4:192.0.2.0/99 ip6:2001:db8::/200 a/33//129 -all");
    }

    #[test]
    fn cidr_suffixes_split() {
        assert_eq!(split_cidr(None, "d.fr"), ("d.fr".into(), 32, 128));
        assert_eq!(split_cidr(Some("/24"), "d.fr"), ("d.fr".into(), 24, 128));
        assert_eq!(split_cidr(Some("mx.d.fr/24//64"), "d.fr"), ("mx.d.fr".into(), 24, 64));
        assert_eq!(split_cidr(Some("//48"), "d.fr"), ("d.fr".into(), 32, 48));
    }

    #[test]
    fn networks_match_by_prefix() {
        let ip: IpAddr = "192.0.2.77".parse().expect("ip");
        assert!(in_network(ip, "192.0.2.0".parse().expect("ip"), 24));
        assert!(!in_network(ip, "192.0.3.0".parse().expect("ip"), 24));
        assert!(in_network(ip, "10.0.0.0".parse().expect("ip"), 0));
        assert!(!in_network(ip, "2001:db8::".parse().expect("ip"), 0));
    }

    #[test]
    fn spf1_prefix_is_exact() {
        assert!(is_spf1("v=spf1 -all") && is_spf1("V=SPF1") && !is_spf1("v=spf10 -all") && !is_spf1("spf2.0/pra"));
    }

    #[test]
    fn an_address_is_evaluated_through_includes() {
        let include = SpfRecord {
            domain: "_spf.d.fr".into(),
            text: String::new(),
            terms: vec![Term { text: "ip4:192.0.2.0/24".into(), qualifier: '+', redirect: false, resolved: Resolved::Network { addr: "192.0.2.0".parse().expect("ip"), prefix: 24 } }],
        };
        let top = SpfRecord {
            domain: "d.fr".into(),
            text: String::new(),
            terms: vec![
                Term { text: "include:_spf.d.fr".into(), qualifier: '+', redirect: false, resolved: Resolved::Record { record: Some(Box::new(include)) } },
                Term { text: "-all".into(), qualifier: '-', redirect: false, resolved: Resolved::All },
            ],
        };
        assert_eq!(evaluate_for(&top, "192.0.2.9".parse().expect("ip")), SpfResult::Pass);
        assert_eq!(evaluate_for(&top, "198.51.100.1".parse().expect("ip")), SpfResult::Fail);
        assert_eq!(final_all(&top), Some('-'));
    }
}
