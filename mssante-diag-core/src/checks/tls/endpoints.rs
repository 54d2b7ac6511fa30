//! `tls.endpoints`: live handshakes (TLS from the first byte, or SMTP/IMAP STARTTLS) on each
//! configured endpoint, judged as a client would see them: protocol version, served chain
//! (complete, in order, trusted by the CA folder's roots through webpki), expiry, host name,
//! and whether the served certificate is the one on disk (guide: Certificats P1-P3).
//!
//! The handshake itself accepts any certificate ([`probe::tls_connector`]): an untrusted chain
//! is a finding, never a failed probe.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;

use super::cert::{covers, day, validity_findings, Finding};
use super::chain::order_break;
use super::load::Certificate;
use super::settings::{Endpoint, Upgrade};
use super::Settings;
use crate::checks::{elapsed_ms, step, Step};
use crate::model::Status;
use crate::probe::{self, Deadline, TlsFacts};
use crate::starttls::{self, Failure};
use crate::{tr, Lang};

/// What one endpoint served.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointFacts {
    /// The endpoint, `scheme://host:port`.
    pub endpoint: String,
    /// Name sent as SNI and expected in the certificate.
    pub server_name: String,
    /// The handshake's facts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
    /// The certificates served, in order (names and fingerprints in the report).
    pub served: Vec<ServedCert>,
    /// Why nothing could be judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Time of the probe, ms.
    pub latency_ms: f64,
}

/// One certificate of a served chain.
#[derive(Debug, Clone, Serialize)]
pub struct ServedCert {
    /// Subject CN (else DN).
    pub name: String,
    /// Issuer CN (else DN).
    pub issuer: String,
    /// End of validity.
    pub not_after: String,
    /// SHA-256 fingerprint.
    pub sha256: String,
    /// Parsed, when it parses.
    #[serde(skip)]
    pub cert: Option<Certificate>,
    /// DER as served.
    #[serde(skip)]
    pub der: CertificateDer<'static>,
}

async fn converse(f: &mut EndpointFacts, ep: &Endpoint, d: &Deadline, lang: Lang) -> Result<(), Failure> {
    let (addr, name) = ((ep.host.as_str(), ep.port), f.server_name.as_str());
    let mut tls = match ep.upgrade {
        Upgrade::Direct => starttls::upgrade(starttls::connect(addr, d, lang).await?, name, d, lang).await?,
        Upgrade::Smtp => starttls::smtp_tls(addr, starttls::HELLO, name, d, lang).await?.1,
        Upgrade::Imap => starttls::imap_tls(addr, name, d, lang).await?,
    };
    let conn = tls.get_ref().1;
    f.tls = Some(probe::tls_facts(conn));
    f.served = probe::peer_chain(conn)
        .into_iter()
        .map(|der| {
            let cert = Certificate::from_der(der.to_vec()).ok();
            let (name, issuer, not_after, sha256) = cert.as_ref().map_or_else(
                || ("?".to_owned(), "?".to_owned(), String::new(), String::new()),
                |c| {
                    (
                        c.name().to_owned(),
                        c.issuer_name().to_owned(),
                        c.not_after.clone(),
                        c.sha256.clone(),
                    )
                },
            );
            ServedCert {
                name,
                issuer,
                not_after,
                sha256,
                cert,
                der,
            }
        })
        .collect();
    // A polite close, briefly; the facts are gathered.
    let _ = tokio::time::timeout(
        Duration::from_millis(200).min(d.remaining()),
        tls.shutdown(),
    )
    .await;
    Ok(())
}

/// Connects to an endpoint, upgrades with STARTTLS when its scheme says so, completes the TLS
/// handshake (any certificate accepted) and records what was served, all within `timeout`.
pub async fn probe_endpoint(
    ep: &Endpoint,
    server_name: &str,
    timeout: Duration,
    lang: Lang,
) -> EndpointFacts {
    let start = Instant::now();
    let d = Deadline::after(timeout);
    let mut f = EndpointFacts {
        endpoint: ep.to_string(),
        server_name: server_name.to_owned(),
        tls: None,
        served: Vec::new(),
        failure: None,
        latency_ms: 0.0,
    };
    if let Err(e) = converse(&mut f, ep, &d, lang).await {
        f.failure = Some(e);
    }
    f.latency_ms = elapsed_ms(start);
    f
}

