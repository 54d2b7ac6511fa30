//! Postfix over SMTP (guide: Général, Messagerie P2, Auth P3, Réseau P2).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use lettre::transport::smtp::authentication::Mechanism;
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use serde::Serialize;

use super::{elapsed_ms, step, CheckDef, Ctx, Outcome};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

mod settings;
pub use settings::Settings;

/// The `smtp.*` checks keep no per-run state.
pub type State = ();

/// The `smtp.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "smtp.submission",
    title_en: "Port 587: banner, EHLO, STARTTLS, AUTH offered only after TLS",
    title_fr: "Port 587 : bannière, EHLO, STARTTLS, AUTH proposé seulement après TLS",
    guide: "Général, Auth P3",
    quick: true,
    remedy: &[
        step!("Check the Postfix container and its logs", "Vérifier le conteneur Postfix et ses logs", guide = "Général", cmd = "{docker.compose} ps postfix && {docker.compose} logs --tail=100 postfix"),
        step!("Check that the port listens", "Vérifier que le port écoute", guide = "Réseau P2", cmd = "ss -tlnp | grep -E ':(25|587)'"),
        step!("Test the TLS upgrade by hand", "Tester la montée en TLS à la main", guide = "Auth P3", cmd = "openssl s_client -connect {smtp.host}:{smtp.submission_port} -starttls smtp"),
        step!("Restart Postfix", "Redémarrer Postfix", guide = "Messagerie P1", cmd = "{docker.compose} restart postfix"),
    ],
    steps: 1,
    run: |ctx| submission(ctx).boxed(),
}];

const AUTH_MECHANISMS: [Mechanism; 3] = [Mechanism::Plain, Mechanism::Login, Mechanism::Xoauth2];

/// What an SMTP session revealed, step by step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SmtpSession {
    /// Name the server gave in its EHLO answer.
    pub server_name: String,
    /// STARTTLS offered in EHLO before TLS.
    pub starttls_offered: bool,
    /// AUTH mechanisms offered before TLS (should be none on submission).
    pub auth_before_tls: Vec<String>,
    /// STARTTLS completed.
    pub tls_established: bool,
    /// AUTH mechanisms offered after TLS.
    pub auth_after_tls: Vec<String>,
    /// Time from connect to the end of the probe, ms.
    pub latency_ms: f64,
}

fn mechanisms(conn: &AsyncSmtpConnection) -> Vec<String> {
    AUTH_MECHANISMS.iter().filter(|m| conn.server_info().supports_auth_mechanism(**m)).map(ToString::to_string).collect()
}

/// Connects, reads the banner, sends EHLO, and upgrades with STARTTLS when offered.
///
/// # Errors
/// The lettre error of the step that failed; the session gathered so far is kept in the tuple.
pub async fn probe_session(
    host: &str,
    port: u16,
    hello: &str,
    tls_name: &str,
    timeout: Duration,
) -> Result<SmtpSession, (SmtpSession, lettre::transport::smtp::Error)> {
    let start = Instant::now();
    let hello = ClientId::Domain(hello.to_owned());
    let mut s = SmtpSession::default();
    let mut conn = match AsyncSmtpConnection::connect_tokio1((host, port), Some(timeout), &hello, None, None).await {
        Ok(c) => c,
        Err(e) => return Err((s, e)),
    };
    s.server_name = conn.server_info().name().to_owned();
    s.starttls_offered = conn.can_starttls();
    s.auth_before_tls = mechanisms(&conn);
    if s.starttls_offered {
        // Certificate trust is judged by tls.endpoints; here the upgrade itself is tested.
        let params = TlsParameters::builder(tls_name.to_owned())
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true)
            .build_rustls();
        let upgraded = match params {
            Ok(p) => conn.starttls(p, &hello).await,
            Err(e) => Err(e),
        };
        if let Err(e) = upgraded {
            return Err((s, e));
        }
        s.tls_established = conn.is_encrypted();
        s.auth_after_tls = mechanisms(&conn);
    }
    let _ = conn.quit().await;
    s.latency_ms = elapsed_ms(start);
    Ok(s)
}

/// Judges a submission-port session: STARTTLS must be offered and complete, and
/// AUTH must appear only after TLS.
#[must_use]
pub fn evaluate_submission(s: &SmtpSession, target: &str, lang: Lang) -> Outcome {
    let (status, summary) = if !s.starttls_offered {
        (Status::Critical, tr!(lang, "{target} does not offer STARTTLS", "{target} ne propose pas STARTTLS"))
    } else if !s.tls_established {
        (Status::Critical, tr!(lang, "STARTTLS did not complete on {target}", "STARTTLS n'a pas abouti sur {target}"))
    } else if !s.auth_before_tls.is_empty() {
        let m = s.auth_before_tls.join(" ");
        (Status::Warning, tr!(lang, "{target} offers AUTH ({m}) before TLS: passwords may travel in clear", "{target} propose AUTH ({m}) avant TLS : les mots de passe peuvent circuler en clair"))
    } else if s.auth_after_tls.is_empty() {
        (Status::Warning, tr!(lang, "{target} offers no AUTH after STARTTLS: clients cannot log in", "{target} ne propose pas AUTH après STARTTLS : les clients ne peuvent pas s'authentifier"))
    } else {
        let m = s.auth_after_tls.join(" ");
        (Status::Ok, tr!(lang, "{target}: STARTTLS completed, AUTH {m} after TLS only", "{target} : STARTTLS établi, AUTH {m} seulement après TLS"))
    };
    Outcome::new(status, summary).metric(Metric::new("latency", s.latency_ms, "ms")).details(s)
}

/// Explains a failed session.
#[must_use]
pub fn explain_failure(s: &SmtpSession, e: &lettre::transport::smtp::Error, target: &str, lang: Lang) -> Outcome {
    let cause = if let Some(io) = crate::probe::find_io_error(e) {
        crate::probe::io_cause(lang, io)
    } else if e.is_tls() {
        tr!(lang, "TLS handshake failed ({e})", "échec de la négociation TLS ({e})")
    } else if let Some(code) = e.status() {
        tr!(lang, "server answered {code}", "le serveur a répondu {code}")
    } else {
        tr!(lang, "unexpected answer ({e})", "réponse inattendue ({e})")
    };
    let o = if e.is_timeout() { Outcome::unknown(tr!(lang, "{target}: timed out", "{target} : délai dépassé")) } else {
        Outcome::critical(tr!(lang, "SMTP {target}: {cause}", "SMTP {target} : {cause}"))
    };
    o.details(serde_json::json!({ "target": target, "session": s, "error": e.to_string() }))
}

async fn submission(ctx: Arc<Ctx>) -> Outcome {
    let c = &ctx.config.smtp;
    let target = format!("{}:{}", c.host, c.submission_port);
    let probe = probe_session(&c.host, c.submission_port, &c.hello_name, &c.tls_name, ctx.config.timeout());
    match ctx.step(probe).await {
        Ok(Ok(s)) => evaluate_submission(&s, &target, ctx.lang()),
        Ok(Err((s, e))) => explain_failure(&s, &e, &target, ctx.lang()),
        Err(t) => ctx.timed_out(&format!("SMTP {target}"), t),
    }
}
