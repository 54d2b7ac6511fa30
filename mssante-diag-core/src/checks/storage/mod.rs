//! Storage under the platform: the disks its data, Docker and backups live on, the data folders'
//! permissions and what fills them (guide: Stockage, Performance P3).

use futures::FutureExt;

use super::CheckDef;

pub mod permissions;
mod settings;
pub mod smart;
pub mod usage;

pub use permissions::{
    can_write, evaluate_permissions, permission_facts, PathMode, PermissionFacts,
};
pub use settings::Settings;
pub use smart::{
    disks_under, evaluate_smart, parse_smartctl, Disk, DiskState, NotOnDisk, SmartFacts,
};
pub use usage::{
    evaluate_usage, measure_usage, FileGroup, FileSize, FolderSize, UsageFacts, UsageSpec,
};

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
}, CheckDef {
    id: "storage.permissions",
    title_en: "Data folders' owner and mode, writable by the service user {storage.service_uid}; private keys mode 600",
    title_fr: "Propriétaire et droits des dossiers de données, accessibles en écriture à l'utilisateur du service {storage.service_uid} ; clés privées en 600",
    guide: "Stockage P1",
    quick: false,
    remedy: permissions::PERMISSIONS_STEPS,
    steps: 1,
    run: |ctx| permissions::run(ctx).boxed(),
}, CheckDef {
    id: "storage.usage",
    title_en: "Sizes of the data folders, logs older than {storage.log_max_age_days} days and uncompressed backups (reclaimable space)",
    title_fr: "Tailles des dossiers de données, logs de plus de {storage.log_max_age_days} jours et sauvegardes non compressées (espace récupérable)",
    guide: "Performance P3",
    quick: false,
    remedy: usage::USAGE_STEPS,
    steps: usage::STEPS,
    run: |ctx| usage::run(ctx).boxed(),
}];
