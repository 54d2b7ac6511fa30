//! SMTP and IMAP up to TLS, the one dialogue every mail probe shares: `smtp.*` and `imap.*`
//! (which go on after TLS: AUTH, RCPT, LOGIN...), `tls.endpoints` (the served chain),
//! `dns.dane` (TLSA against the served chain) and `dns.ptr` (the banner's host name).
//! Connect, banner or greeting, `EHLO` or `CAPABILITY`, `STARTTLS`, TLS handshake: every step
//! is a named [`Phase`] under one [`Deadline`] and every read is bounded ([`Bounded`],
//! [`probe::read_line`]). Also the STARTTLS verdict both protocols share ([`tls_verdict`]).

use std::time::Duration;

use async_imap::imap_proto::{Capability, Response, ResponseCode};
use lettre::transport::smtp::commands::{Ehlo, Quit, Starttls};
use lettre::transport::smtp::extension::ClientId;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::CertificateDer;

use crate::model::Status;
use crate::probe::{self, Bounded, Deadline, Hung, Phase, TlsFacts, READ_BUDGET};
use crate::{tr, Lang};

/// Longest reply line accepted before TLS (RFC 5321 allows 512 bytes).
const MAX_LINE: usize = 1000;
/// Most lines in one SMTP reply.
const MAX_LINES: usize = 50;
/// Longest wait for the goodbye (`QUIT`, `LOGOUT`, TLS close) of a session that told what it had to.
pub const GOODBYE_GRACE: Duration = Duration::from_millis(500);
/// Name sent in `EHLO` when none is configured.
pub const HELLO: &str = "mssante-diag.localdomain";

/// A TCP connection whose reads are bounded by [`READ_BUDGET`].
pub type Tcp = Bounded<TcpStream>;
/// A connection after the TLS handshake.
pub type Tls = TlsStream<Tcp>;

/// Why a session stopped, and at which step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Failure {
    /// The TCP connection failed.
    Connect {
        /// Why, in a few words (refused, unreachable...).
        cause: String,
    },
    /// The SMTP server answered a step with a refusal (a `554` banner, a `502` to EHLO...).
    Refused {
        /// The step.
        step: Phase,
        /// Reply code.
        code: u16,
        /// Reply text (first line, capped).
        text: String,
    },
    /// The answer was not the protocol, was too long, or the connection closed mid-step.
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

impl From<Hung> for Failure {
    fn from(h: Hung) -> Self {
        Self::NoAnswer(h)
    }
}

impl Failure {
    /// One phrase naming `what` (e.g. `SMTP 192.0.2.1:25`) and the step that failed.
    #[must_use]
    pub fn describe(&self, lang: Lang, what: &str) -> String {
        match self {
            Self::Connect { cause } => tr!(lang, "{what}: {cause}", "{what} : {cause}"),
            Self::Refused { step, code, text } => {
                let s = step.name();
                tr!(
                    lang,
                    "{what}, {s}: answered {code} {text}",
                    "{what}, {s} : a répondu {code} {text}"
                )
            }
            Self::Protocol { step, cause } => {
                let s = step.name();
                tr!(lang, "{what}, {s}: {cause}", "{what}, {s} : {cause}")
            }
            Self::Tls { cause, .. } => tr!(
                lang,
                "{what}: TLS handshake failed: {cause}",
                "{what} : échec de la négociation TLS : {cause}"
            ),
            Self::NoAnswer(h) => h.describe(lang, what),
        }
    }
}

/// Opens the TCP connection (step `connect`).
///
/// # Errors
/// [`Failure::Connect`], or no connection in time.
pub async fn connect(addr: impl ToSocketAddrs, d: &Deadline, lang: Lang) -> Result<Tcp, Failure> {
    let tcp = d
        .step(Phase::Connect, TcpStream::connect(addr))
        .await?
        .map_err(|e| Failure::Connect {
            cause: probe::io_cause(lang, &e),
        })?;
    Ok(Bounded::new(tcp, READ_BUDGET))
}

