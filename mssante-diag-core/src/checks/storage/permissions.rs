//! `storage.permissions`: the data folders' owner and mode, and whether the service user can
//! write them; private keys mode 600 (guide: Stockage P1, "Error: EACCES: permission denied";
//! Démarrage P4, "sudo chown -R 1000:1000 data/").
//!
//! Decided from the mode bits and ids (as the kernel does without ACLs): the service user
//! writes a folder when it owns it with `u+wx`, is in its group with `g+wx`, or when `o+wx`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::checks::{step, Ctx, Outcome, Step};
use crate::model::Status;
use crate::{tr, Lang};

/// Levels of folders searched for keys under each key folder.
const KEY_DEPTH: usize = 4;
/// Files looked at, at most, in the key folders.
const MAX_KEY_FILES: usize = 2000;
/// Bytes of a file read to tell a private key.
const KEY_SNIFF: u64 = 4096;

/// Generic remedy of `storage.permissions`.
pub(super) const PERMISSIONS_STEPS: &[Step] = &[
    step!(
        "See the data folders' owner and mode",
        "Voir le propriétaire et les droits des dossiers de données",
        guide = "Stockage P1",
        cmd = "ls -la data/ data/mail/"
    ),
    step!(
        "Give the data back to the service user",
        "Rendre les données à l'utilisateur du service",
        guide = "Stockage P1",
        cmd = "sudo chown -R {storage.service_uid}:{storage.service_gid} data/"
    ),
    step!(
        "Set the folders' mode",
        "Fixer les droits des dossiers",
        guide = "Stockage P1",
        cmd = "chmod -R 755 data/"
    ),
    step!(
        "Make private keys readable by their owner only",
        "Rendre les clés privées lisibles par leur seul propriétaire",
        guide = "Stockage P1",
        cmd = "chmod 600 config/certificates/server/server.key"
    ),
    step!(
        "Restart the containers (interrupts service)",
        "Redémarrer les conteneurs (interrompt le service)",
        guide = "Stockage P1",
        cmd = "{docker.compose} restart",
        destructive = true
    ),
];

/// Owner and mode of one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathMode {
    /// The path.
    pub path: PathBuf,
    /// Owner uid.
    pub uid: u32,
    /// Group gid.
    pub gid: u32,
    /// Permission bits (`0o755`), shown in octal.
    #[serde(serialize_with = "octal")]
    pub mode: u32,
    /// A directory.
    pub dir: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn octal<S: serde::Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{mode:o}"))
}

/// What `storage.permissions` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PermissionFacts {
    /// The data folders that exist.
    pub folders: Vec<PathMode>,
    /// The data folders that do not.
    pub absent: Vec<PathBuf>,
    /// Private keys found in the key folders.
    pub keys: Vec<PathMode>,
    /// Paths that could not be examined, and why.
    pub unreadable: Vec<(PathBuf, String)>,
}

fn mode_of(path: &Path, meta: &std::fs::Metadata) -> PathMode {
    PathMode {
        path: path.to_path_buf(),
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode() & 0o7777,
        dir: meta.is_dir(),
    }
}

/// Whether a file is a PEM private key (its first bytes name one).
fn is_private_key(path: &Path) -> std::io::Result<bool> {
    let head = crate::fs::read_capped(path, KEY_SNIFF)?;
    Ok(head.contains("-----BEGIN") && head.contains("PRIVATE KEY-----"))
}

fn find_keys(dir: &Path, depth: usize, seen: &mut usize, facts: &mut PermissionFacts) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if *seen >= MAX_KEY_FILES {
            return;
        }
        *seen += 1;
        let path = e.path();
        // Links are not followed: a key is judged where it is.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if depth < KEY_DEPTH {
                find_keys(&path, depth + 1, seen, facts);
            }
        } else if meta.is_file() {
            match is_private_key(&path) {
                Ok(true) => facts.keys.push(mode_of(&path, &meta)),
                Ok(false) => {}
                // Only its owner may read it: whatever it holds, it is as protected as a key
                // should be (the monitoring user is kept from keys, docs/least-privilege.md).
                Err(_) if crate::access::owner_only(&path) => {}
                Err(e) => facts.unreadable.push((path, e.kind().to_string())),
            }
        }
    }
}

