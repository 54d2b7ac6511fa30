//! The Annuaire Santé (guide: Réseau P1): the platform's mailboxes against the BALs the
//! national directory publishes for the operator's domains (`annuaire.mailboxes`; the API's
//! reachability is `network.annuaire`). The FHIR client and the paged search are shared
//! infrastructure ([`crate::annuaire`]); the reconciliation is a pure function
//! ([`reconcile`]), the verdict another ([`evaluate_mailboxes`]).

use futures::FutureExt;

use super::{step, CheckDef, Step};

pub mod mailboxes;
mod settings;
pub use mailboxes::{
    evaluate_mailboxes, local_mailboxes, mask_address, reconcile, reconcile_annuaire, LocalFacts,
    LocalMailbox, Mismatch, PublishedBal, Reconciliation, Unlisted,
};
pub use settings::Settings;

/// The `annuaire.*` checks keep no per-run state.
pub type State = ();

/// Timed steps of `annuaire.mailboxes`: the database connection and query, the client, and
/// the search's pages (its time budget is the rest, see [`mailboxes::SEARCH_STEPS`]).
const MAILBOX_STEPS: u32 = 3 + mailboxes::SEARCH_STEPS;

/// The `annuaire.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "annuaire.mailboxes",
    title_en: "Mailboxes of {annuaire.domains} against the BALs the Annuaire Santé publishes: missing, extra, type mismatches",
    title_fr: "BAL de {annuaire.domains} comparées à celles que publie l'Annuaire Santé : absentes, en trop, types différents",
    guide: "Réseau P1",
    quick: false,
    remedy: RECONCILE_STEPS,
    steps: MAILBOX_STEPS,
    run: |ctx| mailboxes::run(ctx).boxed(),
}];

/// What to do about mailboxes out of step with the Annuaire.
pub const RECONCILE_STEPS: &[Step] = &[
    step!(
        "List the differences in full (JSON), masked if they leave the team",
        "Lister toutes les différences (JSON), masquées si elles sortent de l'équipe",
        guide = "Réseau P1",
        cmd = "mssante-diag annuaire reconcile --format json"
    ),
    step!(
        "Mailboxes missing from the Annuaire: declare them to the Annuaire Santé (the operator's BAL publication), or remove mailboxes no longer used",
        "BAL absentes de l'Annuaire : les déclarer à l'Annuaire Santé (publication des BAL de l'opérateur), ou supprimer celles qui ne servent plus",
        guide = "Réseau P1"
    ),
    step!(
        "Published BALs with no local mailbox, or of another type: correct the publication or the {annuaire.table} table",
        "BAL publiées sans boîte locale, ou d'un autre type : corriger la publication ou la table {annuaire.table}",
        guide = "Réseau P1",
        cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"SELECT count(*) FROM {annuaire.table}\""
    ),
];