/// The TLS handshake (SNI `tls_name`; any certificate accepted: trust is judged by `tls.*`).
///
/// # Errors
/// [`Failure::Tls`], or no handshake in time.
pub async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    tls_name: &str,
    d: &Deadline,
    lang: Lang,
) -> Result<TlsStream<S>, Failure> {
    d.step(
        Phase::TlsHandshake,
        probe::tls_connector().connect(probe::server_name(tls_name), io),
    )
    .await?
    .map_err(|e| Failure::Tls {
        cause: probe::tls_error(&e).map_or_else(|| probe::io_cause(lang, &e), ToString::to_string),
        old_version: probe::tls_error(&e).is_some_and(probe::is_old_protocol),
    })
}

/// The STARTTLS verdict shared by SMTP and IMAP on `target`: offered, completed, and serving a
/// certificate valid now (else `critical`); no AUTH offered before TLS (else a `warning`).
/// `None` when all of it holds.
#[must_use]
pub fn tls_verdict(
    offered: bool,
    tls: Option<&TlsFacts>,
    auth_before_tls: &[String],
    target: &str,
    lang: Lang,
) -> Option<(Status, String)> {
    if !offered {
        Some((
            Status::Critical,
            tr!(
                lang,
                "{target} does not offer STARTTLS",
                "{target} ne propose pas STARTTLS"
            ),
        ))
    } else if tls.is_none() {
        Some((
            Status::Critical,
            tr!(
                lang,
                "STARTTLS did not complete on {target}",
                "STARTTLS n'a pas abouti sur {target}"
            ),
        ))
    } else if let Some(problem) = tls
        .and_then(|t| t.certificate.as_ref())
        .and_then(|c| c.validity_problem(lang, target))
    {
        Some((Status::Critical, problem))
    } else if !auth_before_tls.is_empty() {
        let m = auth_before_tls.join(" ");
        Some((Status::Warning, tr!(lang, "{target} offers AUTH ({m}) before TLS: passwords may travel in clear", "{target} propose AUTH ({m}) avant TLS : les mots de passe peuvent circuler en clair")))
    } else {
        None
    }
}

// ---- SMTP ----

/// What an SMTP session revealed, step by step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SmtpSession {
    /// First line of the `220` banner.
    pub banner: String,
    /// Name the server gave in its EHLO answer.
    pub server_name: String,
    /// EHLO keywords before TLS (`PIPELINING`, `STARTTLS`, `AUTH`...).
    pub extensions: Vec<String>,
    /// STARTTLS offered in EHLO before TLS.
    pub starttls_offered: bool,
    /// AUTH mechanisms offered before TLS (should be none).
    pub auth_before_tls: Vec<String>,
    /// STARTTLS completed.
    pub tls_established: bool,
    /// The TLS upgrade's facts, when it completed.
    pub tls: Option<TlsFacts>,
    /// AUTH mechanisms offered after TLS.
    pub auth_after_tls: Vec<String>,
    /// Time from connect to the end of the probe, ms.
    pub latency_ms: f64,
}

/// An SMTP reply: code and text lines.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Reply code.
    pub code: u16,
    /// Text of each line, after the code.
    pub lines: Vec<String>,
}

impl Reply {
    /// Text of the first line.
    #[must_use]
    pub fn first(&self) -> &str {
        self.lines.first().map_or("", String::as_str)
    }

