//! `tls.endpoints`: live handshakes (TLS from the first byte, or SMTP/IMAP STARTTLS) on each
//! configured endpoint, judged as a client would see them: protocol version, served chain
//! (complete, in order, trusted by the CA folder's roots through webpki), expiry, host name,
//! and whether the served certificate is the one on disk (guide: Certificats P1-P3).
//!
//! The handshake itself accepts any certificate ([`probe::tls_connector`]): an untrusted chain
//! is a finding, never a failed probe.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;

use super::cert::{covers, day, validity_findings, Finding};
use super::chain::order_break;
use super::load::Certificate;
use super::settings::{Endpoint, Upgrade};
use super::Settings;
use crate::checks::{elapsed_ms, step, Step};
use crate::model::Status;
use crate::probe::{self, Bounded, Deadline, Hung, Phase, TlsFacts, READ_BUDGET};
use crate::{tr, Lang};

/// Longest protocol line accepted before TLS.
const MAX_LINE: usize = 1000;
/// Most lines in one SMTP reply or before the IMAP tagged answer.
const MAX_LINES: usize = 50;
/// Name sent in EHLO.
const HELLO: &str = "mssante-diag.localdomain";

/// Why an endpoint gave no certificate to judge.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EndpointFailure {
    /// The TCP connection failed.
    Connect {
        /// Why, in a few words.
        cause: String,
    },
    /// The plain-text dialogue before TLS failed (no STARTTLS, a refusal, not the protocol).
    Protocol {
        /// The step.
        step: Phase,
        /// What went wrong.
        cause: String,
    },
    /// The TLS handshake failed.
    Tls {
        /// The TLS library's reason.
        cause: String,
        /// The server speaks only TLS versions older than 1.2.
        old_version: bool,
    },
    /// A step got no answer in time.
    NoAnswer(Hung),
}

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
    pub failure: Option<EndpointFailure>,
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

fn failure_io(step: Phase, e: &std::io::Error, lang: Lang) -> EndpointFailure {
    let cause = if e.kind() == std::io::ErrorKind::InvalidData {
        tr!(lang, "answer too long ({e})", "réponse trop longue ({e})")
    } else {
        probe::io_cause(lang, e)
    };
    EndpointFailure::Protocol { step, cause }
}

async fn line<S: AsyncRead + Unpin>(
    io: &mut BufReader<S>,
    step: Phase,
    lang: Lang,
) -> Result<String, EndpointFailure> {
    let raw = probe::read_line(io, MAX_LINE)
        .await
        .map_err(|e| failure_io(step, &e, lang))?;
    if raw.is_empty() {
        return Err(EndpointFailure::Protocol {
            step,
            cause: tr!(
                lang,
                "connection closed by the server",
                "connexion fermée par le serveur"
            ),
        });
    }
    String::from_utf8(raw.clone())
        .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
        .map_err(|_| EndpointFailure::Protocol {
            step,
            cause: tr!(
                lang,
                "not a text answer ({})",
                "réponse qui n'est pas du texte ({})",
                probe::show_bytes(&raw)
            ),
        })
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    text: &str,
    step: Phase,
    lang: Lang,
) -> Result<(), EndpointFailure> {
    io.get_mut()
        .write_all(text.as_bytes())
        .await
        .map_err(|e| failure_io(step, &e, lang))?;
    io.get_mut()
        .flush()
        .await
        .map_err(|e| failure_io(step, &e, lang))
}

/// Reads an SMTP reply (its lines' text) and requires `code`.
async fn smtp_reply<S: AsyncRead + Unpin>(
    io: &mut BufReader<S>,
    code: &str,
    step: Phase,
    lang: Lang,
) -> Result<Vec<String>, EndpointFailure> {
    let mut lines = Vec::new();
    for _ in 0..MAX_LINES {
        let l = line(io, step, lang).await?;
        let ok_code = l
            .get(..3)
            .is_some_and(|c| c.bytes().all(|b| b.is_ascii_digit()));
        if !ok_code {
            let b = probe::show_bytes(l.as_bytes());
            return Err(EndpointFailure::Protocol {
                step,
                cause: tr!(
                    lang,
                    "not an SMTP answer ({b})",
                    "réponse qui n'est pas du SMTP ({b})"
                ),
            });
        }
        let last = l.as_bytes().get(3) != Some(&b'-');
        if !l.starts_with(code) {
            let shown: String = l.chars().take(200).collect();
            return Err(EndpointFailure::Protocol {
                step,
                cause: tr!(lang, "answered {shown}", "a répondu {shown}"),
            });
        }
        lines.push(l.get(4..).unwrap_or_default().to_owned());
        if last {
            return Ok(lines);
        }
    }
    Err(EndpointFailure::Protocol {
        step,
        cause: tr!(
            lang,
            "more than {MAX_LINES} reply lines",
            "plus de {MAX_LINES} lignes de réponse"
        ),
    })
}

