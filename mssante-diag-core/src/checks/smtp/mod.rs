//! Postfix over SMTP (guide: Général, Messagerie P2, Auth P3, Réseau P2).

use std::sync::Arc;

use futures::FutureExt;

use super::{step, CheckDef, Ctx, Outcome};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

mod auth;
mod delivery;
mod remote;
mod session;
mod settings;
pub use auth::{classify, evaluate_auth, try_auth, AuthAttempt, AuthRefusal};
pub use delivery::{evaluate_delivery, probe_rcpt, RcptProbe};
pub use remote::{evaluate_remote, probe_peer, probe_peers, PeerDomain, PeerFailure};
pub use session::probe_session;
pub use settings::Settings;

use crate::starttls::{tls_verdict, Failure, SmtpSession};

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
}, CheckDef {
    id: "smtp.auth",
    title_en: "AUTH with the test account ({smtp.username}) over STARTTLS on port {smtp.submission_port}",
    title_fr: "AUTH avec le compte de test ({smtp.username}) sous STARTTLS sur le port {smtp.submission_port}",
    guide: "Auth P3",
    quick: false,
    remedy: &[
        step!("Test the authentication by hand", "Tester l'authentification à la main", guide = "Auth P3", cmd = "openssl s_client -connect {smtp.host}:{smtp.submission_port} -starttls smtp"),
        step!("Read Postfix's authentication logs", "Lire les logs d'authentification de Postfix", guide = "Auth P3", cmd = "{docker.compose} logs postfix | grep -i auth"),
        step!("Read Dovecot's authentication logs", "Lire les logs d'authentification de Dovecot", guide = "Auth P3", cmd = "{docker.compose} logs dovecot | grep -i auth"),
        step!("Check Dovecot's OAuth2 configuration", "Vérifier la configuration OAuth2 de Dovecot", guide = "Auth P3", cmd = "{docker.compose} exec dovecot cat /etc/dovecot/dovecot-oauth2.conf.ext"),
    ],
    steps: 1,
    run: |ctx| auth_check(ctx).boxed(),
}, CheckDef {
    id: "smtp.delivery",
    title_en: "Port {smtp.inbound_port} accepts mail for {smtp.delivery_mailbox} (RCPT probe, no DATA)",
    title_fr: "Le port {smtp.inbound_port} accepte le courrier pour {smtp.delivery_mailbox} (sonde RCPT, sans DATA)",
    guide: "Messagerie P2",
    quick: false,
    remedy: &[
        step!("Check the mailbox domains and the transport to Dovecot", "Vérifier les domaines des boîtes et le transport vers Dovecot", guide = "Messagerie P2", cmd = "{docker.compose} exec postfix postconf virtual_mailbox_domains virtual_transport"),
        step!("Read Postfix's reception logs", "Lire les logs de réception de Postfix", guide = "Messagerie P2", cmd = "{docker.compose} logs postfix | grep -E 'reject|NOQUEUE'"),
        step!("Check that Dovecot receives over LMTP", "Vérifier que Dovecot reçoit en LMTP", guide = "Messagerie P2", cmd = "{docker.compose} logs dovecot | grep lmtp"),
    ],
    steps: 1,
    run: |ctx| delivery_check(ctx).boxed(),
}, CheckDef {
    id: "smtp.remote",
    title_en: "Peer domains: MX lookup, then port {smtp.remote_port} of the best MX answers",
    title_fr: "Domaines partenaires : recherche MX, puis le port {smtp.remote_port} du meilleur MX répond",
    guide: "Messagerie P1, Réseau P2",
    quick: false,
    remedy: &[
        step!("Look up the peer's MX", "Chercher le MX du partenaire", guide = "Messagerie P1", cmd = "dig PEER_DOMAIN MX"),
        step!("Test the connection to the peer's MX by hand", "Tester la connexion au MX du partenaire à la main", guide = "Messagerie P1", cmd = "timeout 10 telnet MX_HOST {smtp.remote_port}"),
        step!("Check that the firewall lets port 25 out", "Vérifier que le pare-feu laisse sortir le port 25", guide = "Réseau P2", cmd = "sudo iptables -L -n | grep 25"),
        step!("Look at the deferred queue", "Regarder la file des messages différés", guide = "Messagerie P1", cmd = "{docker.compose} exec postfix postqueue -p"),
    ],
    steps: 1,
    run: |ctx| remote_check(ctx).boxed(),
}];