    /// The reply as a report shows it: code, enhanced status code, first line (capped).
    #[must_use]
    pub fn shown(&self) -> SmtpReply {
        let first = self.first();
        let enhanced = first
            .split_whitespace()
            .next()
            .filter(|w| {
                w.split('.').count() == 3
                    && w.split('.')
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(str::to_owned);
        SmtpReply {
            code: self.code,
            enhanced,
            text: first.chars().take(200).collect(),
        }
    }
}

/// An SMTP reply as reported: `550 5.1.1 <x@y>: Recipient address rejected: User unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpReply {
    /// Reply code.
    pub code: u16,
    /// Enhanced status code (RFC 3463), e.g. `5.1.1`, when the server gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enhanced: Option<String>,
    /// First line of the text (at most 200 characters).
    pub text: String,
}

impl std::fmt::Display for SmtpReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// A byte stream a session runs over: plain TCP, or TLS after STARTTLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An open SMTP session, plain or upgraded, ready for the next command.
pub type Io = BufReader<Box<dyn Stream>>;

/// `ddd-text` (more lines follow) or `ddd text` / `ddd` (last line).
fn parse_line(line: &str) -> Option<(u16, bool, &str)> {
    let code = line
        .get(..3)
        .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()
        .filter(|c| (200..600).contains(c))?;
    match line.as_bytes().get(3) {
        None => Some((code, true, "")),
        Some(b' ') => Some((code, true, &line[4..])),
        Some(b'-') => Some((code, false, &line[4..])),
        Some(_) => None,
    }
}

fn not_smtp(step: Phase, got: &[u8], lang: Lang) -> Failure {
    let b = probe::show_bytes(got);
    Failure::Protocol {
        step,
        cause: tr!(
            lang,
            "not an SMTP answer ({b})",
            "réponse qui n'est pas du SMTP ({b})"
        ),
    }
}

fn io_failure(step: Phase, e: &std::io::Error, lang: Lang) -> Failure {
    let cause = if e.kind() == std::io::ErrorKind::InvalidData {
        tr!(lang, "answer too long ({e})", "réponse trop longue ({e})")
    } else {
        probe::io_cause(lang, e)
    };
    Failure::Protocol { step, cause }
}

async fn read_reply<S: AsyncRead + Unpin>(
    io: &mut BufReader<S>,
    step: Phase,
    lang: Lang,
) -> Result<Reply, Failure> {
    let mut lines = Vec::new();
    let mut code = 0;
    for _ in 0..MAX_LINES {
        let raw = probe::read_line(io, MAX_LINE)
            .await
            .map_err(|e| io_failure(step, &e, lang))?;
        if raw.is_empty() {
            let cause = tr!(
                lang,
                "connection closed by the server",
                "connexion fermée par le serveur"
            );
            return Err(Failure::Protocol { step, cause });
        }
        let text = std::str::from_utf8(&raw)
            .map_err(|_| not_smtp(step, &raw, lang))?
            .trim_end_matches(['\r', '\n']);
        let (c, last, rest) = parse_line(text).ok_or_else(|| not_smtp(step, &raw, lang))?;
        if !lines.is_empty() && c != code {
            return Err(not_smtp(step, &raw, lang));
        }
        code = c;
        lines.push(rest.to_owned());
        if last {
            return Ok(Reply { code, lines });
        }
    }
    let cause = tr!(
        lang,
        "more than {MAX_LINES} reply lines",
        "plus de {MAX_LINES} lignes de réponse"
    );
    Err(Failure::Protocol { step, cause })
}

/// Sends an SMTP command (if any) and reads the reply, whatever its code.
///
/// # Errors
/// [`Failure::Protocol`]: not SMTP, too long, or the connection closed.
pub async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    command: Option<&str>,
    step: Phase,
    lang: Lang,
) -> Result<Reply, Failure> {
    if let Some(c) = command {
        io.get_mut()
            .write_all(c.as_bytes())
            .await
            .map_err(|e| io_failure(step, &e, lang))?;
        io.get_mut()
            .flush()
            .await
            .map_err(|e| io_failure(step, &e, lang))?;
    }
    read_reply(io, step, lang).await
}

/// Sends a command (if any) within the deadline's step, reads the reply, and requires `expected`.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    command: Option<&str>,
    expected: u16,
    step: Phase,
    d: &Deadline,
    lang: Lang,
) -> Result<Reply, Failure> {
    let reply = d
        .step(step, self::command(io, command, step, lang))
        .await??;
    if reply.code == expected {
        Ok(reply)
    } else if reply.code >= 400 {
        Err(Failure::Refused {
            step,
            code: reply.code,
            text: reply.first().chars().take(200).collect(),
        })
    } else {
        let code = reply.code;
        let cause = tr!(
            lang,
            "unexpected reply {code} (expected {expected})",
            "réponse inattendue {code} ({expected} attendu)"
        );
        Err(Failure::Protocol { step, cause })
    }
}

