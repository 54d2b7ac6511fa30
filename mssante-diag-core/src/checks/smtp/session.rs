//! One SMTP session as a probe: banner, EHLO, STARTTLS, TLS handshake, EHLO again, QUIT.
//! Every read is bounded (line length, lines per reply, bytes per session), every step is
//! named, and one deadline covers them all.

use std::time::{Duration, Instant};

use lettre::transport::smtp::commands::{Ehlo, Quit, Starttls};
use lettre::transport::smtp::extension::ClientId;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::checks::elapsed_ms;
use crate::probe::{self, Bounded, Deadline, Hung, Phase, TlsFacts, READ_BUDGET};
use crate::{tr, Lang};

/// Longest reply line accepted (RFC 5321 allows 512 bytes).
const MAX_LINE: usize = 1000;
/// Most lines in one reply.
const MAX_LINES: usize = 100;
/// Longest wait for the goodbye (`221`, TLS close) of a finished session.
const QUIT_GRACE: Duration = Duration::from_millis(500);

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

/// Why an SMTP session failed, and at which step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SmtpFailure {
    /// The TCP connection failed.
    Connect {
        /// Why, in a few words (refused, unreachable...).
        cause: String,
    },
    /// The server answered a step with a refusal (a `554` banner, a `502` to EHLO...).
    Refused {
        /// The step.
        step: Phase,
        /// Reply code.
        code: u16,
        /// Reply text (first line).
        text: String,
    },
    /// The answer was not SMTP, was too long, or the connection closed mid-step.
    Protocol {
        /// The step.
        step: Phase,
        /// What went wrong.
        cause: String,
    },
    /// The TLS handshake after STARTTLS failed.
    Tls {
        /// The TLS library's reason.
        cause: String,
    },
    /// A step got no answer in time.
    NoAnswer(Hung),
}

/// An SMTP reply: code and text lines.
pub(super) struct Reply {
    pub(super) code: u16,
    pub(super) lines: Vec<String>,
}

impl Reply {
    pub(super) fn first(&self) -> &str {
        self.lines.first().map_or("", String::as_str)
    }

