//! What receivers learn from the platform's address: `dns.ptr` (reverse name, confirmed by
//! its forward lookup, the same as the SMTP banner's host name) and `dns.blocklist` (DNSBL
//! listings; answers in 127.255.255.0/24 mean the list refused the resolver, not a listing).
//! Both judge the platform's addresses, not a domain: they run once for all the configured
//! domains (and once per `mssante-diag dns` audit, see [`super::audit`]).

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use futures::StreamExt;

use super::env::{fold, lookup_failed, publish, Env};
use crate::checks::Outcome;
use crate::model::{Metric, Status};
use crate::probe::Deadline;
use crate::resolver::{self, LookupError};
use crate::{tr, Lang};

/// The reverse DNS of one address.
#[derive(Debug, Clone, Serialize)]
pub struct PtrFacts {
    /// The address.
    pub address: IpAddr,
    /// Its PTR names.
    pub names: Vec<String>,
    /// The PTR lookup's failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LookupError>,
    /// Names whose forward lookup gives the address back.
    pub confirmed: Vec<String>,
    /// The SMTP banner's host name, when the banner could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub banner_host: Option<String>,
}

/// Reverse and forward lookups of `ip`, and the banner of its SMTP server on `port`.
pub async fn ptr_facts(env: &Env, ip: IpAddr) -> PtrFacts {
    let mut f = PtrFacts { address: ip, names: Vec::new(), error: None, confirmed: Vec::new(), banner_host: None };
    let banner = async {
        let d = Deadline::after(env.timeout);
        crate::starttls::banner(SocketAddr::new(ip, env.settings.smtp_port), &d, env.lang).await.ok().and_then(|p| p.banner_host)
    };
    let reverse = async {
        match resolver::reverse(&env.settings.nameservers, ip, env.timeout).await {
            Err(e) => (Vec::new(), Some(e), Vec::new()),
            Ok(names) => {
                let mut confirmed = Vec::new();
                for n in names.iter().take(10) {
                    if resolver::addresses(&env.plain, n).await.is_ok_and(|a| a.contains(&ip)) {
                        confirmed.push(n.to_ascii_lowercase());
                    }
                }
                (names, None, confirmed)
            }
        }
    };
    let (host, (names, error, confirmed)) = futures::join!(banner, reverse);
    f.banner_host = host;
    f.names = names;
    f.error = error;
    f.confirmed = confirmed;
    f
}

/// Judges the reverse DNS of every address.
#[must_use]
pub fn evaluate_ptr(all: &[PtrFacts], lang: Lang) -> Outcome {
    let mut findings: Vec<(Status, String)> = Vec::new();
    let mut fine = Vec::new();
    for f in all {
        let ip = f.address;
        match &f.error {
            Some(e) if e.is_empty_answer() => findings.push((Status::Critical, tr!(lang, "{ip} has no reverse name (PTR): many receivers refuse its mail", "{ip} n'a pas de nom inverse (PTR) : beaucoup de destinataires refusent son courrier"))),
            Some(e) => return lookup_failed(&format!("PTR {ip}"), e, lang),
            None if f.confirmed.is_empty() => {
                let n = f.names.join(", ");
                findings.push((Status::Critical, tr!(lang, "reverse name of {ip} ({n}) does not resolve back to it (not forward-confirmed)", "le nom inverse de {ip} ({n}) ne se résout pas vers elle (non confirmé)")));
            }
            None => match &f.banner_host {
                Some(b) if !f.confirmed.contains(b) => {
                    let n = f.confirmed.join(", ");
                    findings.push((Status::Warning, tr!(lang, "the SMTP banner of {ip} announces {b}, its reverse name is {n}", "la bannière SMTP de {ip} annonce {b}, son nom inverse est {n}")));
                }
                _ => fine.push(format!("{ip} → {}", f.confirmed.join(", "))),
            },
        }
    }
    let status = findings.iter().fold(Status::Ok, |s, (st, _)| s.worst(*st));
    let summary = if findings.is_empty() {
        let l = fine.join("; ");
        tr!(lang, "reverse DNS forward-confirmed: {l}", "DNS inverse confirmé : {l}")
    } else {
        findings.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join("; ")
    };
    let mut o = Outcome::new(status, summary).details(serde_json::json!({ "addresses": all }));
    if status != Status::Ok {
        for f in all {
            let rev = reverse_name(f.address);
            let name = f.banner_host.clone().unwrap_or_else(|| "mail.DOMAIN".into());
            o.remediation.push(publish(
                lang,
                "Ask the owner of the address (hosting provider) for a PTR record naming the mail host, which must resolve back to the address",
                "Demander au propriétaire de l'adresse (hébergeur) un enregistrement PTR désignant l'hôte de messagerie, qui doit se résoudre vers l'adresse",
                format!("{rev}. IN PTR {name}."),
                "Messagerie P3",
            ));
        }
    }
    o
}

fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let hex: Vec<String> = v6.octets().iter().rev().flat_map(|b| [format!("{:x}", b & 0xf), format!("{:x}", b >> 4)]).collect();
            format!("{}.ip6.arpa", hex.join("."))
        }
    }
}

/// The query name of `ip` on blocklist `zone` (`1.2.0.192.zen.spamhaus.org`).
#[must_use]
pub fn dnsbl_name(ip: IpAddr, zone: &str) -> String {
    let rev = reverse_name(ip);
    let stem = rev.trim_end_matches(".in-addr.arpa").trim_end_matches(".ip6.arpa");
    format!("{stem}.{zone}")
}

/// One address on one list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Listing {
    /// Not listed (NXDOMAIN).
    Clean,
    /// Listed: the answer codes.
    Listed {
        /// The A answers (127.0.0.x).
        codes: Vec<String>,
    },
    /// The list refused the query (127.255.255.x): undecided.
    Refused {
        /// The answer.
        code: String,
    },
    /// No usable answer.
    Failed {
        /// Why.
        error: LookupError,
    },
}

/// Every address on every list.
#[derive(Debug, Clone, Serialize)]
pub struct BlocklistFacts {
    /// `(address, list, verdict)`.
    pub results: Vec<(IpAddr, String, Listing)>,
}

/// Queries each list for each address.
pub async fn blocklist_facts(env: &Env, addresses: &[IpAddr]) -> BlocklistFacts {
    let mut queries = Vec::new();
    for ip in addresses {
        for zone in &env.settings.blocklists {
            queries.push(async move {
                let verdict = match resolver::ipv4(&env.plain, &dnsbl_name(*ip, zone)).await {
                    Err(e) if e.is_empty_answer() => Listing::Clean,
                    Err(error) => Listing::Failed { error },
                    Ok(a) => {
                        if let Some(r) = a.iter().find(|x| x.octets()[..3] == [127, 255, 255]) {
                            Listing::Refused { code: r.to_string() }
                        } else if a.iter().all(|x| x.octets()[0] == 127) {
                            Listing::Listed { codes: a.iter().map(ToString::to_string).collect() }
                        } else {
                            let codes = a.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
                            Listing::Failed { error: LookupError::Failed(format!("answer outside 127.0.0.0/8 ({codes}): the resolver rewrites answers")) }
                        }
                    }
                };
                (*ip, zone.clone(), verdict)
            });
        }
    }
    BlocklistFacts { results: futures::future::join_all(queries).await }
}

/// Judges the listings: any listing `critical`; a refusal or a failure `unknown`.
#[must_use]
pub fn evaluate_blocklist(f: &BlocklistFacts, lang: Lang) -> Outcome {
    let mut status = Status::Ok;
    let mut msgs = Vec::new();
    let mut listed = 0.0;
    for (ip, zone, v) in &f.results {
        match v {
            Listing::Clean => {}
            Listing::Listed { codes } => {
                listed += 1.0;
                status = status.worst(Status::Critical);
                let c = codes.join(" ");
                msgs.push(tr!(lang, "{ip} is listed on {zone} ({c})", "{ip} est listée sur {zone} ({c})"));
            }
            Listing::Refused { code } => {
                status = status.worst(Status::Unknown);
                msgs.push(tr!(lang, "{zone} refused the query for {ip} ({code}: resolver blocked or rate limited), not a listing", "{zone} a refusé la requête pour {ip} ({code} : résolveur bloqué ou limité), pas une inscription"));
            }
            Listing::Failed { error } => {
                status = status.worst(Status::Unknown);
                let e = error.describe(lang);
                msgs.push(tr!(lang, "{zone} for {ip}: {e}", "{zone} pour {ip} : {e}"));
            }
        }
    }
    let summary = if msgs.is_empty() {
        let n = f.results.len();
        tr!(lang, "not listed ({n} list queries)", "non listée ({n} requêtes de listes)")
    } else {
        msgs.join("; ")
    };
    Outcome::new(status, summary).metric(Metric::new("listings", listed, "").thresholds(1.0, 1.0)).details(f)
}