/// What an EHLO reply says: the server's name, its keywords (upper case), its AUTH mechanisms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EhloFacts {
    /// Name the server gave (first word of the first line).
    pub name: String,
    /// Keywords, upper case, once each.
    pub keywords: Vec<String>,
    /// AUTH mechanisms (`AUTH PLAIN LOGIN`, `AUTH=LOGIN`), upper case, once each.
    pub auth: Vec<String>,
}

fn ehlo_facts(reply: &Reply) -> EhloFacts {
    let mut f = EhloFacts {
        name: reply
            .first()
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
        ..EhloFacts::default()
    };
    for line in reply.lines.iter().skip(1) {
        let mut words = line
            .split(|c: char| c.is_whitespace() || c == '=')
            .filter(|w| !w.is_empty());
        let Some(keyword) = words.next().map(str::to_ascii_uppercase) else {
            continue;
        };
        if keyword == "AUTH" {
            for m in words.map(str::to_ascii_uppercase) {
                if !f.auth.contains(&m) {
                    f.auth.push(m);
                }
            }
        }
        if !f.keywords.contains(&keyword) {
            f.keywords.push(keyword);
        }
    }
    f
}

/// Sends `EHLO hello` (step `step`: EHLO, or EHLO after TLS) and requires `250`.
///
/// # Errors
/// The step's failure, or no answer in time.
pub async fn ehlo<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    hello: &str,
    step: Phase,
    d: &Deadline,
    lang: Lang,
) -> Result<EhloFacts, Failure> {
    let ehlo = Ehlo::new(ClientId::Domain(hello.to_owned())).to_string();
    Ok(ehlo_facts(
        &exchange(io, Some(&ehlo), 250, step, d, lang).await?,
    ))
}

/// Sends QUIT, reads the `221` and closes (TLS close_notify included), briefly: a session
/// that already told what it had to is not failed by a slow goodbye.
pub async fn goodbye<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    d: &Deadline,
    lang: Lang,
) {
    let _ = tokio::time::timeout(GOODBYE_GRACE.min(d.remaining()), async {
        let _ = command(io, Some(&Quit.to_string()), Phase::Logout, lang).await;
        let _ = io.get_mut().shutdown().await;
    })
    .await;
}

/// Connects to the SMTP server at `addr`, reads its banner (whatever its code) and says QUIT.
///
/// # Errors
/// The connection or the banner failed, or did not come in time.
pub async fn smtp_banner(
    addr: impl ToSocketAddrs,
    d: &Deadline,
    lang: Lang,
) -> Result<Reply, Failure> {
    let mut io = BufReader::new(connect(addr, d, lang).await?);
    let banner = d
        .step(Phase::Banner, command(&mut io, None, Phase::Banner, lang))
        .await??;
    goodbye(&mut io, d, lang).await;
    Ok(banner)
}

/// Where an SMTP session stands after [`smtp_starttls`].
pub enum SmtpConn {
    /// STARTTLS was not offered: the plain connection, after EHLO.
    Plain(Tcp),
    /// The connection after STARTTLS and the TLS handshake, before the second EHLO.
    Tls(Box<Tls>),
}

/// Connects, reads the `220` banner, sends EHLO and, when STARTTLS is offered, upgrades: what
/// the server showed goes into `s` (banner, EHLO keywords, AUTH before TLS, TLS facts).
///
/// # Errors
/// The failure of the step that failed (a step without answer in time included).
pub async fn smtp_starttls(
    s: &mut SmtpSession,
    addr: impl ToSocketAddrs,
    hello: &str,
    tls_name: &str,
    d: &Deadline,
    lang: Lang,
) -> Result<SmtpConn, Failure> {
    let mut io = BufReader::new(connect(addr, d, lang).await?);
    let banner = exchange(&mut io, None, 220, Phase::Banner, d, lang).await?;
    s.banner = banner.first().chars().take(200).collect();
    let e = ehlo(&mut io, hello, Phase::Ehlo, d, lang).await?;
    (s.server_name, s.extensions, s.auth_before_tls) = (e.name, e.keywords, e.auth);
    s.starttls_offered = s.extensions.iter().any(|k| k == "STARTTLS");
    if !s.starttls_offered {
        return Ok(SmtpConn::Plain(io.into_inner()));
    }
    exchange(
        &mut io,
        Some(&Starttls.to_string()),
        220,
        Phase::StartTls,
        d,
        lang,
    )
    .await?;
    // Whatever the server sent past its 220 is dropped with the buffer (no command injection).
    let tls = upgrade(io.into_inner(), tls_name, d, lang).await?;
    s.tls_established = true;
    s.tls = Some(probe::tls_facts(tls.get_ref().1));
    Ok(SmtpConn::Tls(Box::new(tls)))
}

