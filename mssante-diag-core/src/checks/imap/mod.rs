//! Dovecot over IMAP (guide: Général, Réseau P2, Auth P3, Messagerie P4).

use std::sync::Arc;

use futures::FutureExt;

use super::{step, CheckDef, Ctx, Outcome};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

mod login;
mod session;
mod sessions;
mod settings;
pub use login::{evaluate_auth, evaluate_latency, login_session, ImapLogin, LoginRefusal, Then, Timed};
pub use session::probe_session;
pub use sessions::{evaluate_sessions, parse_who, who, DovecotSessions, UserSessions, WhoError};
pub use settings::Settings;

use crate::probe::Phase;
use crate::starttls::{tls_verdict, Failure, ImapSession};

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
}, CheckDef {
    id: "imap.auth",
    title_en: "LOGIN with the test account ({imap.username}) over STARTTLS; no plaintext LOGIN before TLS",
    title_fr: "LOGIN avec le compte de test ({imap.username}) sous STARTTLS ; pas de LOGIN en clair avant TLS",
    guide: "Auth P3",
    quick: false,
    remedy: &[
        step!("Test the login by hand", "Tester la connexion à la main", guide = "Auth P3", cmd = "openssl s_client -connect {imap.host}:{imap.port} -starttls imap"),
        step!("Read Dovecot's authentication logs", "Lire les logs d'authentification de Dovecot", guide = "Auth P3", cmd = "{docker.compose} logs dovecot | grep -i auth"),
        step!("Check Dovecot's OAuth2 configuration", "Vérifier la configuration OAuth2 de Dovecot", guide = "Auth P3", cmd = "{docker.compose} exec dovecot cat /etc/dovecot/dovecot-oauth2.conf.ext"),
        step!("Refuse plaintext logins before TLS (disable_plaintext_auth = yes), then restart Dovecot", "Refuser les connexions en clair avant TLS (disable_plaintext_auth = yes), puis redémarrer Dovecot", guide = "Auth P3", cmd = "{docker.compose} restart dovecot"),
    ],
    steps: 1,
    run: |ctx| auth(ctx).boxed(),
}, CheckDef {
    id: "imap.latency",
    title_en: "Timed LOGIN, SELECT INBOX, FETCH 1:10 (FLAGS), LOGOUT (warn {imap.latency_warn_ms} ms, critical {imap.latency_crit_ms} ms)",
    title_fr: "LOGIN, SELECT INBOX, FETCH 1:10 (FLAGS), LOGOUT chronométrés (alerte {imap.latency_warn_ms} ms, critique {imap.latency_crit_ms} ms)",
    guide: "Messagerie P4",
    quick: false,
    remedy: &[
        step!("Look at the open sessions", "Regarder les sessions ouvertes", guide = "Messagerie P4", cmd = "{docker.compose} exec dovecot doveadm who"),
        step!("Look at Dovecot's processes and resources", "Regarder les processus et ressources de Dovecot", guide = "Messagerie P4", cmd = "{docker.compose} exec dovecot ps aux | grep dovecot"),
        step!("Time the session by hand", "Chronométrer la session à la main", guide = "Messagerie P4", cmd = "time openssl s_client -connect {imap.host}:{imap.port} -starttls imap -quiet"),
        step!("Raise imap-login's process_min_avail and the mail cache, then restart Dovecot", "Augmenter process_min_avail d'imap-login et le cache, puis redémarrer Dovecot", guide = "Messagerie P4", cmd = "{docker.compose} restart dovecot"),
    ],
    steps: 1,
    run: |ctx| latency(ctx).boxed(),
}, CheckDef {
    id: "imap.sessions",
    title_en: "Dovecot sessions per user (doveadm who; warn at {imap.sessions_warn_per_user})",
    title_fr: "Sessions Dovecot par utilisateur (doveadm who ; alerte à {imap.sessions_warn_per_user})",
    guide: "Messagerie P4",
    quick: false,
    remedy: &[
        step!("List the open sessions", "Lister les sessions ouvertes", guide = "Messagerie P4", cmd = "{docker.compose} exec dovecot doveadm who"),
        step!("Look at Dovecot's processes", "Regarder les processus de Dovecot", guide = "Messagerie P4", cmd = "{docker.compose} exec dovecot ps aux | grep dovecot"),
    ],
    steps: 1,
    run: |ctx| sessions_check(ctx).boxed(),
}];

