//! `dns.dnssec` (validation of the domain's answers when its zone is signed: bogus is
//! critical, unsigned is reported) and `dns.resolver` (each configured nameserver answers,
//! and how fast).
//!
//! Validation is hickory-resolver's own (`dnssec-ring`): answers carry a proof checked from the
//! configured trust anchors (`[dns] trust_anchors`, a file of DNSKEY records; default: the
//! root zone's keys), so no signature is checked by hand here.

use std::time::Instant;

use hickory_resolver::proto::rr::RecordType;
use serde::Serialize;

use super::env::{lookup_failed, Env};
use crate::checks::{elapsed_ms, Outcome};
use crate::model::{Metric, Status};
use crate::resolver::{self, LookupError, Nameserver, Proof};
use crate::{tr, Lang};

/// DNSSEC facts of a domain.
#[derive(Debug, Clone, Serialize)]
pub struct DnssecFacts {
    /// The domain.
    pub domain: String,
    /// The zone publishes DNSKEY records at the domain.
    pub signed: bool,
    /// The DNSKEY lookup's failure (other than "no record").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LookupError>,
    /// Each record type checked and its proof, or why it failed validation.
    pub answers: Vec<(String, Result<Proof, String>)>,
    /// Why validation could not be set up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_error: Option<String>,
}

/// Looks for DNSKEY at the domain, then validates its SOA, MX and TXT answers.
pub async fn dnssec_facts(env: &Env, domain: &str) -> DnssecFacts {
    let mut f = DnssecFacts { domain: domain.to_owned(), signed: false, error: None, answers: Vec::new(), setup_error: None };
    match env.plain.lookup(format!("{domain}."), RecordType::DNSKEY).await {
        Ok(l) => f.signed = l.record_iter().any(|r| r.record_type() == RecordType::DNSKEY),
        Err(e) => {
            let e = LookupError::from_resolve_error(&e);
            if !e.is_empty_answer() {
                f.error = Some(e);
            }
        }
    }
    if !f.signed || f.error.is_some() {
        return f;
    }
    let secure = match &env.secure {
        Ok(s) => s,
        Err(e) => {
            f.setup_error = Some(e.clone());
            return f;
        }
    };
    for rtype in [RecordType::SOA, RecordType::MX, RecordType::TXT] {
        let r = match resolver::validated(secure, domain, rtype).await {
            Ok((_, proof)) => Ok(proof),
            Err(LookupError::NoRecords) => continue,
            Err(LookupError::Timeout) => {
                f.error = Some(LookupError::Timeout);
                return f;
            }
            Err(e) => Err(e.describe(env.lang)),
        };
        f.answers.push((rtype.to_string(), r));
    }
    f
}

/// Judges the DNSSEC facts: every answer secure is `ok`; bogus or failing validation
/// `critical`; unsigned, insecure or undecided a `warning`.
#[must_use]
pub fn evaluate_dnssec(f: &DnssecFacts, lang: Lang) -> Outcome {
    let d = &f.domain;
    if let Some(e) = &f.error {
        return lookup_failed(&format!("DNSKEY {d}"), e, lang).details(f);
    }
    if !f.signed {
        return Outcome::warning(tr!(lang, "{d} is not DNSSEC-signed (no DNSKEY): its answers can be forged, DANE is unusable", "{d} n'est pas signé DNSSEC (aucun DNSKEY) : ses réponses peuvent être falsifiées, DANE est inutilisable")).details(f);
    }
    if let Some(e) = &f.setup_error {
        return Outcome::unknown(tr!(lang, "DNSSEC validation unavailable: {e}", "validation DNSSEC indisponible : {e}")).details(f);
    }
    let bogus: Vec<String> = f
        .answers
        .iter()
        .filter_map(|(t, r)| match r {
            Ok(Proof::Bogus) => Some(tr!(lang, "{t}: bogus signature", "{t} : signature invalide")),
            Err(e) => Some(format!("{t}: {e}")),
            _ => None,
        })
        .collect();
    let weak: Vec<String> = f.answers.iter().filter(|(_, r)| matches!(r, Ok(Proof::Insecure | Proof::Indeterminate))).map(|(t, _)| t.clone()).collect();
    let o = if !bogus.is_empty() {
        let b = bogus.join("; ");
        Outcome::critical(tr!(lang, "DNSSEC validation of {d} fails ({b}): validating resolvers answer SERVFAIL", "la validation DNSSEC de {d} échoue ({b}) : les résolveurs validants répondent SERVFAIL"))
    } else if !weak.is_empty() {
        let w = weak.join(", ");
        Outcome::warning(tr!(lang, "{d} is signed but {w} could not be validated from the trust anchors (DS at the parent?)", "{d} est signé mais {w} n'a pas pu être validé depuis les ancres de confiance (DS chez le parent ?)"))
    } else {
        let t = f.answers.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join(", ");
        Outcome::ok(tr!(lang, "{d}: DNSSEC-signed, {t} validated", "{d} : signé DNSSEC, {t} validés"))
    };
    o.details(f)
}