/// Banner, EHLO, STARTTLS: the connection is ready for the handshake.
async fn smtp_starttls<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    d: &Deadline,
    lang: Lang,
) -> Result<(), EndpointFailure> {
    let hung = EndpointFailure::NoAnswer;
    d.step(Phase::Banner, smtp_reply(io, "220", Phase::Banner, lang))
        .await
        .map_err(hung)??;
    let ehlo = d
        .step(Phase::Ehlo, async {
            send(io, &format!("EHLO {HELLO}\r\n"), Phase::Ehlo, lang).await?;
            smtp_reply(io, "250", Phase::Ehlo, lang).await
        })
        .await
        .map_err(hung)??;
    if !ehlo.iter().skip(1).any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS"))
    }) {
        return Err(EndpointFailure::Protocol {
            step: Phase::Ehlo,
            cause: tr!(
                lang,
                "STARTTLS is not offered",
                "STARTTLS n'est pas proposé"
            ),
        });
    }
    d.step(Phase::StartTls, async {
        send(io, "STARTTLS\r\n", Phase::StartTls, lang).await?;
        smtp_reply(io, "220", Phase::StartTls, lang).await
    })
    .await
    .map_err(hung)??;
    Ok(())
}

/// Greeting, `STARTTLS`, tagged `OK`: the connection is ready for the handshake.
async fn imap_starttls<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    d: &Deadline,
    lang: Lang,
) -> Result<(), EndpointFailure> {
    let hung = EndpointFailure::NoAnswer;
    let greeting = d
        .step(Phase::Greeting, line(io, Phase::Greeting, lang))
        .await
        .map_err(hung)??;
    if !greeting.starts_with("* OK") {
        let b: String = greeting.chars().take(200).collect();
        return Err(EndpointFailure::Protocol {
            step: Phase::Greeting,
            cause: tr!(
                lang,
                "not an IMAP greeting ({b})",
                "pas un message d'accueil IMAP ({b})"
            ),
        });
    }
    d.step(Phase::StartTls, async {
        send(io, "d1 STARTTLS\r\n", Phase::StartTls, lang).await?;
        for _ in 0..MAX_LINES {
            let l = line(io, Phase::StartTls, lang).await?;
            if let Some(rest) = l.strip_prefix("d1 ") {
                return if rest.get(..2).is_some_and(|s| s.eq_ignore_ascii_case("OK")) {
                    Ok(())
                } else {
                    let shown: String = rest.chars().take(200).collect();
                    Err(EndpointFailure::Protocol {
                        step: Phase::StartTls,
                        cause: tr!(
                            lang,
                            "STARTTLS refused: {shown}",
                            "STARTTLS refusé : {shown}"
                        ),
                    })
                };
            }
        }
        Err(EndpointFailure::Protocol {
            step: Phase::StartTls,
            cause: tr!(lang, "no answer to STARTTLS", "pas de réponse à STARTTLS"),
        })
    })
    .await
    .map_err(hung)?
}

async fn converse(
    f: &mut EndpointFacts,
    ep: &Endpoint,
    d: &Deadline,
    lang: Lang,
) -> Result<(), EndpointFailure> {
    let hung = EndpointFailure::NoAnswer;
    let tcp = d
        .step(
            Phase::Connect,
            TcpStream::connect((ep.host.as_str(), ep.port)),
        )
        .await
        .map_err(hung)?
        .map_err(|e| EndpointFailure::Connect {
            cause: probe::io_cause(lang, &e),
        })?;
    let stream = match ep.upgrade {
        Upgrade::Direct => Bounded::new(tcp, READ_BUDGET),
        Upgrade::Smtp | Upgrade::Imap => {
            let mut io = BufReader::new(Bounded::new(tcp, READ_BUDGET));
            if ep.upgrade == Upgrade::Smtp {
                smtp_starttls(&mut io, d, lang).await?;
            } else {
                imap_starttls(&mut io, d, lang).await?;
            }
            // Whatever the server sent past its answer is dropped with the buffer.
            io.into_inner()
        }
    };
    let tls = d
        .step(
            Phase::TlsHandshake,
            probe::tls_connector().connect(probe::server_name(&f.server_name), stream),
        )
        .await
        .map_err(hung)?
        .map_err(|e| {
            let old_version = probe::tls_error(&e).is_some_and(probe::is_old_protocol);
            EndpointFailure::Tls {
                cause: probe::tls_error(&e)
                    .map_or_else(|| probe::io_cause(lang, &e), ToString::to_string),
                old_version,
            }
        })?;
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
    let mut tls = tls;
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
            EndpointFailure::Connect { cause } => (Status::Critical, tr!(lang, "{ep}: {cause}", "{ep} : {cause}"), REACH_STEPS),
            EndpointFailure::Protocol { step, cause } => {
                let st = step.name();
                (Status::Critical, tr!(lang, "{ep}, {st}: {cause}", "{ep}, {st} : {cause}"), REACH_STEPS)
            }
            EndpointFailure::Tls { old_version: true, .. } => (
                Status::Critical,
                tr!(lang, "{ep} offers only TLS versions older than 1.2 (refused by current clients)", "{ep} ne propose que des versions de TLS antérieures à 1.2 (refusées par les clients actuels)"),
                PROTOCOL_STEPS,
            ),
            EndpointFailure::Tls { cause, .. } => (Status::Critical, tr!(lang, "{ep}: TLS handshake failed: {cause}", "{ep} : échec de la négociation TLS : {cause}"), ENDPOINT_STEPS),
            EndpointFailure::NoAnswer(h) => (hung, h.describe(lang, ep), REACH_STEPS),
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
