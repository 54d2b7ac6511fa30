//! An SMTP server as a receiving peer sees it before mail: its banner, then `EHLO`,
//! `STARTTLS` and the TLS handshake, keeping the certificates it served. Used by the checks
//! that judge what a sending MTA would meet (`dns.dane`: TLSA against the served chain;
//! `dns.ptr`: the banner's host name). Every step runs under one [`Deadline`], every read
//! is bounded.

use std::net::SocketAddr;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::CertificateDer;

use crate::probe::{self, Bounded, Deadline, Hung, Phase, READ_BUDGET};
use crate::{tr, Lang};

/// Longest SMTP reply line read, bytes.
const MAX_LINE: usize = 2048;
/// Most lines of one SMTP reply.
const MAX_LINES: usize = 64;
/// Name sent in `EHLO`.
const HELLO: &str = "mssante-diag.localdomain";

/// What an SMTP server showed a peer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SmtpPeer {
    /// The banner's first line, after the code (`mail.example.fr ESMTP`).
    pub banner: Option<String>,
    /// The host name the banner announces (its first word).
    pub banner_host: Option<String>,
    /// The certificates served after STARTTLS, leaf first (DER; not serialised).
    #[serde(skip)]
    pub chain: Vec<CertificateDer<'static>>,
}

/// Why the dialogue stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StartTlsFailure {
    /// The TCP connection failed.
    Connect {
        /// Why, in a few words.
        cause: String,
    },
    /// The server answered something else than expected at a step.
    Protocol {
        /// The step.
        step: Phase,
        /// What it said or did.
        cause: String,
    },
    /// The TLS handshake failed.
    Tls {
        /// The TLS library's reason.
        cause: String,
    },
    /// A step got no answer in time.
    NoAnswer(Hung),
}

impl StartTlsFailure {
    /// One phrase naming `what` (e.g. `SMTP 192.0.2.1:25`).
    #[must_use]
    pub fn describe(&self, lang: Lang, what: &str) -> String {
        match self {
            Self::Connect { cause } => format!("{what}: {cause}"),
            Self::Protocol { step, cause } => {
                let s = step.name();
                tr!(lang, "{what}, {s}: {cause}", "{what}, {s} : {cause}")
            }
            Self::Tls { cause } => tr!(lang, "{what}: TLS handshake failed: {cause}", "{what} : échec de la négociation TLS : {cause}"),
            Self::NoAnswer(h) => h.describe(lang, what),
        }
    }
}

/// Reads one SMTP reply; requires `code`; returns its lines' text.
async fn reply<S: AsyncRead + Unpin>(io: &mut BufReader<S>, code: &str, step: Phase, lang: Lang) -> Result<Vec<String>, StartTlsFailure> {
    let mut lines = Vec::new();
    for _ in 0..MAX_LINES {
        let raw = probe::read_line(io, MAX_LINE).await.map_err(|e| StartTlsFailure::Protocol { step, cause: probe::io_cause(lang, &e) })?;
        if raw.is_empty() {
            return Err(StartTlsFailure::Protocol { step, cause: tr!(lang, "connection closed by the server", "connexion fermée par le serveur") });
        }
        let l = String::from_utf8_lossy(&raw).trim_end().to_owned();
        if !l.get(..3).is_some_and(|c| c.bytes().all(|b| b.is_ascii_digit())) {
            let b = probe::show_bytes(&raw);
            return Err(StartTlsFailure::Protocol { step, cause: tr!(lang, "not an SMTP answer ({b})", "réponse qui n'est pas du SMTP ({b})") });
        }
        if !l.starts_with(code) {
            let shown: String = l.chars().take(200).collect();
            return Err(StartTlsFailure::Protocol { step, cause: tr!(lang, "answered {shown}", "a répondu {shown}") });
        }
        let last = l.as_bytes().get(3) != Some(&b'-');
        lines.push(l.get(4..).unwrap_or_default().to_owned());
        if last {
            return Ok(lines);
        }
    }
    Err(StartTlsFailure::Protocol { step, cause: tr!(lang, "more than {MAX_LINES} reply lines", "plus de {MAX_LINES} lignes de réponse") })
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, text: &str, step: Phase, lang: Lang) -> Result<(), StartTlsFailure> {
    io.get_mut().write_all(text.as_bytes()).await.map_err(|e| StartTlsFailure::Protocol { step, cause: probe::io_cause(lang, &e) })
}

