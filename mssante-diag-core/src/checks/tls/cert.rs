//! `tls.cert`: the server certificate itself: validity window, names, key usage, key type and
//! size, signature algorithm (guide: Certificats P1, P3).

use serde::Serialize;

use super::load::Certificate;
use super::Settings;
use crate::checks::{step, Outcome, Step};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// A date as the operator reads it (`2026-05-01`).
pub(crate) fn day(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}

/// Whether a certificate name (`*.example.fr`, `mail.example.fr`) covers a host name.
#[must_use]
pub fn name_matches(pattern: &str, host: &str) -> bool {
    let (p, h) = (
        pattern.trim_end_matches('.').to_ascii_lowercase(),
        host.trim_end_matches('.').to_ascii_lowercase(),
    );
    match p.strip_prefix("*.") {
        // A wildcard covers exactly one leftmost label.
        Some(rest) => h
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => p == h,
    }
}

/// Whether the certificate covers `host`: its SAN (DNS names or IP addresses), or its CN when it
/// has no SAN at all (legacy; reported).
#[must_use]
pub fn covers(c: &Certificate, host: &str) -> bool {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return c
            .ip_addresses
            .iter()
            .any(|a| a.parse::<std::net::IpAddr>().is_ok_and(|x| x == ip));
    }
    if c.dns_names.is_empty() && c.ip_addresses.is_empty() {
        return name_matches(&c.subject_cn, host);
    }
    c.dns_names.iter().any(|n| name_matches(n, host))
}

/// One problem found, with its remedy.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// How bad.
    pub status: Status,
    /// What, in one sentence.
    pub text: String,
    /// Remedy steps (catalogue form).
    #[serde(skip)]
    pub steps: &'static [Step],
}

impl Finding {
    /// A finding.
    pub fn new(status: Status, text: String, steps: &'static [Step]) -> Self {
        Self {
            status,
            text,
            steps,
        }
    }
}

