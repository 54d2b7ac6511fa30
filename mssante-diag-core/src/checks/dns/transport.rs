//! TLS between mail servers, as announced in DNS: `dns.mta_sts` (`_mta-sts` TXT and the policy
//! fetched over HTTPS, its mode and MX patterns against the real MX), `dns.tlsrpt`
//! (`_smtp._tls`), `dns.dane` (TLSA of `_25._tcp.<mx>` against the certificate the MX serves).

use std::net::SocketAddr;

use serde::Serialize;

use super::env::{lookup_failed, publish, Env};
use super::tags;
use crate::checks::Outcome;
use crate::model::Status;
use crate::probe::Deadline;
use crate::resolver::{self, LookupError, Tlsa};
use crate::{tr, Lang};

/// Largest MTA-STS policy read, bytes (RFC 8461 sets no limit; real ones are < 1 KiB).
const POLICY_MAX: usize = 64 * 1024;

/// An MTA-STS policy (RFC 8461 3.2).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Policy {
    /// `version`.
    pub version: Option<String>,
    /// `mode`: enforce, testing, none.
    pub mode: Option<String>,
    /// `mx` patterns.
    pub mx: Vec<String>,
    /// `max_age`, seconds.
    pub max_age: Option<u64>,
}

/// Parses a policy file (`key: value` lines).
#[must_use]
pub fn parse_policy(text: &str) -> Policy {
    let mut p = Policy::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        let v = v.trim().to_owned();
        match k.trim() {
            "version" => p.version = Some(v),
            "mode" => p.mode = Some(v),
            "mx" => p.mx.push(v.to_ascii_lowercase()),
            "max_age" => p.max_age = v.parse().ok(),
            _ => {}
        }
    }
    p
}

/// Whether MX `host` matches policy pattern `pat` (`*.example.fr` matches one label).
#[must_use]
pub fn mx_matches(pat: &str, host: &str) -> bool {
    let (pat, host) = (pat.trim_end_matches('.').to_ascii_lowercase(), host.trim_end_matches('.').to_ascii_lowercase());
    match pat.strip_prefix("*.") {
        Some(suffix) => host.split_once('.').is_some_and(|(_, rest)| rest == suffix),
        None => pat == host,
    }
}

/// MTA-STS facts of a domain.
#[derive(Debug, Clone, Serialize)]
pub struct MtaStsFacts {
    /// The domain.
    pub domain: String,
    /// `v=STSv1` records at `_mta-sts.<domain>`.
    pub records: Vec<String>,
    /// The TXT lookup's failure (other than "no record").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LookupError>,
    /// The policy URL.
    pub url: String,
    /// Why the policy could not be fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetch_error: Option<String>,
    /// The policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// The domain's MX hosts.
    pub mx: Vec<String>,
}

async fn fetch_policy(env: &Env, host: &str) -> Result<String, String> {
    let lang = env.lang;
    // Asked first for a plain "no such domain"; the client's own lookup is then a cache hit.
    resolver::addresses(&env.plain, host).await.map_err(|e| format!("{host}: {}", e.describe(lang)))?;
    let port = env.settings.mta_sts_port;
    let client = env.http().await?;
    let url = policy_url(host, port);
    let got = match crate::http::get_bounded(&client, &url, env.timeout, POLICY_MAX).await {
        Ok(got) => got,
        Err(crate::http::Failure::Transport(e)) => return Err(crate::http::transport_cause(lang, &e)),
        Err(crate::http::Failure::NoAnswer(hung)) => return Err(hung.describe(lang, &url)),
    };
    if got.status != reqwest::StatusCode::OK {
        return Err(tr!(lang, "HTTP {} (200 expected)", "HTTP {} (200 attendu)", got.status.as_u16()));
    }
    if got.truncated {
        return Err(tr!(lang, "policy larger than {POLICY_MAX} bytes", "politique de plus de {POLICY_MAX} octets"));
    }
    Ok(String::from_utf8_lossy(&got.body).into_owned())
}