/// Judges an IMAP session: greeting OK, STARTTLS offered and completed.
#[must_use]
pub fn evaluate_reachable(r: &Result<ImapSession, (ImapSession, Failure)>, target: &str, lang: Lang) -> Outcome {
    match r {
        Ok(s) => {
            let (status, summary) = tls_verdict(s.starttls_offered, s.tls.as_ref(), &[], target, lang).unwrap_or_else(|| {
                let v = s.tls.as_ref().map_or("?", |t| t.version.as_str());
                (Status::Ok, tr!(lang, "IMAP at {target} greets, STARTTLS completed ({v})", "IMAP sur {target} répond, STARTTLS établi ({v})"))
            });
            Outcome::new(status, summary).metric(Metric::new("latency", s.latency_ms, "ms")).details(s)
        }
        Err((s, f)) => {
            let summary = match f {
                Failure::Connect { cause } => tr!(lang, "IMAP unreachable at {target}: {cause}", "IMAP injoignable sur {target} : {cause}"),
                Failure::Protocol { step: Phase::Greeting, cause } => tr!(lang, "{target} did not greet as an IMAP server: {cause}", "{target} ne s'annonce pas comme un serveur IMAP : {cause}"),
                Failure::Protocol { cause, .. } => tr!(lang, "IMAP protocol error on {target}: {cause}", "erreur de protocole IMAP sur {target} : {cause}"),
                Failure::Tls { cause, .. } => tr!(lang, "TLS handshake after STARTTLS failed on {target}: {cause}", "échec de la négociation TLS après STARTTLS sur {target} : {cause}"),
                Failure::Refused { .. } | Failure::NoAnswer(_) => f.describe(lang, &format!("IMAP {target}")),
            };
            Outcome::critical(summary).details(serde_json::json!({ "target": target, "session": s, "failure": f }))
        }
    }
}

async fn reachable(ctx: Arc<Ctx>) -> Outcome {
    let c = &ctx.config.imap;
    let target = format!("{}:{}", c.host, c.port);
    match probe_session(&c.host, c.port, &c.tls_name, ctx.lang(), ctx.config.timeout()).await {
        Err((s, Failure::NoAnswer(h))) => h
            .outcome(&ctx, &format!("IMAP {target}"))
            .details(serde_json::json!({ "target": target, "session": s, "failure": Failure::NoAnswer(h) })),
        r => evaluate_reachable(&r, &target, ctx.lang()),
    }
}

/// The outcome of a failed session of the login checks: a hang takes the timeout state.
fn failed(ctx: &Ctx, l: &ImapLogin, f: Failure, target: &str) -> Outcome {
    match f {
        Failure::NoAnswer(h) => h.outcome(ctx, &format!("IMAP {target}")).details(serde_json::json!({ "target": target, "login": l, "failure": Failure::NoAnswer(h) })),
        f => evaluate_reachable(&Err((l.session.clone(), f)), target, ctx.lang()),
    }
}

/// Logs the test account in and judges it with `judge`; skipped without a test account.
async fn login_check(ctx: &Ctx, then: Then, judge: impl Fn(&ImapLogin, &str) -> Outcome) -> Outcome {
    let (c, lang) = (&ctx.config.imap, ctx.lang());
    let login = match crate::account::Login::resolve(&c.account, "imap", &ctx.config, lang) {
        Ok(l) => l,
        Err(e) => return e.into(),
    };
    let target = format!("{}:{}", c.host, c.port);
    match login_session(&c.host, c.port, &c.tls_name, &login, then, ctx.config.timeout(), lang).await {
        Ok(l) => judge(&l, &target),
        Err((l, f)) => failed(ctx, &l, f, &target),
    }
}

async fn auth(ctx: Arc<Ctx>) -> Outcome {
    let lang = ctx.lang();
    login_check(&ctx, Then::Logout, |l, t| evaluate_auth(l, t, lang)).await
}

async fn latency(ctx: Arc<Ctx>) -> Outcome {
    let (lang, c) = (ctx.lang(), &ctx.config.imap);
    login_check(&ctx, Then::Latency, |l, t| evaluate_latency(l, t, c.latency_warn_ms, c.latency_crit_ms, lang)).await
}

async fn sessions_check(ctx: Arc<Ctx>) -> Outcome {
    evaluate_sessions(&who(&ctx).await, ctx.config.imap.sessions_warn_per_user, ctx.lang())
}
