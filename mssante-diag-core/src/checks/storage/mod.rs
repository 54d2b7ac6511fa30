//! Storage under the platform: the disks its data, Docker and backups live on (guide: Stockage).

use futures::FutureExt;

use super::CheckDef;

pub mod smart;
mod settings;

pub use settings::Settings;
pub use smart::{disks_under, evaluate_smart, parse_smartctl, Disk, DiskState, NotOnDisk, SmartFacts};

/// The `storage.*` checks keep no per-run state.
pub type State = ();

/// The `storage.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "storage.smart",
    title_en: "SMART health of the disks under the data, Docker and backup folders: failing health, reallocated or pending sectors, NVMe media errors",
    title_fr: "Santé SMART des disques sous les dossiers de données, de Docker et de sauvegarde : état défaillant, secteurs réalloués ou en attente, erreurs média NVMe",
    guide: "Stockage P2",
    quick: false,
    remedy: smart::SMART_STEPS,
    steps: smart::STEPS,
    run: |ctx| smart::run(ctx).boxed(),
}];