/// [`smtp_starttls`] where STARTTLS is required: the session and its TLS connection.
///
/// # Errors
/// As [`smtp_starttls`]; STARTTLS not offered is a [`Failure::Protocol`] at EHLO.
pub async fn smtp_tls(
    addr: impl ToSocketAddrs,
    hello: &str,
    tls_name: &str,
    d: &Deadline,
    lang: Lang,
) -> Result<(SmtpSession, Tls), Failure> {
    let mut s = SmtpSession::default();
    match smtp_starttls(&mut s, addr, hello, tls_name, d, lang).await? {
        SmtpConn::Tls(tls) => Ok((s, *tls)),
        SmtpConn::Plain(_) => Err(Failure::Protocol {
            step: Phase::Ehlo,
            cause: tr!(
                lang,
                "STARTTLS is not offered",
                "STARTTLS n'est pas proposé"
            ),
        }),
    }
}

/// What an SMTP server showed a peer (`dns.ptr`, `dns.dane`).
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

fn peer_of(banner: &str) -> SmtpPeer {
    let host = banner
        .split_whitespace()
        .next()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase());
    SmtpPeer {
        banner: Some(banner.to_owned()),
        banner_host: host,
        chain: Vec::new(),
    }
}

/// Reads the `220` banner of the SMTP server at `addr` (and says `QUIT`).
///
/// # Errors
/// Connection, banner (a refusal included), or no answer in time.
pub async fn banner(
    addr: std::net::SocketAddr,
    d: &Deadline,
    lang: Lang,
) -> Result<SmtpPeer, Failure> {
    let reply = smtp_banner(addr, d, lang).await?;
    if reply.code != 220 {
        return Err(Failure::Refused {
            step: Phase::Banner,
            code: reply.code,
            text: reply.first().chars().take(200).collect(),
        });
    }
    Ok(peer_of(reply.first()))
}

/// Banner, `EHLO`, `STARTTLS` and the TLS handshake (SNI `tls_name`) with the SMTP server at
/// `addr`; the served chain is kept, not judged.
///
/// # Errors
/// The step that failed or did not answer in time.
pub async fn handshake(
    addr: std::net::SocketAddr,
    tls_name: &str,
    d: &Deadline,
    lang: Lang,
) -> Result<SmtpPeer, Failure> {
    let (s, tls) = smtp_tls(addr, HELLO, tls_name, d, lang).await?;
    Ok(SmtpPeer {
        chain: probe::peer_chain(tls.get_ref().1),
        ..peer_of(&s.banner)
    })
}

// ---- IMAP ----

/// What an IMAP session revealed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImapSession {
    /// Text of the `* OK` greeting.
    pub greeting: String,
    /// Capabilities before TLS.
    pub capabilities: Vec<String>,
    /// STARTTLS advertised.
    pub starttls_offered: bool,
    /// The TLS upgrade's facts, when it completed.
    pub tls: Option<TlsFacts>,
    /// Capabilities after TLS.
    pub capabilities_after_tls: Vec<String>,
    /// Time from connect to the end of the probe, ms.
    pub latency_ms: f64,
}

/// An IMAP client over a bounded stream.
pub type ImapClient<S> = async_imap::Client<Bounded<S>>;

fn capability_name(c: &Capability<'_>) -> String {
    match c {
        Capability::Imap4rev1 => "IMAP4rev1".into(),
        Capability::Auth(a) => format!("AUTH={a}"),
        Capability::Atom(a) => a.to_string(),
    }
}