/// Look at the served chain: the generic remedy of `tls.endpoints`, first of its findings' steps.
pub(super) const LOOK_STEP: Step = step!(
    "Look at what the server sends",
    "Regarder ce que le serveur envoie",
    guide = "Certificats P2",
    cmd = "openssl s_client -connect {tls.name}:443 -servername {tls.name} -showcerts"
);
const ENDPOINT_STEPS: &[Step] = &[
    LOOK_STEP,
    step!(
        "Serve fullchain.pem (server.crt + intermediate) with the current key, then restart the services",
        "Servir fullchain.pem (server.crt + intermédiaire) avec la clé actuelle, puis redémarrer les services",
        guide = "Certificats P2",
        cmd = "{docker.compose} restart postfix dovecot traefik"
    ),
];
const RESTART_STEPS: &[Step] = &[step!(
    "Restart the services so they load the certificate on disk",
    "Redémarrer les services pour qu'ils chargent le certificat sur disque",
    guide = "Certificats P1",
    cmd = "{docker.compose} restart postfix dovecot traefik"
)];
const PROTOCOL_STEPS: &[Step] = &[step!(
    "Enable TLS 1.2 and 1.3 on the server (Traefik minVersion VersionTLS12, Postfix smtpd_tls_protocols >=TLSv1.2, Dovecot ssl_min_protocol = TLSv1.2)",
    "Activer TLS 1.2 et 1.3 sur le serveur (Traefik minVersion VersionTLS12, Postfix smtpd_tls_protocols >=TLSv1.2, Dovecot ssl_min_protocol = TLSv1.2)",
    guide = "Certificats P3"
)];
const REACH_STEPS: &[Step] = &[step!(
    "Check that the service listens and the firewall lets the port in",
    "Vérifier que le service écoute et que le pare-feu laisse passer le port",
    guide = "Réseau P2",
    cmd = "ss -tlnp"
)];

/// What the endpoint evaluation compares the served chain with.
#[derive(Debug, Clone, Copy)]
pub struct Reference<'a> {
    /// The server certificate on disk, when it loaded.
    pub disk: Option<&'a Certificate>,
    /// The CA folder's roots (trust anchors).
    pub anchors: &'a [CertificateDer<'static>],
    /// The CA folder's other certificates (intermediates), to tell "incomplete" from "untrusted".
    pub intermediates: &'a [CertificateDer<'static>],
    /// How the configured certificate file is shown.
    pub cert_shown: &'a str,
    /// How the CA folder is shown.
    pub ca_shown: &'a str,
}

/// Judges one endpoint's facts; `hung` is the status of a step without answer.
#[must_use]
pub fn evaluate_endpoint(
    f: &EndpointFacts,
    r: &Reference<'_>,
    s: &Settings,
    now: i64,
    hung: Status,
    lang: Lang,
) -> Vec<Finding> {
    let ep = f.endpoint.as_str();
    let mut v = Vec::new();
    if let Some(failure) = &f.failure {
        let (status, text, steps) = match failure {
            Failure::Tls { old_version: true, .. } => (
                Status::Critical,
                tr!(lang, "{ep} offers only TLS versions older than 1.2 (refused by current clients)", "{ep} ne propose que des versions de TLS antérieures à 1.2 (refusées par les clients actuels)"),
                PROTOCOL_STEPS,
            ),
            Failure::Tls { .. } => (Status::Critical, failure.describe(lang, ep), ENDPOINT_STEPS),
            Failure::NoAnswer(_) => (hung, failure.describe(lang, ep), REACH_STEPS),
            _ => (Status::Critical, failure.describe(lang, ep), REACH_STEPS),
        };
        v.push(Finding::new(status, text, steps));
        return v;
    }
    if let Some(t) = &f.tls {
        if t.version != "TLSv1_2" && t.version != "TLSv1_3" {
            let ver = &t.version;
            v.push(Finding::new(
                Status::Critical,
                tr!(
                    lang,
                    "{ep} negotiated {ver} (1.2 or later required)",
                    "{ep} a négocié {ver} (1.2 ou plus exigé)"
                ),
                PROTOCOL_STEPS,
            ));
        }
    }
    let Some(leaf) = f.served.first().and_then(|c| c.cert.as_ref()) else {
        v.push(Finding::new(
            Status::Critical,
            tr!(
                lang,
                "{ep} sent no readable certificate",
                "{ep} n'a envoyé aucun certificat lisible"
            ),
            ENDPOINT_STEPS,
        ));
        return v;
    };
    let what = tr!(
        lang,
        "the certificate served on {ep}",
        "le certificat présenté sur {ep}"
    );
    v.extend(validity_findings(leaf, &what, s, now, lang));
    let name = f.server_name.as_str();
    let covered = covers(leaf, name);
    if !covered {
        let names = leaf
            .dns_names
            .iter()
            .chain(&leaf.ip_addresses)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let names = if names.is_empty() {
            leaf.subject_cn.clone()
        } else {
            names
        };
        v.push(Finding::new(
            Status::Critical,
            tr!(
                lang,
                "{ep} serves a certificate for {names}, not for {name}",
                "{ep} présente un certificat pour {names}, pas pour {name}"
            ),
            ENDPOINT_STEPS,
        ));
    }
    let parsed: Vec<Certificate> = f.served.iter().filter_map(|c| c.cert.clone()).collect();
    if parsed.len() == f.served.len() {
        if let Some(b) = order_break(&parsed, lang) {
            v.push(Finding::new(
                Status::Critical,
                tr!(lang, "{ep} serves its chain in the wrong order: {b}; serve fullchain.pem = server.crt + intermediate", "{ep} présente sa chaîne dans le mauvais ordre : {b} ; servir fullchain.pem = server.crt + intermédiaire"),
                ENDPOINT_STEPS,
            ));
        }
    }
    v.extend(trust_findings(f, leaf, r, covered, now, lang));
    if let Some(disk) = r.disk {
        if disk.sha256 != leaf.sha256 {
            let (cert, sd, ss) = (r.cert_shown, day(&disk.not_after), day(&leaf.not_after));
            v.push(Finding::new(
                Status::Warning,
                tr!(
                    lang,
                    "{ep} serves another certificate (serial {}, until {ss}) than {cert} (serial {}, until {sd}): restart the service after a renewal, or fix its certificate path",
                    "{ep} présente un autre certificat (numéro {}, jusqu'au {ss}) que {cert} (numéro {}, jusqu'au {sd}) : redémarrer le service après un renouvellement, ou corriger le chemin de son certificat",
                    leaf.serial,
                    disk.serial
                ),
                RESTART_STEPS,
            ));
        }
    }
    v
}

