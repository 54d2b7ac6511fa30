//! One IMAP session as a probe: greeting, CAPABILITY, STARTTLS, TLS handshake, CAPABILITY
//! again. Every read is bounded ([`READ_BUDGET`]), every step is named, and one deadline
//! covers them all. [`open`] hands the upgraded connection to the login checks.

use std::time::{Duration, Instant};

use async_imap::imap_proto::{Capability, Response, ResponseCode};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::checks::elapsed_ms;
use crate::probe::{Bounded, Deadline, Hung, Phase, TlsFacts, READ_BUDGET};
use crate::Lang;

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

/// Why an IMAP probe failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "message")]
pub enum ImapFailure {
    /// TCP connection failed.
    Connect(String),
    /// The greeting was missing, not `* OK`, or not IMAP at all.
    Greeting(String),
    /// A command failed or the server spoke nonsense.
    Protocol(String),
    /// The TLS handshake after STARTTLS failed.
    Tls(String),
    /// A step got no answer in time.
    NoAnswer(Hung),
}

pub(super) type Client<S> = async_imap::Client<Bounded<S>>;

fn capability_name(c: &Capability<'_>) -> String {
    match c {
        Capability::Imap4rev1 => "IMAP4rev1".into(),
        Capability::Auth(a) => format!("AUTH={a}"),
        Capability::Atom(a) => a.to_string(),
    }
}

async fn read_greeting<S: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug>(client: &mut Client<S>) -> Result<(String, Vec<String>), ImapFailure> {
    let resp = client
        .read_response()
        .await
        .ok_or_else(|| ImapFailure::Greeting("connection closed before the greeting".into()))?
        .map_err(|e| ImapFailure::Greeting(e.to_string()))?;
    match resp.parsed() {
        Response::Data { status: async_imap::imap_proto::Status::Ok, code, information } => {
            let caps = match code {
                Some(ResponseCode::Capabilities(c)) => c.iter().map(capability_name).collect(),
                _ => Vec::new(),
            };
            Ok((information.as_deref().unwrap_or_default().to_owned(), caps))
        }
        other => Err(ImapFailure::Greeting(format!("not an OK greeting: {other:?}").chars().take(200).collect())),
    }
}

async fn capabilities<S: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug>(client: &mut Client<S>) -> Result<Vec<String>, ImapFailure> {
    // Untagged answers reach us through the "unsolicited" channel.
    let (tx, rx) = async_channel::bounded(64);
    client.run_command_and_check_ok("CAPABILITY", Some(tx)).await.map_err(|e| ImapFailure::Protocol(e.to_string()))?;
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

/// Longest wait for the answer to LOGOUT of a finished session.
pub(super) const LOGOUT_GRACE: Duration = Duration::from_millis(500);

/// Says LOGOUT, briefly: a session that already told what it had to is not failed by a slow goodbye.
pub(super) async fn logout<S: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug>(client: &mut Client<S>, d: &Deadline) {
    let _ = tokio::time::timeout(LOGOUT_GRACE.min(d.remaining()), client.run_command_and_check_ok("LOGOUT", None)).await;
}

/// A client over TLS, after STARTTLS.
pub(super) type TlsClient = Client<TlsStream<TcpStream>>;

/// Runs one step under the deadline; a hang becomes [`ImapFailure::NoAnswer`].
pub(super) async fn step<T, F: std::future::Future<Output = Result<T, ImapFailure>>>(d: &Deadline, phase: Phase, fut: F) -> Result<T, ImapFailure> {
    d.step(phase, fut).await.map_err(ImapFailure::NoAnswer)?
}

/// Connects, reads the greeting, asks CAPABILITY and, when STARTTLS is offered, upgrades and
/// asks CAPABILITY again. Returns the TLS client, or `None` (after LOGOUT) without STARTTLS.
pub(super) async fn open(s: &mut ImapSession, host: &str, port: u16, tls_name: &str, d: &Deadline, lang: Lang) -> Result<Option<TlsClient>, ImapFailure> {
    let tcp = step(d, Phase::Connect, async { TcpStream::connect((host, port)).await.map_err(|e| ImapFailure::Connect(crate::probe::io_cause(lang, &e))) }).await?;
    let mut client = async_imap::Client::new(Bounded::new(tcp, READ_BUDGET));
    let (greeting, greeting_caps) = step(d, Phase::Greeting, read_greeting(&mut client)).await?;
    s.greeting = greeting;
    s.capabilities = if greeting_caps.is_empty() { step(d, Phase::Capability, capabilities(&mut client)).await? } else { greeting_caps };
    s.starttls_offered = s.capabilities.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS"));
    if !s.starttls_offered {
        logout(&mut client, d).await;
        return Ok(None);
    }
    step(d, Phase::StartTls, async { client.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| ImapFailure::Protocol(e.to_string())) }).await?;
    let tcp = client.into_inner().into_inner();
    let tls = step(d, Phase::TlsHandshake, async {
        crate::probe::tls_connector().connect(crate::probe::server_name(tls_name), tcp).await.map_err(|e| ImapFailure::Tls(e.to_string()))
    })
    .await?;
    s.tls = Some(crate::probe::tls_facts(tls.get_ref().1));
    let mut client = async_imap::Client::new(Bounded::new(tls, READ_BUDGET));
    s.capabilities_after_tls = step(d, Phase::Capability, capabilities(&mut client)).await?;
    Ok(Some(client))
}

/// Connects, reads the greeting, asks CAPABILITY, and upgrades with STARTTLS when offered,
/// every step named and all of them within `timeout`.
///
/// # Errors
/// The failure of the step that failed (a step without answer in time included), with the
/// session gathered so far.
pub async fn probe_session(host: &str, port: u16, tls_name: &str, lang: Lang, timeout: Duration) -> Result<ImapSession, (ImapSession, ImapFailure)> {
    let start = Instant::now();
    let d = Deadline::after(timeout);
    let mut s = ImapSession::default();
    match open(&mut s, host, port, tls_name, &d, lang).await {
        Ok(Some(mut client)) => logout(&mut client, &d).await,
        Ok(None) => {}
        Err(f) => return Err((s, f)),
    }
    s.latency_ms = elapsed_ms(start);
    Ok(s)
}