/// An IMAP client error in a few words: a parse error shows none of the peer's bytes (the
/// library's message quotes the whole unparsed answer, up to the read budget: 64 KiB of a
/// hostile server's garbage in a summary); any other is cut at 200 characters.
fn imap_cause(e: &impl std::fmt::Display, lang: Lang) -> String {
    let text = e.to_string();
    if text.contains("input:") || text.contains("during parsing") {
        return tr!(
            lang,
            "an answer that does not parse as IMAP",
            "une réponse qui n'est pas de l'IMAP"
        );
    }
    text.chars().take(200).collect()
}

async fn read_greeting<S: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug>(
    client: &mut async_imap::Client<S>,
    lang: Lang,
) -> Result<(String, Vec<String>), Failure> {
    let greeting = |cause: String| Failure::Protocol {
        step: Phase::Greeting,
        cause,
    };
    let closed = || {
        greeting(tr!(
            lang,
            "connection closed before the greeting",
            "connexion fermée avant le message d'accueil"
        ))
    };
    let resp = client
        .read_response()
        .await
        .ok_or_else(closed)?
        .map_err(|e| greeting(imap_cause(&e, lang)))?;
    match resp.parsed() {
        Response::Data {
            status: async_imap::imap_proto::Status::Ok,
            code,
            information,
        } => {
            let caps = match code {
                Some(ResponseCode::Capabilities(c)) => c.iter().map(capability_name).collect(),
                _ => Vec::new(),
            };
            Ok((information.as_deref().unwrap_or_default().to_owned(), caps))
        }
        other => Err(greeting(
            format!("not an OK greeting: {other:?}")
                .chars()
                .take(200)
                .collect(),
        )),
    }
}

/// Asks `CAPABILITY` (step `capability`, within the deadline).
///
/// # Errors
/// A refusal or nonsense ([`Failure::Protocol`]), or no answer in time.
pub async fn imap_capabilities<S: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug>(
    client: &mut async_imap::Client<S>,
    d: &Deadline,
    lang: Lang,
) -> Result<Vec<String>, Failure> {
    // Untagged answers reach us through the "unsolicited" channel.
    let (tx, rx) = async_channel::bounded(64);
    let asked = client.run_command_and_check_ok("CAPABILITY", Some(tx));
    d.step(Phase::Capability, asked)
        .await?
        .map_err(|e| Failure::Protocol {
            step: Phase::Capability,
            cause: imap_cause(&e, lang),
        })?;
    let mut caps = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        if let async_imap::types::UnsolicitedResponse::Other(data) = msg {
            if let Response::Capabilities(c) = data.parsed() {
                caps.extend(c.iter().map(capability_name));
            }
        }
    }
    Ok(caps)
}

/// Says LOGOUT, briefly: a session that already told what it had to is not failed by a slow goodbye.
pub async fn logout<S: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug>(
    client: &mut async_imap::Client<S>,
    d: &Deadline,
) {
    let _ = tokio::time::timeout(
        GOODBYE_GRACE.min(d.remaining()),
        client.run_command_and_check_ok("LOGOUT", None),
    )
    .await;
}

/// Connects, reads the greeting, asks CAPABILITY (unless the greeting told them) and, when
/// STARTTLS is offered, upgrades: what the server showed goes into `s`. Without STARTTLS,
/// says LOGOUT and returns `None`.
///
/// # Errors
/// The failure of the step that failed (a step without answer in time included).
pub async fn imap_starttls(
    s: &mut ImapSession,
    addr: impl ToSocketAddrs,
    tls_name: &str,
    d: &Deadline,
    lang: Lang,
) -> Result<Option<Tls>, Failure> {
    let mut client = async_imap::Client::new(connect(addr, d, lang).await?);
    let (greeting, greeting_caps) = d
        .step(Phase::Greeting, read_greeting(&mut client, lang))
        .await??;
    s.greeting = greeting;
    s.capabilities = if greeting_caps.is_empty() {
        imap_capabilities(&mut client, d, lang).await?
    } else {
        greeting_caps
    };
    s.starttls_offered = s
        .capabilities
        .iter()
        .any(|c| c.eq_ignore_ascii_case("STARTTLS"));
    if !s.starttls_offered {
        logout(&mut client, d).await;
        return Ok(None);
    }
    let asked = client.run_command_and_check_ok("STARTTLS", None);
    d.step(Phase::StartTls, asked)
        .await?
        .map_err(|e| Failure::Protocol {
            step: Phase::StartTls,
            cause: imap_cause(&e, lang),
        })?;
    // Whatever the server sent past its OK is dropped with the client's buffer.
    let tls = upgrade(client.into_inner(), tls_name, d, lang).await?;
    s.tls = Some(probe::tls_facts(tls.get_ref().1));
    Ok(Some(tls))
}