/// The served chain as a client sees it (webpki, the CA folder's roots): complete, trusted.
/// Verified at a moment the certificate is valid and for a name it covers, so that expiry and
/// host name stay their own findings.
fn trust_findings(
    f: &EndpointFacts,
    leaf: &Certificate,
    r: &Reference<'_>,
    covered: bool,
    now: i64,
    lang: Lang,
) -> Vec<Finding> {
    let ep = f.endpoint.as_str();
    let ca = r.ca_shown;
    if r.anchors.is_empty() {
        return vec![Finding::new(
            Status::Unknown,
            tr!(
                lang,
                "{ep}: no root in {ca} to verify the served chain against (see tls.chain)",
                "{ep} : aucune racine dans {ca} pour vérifier la chaîne présentée (voir tls.chain)"
            ),
            &[],
        )];
    }
    let at = u64::try_from(
        now.clamp(
            leaf.not_before_unix.saturating_add(1),
            leaf.not_after_unix
                .saturating_sub(1)
                .max(leaf.not_before_unix + 1),
        ),
    )
    .unwrap_or(0);
    let name = if covered {
        f.server_name.clone()
    } else {
        leaf.dns_names
            .iter()
            .find(|n| !n.starts_with('*'))
            .cloned()
            .or_else(|| leaf.ip_addresses.first().cloned())
            .unwrap_or_else(|| f.server_name.clone())
    };
    let served: Vec<CertificateDer<'static>> = f.served.iter().map(|c| c.der.clone()).collect();
    let first = probe::verify_chain(r.anchors, &served, &name, at);
    let err = match first {
        Ok(()) => return Vec::new(),
        Err(e) => e,
    };
    let unknown_issuer = matches!(
        &err,
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
    );
    if unknown_issuer {
        if leaf.self_signed() {
            let n = leaf.name();
            return vec![Finding::new(
                Status::Critical,
                tr!(
                    lang,
                    "{ep} serves a self-signed certificate ({n}): clients reject it",
                    "{ep} présente un certificat auto-signé ({n}) : les clients le rejettent"
                ),
                ENDPOINT_STEPS,
            )];
        }
        let mut with_folder = served.clone();
        with_folder.extend(r.intermediates.iter().cloned());
        if probe::verify_chain(r.anchors, &with_folder, &name, at).is_ok() {
            let missing = if f.served.len() == 1 {
                tr!(
                    lang,
                    "{ep} sends only the server certificate, without its intermediate",
                    "{ep} n'envoie que le certificat serveur, sans son intermédiaire"
                )
            } else {
                tr!(
                    lang,
                    "{ep} sends an incomplete chain (intermediate missing)",
                    "{ep} envoie une chaîne incomplète (intermédiaire manquant)"
                )
            };
            let issuer = leaf.issuer_name();
            return vec![Finding::new(
                Status::Critical,
                tr!(
                    lang,
                    "{missing} ({issuer}): clients answer \"unable to get local issuer certificate\"; serve fullchain.pem = server.crt + intermediate",
                    "{missing} ({issuer}) : les clients répondent « unable to get local issuer certificate » ; servir fullchain.pem = server.crt + intermédiaire"
                ),
                ENDPOINT_STEPS,
            )];
        }
        let issuer = leaf.issuer_name();
        return vec![Finding::new(
            Status::Critical,
            tr!(lang, "{ep}: the served chain (issuer {issuer}) does not lead to a root of {ca}: clients do not trust it", "{ep} : la chaîne présentée (émetteur {issuer}) ne mène à aucune racine de {ca} : les clients ne lui font pas confiance"),
            ENDPOINT_STEPS,
        )];
    }
    let why = match &err {
        rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnsupportedSignatureAlgorithmContext { .. },
        ) => {
            tr!(
                lang,
                "a signature algorithm of the chain is refused ({})",
                "un algorithme de signature de la chaîne est refusé ({})",
                leaf.signature_algorithm
            )
        }
        e => e.to_string(),
    };
    vec![Finding::new(
        Status::Critical,
        tr!(
            lang,
            "{ep}: clients reject the served chain: {why}",
            "{ep} : les clients rejettent la chaîne présentée : {why}"
        ),
        ENDPOINT_STEPS,
    )]
}