/// `dns.dnssec` for one domain.
pub async fn check_dnssec(env: &Env, domain: &str) -> Outcome {
    evaluate_dnssec(&dnssec_facts(env, domain).await, env.lang)
}

/// One nameserver's answer.
#[derive(Debug, Clone, Serialize)]
pub struct NameserverAnswer {
    /// The nameserver.
    pub nameserver: Nameserver,
    /// The name asked (SOA).
    pub query: String,
    /// Latency, ms.
    pub latency_ms: f64,
    /// Why it gave no answer (an empty answer is an answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LookupError>,
}

/// Asks each nameserver for the SOA of `name`, concurrently.
///
/// # Errors
/// The system configuration could not be read.
pub async fn ask_nameservers(nameservers: &[Nameserver], name: &str, timeout: std::time::Duration) -> Result<Vec<NameserverAnswer>, String> {
    let all = resolver::effective_nameservers(nameservers)?;
    let asks = all.into_iter().map(|ns| async move {
        let start = Instant::now();
        let error = match resolver::build(&[ns], timeout) {
            Err(e) => Some(LookupError::Failed(e)),
            // Bounded here too: the resolver's UDP and TCP attempts each get the timeout.
            Ok(r) => match tokio::time::timeout(timeout + timeout / 10, r.lookup(format!("{name}."), RecordType::SOA)).await {
                Err(_) => Some(LookupError::Timeout),
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(LookupError::from_resolve_error(&e)).filter(|e| !e.is_empty_answer()),
            },
        };
        NameserverAnswer { nameserver: ns, query: name.to_owned(), latency_ms: elapsed_ms(start), error }
    });
    Ok(futures::future::join_all(asks).await)
}

/// Judges the nameservers: all answering `ok`, some `warning`, none `timeout_status`.
#[must_use]
pub fn evaluate_resolvers(answers: &[NameserverAnswer], timeout_status: Status, lang: Lang) -> Outcome {
    let ok: Vec<&NameserverAnswer> = answers.iter().filter(|a| a.error.is_none()).collect();
    let failed: Vec<String> = answers
        .iter()
        .filter_map(|a| a.error.as_ref().map(|e| format!("{}: {}", String::from(a.nameserver), e.describe(lang))))
        .collect();
    let shown: Vec<String> = ok.iter().map(|a| format!("{} {:.1} ms", String::from(a.nameserver), a.latency_ms)).collect();
    let (status, summary) = if answers.is_empty() {
        (Status::Critical, tr!(lang, "no nameserver configured (dns.nameservers, /etc/resolv.conf)", "aucun serveur DNS configuré (dns.nameservers, /etc/resolv.conf)"))
    } else if ok.is_empty() {
        let f = failed.join("; ");
        (timeout_status, tr!(lang, "no nameserver answers: {f}", "aucun serveur DNS ne répond : {f}"))
    } else if !failed.is_empty() {
        let f = failed.join("; ");
        let s = shown.join(", ");
        (Status::Warning, tr!(lang, "{f}; answering: {s}", "{f} ; répondent : {s}"))
    } else {
        let s = shown.join(", ");
        (Status::Ok, tr!(lang, "nameservers answer: {s}", "les serveurs DNS répondent : {s}"))
    };
    let mut o = Outcome::new(status, summary);
    for a in answers {
        o = o.metric(Metric::new("latency", a.latency_ms, "ms").label("nameserver", String::from(a.nameserver)));
    }
    o.details(serde_json::json!({ "nameservers": answers }))
}
