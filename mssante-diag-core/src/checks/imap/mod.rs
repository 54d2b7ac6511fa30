//! Dovecot over IMAP (guide: Général, Réseau P2, Auth P3, Messagerie P4).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_imap::imap_proto::{Capability, Response, ResponseCode};
use futures::FutureExt;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{elapsed_ms, step, CheckDef, Ctx, Outcome};
use crate::model::{Metric, Status};
use crate::probe::{Bounded, Deadline, Hung, Phase, TlsFacts, READ_BUDGET};
use crate::{tr, Lang};

mod settings;
pub use settings::Settings;

/// The `imap.*` checks keep no per-run state.
pub type State = ();

/// The `imap.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "imap.reachable",
    title_en: "Port 143: greeting, CAPABILITY, STARTTLS",
    title_fr: "Port 143 : accueil, CAPABILITY, STARTTLS",
    guide: "Général, Réseau P2",
    quick: true,
    remedy: &[
        step!("Check the Dovecot container and its logs", "Vérifier le conteneur Dovecot et ses logs", guide = "Général", cmd = "{docker.compose} ps dovecot && {docker.compose} logs --tail=100 dovecot"),
        step!("Check that the port listens", "Vérifier que le port écoute", guide = "Réseau P2", cmd = "ss -tlnp | grep ':143'"),
        step!("Test the TLS upgrade by hand", "Tester la montée en TLS à la main", guide = "Messagerie P4", cmd = "openssl s_client -connect {imap.host}:{imap.port} -starttls imap"),
        step!("Restart Dovecot", "Redémarrer Dovecot", guide = "Réseau P2", cmd = "{docker.compose} restart dovecot"),
    ],
    steps: 1,
    run: |ctx| reachable(ctx).boxed(),
}];

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

type Client<S> = async_imap::Client<Bounded<S>>;

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
const LOGOUT_GRACE: Duration = Duration::from_millis(500);

/// Says LOGOUT, briefly: a session that already told what it had to is not failed by a slow goodbye.
async fn logout<S: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug>(client: &mut Client<S>, d: &Deadline) {
    let _ = tokio::time::timeout(LOGOUT_GRACE.min(d.remaining()), client.run_command_and_check_ok("LOGOUT", None)).await;
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
    macro_rules! attempt {
        ($phase:expr, $e:expr) => {
            match d.step($phase, $e).await {
                Ok(Ok(v)) => v,
                Ok(Err(f)) => return Err((s, f)),
                Err(h) => return Err((s, ImapFailure::NoAnswer(h))),
            }
        };
    }
    let tcp = attempt!(Phase::Connect, async { TcpStream::connect((host, port)).await.map_err(|e| ImapFailure::Connect(crate::probe::io_cause(lang, &e))) });
    let mut client = async_imap::Client::new(Bounded::new(tcp, READ_BUDGET));
    let (greeting, greeting_caps) = attempt!(Phase::Greeting, read_greeting(&mut client));
    s.greeting = greeting;
    s.capabilities = if greeting_caps.is_empty() { attempt!(Phase::Capability, capabilities(&mut client)) } else { greeting_caps };
    s.starttls_offered = s.capabilities.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS"));
    if s.starttls_offered {
        attempt!(Phase::StartTls, async { client.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| ImapFailure::Protocol(e.to_string())) });
        let tcp = client.into_inner().into_inner();
        let tls = attempt!(Phase::TlsHandshake, async {
            crate::probe::tls_connector().connect(crate::probe::server_name(tls_name), tcp).await.map_err(|e| ImapFailure::Tls(e.to_string()))
        });
        s.tls = Some(crate::probe::tls_facts(tls.get_ref().1));
        let mut client = async_imap::Client::new(Bounded::new(tls, READ_BUDGET));
        s.capabilities_after_tls = attempt!(Phase::Capability, capabilities(&mut client));
        logout(&mut client, &d).await;
    } else {
        logout(&mut client, &d).await;
    }
    s.latency_ms = elapsed_ms(start);
    Ok(s)
}

/// Judges an IMAP session: greeting OK, STARTTLS offered and completed.
#[must_use]
pub fn evaluate_reachable(r: &Result<ImapSession, (ImapSession, ImapFailure)>, target: &str, lang: Lang) -> Outcome {
    match r {
        Ok(s) => {
            let (status, summary) = if !s.starttls_offered {
                (Status::Critical, tr!(lang, "{target} does not offer STARTTLS", "{target} ne propose pas STARTTLS"))
            } else if s.tls.is_none() {
                (Status::Critical, tr!(lang, "STARTTLS did not complete on {target}", "STARTTLS n'a pas abouti sur {target}"))
            } else {
                let v = s.tls.as_ref().map_or("?", |t| t.version.as_str());
                (Status::Ok, tr!(lang, "IMAP at {target} greets, STARTTLS completed ({v})", "IMAP sur {target} répond, STARTTLS établi ({v})"))
            };
            Outcome::new(status, summary).metric(Metric::new("latency", s.latency_ms, "ms")).details(s)
        }
        Err((s, f)) => {
            let summary = match f {
                ImapFailure::Connect(m) => tr!(lang, "IMAP unreachable at {target}: {m}", "IMAP injoignable sur {target} : {m}"),
                ImapFailure::Greeting(m) => tr!(lang, "{target} did not greet as an IMAP server: {m}", "{target} ne s'annonce pas comme un serveur IMAP : {m}"),
                ImapFailure::Protocol(m) => tr!(lang, "IMAP protocol error on {target}: {m}", "erreur de protocole IMAP sur {target} : {m}"),
                ImapFailure::Tls(m) => tr!(lang, "TLS handshake after STARTTLS failed on {target}: {m}", "échec de la négociation TLS après STARTTLS sur {target} : {m}"),
                ImapFailure::NoAnswer(h) => h.describe(lang, &format!("IMAP {target}")),
            };
            Outcome::critical(summary).details(serde_json::json!({ "target": target, "session": s, "failure": f }))
        }
    }
}

async fn reachable(ctx: Arc<Ctx>) -> Outcome {
    let c = &ctx.config.imap;
    let target = format!("{}:{}", c.host, c.port);
    match probe_session(&c.host, c.port, &c.tls_name, ctx.lang(), ctx.config.timeout()).await {
        Err((s, ImapFailure::NoAnswer(h))) => h
            .outcome(&ctx, &format!("IMAP {target}"))
            .details(serde_json::json!({ "target": target, "session": s, "failure": ImapFailure::NoAnswer(h) })),
        r => evaluate_reachable(&r, &target, ctx.lang()),
    }
}
