//! Backups, the guide's last resort (BD P3 "BACKUP IMMÉDIAT", Stockage P2 `restore.sh`):
//! is there a recent, complete, readable archive before the incident needs it?
//!
//! Both checks share one listing of the backup folders per run ([`BackupShared`]).
//! `backup.freshness` judges the newest archive's age, each series' newest size against its
//! previous ones and the room left for the next run; `backup.integrity` reads the newest
//! archive of each series to its end (gzip, tar, `pg_dump`/`pg_dumpall` trailer, `pg_restore`
//! for custom-format dumps), streaming, under a time bound, without extracting anything.
//! A folder the tool may not read is `unknown` with the grant that would allow it, never
//! "no backup". Restore commands are shown, never run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use futures::FutureExt;
use serde::Serialize;
use tokio::sync::OnceCell;

use super::{CheckDef, Ctx, Outcome};
use crate::model::{Remedy, Status};
use crate::{tr, Lang};

pub mod integrity;
pub mod inventory;
pub mod reader;
mod settings;

pub use integrity::{evaluate_integrity, restore_command};
pub use inventory::{evaluate_freshness, is_archive_name, scan_folder, series_of, Archive, FolderFacts, FreshnessLimits};
pub use reader::{read_archive, ArchiveRead, Content, Progress, Verdict};
pub use settings::Settings;

/// The `backup.*` checks.
pub const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "backup.freshness",
        title_en: "Newest backup archive: age (warn {backup.age_warn_hours} h, critical {backup.age_crit_hours} h), size against the previous ones, room for the next",
        title_fr: "Archive de sauvegarde la plus récente : âge (alerte {backup.age_warn_hours} h, critique {backup.age_crit_hours} h), taille par rapport aux précédentes, place pour la suivante",
        guide: "BD P3, Stockage P2",
        quick: false,
        remedy: inventory::FRESHNESS_STEPS,
        steps: 1,
        run: |ctx| freshness(ctx).boxed(),
    },
    CheckDef {
        id: "backup.integrity",
        title_en: "Newest archives readable to the end (gzip stream, tar listing, dump completion trailer, pg_restore --list) within {backup.integrity_max_secs} s",
        title_fr: "Archives les plus récentes lisibles jusqu'au bout (flux gzip, liste tar, fin de dump, pg_restore --list) en {backup.integrity_max_secs} s",
        guide: "BD P3, Stockage P2",
        quick: false,
        remedy: integrity::INTEGRITY_STEPS,
        steps: integrity::STEPS,
        run: |ctx| integrity::run(ctx).boxed(),
    },
];

/// Per-run state: one listing of the backup folders for both checks.
#[derive(Debug, Default)]
pub struct BackupShared {
    listing: OnceCell<Result<Vec<FolderFacts>, Outcome>>,
}

/// Per-run state of the `backup.*` checks.
pub type State = BackupShared;

/// Whether a folder could be listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Access {
    /// Listed.
    Readable,
    /// It does not exist.
    Missing,
    /// It is a file, not a folder.
    NotADirectory,
    /// The user running the tool may not list it.
    Denied {
        /// That user.
        user: String,
    },
    /// Another error (I/O error, ...).
    Failed {
        /// The system's reason.
        reason: String,
    },
}

impl Access {
    /// From the error of listing a folder.
    #[must_use]
    pub fn from_io(e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => Access::Missing,
            std::io::ErrorKind::NotADirectory => Access::NotADirectory,
            std::io::ErrorKind::PermissionDenied => Access::Denied { user: current_user() },
            _ => Access::Failed { reason: e.to_string() },
        }
    }

    /// Missing is a finding (critical); not being allowed to look is not knowing (unknown).
    #[must_use]
    pub fn status(&self) -> Status {
        match self {
            Access::Readable => Status::Ok,
            Access::Missing | Access::NotADirectory => Status::Critical,
            Access::Denied { .. } | Access::Failed { .. } => Status::Unknown,
        }
    }

    /// What is wrong, in a sentence; `None` when the folder was listed.
    #[must_use]
    pub fn problem(&self, path: &Path, lang: Lang) -> Option<String> {
        let p = path.display();
        Some(match self {
            Access::Readable => return None,
            Access::Missing => tr!(lang, "backup folder {p} does not exist", "le dossier de sauvegarde {p} n'existe pas"),
            Access::NotADirectory => tr!(lang, "{p} is not a folder", "{p} n'est pas un dossier"),
            Access::Denied { user } => tr!(
                lang,
                "cannot read {p} as {user} (permission denied): whether backups are there is not known",
                "impossible de lire {p} en tant que {user} (permission refusée) : la présence de sauvegardes n'est pas connue"
            ),
            Access::Failed { reason } => tr!(lang, "cannot list {p}: {reason}", "impossible de lister {p} : {reason}"),
        })
    }
}

