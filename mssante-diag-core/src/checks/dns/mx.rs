//! `dns.mx`: the domain's MX records, every MX host resolving, the platform among them;
//! a null MX (RFC 7505) understood as "accepts no mail".

use std::net::IpAddr;

use serde::Serialize;

use super::env::{lookup_failed, publish, Env};
use crate::checks::Outcome;
use crate::model::Metric;
use crate::resolver::{self, LookupError, Mx};
use crate::{tr, Lang};

/// One MX host and its addresses.
#[derive(Debug, Clone, Serialize)]
pub struct MxHost {
    /// Preference.
    pub preference: u16,
    /// Host name.
    pub host: String,
    /// Its A/AAAA addresses.
    pub addresses: Vec<IpAddr>,
    /// Why it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LookupError>,
}

/// What DNS says about a domain's mail exchangers.
#[derive(Debug, Clone, Serialize)]
pub struct MxFacts {
    /// The domain.
    pub domain: String,
    /// The MX lookup's failure (no such domain, no MX...), if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LookupError>,
    /// MX hosts, most preferred first.
    pub hosts: Vec<MxHost>,
    /// A null MX (`0 .`).
    pub null_mx: bool,
    /// The configured platform addresses (empty: not configured).
    pub platform: Vec<IpAddr>,
}

/// Looks up the MX records of `domain` and the addresses of every MX host.
pub async fn mx_facts(env: &Env, domain: &str) -> MxFacts {
    let mut f = MxFacts { domain: domain.to_owned(), error: None, hosts: Vec::new(), null_mx: false, platform: env.settings.addresses.clone() };
    match resolver::mx(&env.plain, domain).await {
        Err(e) => f.error = Some(e),
        Ok(records) => {
            f.null_mx = records.iter().any(Mx::is_null);
            let hosts = records.into_iter().filter(|m| !m.is_null()).take(20).map(|m| async move {
                let r = resolver::addresses(&env.plain, &m.exchange).await;
                let (addresses, error) = match r {
                    Ok(a) => (a, None),
                    Err(e) => (Vec::new(), Some(e)),
                };
                MxHost { preference: m.preference, host: m.exchange, addresses, error }
            });
            f.hosts = futures::future::join_all(hosts).await;
        }
    }
    f
}

/// Judges the MX facts: at least one MX, every host resolving, the platform's address among
/// them when configured; a null MX or no MX is `critical`; a silent nameserver `unknown`.
#[must_use]
pub fn evaluate_mx(f: &MxFacts, lang: Lang) -> Outcome {
    let d = &f.domain;
    let record = format!("{d}. IN MX 10 mail.{d}.");
    let o = match &f.error {
        Some(LookupError::NoRecords) => Outcome::critical(tr!(
            lang,
            "{d} has no MX record: senders fall back to its A record, if any",
            "{d} n'a aucun enregistrement MX : les expéditeurs se rabattent sur son enregistrement A, s'il existe"
        ))
        .details(f),
        Some(LookupError::NoSuchDomain) => Outcome::critical(tr!(lang, "{d} does not exist in DNS (NXDOMAIN)", "{d} n'existe pas dans le DNS (NXDOMAIN)")).details(f),
        Some(e) => return lookup_failed(&format!("MX {d}"), e, lang),
        None if f.null_mx => {
            return Outcome::critical(tr!(lang, "{d} publishes a null MX (0 .): it declares that it accepts no mail", "{d} publie un MX nul (0 .) : il déclare n'accepter aucun courrier")).details(f)
        }
        None => {
            let broken: Vec<String> = f
                .hosts
                .iter()
                .filter(|h| h.addresses.is_empty())
                .map(|h| format!("{} ({})", h.host, h.error.as_ref().map_or_else(|| "?".into(), |e| e.describe(lang))))
                .collect();
            if let Some(e) = f.hosts.iter().filter_map(|h| h.error.as_ref()).find(|e| !e.is_empty_answer()) {
                let host = f.hosts.iter().find(|h| h.error.as_ref() == Some(e)).map_or("?", |h| h.host.as_str());
                return lookup_failed(&format!("A/AAAA {host}"), e, lang);
            }
            let list = f.hosts.iter().map(|h| format!("{} {}", h.preference, h.host)).collect::<Vec<_>>().join(", ");
            let all: Vec<IpAddr> = f.hosts.iter().flat_map(|h| h.addresses.iter().copied()).collect();
            let o = if !broken.is_empty() {
                let b = broken.join(", ");
                Outcome::critical(tr!(lang, "MX host(s) of {d} without address: {b}", "hôte(s) MX de {d} sans adresse : {b}"))
            } else if !f.platform.is_empty() && !f.platform.iter().any(|a| all.contains(a)) {
                let p = f.platform.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                Outcome::warning(tr!(
                    lang,
                    "no MX host of {d} ({list}) is the platform ({p}): mail goes elsewhere",
                    "aucun hôte MX de {d} ({list}) n'est la plateforme ({p}) : le courrier va ailleurs"
                ))
            } else {
                Outcome::ok(tr!(lang, "{d}: MX {list}, every host resolves", "{d} : MX {list}, chaque hôte se résout"))
            };
            return o.metric(Metric::new("mx_hosts", f.hosts.len() as f64, "")).details(f);
        }
    };
    let mut o = o;
    o.remediation.push(publish(lang, "Publish an MX record naming the platform's mail host", "Publier un enregistrement MX désignant l'hôte de messagerie de la plateforme", record, "Messagerie P1"));
    o
}

/// `dns.mx` for one domain.
pub async fn check_mx(env: &Env, domain: &str) -> Outcome {
    evaluate_mx(&mx_facts(env, domain).await, env.lang)
}
