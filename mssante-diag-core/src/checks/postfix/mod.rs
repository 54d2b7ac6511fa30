//! Postfix's own tools (guide: Messagerie P1): the mail queue through `postqueue`, run on
//! the host or in the postfix container by the exec runner; and the mail log over a window
//! (`postfix.log`, counted by the shared [`crate::maillog`]).

use std::sync::Arc;

use futures::FutureExt;

use super::{step, CheckDef, Ctx, Outcome};

mod log;
mod queue;
mod settings;
pub use log::{evaluate_log, explain_error as explain_log_error, log_files, read_log, LogError, LogFacts, LogSource};
pub use queue::{evaluate_queue, explain_error, parse_json, parse_text, read_queue, summarize, Counted, Summary, QueueError, QueueFacts, QueuedMessage, QUEUES};
pub use settings::{Settings, DEFAULT_LOG_PATHS};

/// The `postfix.*` checks keep no per-run state.
pub type State = ();

/// The `postfix.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "postfix.queue",
    title_en: "Mail queue: size (warn {postfix.queue_warn}, critical {postfix.queue_crit}), oldest message (warn {postfix.age_warn_minutes} min), deferral reasons and destinations",
    title_fr: "File d'attente : taille (alerte {postfix.queue_warn}, critique {postfix.queue_crit}), plus ancien message (alerte {postfix.age_warn_minutes} min), causes de report et destinations",
    guide: "Messagerie P1",
    quick: false,
    remedy: &[
        step!("Look at the queue", "Regarder la file d'attente", guide = "Messagerie P1", cmd = "{docker.compose} exec postfix postqueue -p"),
        step!("Read why mail is deferred or bounced", "Lire pourquoi le courrier est différé ou rejeté", guide = "Messagerie P1", cmd = "{docker.compose} logs postfix | grep -E 'status=(deferred|bounced)'"),
        step!("Check the relay and the outgoing TLS settings", "Vérifier le relais et les réglages TLS sortants", guide = "Messagerie P1", cmd = "{docker.compose} exec postfix postconf relayhost smtp_tls_security_level"),
        step!("Once the cause is fixed, retry the queue now", "Une fois la cause corrigée, relancer la file", guide = "Messagerie P1", cmd = "{docker.compose} exec postfix postqueue -f"),
        step!("Delete every deferred message (lost for good)", "Supprimer tous les messages différés (perdus définitivement)", guide = "Messagerie P1", cmd = "{docker.compose} exec postfix postsuper -d ALL deferred", destructive = true),
    ],
    steps: 2,
    run: |ctx| queue_check(ctx).boxed(),
}, CheckDef {
    id: "postfix.log",
    title_en: "Mail log over the last {postfix.log_window_minutes} min: deferral rate (warn {postfix.deferral_rate_warn} %), bounce rate (warn {postfix.bounce_rate_warn} %), failed logins (warn {postfix.auth_failures_warn}), top reasons and domains",
    title_fr: "Journal de messagerie des {postfix.log_window_minutes} dernières min : taux de report (alerte {postfix.deferral_rate_warn} %), taux de rejet (alerte {postfix.bounce_rate_warn} %), échecs de connexion (alerte {postfix.auth_failures_warn}), principales causes et domaines",
    guide: "Messagerie P1 P2",
    quick: false,
    remedy: &[
        step!("Read why mail is deferred or bounced", "Lire pourquoi le courrier est différé ou rejeté", guide = "Messagerie P1", cmd = "{docker.compose} logs postfix | grep -E 'status=(deferred|bounced)'"),
        step!("Summarise the mail log", "Résumer le journal de messagerie", guide = "Messagerie P1", cmd = "{docker.compose} logs --no-log-prefix postfix | mssante-diag logs summarize --since 1h"),
        step!("Check that Dovecot receives the messages", "Vérifier que Dovecot reçoit les messages", guide = "Messagerie P2", cmd = "{docker.compose} logs dovecot | grep lmtp"),
    ],
    steps: 3,
    run: |ctx| log_check(ctx).boxed(),
}];

async fn log_check(ctx: Arc<Ctx>) -> Outcome {
    match read_log(&ctx).await {
        Ok(f) => evaluate_log(&f, &ctx.config.postfix, ctx.lang()),
        Err(e) => log::explain_error(&e, ctx.lang()),
    }
}

async fn queue_check(ctx: Arc<Ctx>) -> Outcome {
    match read_queue(&ctx).await {
        Ok(q) => evaluate_queue(&q, &ctx.config.postfix, ctx.lang()),
        Err(e) => explain_error(&e, ctx.lang()),
    }
}