/// Reads the banner of the SMTP server at `addr` (and says `QUIT`).
///
/// # Errors
/// [`StartTlsFailure`]: connection, banner, or no answer in time.
pub async fn banner(addr: SocketAddr, d: &Deadline, lang: Lang) -> Result<SmtpPeer, StartTlsFailure> {
    let hung = StartTlsFailure::NoAnswer;
    let tcp = d.step(Phase::Connect, TcpStream::connect(addr)).await.map_err(hung)?.map_err(|e| StartTlsFailure::Connect { cause: probe::io_cause(lang, &e) })?;
    let mut io = BufReader::new(Bounded::new(tcp, READ_BUDGET));
    let lines = d.step(Phase::Banner, reply(&mut io, "220", Phase::Banner, lang)).await.map_err(hung)??;
    let _ = send(&mut io, "QUIT\r\n", Phase::Logout, lang).await;
    Ok(peer_of(&lines))
}

fn peer_of(banner: &[String]) -> SmtpPeer {
    let first = banner.first().cloned();
    let host = first.as_deref().and_then(|l| l.split_whitespace().next()).map(|h| h.trim_end_matches('.').to_ascii_lowercase());
    SmtpPeer { banner: first, banner_host: host, chain: Vec::new() }
}

/// Banner, `EHLO`, `STARTTLS` and the TLS handshake (SNI `tls_name`) with the SMTP server at
/// `addr`; the served chain is kept, not judged.
///
/// # Errors
/// [`StartTlsFailure`]: the step that failed or did not answer in time.
pub async fn handshake(addr: SocketAddr, tls_name: &str, d: &Deadline, lang: Lang) -> Result<SmtpPeer, StartTlsFailure> {
    let hung = StartTlsFailure::NoAnswer;
    let tcp = d.step(Phase::Connect, TcpStream::connect(addr)).await.map_err(hung)?.map_err(|e| StartTlsFailure::Connect { cause: probe::io_cause(lang, &e) })?;
    let mut io = BufReader::new(Bounded::new(tcp, READ_BUDGET));
    let lines = d.step(Phase::Banner, reply(&mut io, "220", Phase::Banner, lang)).await.map_err(hung)??;
    let mut peer = peer_of(&lines);
    let ehlo = d
        .step(Phase::Ehlo, async {
            send(&mut io, &format!("EHLO {HELLO}\r\n"), Phase::Ehlo, lang).await?;
            reply(&mut io, "250", Phase::Ehlo, lang).await
        })
        .await
        .map_err(hung)??;
    if !ehlo.iter().skip(1).any(|l| l.split_whitespace().next().is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS"))) {
        return Err(StartTlsFailure::Protocol { step: Phase::Ehlo, cause: tr!(lang, "STARTTLS is not offered", "STARTTLS n'est pas proposé") });
    }
    d.step(Phase::StartTls, async {
        send(&mut io, "STARTTLS\r\n", Phase::StartTls, lang).await?;
        reply(&mut io, "220", Phase::StartTls, lang).await
    })
    .await
    .map_err(hung)??;
    let tls = d
        .step(Phase::TlsHandshake, probe::tls_connector().connect(probe::server_name(tls_name), io.into_inner()))
        .await
        .map_err(hung)?
        .map_err(|e| StartTlsFailure::Tls { cause: probe::tls_error(&e).map_or_else(|| probe::io_cause(lang, &e), ToString::to_string) })?;
    peer.chain = probe::peer_chain(tls.get_ref().1);
    Ok(peer)
}
