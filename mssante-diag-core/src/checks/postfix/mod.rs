//! Postfix's own tools (guide: Messagerie P1): the mail queue through `postqueue`, run on
//! the host or in the postfix container by the exec runner.

use std::sync::Arc;

use futures::FutureExt;

use super::{step, CheckDef, Ctx, Outcome};

mod queue;
mod settings;
pub use queue::{evaluate_queue, explain_error, parse_json, parse_text, read_queue, summarize, Counted, Summary, QueueError, QueueFacts, QueuedMessage, QUEUES};
pub use settings::Settings;

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
}];

async fn queue_check(ctx: Arc<Ctx>) -> Outcome {
    match read_queue(&ctx).await {
        Ok(q) => evaluate_queue(&q, &ctx.config.postfix, ctx.lang()),
        Err(e) => explain_error(&e, ctx.lang()),
    }
}