/// The user this process runs as (name, else `uid N`).
#[must_use]
pub fn current_user() -> String {
    let uid = nix::unistd::geteuid();
    nix::unistd::User::from_uid(uid).ok().flatten().map_or_else(|| format!("uid {uid}"), |u| u.name)
}

/// The grant that lets `user` read `path` (ACLs: the owner and mode stay as they are). For a
/// folder, a default ACL too, so that the next archives are readable as well.
#[must_use]
pub fn grant_remedy(path: &Path, folder: bool, user: &str, lang: Lang) -> Remedy {
    let who = user.strip_prefix("uid ").unwrap_or(user);
    let p = shell_quote(path);
    let command = if folder {
        format!("setfacl -R -m u:{who}:rX {p} && setfacl -d -m u:{who}:rX {p}")
    } else {
        format!("setfacl -m u:{who}:r {p}")
    };
    Remedy {
        text: tr!(
            lang,
            "Let {user} read the backups (an ACL keeps their owner and mode), or run mssante-diag as a user who can",
            "Autoriser {user} à lire les sauvegardes (une ACL garde leur propriétaire et leurs droits), ou lancer mssante-diag avec un utilisateur qui le peut"
        ),
        command: Some(command),
        guide: "Stockage P1".into(),
        destructive: false,
    }
}

/// A path as one shell word.
fn shell_quote(p: &Path) -> String {
    let s = p.display().to_string();
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c)) {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The configured folders, absolute.
fn folders_of(ctx: &Ctx) -> Vec<PathBuf> {
    ctx.config.backup.paths.iter().map(|p| ctx.config.project_path(p)).collect()
}

/// The run's listing of the backup folders (made once, off the async threads, under the timeout).
async fn listing(ctx: &Ctx) -> Result<Vec<FolderFacts>, Outcome> {
    ctx.state
        .backup
        .listing
        .get_or_init(|| async {
            let paths = folders_of(ctx);
            let now = SystemTime::now();
            let listed = tokio::task::spawn_blocking(move || paths.iter().map(|p| scan_folder(p, now)).collect::<Vec<_>>());
            match ctx.step_named("list", listed).await {
                Ok(Ok(folders)) => Ok(folders),
                Ok(Err(e)) => Err(Outcome::unknown(tr!(ctx.lang(), "listing the backup folders failed: {e}", "échec du listage des dossiers de sauvegarde : {e}"))),
                Err(t) => Err(ctx.timed_out(&tr!(ctx.lang(), "listing the backup folders (hung filesystem?)", "listage des dossiers de sauvegarde (système de fichiers bloqué ?)"), t)),
            }
        })
        .await
        .clone()
}

async fn freshness(ctx: Arc<Ctx>) -> Outcome {
    let s = &ctx.config.backup;
    match listing(&ctx).await {
        Ok(folders) => evaluate_freshness(
            &folders,
            FreshnessLimits { warn_hours: s.age_warn_hours, crit_hours: s.age_crit_hours, size_drop_pct: s.size_drop_pct },
            ctx.lang(),
        ),
        Err(o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_from_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = std::fs::read_dir(dir.path().join("absent")).expect_err("absent");
        assert_eq!(Access::from_io(&e), Access::Missing);
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").expect("write");
        let e = std::fs::read_dir(&file).expect_err("a file");
        assert_eq!(Access::from_io(&e), Access::NotADirectory);
        assert_eq!(Access::Missing.status(), Status::Critical);
        assert_eq!(Access::Denied { user: "nobody".into() }.status(), Status::Unknown);
    }

    #[test]
    fn grants_name_the_user_and_quote_the_path() {
        let r = grant_remedy(Path::new("/srv/my backups"), true, "nobody", Lang::En);
        let cmd = r.command.unwrap_or_default();
        assert!(cmd.contains("u:nobody:rX '/srv/my backups'"), "{cmd}");
        let r = grant_remedy(Path::new("/backup/db.sql"), false, "uid 1234", Lang::Fr);
        assert_eq!(r.command.as_deref(), Some("setfacl -m u:1234:r /backup/db.sql"));
        assert!(cmd.contains("setfacl -d -m"), "{cmd}");
        assert!(!r.destructive);
    }
}
