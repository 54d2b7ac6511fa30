//! Postfix over SMTP (guide: Général, Messagerie P2, Auth P3, Réseau P2).

use std::sync::Arc;

use futures::FutureExt;

use super::{step, CheckDef, Ctx, Outcome};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

mod session;
mod settings;
pub use session::{probe_session, SmtpFailure, SmtpSession};
pub use settings::Settings;

/// The `smtp.*` checks keep no per-run state.
pub type State = ();

/// The `smtp.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "smtp.inbound",
    title_en: "Port {smtp.inbound_port} (inbound mail): banner, EHLO, STARTTLS",
    title_fr: "Port {smtp.inbound_port} (courrier entrant) : bannière, EHLO, STARTTLS",
    guide: "Messagerie P2, Réseau P2",
    quick: false,
    remedy: &[
        step!("Check that the port listens", "Vérifier que le port écoute", guide = "Messagerie P2", cmd = "ss -tlnp | grep ':{smtp.inbound_port} '"),
        step!("Read Postfix's reception logs", "Lire les logs de réception de Postfix", guide = "Messagerie P2", cmd = "{docker.compose} logs --tail=100 postfix"),
        step!("Check that the firewall lets port 25 in", "Vérifier que le pare-feu laisse entrer le port 25", guide = "Réseau P2", cmd = "sudo ufw status"),
        step!("Test the TLS upgrade by hand", "Tester la montée en TLS à la main", guide = "Messagerie P2", cmd = "openssl s_client -connect {smtp.host}:{smtp.inbound_port} -starttls smtp"),
    ],
    steps: 1,
    run: |ctx| inbound(ctx).boxed(),
}, CheckDef {
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

/// The STARTTLS finding shared by both ports: offered and completed, or why not.
fn tls_finding(s: &SmtpSession, target: &str, lang: Lang) -> Option<(Status, String)> {
    if !s.starttls_offered {
        Some((Status::Critical, tr!(lang, "{target} does not offer STARTTLS", "{target} ne propose pas STARTTLS")))
    } else if !s.tls_established {
        Some((Status::Critical, tr!(lang, "STARTTLS did not complete on {target}", "STARTTLS n'a pas abouti sur {target}")))
    } else if !s.auth_before_tls.is_empty() {
        let m = s.auth_before_tls.join(" ");
        Some((Status::Warning, tr!(lang, "{target} offers AUTH ({m}) before TLS: passwords may travel in clear", "{target} propose AUTH ({m}) avant TLS : les mots de passe peuvent circuler en clair")))
    } else {
        None
    }
}

fn judged(finding: (Status, String), s: &SmtpSession) -> Outcome {
    Outcome::new(finding.0, finding.1).metric(Metric::new("latency", s.latency_ms, "ms")).details(s)
}

/// Judges an inbound (port 25) session: a `220` banner, EHLO, STARTTLS offered and completed
/// (MSSanté peers deliver over TLS), no AUTH before TLS.
#[must_use]
pub fn evaluate_inbound(s: &SmtpSession, target: &str, lang: Lang) -> Outcome {
    let finding = tls_finding(s, target, lang).unwrap_or_else(|| {
        let v = s.tls.as_ref().map_or("?", |t| t.version.as_str());
        (Status::Ok, tr!(lang, "{target} accepts mail: banner, EHLO, STARTTLS completed ({v})", "{target} accepte le courrier : bannière, EHLO, STARTTLS établi ({v})"))
    });
    judged(finding, s)
}

/// Judges a submission-port session: STARTTLS must be offered and complete, and
/// AUTH must appear only after TLS.
#[must_use]
pub fn evaluate_submission(s: &SmtpSession, target: &str, lang: Lang) -> Outcome {
    let finding = tls_finding(s, target, lang).unwrap_or_else(|| {
        if s.auth_after_tls.is_empty() {
            (Status::Warning, tr!(lang, "{target} offers no AUTH after STARTTLS: clients cannot log in", "{target} ne propose pas AUTH après STARTTLS : les clients ne peuvent pas s'authentifier"))
        } else {
            let m = s.auth_after_tls.join(" ");
            (Status::Ok, tr!(lang, "{target}: STARTTLS completed, AUTH {m} after TLS only", "{target} : STARTTLS établi, AUTH {m} seulement après TLS"))
        }
    });
    judged(finding, s)
}

/// Explains a failed session (a step without answer is `critical` here; the checks apply
/// the configured timeout state).
#[must_use]
pub fn explain_failure(s: &SmtpSession, f: &SmtpFailure, target: &str, lang: Lang) -> Outcome {
    let summary = match f {
        SmtpFailure::Connect { cause } => tr!(lang, "SMTP {target}: {cause}", "SMTP {target} : {cause}"),
        SmtpFailure::Refused { step: crate::probe::Phase::Banner, code, text } => {
            tr!(lang, "SMTP {target} refuses sessions: {code} {text}", "SMTP {target} refuse les sessions : {code} {text}")
        }
        SmtpFailure::Refused { step, code, text } => {
            let step = step.name();
            tr!(lang, "SMTP {target} answered {code} to {step}: {text}", "SMTP {target} a répondu {code} à {step} : {text}")
        }
        SmtpFailure::Protocol { step, cause } => {
            let step = step.name();
            tr!(lang, "SMTP {target}, {step}: {cause}", "SMTP {target}, {step} : {cause}")
        }
        SmtpFailure::Tls { cause } => {
            tr!(lang, "TLS handshake after STARTTLS failed on {target}: {cause}", "échec de la négociation TLS après STARTTLS sur {target} : {cause}")
        }
        SmtpFailure::NoAnswer(h) => h.describe(lang, &format!("SMTP {target}")),
    };
    Outcome::critical(summary).details(serde_json::json!({ "target": target, "session": s, "failure": f }))
}

/// Probes one port of the configured server and judges the session with `evaluate`.
async fn session_check(ctx: &Ctx, port: u16, evaluate: fn(&SmtpSession, &str, Lang) -> Outcome) -> Outcome {
    let (c, lang) = (&ctx.config.smtp, ctx.lang());
    let target = format!("{}:{port}", c.host);
    match probe_session(&c.host, port, &c.hello_name, &c.tls_name, ctx.config.timeout(), lang).await {
        Ok(s) => evaluate(&s, &target, lang),
        Err((s, SmtpFailure::NoAnswer(h))) => h
            .outcome(ctx, &format!("SMTP {target}"))
            .details(serde_json::json!({ "target": target, "session": s, "failure": SmtpFailure::NoAnswer(h) })),
        Err((s, f)) => explain_failure(&s, &f, &target, lang),
    }
}

async fn inbound(ctx: Arc<Ctx>) -> Outcome {
    session_check(&ctx, ctx.config.smtp.inbound_port, evaluate_inbound).await
}

async fn submission(ctx: Arc<Ctx>) -> Outcome {
    session_check(&ctx, ctx.config.smtp.submission_port, evaluate_submission).await
}