fn policy_url(host: &str, port: u16) -> String {
    if port == 443 {
        format!("https://{host}/.well-known/mta-sts.txt")
    } else {
        format!("https://{host}:{port}/.well-known/mta-sts.txt")
    }
}

/// Looks up the `_mta-sts` record, fetches the policy, and the MX hosts to compare.
pub async fn mta_sts_facts(env: &Env, domain: &str) -> MtaStsFacts {
    let host = format!("mta-sts.{domain}");
    let mut f = MtaStsFacts { domain: domain.to_owned(), records: Vec::new(), error: None, url: policy_url(&host, env.settings.mta_sts_port), fetch_error: None, policy: None, mx: Vec::new() };
    match resolver::txt(&env.plain, &format!("_mta-sts.{domain}")).await {
        Ok(t) => f.records = t.into_iter().map(|t| t.text).filter(|t| tags::has_version(t, "STSv1")).collect(),
        Err(e) if e.is_empty_answer() => {}
        Err(e) => f.error = Some(e),
    }
    if f.records.is_empty() || f.error.is_some() {
        return f;
    }
    if let Ok(mx) = resolver::mx(&env.plain, domain).await {
        f.mx = mx.into_iter().filter(|m| !m.is_null()).map(|m| m.exchange).collect();
    }
    match fetch_policy(env, &host).await {
        Ok(text) => f.policy = Some(parse_policy(&text)),
        Err(e) => f.fetch_error = Some(e),
    }
    f
}

/// Judges the MTA-STS facts: not published is a `warning`; a broken record, an unreachable or
/// invalid policy, or MX hosts the policy does not cover are `critical`; `testing` a warning.
#[must_use]
pub fn evaluate_mta_sts(f: &MtaStsFacts, lang: Lang) -> Outcome {
    let d = &f.domain;
    if let Some(e) = &f.error {
        return lookup_failed(&format!("TXT _mta-sts.{d}"), e, lang);
    }
    let url = &f.url;
    let (status, summary) = match (f.records.len(), &f.fetch_error, &f.policy) {
        (0, _, _) => (Status::Warning, tr!(lang, "{d} publishes no MTA-STS policy (_mta-sts): senders may deliver without TLS", "{d} ne publie pas de politique MTA-STS (_mta-sts) : les expéditeurs peuvent livrer sans TLS")),
        (n, _, _) if n > 1 => (Status::Critical, tr!(lang, "{n} MTA-STS records at _mta-sts.{d} (exactly one allowed)", "{n} enregistrements MTA-STS en _mta-sts.{d} (un seul autorisé)")),
        (_, Some(e), _) => (Status::Critical, tr!(lang, "MTA-STS policy of {d} unreachable at {url}: {e}", "politique MTA-STS de {d} inaccessible à {url} : {e}")),
        (_, None, Some(p)) => {
            let uncovered: Vec<&String> = f.mx.iter().filter(|h| !p.mx.iter().any(|pat| mx_matches(pat, h))).collect();
            if p.version.as_deref() != Some("STSv1") || p.mode.is_none() || p.max_age.is_none() {
                (Status::Critical, tr!(lang, "MTA-STS policy of {d} is invalid (version STSv1, mode and max_age required)", "la politique MTA-STS de {d} est invalide (version STSv1, mode et max_age requis)"))
            } else if !uncovered.is_empty() && p.mode.as_deref() != Some("none") {
                let u = uncovered.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                let pats = p.mx.join(", ");
                (Status::Critical, tr!(lang, "MTA-STS policy of {d} does not cover MX {u} (patterns: {pats}): senders refuse to deliver", "la politique MTA-STS de {d} ne couvre pas le MX {u} (motifs : {pats}) : les expéditeurs refusent de livrer"))
            } else if p.mode.as_deref() != Some("enforce") {
                let m = p.mode.as_deref().unwrap_or("?");
                (Status::Warning, tr!(lang, "MTA-STS policy of {d} is in mode {m}: not enforced", "la politique MTA-STS de {d} est en mode {m} : non appliquée"))
            } else {
                let pats = p.mx.join(", ");
                (Status::Ok, tr!(lang, "{d}: MTA-STS enforce, mx {pats} covers every MX", "{d} : MTA-STS enforce, mx {pats} couvre chaque MX"))
            }
        }
        (_, None, None) => (Status::Unknown, tr!(lang, "MTA-STS policy of {d} not fetched", "politique MTA-STS de {d} non récupérée")),
    };
    let mut o = Outcome::new(status, summary).details(f);
    if status != Status::Ok {
        let mx = f.mx.first().cloned().unwrap_or_else(|| format!("mail.{d}"));
        o.remediation.push(publish(lang, "Publish the MTA-STS record (change id with every policy change)", "Publier l'enregistrement MTA-STS (changer id à chaque changement de politique)", format!("_mta-sts.{d}. IN TXT \"v=STSv1; id=20240101T000000\""), "Messagerie P3"));
        o.remediation.push(publish(
            lang,
            "Serve the policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt, covering every MX",
            "Servir la politique à https://mta-sts.DOMAINE/.well-known/mta-sts.txt, couvrant chaque MX",
            format!("version: STSv1\\nmode: enforce\\nmx: {mx}\\nmax_age: 604800"),
            "Messagerie P3",
        ));
    }
    o
}