    /// The reply as a report shows it: code, enhanced status code, first line (capped).
    pub(super) fn shown(&self) -> SmtpReply {
        let first = self.first();
        let enhanced = first
            .split_whitespace()
            .next()
            .filter(|w| w.split('.').count() == 3 && w.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
            .map(str::to_owned);
        SmtpReply { code: self.code, enhanced, text: first.chars().take(200).collect() }
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
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An open session, plain or upgraded, ready for the next command.
pub(super) type Io = BufReader<Box<dyn Stream>>;

/// `ddd-text` (more lines follow) or `ddd text` / `ddd` (last line).
fn parse_line(line: &str) -> Option<(u16, bool, &str)> {
    let code = line.get(..3).filter(|c| c.bytes().all(|b| b.is_ascii_digit()))?.parse().ok().filter(|c| (200..600).contains(c))?;
    match line.as_bytes().get(3) {
        None => Some((code, true, "")),
        Some(b' ') => Some((code, true, &line[4..])),
        Some(b'-') => Some((code, false, &line[4..])),
        Some(_) => None,
    }
}

fn not_smtp(step: Phase, got: &[u8], lang: Lang) -> SmtpFailure {
    let b = probe::show_bytes(got);
    SmtpFailure::Protocol { step, cause: tr!(lang, "not an SMTP answer ({b})", "réponse qui n'est pas du SMTP ({b})") }
}

fn io_failure(step: Phase, e: &std::io::Error, lang: Lang) -> SmtpFailure {
    let cause = if e.kind() == std::io::ErrorKind::InvalidData {
        tr!(lang, "answer too long ({e})", "réponse trop longue ({e})")
    } else {
        probe::io_cause(lang, e)
    };
    SmtpFailure::Protocol { step, cause }
}

async fn read_reply<S: AsyncRead + Unpin>(io: &mut BufReader<S>, step: Phase, lang: Lang) -> Result<Reply, SmtpFailure> {
    let mut lines = Vec::new();
    let mut code = 0;
    for _ in 0..MAX_LINES {
        let raw = probe::read_line(io, MAX_LINE).await.map_err(|e| io_failure(step, &e, lang))?;
        if raw.is_empty() {
            let cause = tr!(lang, "connection closed by the server", "connexion fermée par le serveur");
            return Err(SmtpFailure::Protocol { step, cause });
        }
        let text = std::str::from_utf8(&raw).map_err(|_| not_smtp(step, &raw, lang))?.trim_end_matches(['\r', '\n']);
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
    let cause = tr!(lang, "more than {MAX_LINES} reply lines", "plus de {MAX_LINES} lignes de réponse");
    Err(SmtpFailure::Protocol { step, cause })
}

/// Sends a command (if any) and reads the reply, whatever its code.
pub(super) async fn command<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, command: Option<&str>, step: Phase, lang: Lang) -> Result<Reply, SmtpFailure> {
    if let Some(c) = command {
        io.get_mut().write_all(c.as_bytes()).await.map_err(|e| io_failure(step, &e, lang))?;
        io.get_mut().flush().await.map_err(|e| io_failure(step, &e, lang))?;
    }
    read_reply(io, step, lang).await
}

/// Sends a command (if any), reads the reply, and requires `expected`.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    command: Option<String>,
    expected: u16,
    step: Phase,
    lang: Lang,
) -> Result<Reply, SmtpFailure> {
    let reply = self::command(io, command.as_deref(), step, lang).await?;
    if reply.code == expected {
        Ok(reply)
    } else if reply.code >= 400 {
        Err(SmtpFailure::Refused { step, code: reply.code, text: reply.first().chars().take(200).collect() })
    } else {
        let code = reply.code;
        let cause = tr!(lang, "unexpected reply {code} (expected {expected})", "réponse inattendue {code} ({expected} attendu)");
        Err(SmtpFailure::Protocol { step, cause })
    }
}

/// EHLO keywords (upper case) and AUTH mechanisms of an EHLO reply (its first line is the name).
fn ehlo_facts(reply: &Reply) -> (String, Vec<String>, Vec<String>) {
    let name = reply.first().split_whitespace().next().unwrap_or_default().to_owned();
    let mut keywords = Vec::new();
    let mut auth = Vec::new();
    for line in reply.lines.iter().skip(1) {
        let mut words = line.split(|c: char| c.is_whitespace() || c == '=').filter(|w| !w.is_empty());
        let Some(keyword) = words.next().map(str::to_ascii_uppercase) else { continue };
        if keyword == "AUTH" {
            for m in words.map(str::to_ascii_uppercase) {
                if !auth.contains(&m) {
                    auth.push(m);
                }
            }
        }
        if !keywords.contains(&keyword) {
            keywords.push(keyword);
        }
    }
    (name, keywords, auth)
}

/// Sends QUIT, reads the `221` and closes (TLS close_notify included), briefly: a session
/// that already told what it had to is not failed by a slow goodbye.
pub(super) async fn goodbye<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, deadline: &Deadline, lang: Lang) {
    let _ = tokio::time::timeout(QUIT_GRACE.min(deadline.remaining()), async {
        let _ = exchange(io, Some(Quit.to_string()), 221, Phase::Logout, lang).await;
        let _ = io.get_mut().shutdown().await;
    })
    .await;
}

/// Connects, reads the banner, sends EHLO and, when offered, upgrades with STARTTLS and sends
/// EHLO again; returns the open session (TLS when it was offered) for further commands.
pub(super) async fn open(s: &mut SmtpSession, host: &str, port: u16, hello: &str, tls_name: &str, d: &Deadline, lang: Lang) -> Result<Io, SmtpFailure> {
    let hung = SmtpFailure::NoAnswer;
    let hello = ClientId::Domain(hello.to_owned());
    let tcp = d
        .step(Phase::Connect, TcpStream::connect((host, port)))
        .await
        .map_err(hung)?
        .map_err(|e| SmtpFailure::Connect { cause: probe::io_cause(lang, &e) })?;
    let mut io = BufReader::new(Bounded::new(tcp, READ_BUDGET));
    let banner = d.step(Phase::Banner, exchange(&mut io, None, 220, Phase::Banner, lang)).await.map_err(hung)??;
    s.banner = banner.first().chars().take(200).collect();
    let ehlo = Ehlo::new(hello).to_string();
    let reply = d.step(Phase::Ehlo, exchange(&mut io, Some(ehlo.clone()), 250, Phase::Ehlo, lang)).await.map_err(hung)??;
    (s.server_name, s.extensions, s.auth_before_tls) = ehlo_facts(&reply);
    s.starttls_offered = s.extensions.iter().any(|k| k == "STARTTLS");
    if !s.starttls_offered {
        let plain: Box<dyn Stream> = Box::new(io.into_inner());
        return Ok(BufReader::new(plain));
    }
    d.step(Phase::StartTls, exchange(&mut io, Some(Starttls.to_string()), 220, Phase::StartTls, lang)).await.map_err(hung)??;
    // Whatever the server sent past its 220 is dropped with the buffer (no command injection).
    let plain = io.into_inner();
    let tls = d
        .step(Phase::TlsHandshake, probe::tls_connector().connect(probe::server_name(tls_name), plain))
        .await
        .map_err(hung)?
        .map_err(|e| SmtpFailure::Tls { cause: e.to_string() })?;
    s.tls_established = true;
    s.tls = Some(probe::tls_facts(tls.get_ref().1));
    let tls: Box<dyn Stream> = Box::new(tls);
    let mut io = BufReader::new(tls);
    let reply = d.step(Phase::EhloAfterTls, exchange(&mut io, Some(ehlo), 250, Phase::EhloAfterTls, lang)).await.map_err(hung)??;
    s.auth_after_tls = ehlo_facts(&reply).2;
    Ok(io)
}

async fn converse(s: &mut SmtpSession, host: &str, port: u16, hello: &str, tls_name: &str, d: &Deadline, lang: Lang) -> Result<(), SmtpFailure> {
    let mut io = open(s, host, port, hello, tls_name, d, lang).await?;
    goodbye(&mut io, d, lang).await;
    Ok(())
}

/// Connects, reads the banner, sends EHLO, and upgrades with STARTTLS when offered (then EHLO
/// again), all within `timeout`. Certificate trust is judged by `tls.endpoints`, not here.
///
/// # Errors
/// The failure of the step that failed (a step without answer in time included), with the
/// session gathered so far.
pub async fn probe_session(
    host: &str,
    port: u16,
    hello: &str,
    tls_name: &str,
    timeout: Duration,
    lang: Lang,
) -> Result<SmtpSession, (SmtpSession, SmtpFailure)> {
    let start = Instant::now();
    let deadline = Deadline::after(timeout);
    let mut s = SmtpSession::default();
    let r = converse(&mut s, host, port, hello, tls_name, &deadline, lang).await;
    s.latency_ms = elapsed_ms(start);
    match r {
        Ok(()) => Ok(s),
        Err(f) => Err((s, f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines_parse() {
        assert_eq!(parse_line("220 mail.example ESMTP"), Some((220, true, "mail.example ESMTP")));
        assert_eq!(parse_line("250-PIPELINING"), Some((250, false, "PIPELINING")));
        assert_eq!(parse_line("250"), Some((250, true, "")));
        for bad in ["", "22", "AAAA", "2200 x", "999 x", "120 x", "220x", "HTTP/1.1 200 OK"] {
            assert_eq!(parse_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn ehlo_keywords_and_mechanisms() {
        let reply = Reply {
            code: 250,
            lines: ["mail.example", "PIPELINING", "AUTH PLAIN LOGIN", "AUTH=LOGIN", "starttls", "   "].map(str::to_owned).to_vec(),
        };
        let (name, keywords, auth) = ehlo_facts(&reply);
        assert_eq!(name, "mail.example");
        assert_eq!(keywords, ["PIPELINING", "AUTH", "STARTTLS"]);
        assert_eq!(auth, ["PLAIN", "LOGIN"]);
    }
}