/// Gathers owners and modes of the data folders and the private keys (blocking).
#[must_use]
pub fn permission_facts(data_dirs: &[PathBuf], key_dirs: &[PathBuf]) -> PermissionFacts {
    let mut facts = PermissionFacts::default();
    for d in data_dirs {
        match std::fs::metadata(d) {
            Ok(m) => facts.folders.push(mode_of(d, &m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => facts.absent.push(d.clone()),
            Err(e) => facts.unreadable.push((d.clone(), e.kind().to_string())),
        }
    }
    let mut seen = 0;
    for k in key_dirs {
        if k.is_dir() {
            find_keys(k, 1, &mut seen, &mut facts);
        } else if k.is_file() {
            if let Ok(m) = std::fs::symlink_metadata(k) {
                facts.keys.push(mode_of(k, &m));
            }
        }
    }
    facts
}

/// Whether user `uid` (group `gid`) may create files in a folder with these ids and mode.
#[must_use]
pub fn can_write(p: &PathMode, uid: u32, gid: u32) -> bool {
    let need = |shift: u32| (p.mode >> shift) & 0o3 == 0o3;
    uid == 0
        || if p.uid == uid {
            need(6)
        } else if p.gid == gid {
            need(3)
        } else {
            need(0)
        }
}

/// Judges the folders and keys: a data folder the service user cannot write is critical
/// (EACCES), as is a private key readable by others than its owner (anything beyond 600);
/// a folder owned by another user but still writable, or writable by everyone, warns.
#[must_use]
pub fn evaluate_permissions(f: &PermissionFacts, uid: u32, gid: u32, lang: Lang) -> Outcome {
    let mut found: Vec<(Status, String)> = Vec::new();
    for d in &f.folders {
        let p = d.path.display();
        let (m, o, g) = (format!("{:o}", d.mode), d.uid, d.gid);
        if !d.dir {
            found.push((
                Status::Critical,
                tr!(lang, "{p} is not a folder", "{p} n'est pas un dossier"),
            ));
        } else if !can_write(d, uid, gid) {
            found.push((
                Status::Critical,
                tr!(
                    lang,
                    "{p} (owner {o}:{g}, mode {m}) is not writable by the service user {uid}:{gid} (EACCES)",
                    "{p} (propriétaire {o}:{g}, droits {m}) n'est pas accessible en écriture à l'utilisateur du service {uid}:{gid} (EACCES)"
                ),
            ));
        } else if d.uid != uid {
            found.push((
                Status::Warning,
                tr!(
                    lang,
                    "{p} is owned by {o}:{g}, not by the service user {uid}",
                    "{p} appartient à {o}:{g}, pas à l'utilisateur du service {uid}"
                ),
            ));
        }
        if d.dir && d.mode & 0o002 != 0 && d.mode & 0o1000 == 0 {
            found.push((
                Status::Warning,
                tr!(
                    lang,
                    "{p} is writable by everyone (mode {m})",
                    "{p} est accessible en écriture à tous (droits {m})"
                ),
            ));
        }
    }
    for k in &f.keys {
        if k.mode & 0o077 != 0 {
            found.push((
                Status::Critical,
                tr!(
                    lang,
                    "private key {} is mode {:o}: readable beyond its owner (expected 600)",
                    "clé privée {} en droits {:o} : lisible au-delà de son propriétaire (attendu 600)",
                    k.path.display(),
                    k.mode
                ),
            ));
        }
    }
    let blind = f
        .unreadable
        .iter()
        .map(|(p, why)| format!("{} ({why})", p.display()))
        .collect::<Vec<_>>()
        .join(", ");
    let o = if !found.is_empty() {
        let status = found.iter().fold(Status::Ok, |s, (st, _)| s.worst(*st));
        found.sort_by_key(|(s, _)| std::cmp::Reverse(s.severity()));
        Outcome::new(
            status,
            found
                .into_iter()
                .map(|(_, t)| t)
                .collect::<Vec<_>>()
                .join("; "),
        )
    } else if f.folders.is_empty() && f.keys.is_empty() {
        if f.unreadable.is_empty() {
            let l = f
                .absent
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            Outcome::skipped(tr!(
                lang,
                "no data folder found ({l} absent)",
                "aucun dossier de données trouvé ({l} absents)"
            ))
        } else {
            Outcome::unknown(tr!(
                lang,
                "could not examine: {blind}",
                "examen impossible : {blind}"
            ))
        }
    } else {
        let names = f
            .folders
            .iter()
            .map(|d| {
                format!(
                    "{} {:o}",
                    d.path.file_name().map_or_else(
                        || d.path.display().to_string(),
                        |n| n.to_string_lossy().into_owned()
                    ),
                    d.mode
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        Outcome::ok(tr!(
            lang,
            "{} data folder(s) writable by {uid}:{gid} ({names}); {} private key(s) mode 600 or stricter",
            "{} dossier(s) de données accessibles en écriture à {uid}:{gid} ({names}) ; {} clé(s) privée(s) en 600 ou plus strict",
            f.folders.len(),
            f.keys.len()
        ))
    };
    let mut o = o.details(f);
    if !blind.is_empty() && o.status != Status::Unknown {
        o.summary.push_str(&tr!(
            lang,
            "; not examined: {blind}",
            " ; non examinés : {blind}"
        ));
        o.status = crate::access::blind_status(o.status, f.unreadable.iter().map(|(_, why)| why.as_str()));
    }
    o
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let lang = ctx.lang();
    let s = &ctx.config.storage;
    let data: Vec<PathBuf> = s
        .data_dirs
        .iter()
        .map(|p| ctx.config.project_path(p))
        .collect();
    let keys: Vec<PathBuf> = s
        .key_dirs
        .iter()
        .map(|p| ctx.config.project_path(p))
        .collect();
    match ctx
        .step_named(
            "stat the data folders",
            tokio::task::spawn_blocking(move || permission_facts(&data, &keys)),
        )
        .await
    {
        Ok(Ok(f)) => evaluate_permissions(&f, s.service_uid, s.service_gid, lang),
        Ok(Err(e)) => Outcome::unknown(e.to_string()),
        Err(t) => ctx.timed_out(
            &tr!(
                lang,
                "stat of the data folders (hung filesystem?)",
                "stat des dossiers de données (système de fichiers bloqué ?)"
            ),
            t,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(uid: u32, gid: u32, mode: u32) -> PathMode {
        PathMode {
            path: "data/mail".into(),
            uid,
            gid,
            mode,
            dir: true,
        }
    }

    #[test]
    fn write_access_follows_the_mode_bits() {
        assert!(can_write(&dir(1000, 1000, 0o755), 1000, 1000));
        assert!(!can_write(&dir(0, 0, 0o755), 1000, 1000));
        assert!(can_write(&dir(0, 1000, 0o775), 1000, 1000));
        assert!(can_write(&dir(0, 0, 0o777), 1000, 1000));
        assert!(!can_write(&dir(1000, 1000, 0o555), 1000, 1000));
        assert!(
            can_write(&dir(1000, 1000, 0o555), 0, 0),
            "root writes anything"
        );
    }

    #[test]
    fn verdicts() {
        let ok = PermissionFacts {
            folders: vec![dir(1000, 1000, 0o755)],
            keys: vec![PathMode {
                path: "server.key".into(),
                uid: 0,
                gid: 0,
                mode: 0o600,
                dir: false,
            }],
            ..Default::default()
        };
        assert_eq!(
            evaluate_permissions(&ok, 1000, 1000, Lang::En).status,
            Status::Ok
        );
        let root = PermissionFacts {
            folders: vec![dir(0, 0, 0o755)],
            ..Default::default()
        };
        let o = evaluate_permissions(&root, 1000, 1000, Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(
            o.summary
                .contains("data/mail (owner 0:0, mode 755) is not writable"),
            "{}",
            o.summary
        );
        let open = PermissionFacts {
            folders: vec![dir(0, 0, 0o777)],
            ..Default::default()
        };
        assert_eq!(
            evaluate_permissions(&open, 1000, 1000, Lang::Fr).status,
            Status::Warning
        );
        let key = PermissionFacts {
            keys: vec![PathMode {
                path: "server.key".into(),
                uid: 0,
                gid: 0,
                mode: 0o644,
                dir: false,
            }],
            ..Default::default()
        };
        let o = evaluate_permissions(&key, 1000, 1000, Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("mode 644"), "{}", o.summary);
        let none = PermissionFacts {
            absent: vec!["data".into()],
            ..Default::default()
        };
        assert_eq!(
            evaluate_permissions(&none, 1000, 1000, Lang::En).status,
            Status::Skipped
        );
    }
}