/// `dns.mta_sts` for one domain.
pub async fn check_mta_sts(env: &Env, domain: &str) -> Outcome {
    evaluate_mta_sts(&mta_sts_facts(env, domain).await, env.lang)
}

/// `dns.tlsrpt` for one domain: one `v=TLSRPTv1` record with `rua` (mailto: or https:).
pub async fn check_tlsrpt(env: &Env, domain: &str) -> Outcome {
    let lang = env.lang;
    let d = domain;
    let records: Vec<String> = match resolver::txt(&env.plain, &format!("_smtp._tls.{d}")).await {
        Ok(t) => t.into_iter().map(|t| t.text).filter(|t| tags::has_version(t, "TLSRPTv1")).collect(),
        Err(e) if e.is_empty_answer() => Vec::new(),
        Err(e) => return lookup_failed(&format!("TXT _smtp._tls.{d}"), &e, lang),
    };
    let rua = records.first().and_then(|r| tags::parse(r)).and_then(|t| tags::get(&t, "rua").map(str::to_owned));
    let (status, summary) = match (records.len(), &rua) {
        (0, _) => (Status::Warning, tr!(lang, "{d} publishes no TLS-RPT record (_smtp._tls): TLS failures go unreported", "{d} ne publie pas d'enregistrement TLS-RPT (_smtp._tls) : les échecs TLS ne sont pas signalés")),
        (1, Some(r)) if r.split(',').all(|u| u.trim().starts_with("mailto:") || u.trim().starts_with("https:")) => {
            (Status::Ok, tr!(lang, "{d}: TLS-RPT reports to {r}", "{d} : rapports TLS-RPT vers {r}"))
        }
        (1, _) => (Status::Critical, tr!(lang, "TLS-RPT record of {d} has no valid rua (mailto: or https:)", "l'enregistrement TLS-RPT de {d} n'a pas de rua valide (mailto: ou https:)")),
        (n, _) => (Status::Critical, tr!(lang, "{n} TLS-RPT records at _smtp._tls.{d} (exactly one allowed)", "{n} enregistrements TLS-RPT en _smtp._tls.{d} (un seul autorisé)")),
    };
    let mut o = Outcome::new(status, summary).details(serde_json::json!({ "domain": d, "records": records }));
    if status != Status::Ok {
        o.remediation.push(publish(lang, "Publish a TLS-RPT record", "Publier un enregistrement TLS-RPT", format!("_smtp._tls.{d}. IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@{d}\""), "Messagerie P3"));
    }
    o
}