async fn addresses(env: &Env, domain: &str) -> Result<Vec<IpAddr>, Outcome> {
    match env.addresses_for(domain).await {
        Ok(a) if a.is_empty() => Err(Outcome::skipped(tr!(
            env.lang,
            "no platform address: set dns.addresses (the MX hosts of {domain} have none)",
            "aucune adresse de plateforme : renseigner dns.addresses (les hôtes MX de {domain} n'en ont pas)"
        ))),
        Ok(a) => Ok(a),
        Err(e) => Err(lookup_failed(&format!("MX {domain}"), &e, env.lang)),
    }
}

/// The platform's addresses: the configured ones, else those of every configured domain's MX
/// hosts (each address once, at most `dns.concurrency` domains asked at once). A domain whose
/// MX could not be looked up stops the check (`unknown`, by domain); none at all, `skipped`.
async fn platform_addresses(env: &Env) -> Result<Vec<IpAddr>, Outcome> {
    if !env.settings.addresses.is_empty() {
        return Ok(env.settings.addresses.clone());
    }
    let limit = env.settings.concurrency.max(1);
    // Owned names: a closure over `&String` makes the future not provably `Send`.
    let asks = env.settings.domains.clone().into_iter().map(|d| async move {
        let r = addresses(env, &d).await;
        (d, r)
    });
    let parts: Vec<(String, Result<Vec<IpAddr>, Outcome>)> = futures::stream::iter(asks).buffered(limit).collect().await;
    let failed: Vec<(String, Outcome)> = parts.iter().filter_map(|(d, r)| r.as_ref().err().filter(|o| o.status != Status::Skipped).map(|o| (d.clone(), o.clone()))).collect();
    if !failed.is_empty() {
        return Err(fold(failed));
    }
    let mut out: Vec<IpAddr> = Vec::new();
    for ip in parts.iter().filter_map(|(_, r)| r.as_ref().ok()).flatten() {
        if !out.contains(ip) {
            out.push(*ip);
        }
    }
    if out.is_empty() {
        return Err(fold(parts.into_iter().filter_map(|(d, r)| r.err().map(|o| (d, o))).collect()));
    }
    Ok(out)
}

/// `dns.ptr`: the reverse DNS of the platform's addresses (each once, whatever the number of
/// domains).
pub async fn check_ptr(env: &Env) -> Outcome {
    let ips = match platform_addresses(env).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let facts = futures::future::join_all(ips.iter().map(|ip| ptr_facts(env, *ip))).await;
    evaluate_ptr(&facts, env.lang)
}

/// `dns.blocklist`: the platform's addresses (each once) on the configured lists.
pub async fn check_blocklist(env: &Env) -> Outcome {
    if env.settings.blocklists.is_empty() {
        return Outcome::skipped(tr!(env.lang, "no blocklist configured (dns.blocklists)", "aucune liste de blocage configurée (dns.blocklists)"));
    }
    let ips = match platform_addresses(env).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    evaluate_blocklist(&blocklist_facts(env, &ips).await, env.lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnsbl_names_reverse_the_address() {
        assert_eq!(dnsbl_name("192.0.2.1".parse().expect("ip"), "zen.spamhaus.org"), "1.2.0.192.zen.spamhaus.org");
        let v6 = dnsbl_name("2001:db8::1".parse().expect("ip"), "bl.test");
        assert!(v6.starts_with("1.0.0.0.") && v6.ends_with(".8.b.d.0.1.0.0.2.bl.test"), "{v6}");
    }
}
