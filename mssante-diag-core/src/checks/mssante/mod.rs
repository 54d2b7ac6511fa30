//! The MSSanté espace de confiance (guide: Messagerie P1): the operator's domains must be in
//! the trust space's whitelist, else the other operators refuse their mail.

use futures::FutureExt;

use super::{step, CheckDef};

mod settings;
pub mod whitelist;
pub use settings::{Settings, OFFICIAL_WHITELIST_URL};

/// The `mssante.*` checks keep no per-run state.
pub type State = ();

/// The `mssante.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "mssante.whitelist",
    title_en: "Espace de confiance: {mssante.domain} in the whitelist, copy under {mssante.max_age_days} days old, deferred mail's domains listed",
    title_fr: "Espace de confiance : {mssante.domain} dans la liste blanche, copie de moins de {mssante.max_age_days} jours, domaines du courrier différé listés",
    guide: "Messagerie P1",
    quick: false,
    remedy: &[
        step!(
            "Look for the domain in the current list",
            "Chercher le domaine dans la liste actuelle",
            guide = "Messagerie P1",
            cmd = "curl -s https://espacedeconfiance.mssante.fr/listeblanchemssante.xml | grep -i -c '<Nom>{mssante.domain}</Nom>'"
        ),
        step!(
            "A domain missing from the list: check the operator's registration (certificate DN, domains) with the ANS (espace de confiance)",
            "Domaine absent de la liste : vérifier l'inscription de l'opérateur (DN du certificat, domaines) auprès de l'ANS (espace de confiance)",
            guide = "Messagerie P1"
        ),
        step!(
            "Refresh the local copy of the list",
            "Rafraîchir la copie locale de la liste",
            guide = "Messagerie P1",
            cmd = "curl -fsS -o listeblanchemssante.xml https://espacedeconfiance.mssante.fr/listeblanchemssante.xml"
        ),
        step!(
            "Deferred mail to a domain outside the trust space: read why, and check the recipient's address",
            "Courrier différé vers un domaine hors de l'espace de confiance : lire pourquoi, et vérifier l'adresse du destinataire",
            guide = "Messagerie P1",
            cmd = "{docker.compose} exec postfix postqueue -p"
        ),
    ],
    steps: 3,
    run: |ctx| whitelist::check(ctx).boxed(),
}];