/// The STARTTLS finding shared by both ports: offered and completed, or why not.
fn tls_finding(s: &SmtpSession, target: &str, lang: Lang) -> Option<(Status, String)> {
    tls_verdict(s.starttls_offered, s.tls.as_ref(), &s.auth_before_tls, target, lang)
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
pub fn explain_failure(s: &SmtpSession, f: &Failure, target: &str, lang: Lang) -> Outcome {
    let summary = match f {
        Failure::Refused { step: crate::probe::Phase::Banner, code, text } => {
            tr!(lang, "SMTP {target} refuses sessions: {code} {text}", "SMTP {target} refuse les sessions : {code} {text}")
        }
        Failure::Refused { step, code, text } => {
            let step = step.name();
            tr!(lang, "SMTP {target} answered {code} to {step}: {text}", "SMTP {target} a répondu {code} à {step} : {text}")
        }
        Failure::Tls { cause, .. } => {
            tr!(lang, "TLS handshake after STARTTLS failed on {target}: {cause}", "échec de la négociation TLS après STARTTLS sur {target} : {cause}")
        }
        Failure::Connect { .. } | Failure::Protocol { .. } | Failure::NoAnswer(_) => f.describe(lang, &format!("SMTP {target}")),
    };
    Outcome::critical(summary).details(serde_json::json!({ "target": target, "session": s, "failure": f }))
}

/// Probes one port of the configured server and judges the session with `evaluate`.
async fn session_check(ctx: &Ctx, port: u16, evaluate: fn(&SmtpSession, &str, Lang) -> Outcome) -> Outcome {
    let (c, lang) = (&ctx.config.smtp, ctx.lang());
    let target = format!("{}:{port}", c.host);
    match probe_session(&c.host, port, &c.hello_name, &c.tls_name, ctx.config.timeout(), lang).await {
        Ok(s) => evaluate(&s, &target, lang),
        Err((s, f)) => failed(ctx, &s, f, &target),
    }
}

async fn inbound(ctx: Arc<Ctx>) -> Outcome {
    session_check(&ctx, ctx.config.smtp.inbound_port, evaluate_inbound).await
}

async fn submission(ctx: Arc<Ctx>) -> Outcome {
    session_check(&ctx, ctx.config.smtp.submission_port, evaluate_submission).await
}

/// A failed session: hung steps take the timeout state, the others are explained.
fn failed(ctx: &Ctx, s: &SmtpSession, f: Failure, target: &str) -> Outcome {
    match f {
        Failure::NoAnswer(h) => h.outcome(ctx, &format!("SMTP {target}")).details(serde_json::json!({ "target": target, "session": s, "failure": Failure::NoAnswer(h) })),
        f => explain_failure(s, &f, target, ctx.lang()),
    }
}

async fn auth_check(ctx: Arc<Ctx>) -> Outcome {
    let login = match crate::account::Login::resolve(&ctx.config.smtp.account, "smtp", &ctx.config, ctx.lang()) {
        Ok(l) => l,
        Err(e) => return e.into(),
    };
    let c = &ctx.config.smtp;
    let target = format!("{}:{}", c.host, c.submission_port);
    match try_auth(&c.host, c.submission_port, &c.hello_name, &c.tls_name, &login, ctx.config.timeout(), ctx.lang()).await {
        Ok(a) => evaluate_auth(&a, &target, ctx.lang()),
        Err((a, f)) => failed(&ctx, &a.session, f, &target),
    }
}

async fn delivery_check(ctx: Arc<Ctx>) -> Outcome {
    let (c, lang) = (&ctx.config.smtp, ctx.lang());
    let Some(mailbox) = c.delivery_mailbox.as_deref() else {
        return Outcome::skipped(tr!(
            lang,
            "no local mailbox to probe: set smtp.delivery_mailbox (or SMTP_TEST_USER in .env)",
            "aucune boîte locale à sonder : renseigner smtp.delivery_mailbox (ou SMTP_TEST_USER dans .env)"
        ));
    };
    let target = format!("{}:{}", c.host, c.inbound_port);
    match probe_rcpt(&c.host, c.inbound_port, &c.hello_name, &c.tls_name, &c.delivery_sender, mailbox, ctx.config.timeout(), lang).await {
        Ok(p) => evaluate_delivery(&p, &target, lang),
        Err((p, f)) => failed(&ctx, &p.session, f, &target),
    }
}

async fn remote_check(ctx: Arc<Ctx>) -> Outcome {
    let (c, lang) = (&ctx.config.smtp, ctx.lang());
    if c.peer_domains.is_empty() {
        return Outcome::skipped(tr!(lang, "no peer domain configured: set smtp.peer_domains", "aucun domaine partenaire configuré : renseigner smtp.peer_domains"));
    }
    match probe_peers(&c.peer_domains, &c.resolver, c.remote_port, ctx.config.timeout(), lang).await {
        Ok(peers) => evaluate_remote(&peers, c.remote_port, ctx.config.timeout_state.into(), lang),
        Err(e) => Outcome::unknown(tr!(lang, "cannot set up DNS resolution: {e}", "impossible de préparer la résolution DNS : {e}")),
    }
}