/// DANE facts of one MX host.
#[derive(Debug, Clone, Serialize)]
pub struct DaneHost {
    /// The MX host.
    pub host: String,
    /// Its TLSA records at `_25._tcp.<host>`.
    pub tlsa: Vec<Tlsa>,
    /// The TLSA lookup's failure (other than "no record").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LookupError>,
    /// Whether the TLSA answer validated (DNSSEC), when checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validated: Option<bool>,
    /// The address probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddr>,
    /// Why the handshake failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_error: Option<String>,
    /// Indexes of the TLSA records that match the served chain.
    pub matching: Vec<usize>,
}

fn digest(matching: u8, data: &[u8]) -> Option<Vec<u8>> {
    match matching {
        0 => Some(data.to_vec()),
        1 => Some(ring::digest::digest(&ring::digest::SHA256, data).as_ref().to_vec()),
        2 => Some(ring::digest::digest(&ring::digest::SHA512, data).as_ref().to_vec()),
        _ => None,
    }
}

/// Whether TLSA record `t` matches the served `chain` (leaf first): usages 1 and 3 the leaf,
/// 0 and 2 any certificate after it.
#[must_use]
pub fn tlsa_matches(t: &Tlsa, chain: &[impl AsRef<[u8]>]) -> bool {
    let certs: Vec<&[u8]> = match t.usage {
        1 | 3 => chain.first().map(AsRef::as_ref).into_iter().collect(),
        _ => chain.iter().skip(1).map(AsRef::as_ref).collect(),
    };
    certs.iter().any(|der| {
        let selected = match t.selector {
            0 => Some(der.to_vec()),
            1 => x509_parser::parse_x509_certificate(der).ok().map(|(_, c)| c.tbs_certificate.subject_pki.raw.to_vec()),
            _ => None,
        };
        selected.and_then(|s| digest(t.matching, &s)).is_some_and(|h| h.iter().map(|b| format!("{b:02x}")).collect::<String>() == t.data.to_ascii_lowercase())
    })
}

async fn dane_host(env: &Env, host: String) -> DaneHost {
    let name = format!("_25._tcp.{host}");
    let mut h = DaneHost { host: host.clone(), tlsa: Vec::new(), error: None, validated: None, address: None, probe_error: None, matching: Vec::new() };
    match resolver::tlsa(&env.plain, &name).await {
        Ok(t) => h.tlsa = t,
        Err(e) if e.is_empty_answer() => return h,
        Err(e) => {
            h.error = Some(e);
            return h;
        }
    }
    if let Ok(secure) = &env.secure {
        h.validated = Some(matches!(resolver::validated(secure, &name, hickory_resolver::proto::rr::RecordType::TLSA).await, Ok((_, resolver::Proof::Secure))));
    }
    let ip = match resolver::addresses(&env.plain, &host).await {
        Ok(a) => a.into_iter().find(std::net::IpAddr::is_ipv4),
        Err(e) => {
            h.probe_error = Some(e.describe(env.lang));
            return h;
        }
    };
    let Some(ip) = ip else {
        h.probe_error = Some("no IPv4 address".into());
        return h;
    };
    let addr = SocketAddr::new(ip, env.settings.smtp_port);
    h.address = Some(addr);
    let d = Deadline::after(env.timeout);
    match crate::starttls::handshake(addr, &host, &d, env.lang).await {
        Ok(peer) => h.matching = h.tlsa.iter().enumerate().filter(|(_, t)| tlsa_matches(t, &peer.chain)).map(|(i, _)| i).collect(),
        Err(e) => h.probe_error = Some(e.describe(env.lang, &format!("SMTP {addr}"))),
    }
    h
}