/// [`imap_starttls`] where STARTTLS is required: the TLS connection.
///
/// # Errors
/// As [`imap_starttls`]; STARTTLS not offered is a [`Failure::Protocol`] at CAPABILITY.
pub async fn imap_tls(
    addr: impl ToSocketAddrs,
    tls_name: &str,
    d: &Deadline,
    lang: Lang,
) -> Result<Tls, Failure> {
    imap_starttls(&mut ImapSession::default(), addr, tls_name, d, lang)
        .await?
        .ok_or_else(|| Failure::Protocol {
            step: Phase::Capability,
            cause: tr!(
                lang,
                "STARTTLS is not offered",
                "STARTTLS n'est pas proposé"
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines_parse() {
        assert_eq!(
            parse_line("220 mail.example ESMTP"),
            Some((220, true, "mail.example ESMTP"))
        );
        assert_eq!(
            parse_line("250-PIPELINING"),
            Some((250, false, "PIPELINING"))
        );
        assert_eq!(parse_line("250"), Some((250, true, "")));
        for bad in [
            "",
            "22",
            "AAAA",
            "2200 x",
            "999 x",
            "120 x",
            "220x",
            "HTTP/1.1 200 OK",
        ] {
            assert_eq!(parse_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn ehlo_keywords_and_mechanisms() {
        let reply = Reply {
            code: 250,
            lines: [
                "mail.example",
                "PIPELINING",
                "AUTH PLAIN LOGIN",
                "AUTH=LOGIN",
                "starttls",
                "   ",
            ]
            .map(str::to_owned)
            .to_vec(),
        };
        let f = ehlo_facts(&reply);
        assert_eq!(f.name, "mail.example");
        assert_eq!(f.keywords, ["PIPELINING", "AUTH", "STARTTLS"]);
        assert_eq!(f.auth, ["PLAIN", "LOGIN"]);
    }

    #[test]
    fn banner_host_is_the_first_word() {
        let p = peer_of("Mail.Example.FR. ESMTP Postfix");
        assert_eq!(p.banner_host.as_deref(), Some("mail.example.fr"));
    }

    #[test]
    fn imap_errors_never_quote_the_peer() {
        // async-imap's parse errors carry the whole unparsed answer (up to the read budget).
        let flood = format!("io: Error(Error {{ input: [{}], code: TakeWhile1 }}) during parsing of \"* CAPABILITY {{2147483647}}\"", "65, ".repeat(60_000));
        assert_eq!(
            imap_cause(&flood, Lang::En),
            "an answer that does not parse as IMAP"
        );
        assert_eq!(
            imap_cause(&flood, Lang::Fr),
            "une réponse qui n'est pas de l'IMAP"
        );
        assert_eq!(imap_cause(&"x".repeat(10_000), Lang::En).len(), 200);
        assert_eq!(
            imap_cause(&"bad response: no", Lang::En),
            "bad response: no"
        );
    }

    #[test]
    fn starttls_verdict() {
        let lang = Lang::En;
        let tls = TlsFacts {
            version: "TLSv1_3".into(),
            cipher: "x".into(),
            chain_len: 1,
            certificate: None,
        };
        assert_eq!(
            tls_verdict(false, None, &[], "t", lang).map(|v| v.0),
            Some(Status::Critical)
        );
        assert!(tls_verdict(true, None, &[], "t", lang)
            .is_some_and(|v| v.1.contains("did not complete")));
        assert!(tls_verdict(true, Some(&tls), &["PLAIN".into()], "t", lang)
            .is_some_and(|v| v.0 == Status::Warning && v.1.contains("AUTH (PLAIN) before TLS")));
        assert_eq!(tls_verdict(true, Some(&tls), &[], "t", lang), None);
    }
}
