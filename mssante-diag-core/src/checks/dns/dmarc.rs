//! `dns.dmarc`: one `v=DMARC1` record at `_dmarc.<domain>`, its syntax, the policy
//! (`p=none` a warning), `rua` present, and external report destinations authorised
//! (`<domain>._report._dmarc.<destination>`, RFC 7489 7.1).

use serde::Serialize;

use super::env::{lookup_failed, publish, Env};
use super::tags;
use crate::checks::Outcome;
use crate::model::Status;
use crate::resolver::{self, LookupError};
use crate::{tr, Lang};

/// What DNS says about a domain's DMARC policy.
#[derive(Debug, Clone, Serialize)]
pub struct DmarcFacts {
    /// The domain.
    pub domain: String,
    /// Every `v=DMARC1` record at `_dmarc.<domain>`.
    pub records: Vec<String>,
    /// One of them is longer than [`resolver::TXT_MAX`] bytes (kept cut, not read).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub too_long: bool,
    /// The lookup's failure (other than "no record").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LookupError>,
    /// The policy (`p=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Aggregate report destinations (`rua=`).
    pub rua: Vec<String>,
    /// External destinations without their authorisation record.
    pub unauthorised: Vec<String>,
    /// Why the record does not parse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

fn domain_of(uri: &str) -> Option<String> {
    let addr = uri.trim().strip_prefix("mailto:")?;
    let addr = addr.split('!').next().unwrap_or(addr);
    addr.rsplit_once('@').map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
}

fn within(child: &str, parent: &str) -> bool {
    child == parent || child.ends_with(&format!(".{parent}"))
}

/// Reads the policy and report destinations of `record` into `f`; the destinations outside
/// `f.domain` (they must authorise it).
fn read_record(f: &mut DmarcFacts, record: &str) -> Vec<String> {
    let Some(t) = tags::parse(record) else {
        f.problem = Some("malformed tag list".into());
        return Vec::new();
    };
    match tags::get(&t, "p").map(str::to_ascii_lowercase) {
        Some(p) if ["none", "quarantine", "reject"].contains(&p.as_str()) => f.policy = Some(p),
        Some(p) => f.problem = Some(format!("unknown policy p={p}")),
        None => f.problem = Some("no p= tag".into()),
    }
    f.rua = tags::get(&t, "rua").map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    let own = f.domain.to_ascii_lowercase();
    f.rua.iter().filter_map(|uri| domain_of(uri)).filter(|dest| !(within(dest, &own) || within(&own, dest))).collect()
}

/// Parses `data` as a `_dmarc` TXT record and judges it (the `dmarc` fuzz target). Never panics.
#[doc(hidden)]
pub fn exercise(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut f = DmarcFacts { domain: "example.fr".into(), records: vec![text.to_string()], too_long: false, error: None, policy: None, rua: Vec::new(), unauthorised: Vec::new(), problem: None };
    if tags::has_version(&text, "DMARC1") {
        f.unauthorised = read_record(&mut f, &text);
    }
    let _ = evaluate_dmarc(&f, Lang::En);
}

/// Looks up and parses the DMARC record of `domain`, checking external destinations.
pub async fn dmarc_facts(env: &Env, domain: &str) -> DmarcFacts {
    let mut f = DmarcFacts { domain: domain.to_owned(), records: Vec::new(), too_long: false, error: None, policy: None, rua: Vec::new(), unauthorised: Vec::new(), problem: None };
    match resolver::txt(&env.plain, &format!("_dmarc.{domain}")).await {
        Ok(t) => {
            f.too_long = t.iter().any(|t| t.truncated && tags::has_version(&t.text, "DMARC1"));
            f.records = t.into_iter().map(|t| t.text).filter(|t| tags::has_version(t, "DMARC1")).collect();
        }
        Err(e) if e.is_empty_answer() => {}
        Err(e) => f.error = Some(e),
    }
    if f.too_long {
        return f;
    }
    let [record] = f.records.as_slice() else { return f };
    let record = record.clone();
    let own = domain.to_ascii_lowercase();
    for dest in read_record(&mut f, &record) {
        let name = format!("{own}._report._dmarc.{dest}");
        let ok = resolver::txt(&env.plain, &name).await.is_ok_and(|t| t.iter().any(|t| tags::has_version(&t.text, "DMARC1")));
        if !ok {
            f.unauthorised.push(dest);
        }
    }
    f
}

/// Judges the DMARC facts.
#[must_use]
pub fn evaluate_dmarc(f: &DmarcFacts, lang: Lang) -> Outcome {
    let d = &f.domain;
    if let Some(e) = &f.error {
        return lookup_failed(&format!("TXT _dmarc.{d}"), e, lang);
    }
    let n = f.records.len();
    let mut findings: Vec<(Status, String)> = Vec::new();
    if n == 0 {
        findings.push((Status::Critical, tr!(lang, "no DMARC record at _dmarc.{d}", "aucun enregistrement DMARC en _dmarc.{d}")));
    } else if n > 1 {
        findings.push((Status::Critical, tr!(lang, "{n} DMARC records at _dmarc.{d}: receivers ignore them all", "{n} enregistrements DMARC en _dmarc.{d} : les destinataires les ignorent tous")));
    } else if f.too_long {
        let max = resolver::TXT_MAX / 1024;
        findings.push((Status::Critical, tr!(
            lang,
            "DMARC record of {d} is longer than {max} KiB (read up to there, not used): receivers ignore it",
            "l'enregistrement DMARC de {d} dépasse {max} Kio (lu jusque-là, non utilisé) : les destinataires l'ignorent"
        )));
    } else if let Some(p) = &f.problem {
        findings.push((Status::Critical, tr!(lang, "DMARC record of {d} is invalid: {p}", "l'enregistrement DMARC de {d} est invalide : {p}")));
    } else {
        if f.policy.as_deref() == Some("none") {
            findings.push((Status::Warning, tr!(lang, "DMARC policy of {d} is p=none: forged mail is delivered", "la politique DMARC de {d} est p=none : le courrier falsifié est distribué")));
        }
        if f.rua.is_empty() {
            findings.push((Status::Warning, tr!(lang, "DMARC record of {d} has no rua: no aggregate report is received", "l'enregistrement DMARC de {d} n'a pas de rua : aucun rapport agrégé n'est reçu")));
        }
        for dest in &f.unauthorised {
            findings.push((Status::Warning, tr!(
                lang,
                "report destination {dest} does not authorise {d} ({d}._report._dmarc.{dest} missing)",
                "la destination de rapports {dest} n'autorise pas {d} ({d}._report._dmarc.{dest} absent)"
            )));
        }
    }
    let status = findings.iter().fold(Status::Ok, |s, (st, _)| s.worst(*st));
    let summary = if findings.is_empty() {
        let p = f.policy.as_deref().unwrap_or("?");
        let r = f.rua.join(", ");
        tr!(lang, "{d}: DMARC p={p}, reports to {r}", "{d} : DMARC p={p}, rapports vers {r}")
    } else {
        findings.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join("; ")
    };
    let mut o = Outcome::new(status, summary).details(f);
    if status != Status::Ok {
        o.remediation.push(publish(
            lang,
            "Publish one DMARC record with a quarantine or reject policy and an aggregate report address",
            "Publier un seul enregistrement DMARC avec une politique quarantine ou reject et une adresse de rapports agrégés",
            format!("_dmarc.{d}. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:dmarc@{d}\""),
            "Messagerie P3",
        ));
    }
    o
}

/// `dns.dmarc` for one domain.
pub async fn check_dmarc(env: &Env, domain: &str) -> Outcome {
    evaluate_dmarc(&dmarc_facts(env, domain).await, env.lang)
}