/// Judges DANE: no TLSA anywhere is a `warning` (not deployed); a TLSA that matches nothing the
/// MX serves, or an MX that cannot be probed, `critical`; a TLSA not validated by DNSSEC a warning.
#[must_use]
pub fn evaluate_dane(domain: &str, hosts: &[DaneHost], lang: Lang) -> Outcome {
    let d = domain;
    if let Some((h, e)) = hosts.iter().find_map(|h| h.error.as_ref().map(|e| (h, e))) {
        return lookup_failed(&format!("TLSA _25._tcp.{}", h.host), e, lang);
    }
    let with: Vec<&DaneHost> = hosts.iter().filter(|h| !h.tlsa.is_empty()).collect();
    let mut findings: Vec<(Status, String)> = Vec::new();
    if hosts.is_empty() {
        return Outcome::skipped(tr!(lang, "{d} has no MX host to check (see dns.mx)", "{d} n'a aucun hôte MX à vérifier (voir dns.mx)"));
    }
    if with.is_empty() {
        findings.push((Status::Warning, tr!(lang, "no TLSA record for the MX of {d}: DANE not deployed", "aucun enregistrement TLSA pour le MX de {d} : DANE non déployé")));
    }
    for h in &with {
        let host = &h.host;
        if let Some(e) = &h.probe_error {
            findings.push((Status::Critical, tr!(lang, "MX {host} publishes TLSA but its certificate could not be read: {e}", "le MX {host} publie un TLSA mais son certificat n'a pas pu être lu : {e}")));
        } else if h.matching.is_empty() {
            findings.push((Status::Critical, tr!(lang, "TLSA of {host} matches no certificate it serves: DANE senders refuse to deliver", "le TLSA de {host} ne correspond à aucun certificat qu'il présente : les expéditeurs DANE refusent de livrer")));
        } else if h.validated == Some(false) {
            findings.push((Status::Warning, tr!(lang, "TLSA of {host} is not DNSSEC-validated: senders ignore it", "le TLSA de {host} n'est pas validé par DNSSEC : les expéditeurs l'ignorent")));
        }
    }
    let status = findings.iter().fold(Status::Ok, |s, (st, _)| s.worst(*st));
    let summary = if findings.is_empty() {
        let l = with.iter().map(|h| h.host.as_str()).collect::<Vec<_>>().join(", ");
        tr!(lang, "{d}: TLSA of {l} matches the served certificate", "{d} : le TLSA de {l} correspond au certificat présenté")
    } else {
        findings.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join("; ")
    };
    let mut o = Outcome::new(status, summary).details(serde_json::json!({ "domain": d, "hosts": hosts }));
    if status != Status::Ok {
        let host = hosts.first().map_or_else(|| format!("mail.{d}"), |h| h.host.clone());
        o.remediation.push(publish(
            lang,
            "Publish (in a DNSSEC-signed zone) the SHA-256 of the MX certificate's public key: openssl x509 -in server.crt -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum",
            "Publier (dans une zone signée DNSSEC) le SHA-256 de la clé publique du certificat du MX : openssl x509 -in server.crt -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum",
            format!("_25._tcp.{host}. IN TLSA 3 1 1 <sha256>"),
            "Messagerie P3",
        ));
    }
    o
}

/// `dns.dane` for one domain.
pub async fn check_dane(env: &Env, domain: &str) -> Outcome {
    let mx = match resolver::mx(&env.plain, domain).await {
        Ok(mx) => mx,
        Err(e) if e.is_empty_answer() => Vec::new(),
        Err(e) => return lookup_failed(&format!("MX {domain}"), &e, env.lang),
    };
    let hosts = mx.into_iter().filter(|m| !m.is_null()).take(10).map(|m| dane_host(env, m.exchange));
    evaluate_dane(domain, &futures::future::join_all(hosts).await, env.lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_patterns_match_one_label() {
        assert!(mx_matches("mx.d.fr", "MX.d.fr."));
        assert!(mx_matches("*.d.fr", "mx1.d.fr"));
        assert!(!mx_matches("*.d.fr", "a.b.d.fr") && !mx_matches("*.d.fr", "d.fr"));
        let p = parse_policy("version: STSv1\r\nmode: enforce\r\nmx: mx.d.fr\r\nmx: *.d.fr\r\nmax_age: 86400\r\n");
        assert_eq!((p.mode.as_deref(), p.mx.len(), p.max_age), (Some("enforce"), 2, Some(86400)));
    }
}