/// Folds findings into an outcome: the worst status, the worst findings first in the summary,
/// each finding's remedy; `ok` is the summary when there is none.
#[must_use]
pub fn fold(mut findings: Vec<Finding>, ok: String, lang: Lang) -> Outcome {
    findings.sort_by_key(|f| std::cmp::Reverse(f.status.severity()));
    let Some(worst) = findings
        .first()
        .map(|f| f.status)
        .filter(|s| *s != Status::Ok)
    else {
        return Outcome::ok(ok);
    };
    let summary = findings
        .iter()
        .filter(|f| f.status != Status::Ok)
        .map(|f| f.text.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let mut o = Outcome::new(worst, summary);
    let mut seen: Vec<*const Step> = Vec::new();
    for f in &findings {
        for s in f.steps {
            if !seen.contains(&std::ptr::from_ref(s)) {
                seen.push(std::ptr::from_ref(s));
                o = o.remedy(s, lang);
            }
        }
    }
    o
}

pub(crate) const RENEW_STEPS: &[Step] = &[
    step!(
        "Check the dates of the certificate",
        "Vérifier les dates du certificat",
        guide = "Certificats P1",
        cmd = "openssl x509 -in {tls.cert} -noout -dates"
    ),
    step!(
        "Renew the certificate with the IGC Santé (your CA's procedure), keep the old one, install the new pair",
        "Renouveler le certificat auprès de l'IGC Santé (procédure de votre AC), garder l'ancien, installer la nouvelle paire",
        guide = "Certificats P1",
        cmd = "cp {tls.cert} {tls.cert}.bak.$(date +%Y%m%d) && cp /path/to/new/cert.crt {tls.cert} && cp /path/to/new/cert.key {tls.key}"
    ),
    step!(
        "Restart the services that serve it, then test",
        "Redémarrer les services qui le présentent, puis tester",
        guide = "Certificats P1",
        cmd = "{docker.compose} restart postfix dovecot traefik && curl -v https://{tls.name}"
    ),
];
const NAME_STEPS: &[Step] = &[
    step!(
        "Read the names the certificate covers",
        "Lire les noms couverts par le certificat",
        guide = "Certificats P3",
        cmd = "openssl x509 -in {tls.cert} -noout -subject -ext subjectAltName"
    ),
    step!(
        "Order a certificate whose subjectAltName lists every name clients use ({tls.name}...)",
        "Commander un certificat dont le subjectAltName liste tous les noms utilisés par les clients ({tls.name}...)",
        guide = "Certificats P3"
    ),
];
const REISSUE_STEP: Step = step!(
    "Order a new server certificate from the IGC Santé: RSA 2048 bits or more, SHA-256, usage serverAuth",
    "Commander un nouveau certificat serveur à l'IGC Santé : RSA 2048 bits ou plus, SHA-256, usage serverAuth",
    guide = "Certificats P3",
    cmd = "openssl x509 -in {tls.cert} -noout -text"
);
const REISSUE: &[Step] = &[REISSUE_STEP];

/// The validity window's findings (shared with the endpoints): not yet valid, expired, expiring.
#[must_use]
pub fn validity_findings(
    c: &Certificate,
    what: &str,
    s: &Settings,
    now: i64,
    lang: Lang,
) -> Vec<Finding> {
    let left = c.days_left(now);
    let (start, end) = (day(&c.not_before), day(&c.not_after));
    let mut v = Vec::new();
    if now < c.not_before_unix {
        v.push(Finding::new(
            Status::Critical,
            tr!(lang, "{what} is not valid before {start} (check the clock, or the certificate's dates)", "{what} n'est pas valide avant le {start} (vérifier l'horloge, ou les dates du certificat)"),
            RENEW_STEPS,
        ));
    }
    if left < 0.0 {
        let ago = (-left).ceil();
        v.push(Finding::new(
            Status::Critical,
            tr!(
                lang,
                "{what} expired on {end} ({ago} days ago)",
                "{what} a expiré le {end} (il y a {ago} jours)"
            ),
            RENEW_STEPS,
        ));
    } else if left < s.crit_days || left < s.warn_days {
        let status = if left < s.crit_days {
            Status::Critical
        } else {
            Status::Warning
        };
        let n = left.floor();
        v.push(Finding::new(
            status,
            tr!(
                lang,
                "{what} expires on {end}, in {n} days",
                "{what} expire le {end}, dans {n} jours"
            ),
            RENEW_STEPS,
        ));
    }
    v
}

/// Judges the server certificate: validity, names, usages, key, signature.
#[must_use]
pub fn evaluate_cert(c: &Certificate, s: &Settings, shown: &str, now: i64, lang: Lang) -> Outcome {
    let mut v = validity_findings(c, shown, s, now, lang);
    let sans = if c.dns_names.is_empty() && c.ip_addresses.is_empty() {
        tr!(lang, "no SAN, CN {}", "pas de SAN, CN {}", c.subject_cn)
    } else {
        c.dns_names
            .iter()
            .chain(&c.ip_addresses)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    for name in &s.names {
        if !covers(c, name) {
            v.push(Finding::new(
                Status::Critical,
                tr!(
                    lang,
                    "{shown} does not cover {name} (its names: {sans})",
                    "{shown} ne couvre pas {name} (ses noms : {sans})"
                ),
                NAME_STEPS,
            ));
        }
    }
    if c.dns_names.is_empty() && c.ip_addresses.is_empty() {
        v.push(Finding::new(
            Status::Warning,
            tr!(
                lang,
                "{shown} has no subjectAltName: current clients ignore the CN",
                "{shown} n'a pas de subjectAltName : les clients actuels ignorent le CN"
            ),
            NAME_STEPS,
        ));
    }
    if let Some(ku) = &c.key_usage {
        if !ku
            .iter()
            .any(|u| u == "digitalSignature" || u == "keyEncipherment")
        {
            let has = ku.join(", ");
            v.push(Finding::new(
                Status::Critical,
                tr!(lang, "{shown}'s keyUsage ({has}) allows neither digitalSignature nor keyEncipherment: unusable for TLS", "le keyUsage de {shown} ({has}) n'autorise ni digitalSignature ni keyEncipherment : inutilisable pour TLS"),
                REISSUE,
            ));
        }
    }
    match &c.ext_key_usage {
        Some(eku) if !eku.iter().any(|u| u == "serverAuth" || u == "anyExtendedKeyUsage") => {
            let has = eku.join(", ");
            v.push(Finding::new(
                Status::Critical,
                tr!(lang, "{shown} is not a server certificate: extendedKeyUsage {has}, serverAuth missing", "{shown} n'est pas un certificat serveur : extendedKeyUsage {has}, serverAuth absent"),
                REISSUE,
            ));
        }
        None => v.push(Finding::new(
            Status::Warning,
            tr!(lang, "{shown} has no extendedKeyUsage: an IGC Santé server certificate carries serverAuth", "{shown} n'a pas d'extendedKeyUsage : un certificat serveur IGC Santé porte serverAuth"),
            REISSUE,
        )),
        _ => {}
    }
    if c.is_ca {
        v.push(Finding::new(
            Status::Warning,
            tr!(lang, "{shown} is a CA certificate (basicConstraints CA:TRUE), not a server certificate", "{shown} est un certificat d'AC (basicConstraints CA:TRUE), pas un certificat serveur"),
            REISSUE,
        ));
    }
    let (alg, bits) = (c.key.algorithm.as_str(), c.key.bits);
    let weak_key = match alg {
        "RSA" => (bits < s.min_rsa_bits).then_some(s.min_rsa_bits),
        "EC" => (bits < s.min_ec_bits).then_some(s.min_ec_bits),
        "Ed25519" | "Ed448" => None,
        _ => Some(0),
    };
    match weak_key {
        Some(0) => v.push(Finding::new(
            Status::Critical,
            tr!(
                lang,
                "{shown} has a {alg} key: TLS clients expect RSA or EC",
                "{shown} a une clé {alg} : les clients TLS attendent RSA ou EC"
            ),
            REISSUE,
        )),
        Some(min) => v.push(Finding::new(
            Status::Critical,
            tr!(
                lang,
                "{shown} has a {bits}-bit {alg} key (at least {min} required)",
                "{shown} a une clé {alg} de {bits} bits (au moins {min} exigés)"
            ),
            REISSUE,
        )),
        None => {}
    }
    if c.weak_signature {
        let sig = &c.signature_algorithm;
        v.push(Finding::new(
            Status::Critical,
            tr!(lang, "{shown} is signed with {sig}: MD5 and SHA-1 signatures are refused by current clients", "{shown} est signé en {sig} : les signatures MD5 et SHA-1 sont refusées par les clients actuels"),
            REISSUE,
        ));
    }
    let left = c.days_left(now);
    let (name, end, n) = (c.name(), day(&c.not_after), left.floor());
    let ok = tr!(
        lang,
        "{name}: valid until {end} ({n} days), covers {}, {alg} {bits} bits, {}",
        "{name} : valide jusqu'au {end} ({n} jours), couvre {}, {alg} {bits} bits, {}",
        s.names.join(", "),
        c.signature_algorithm
    );
    fold(v, ok, lang).details(c).metric(
        Metric::new("days_left", (left * 10.0).round() / 10.0, "d")
            .thresholds(s.warn_days, s.crit_days),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("*.example.fr", "mail.example.fr"));
        assert!(!name_matches("*.example.fr", "a.mail.example.fr"));
        assert!(!name_matches("*.example.fr", "example.fr"));
        assert!(name_matches("Mail.Example.fr.", "mail.example.fr"));
        assert!(!name_matches("mail.example.fr", "mail.example.fr.evil"));
    }
}
