//! `config.access`: can the user running the tool read every file the configuration names
//! (`.env`, the configuration file, certificates, keys, logs, backup and data folders)? For each
//! one it cannot, the narrowest grant (an ACL entry for that user, or a group that already may
//! read it). A missing permission is `unknown` (the tool could not look), never `critical`.

use std::sync::Arc;

use serde::Serialize;

use crate::access::{configured_paths, current_user, grant_remedy, owner_only, private_key_paths, probe, Unreadable};
use crate::checks::{Ctx, Outcome};
use crate::{tr, Lang};

/// What `config.access` saw.
#[derive(Debug, Clone, Serialize)]
pub struct AccessFacts {
    /// The user the tool ran as.
    pub user: String,
    /// How many files and folders the configuration names (that exist or could not be seen).
    pub checked: usize,
    /// Those the user could not read.
    pub unreadable: Vec<Unreadable>,
    /// Private keys only their owner may read, kept from this user as recommended: not a
    /// finding (the checks that use them judge what they can see without reading them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub owner_only_keys: Vec<std::path::PathBuf>,
}

/// Probes every file and folder the configuration names, as the current user.
#[must_use]
pub fn gather(config: &crate::Config) -> AccessFacts {
    let paths = configured_paths(config);
    let keys = private_key_paths(config);
    let (kept, mut unreadable): (Vec<Unreadable>, Vec<Unreadable>) = paths
        .iter()
        .filter_map(|p| probe(p))
        .partition(|u| keys.contains(&u.path) && owner_only(&u.path));
    let owner_only_keys = kept.into_iter().map(|u| u.path).collect();
    // `.env` as loaded (its record carries the reason seen at load time).
    if let Some(u) = &config.env.unreadable {
        if !unreadable.iter().any(|x| x.path == u.path) {
            unreadable.insert(0, u.clone());
        }
    }
    let checked = paths
        .iter()
        .filter(|p| p.exists() || unreadable.iter().any(|u| &u.path == *p))
        .count();
    AccessFacts {
        user: current_user(),
        checked,
        unreadable,
        owner_only_keys,
    }
}

/// `ok` when the user could read everything; else `unknown` naming each file, with the grants.
#[must_use]
pub fn evaluate_access(f: &AccessFacts, lang: Lang) -> Outcome {
    let (user, n) = (&f.user, f.checked);
    if f.unreadable.is_empty() {
        let mut summary = tr!(
            lang,
            "{user} can read the {n} files and folders the configuration names",
            "{user} peut lire les {n} fichiers et dossiers que nomme la configuration"
        );
        if !f.owner_only_keys.is_empty() {
            let keys = f.owner_only_keys.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
            summary = tr!(
                lang,
                "{user} can read the files and folders the configuration names, except the private keys only their owner may read, as recommended: {keys}",
                "{user} peut lire les fichiers et dossiers que nomme la configuration, sauf les clés privées que seul leur propriétaire peut lire, comme recommandé : {keys}"
            );
        }
        return Outcome::ok(summary).details(f);
    }
    let list = f
        .unreadable
        .iter()
        .map(|u| format!("{} ({})", u.path.display(), u.reason))
        .collect::<Vec<_>>()
        .join(", ");
    let k = f.unreadable.len();
    let mut o = Outcome::unknown(tr!(
        lang,
        "{user} cannot read {k} of {n} files the configuration names: {list}; the checks that need them are unknown",
        "{user} ne peut pas lire {k} des {n} fichiers que nomme la configuration : {list} ; les vérifications qui en ont besoin sont inconnues"
    ))
    .details(f);
    for u in &f.unreadable {
        o.remediation.extend(grant_remedy(u, "Démarrage P4", lang));
    }
    o
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let config = ctx.config.clone();
    match ctx
        .step_named(
            "read the configured files",
            tokio::task::spawn_blocking(move || gather(&config)),
        )
        .await
    {
        Ok(Ok(f)) => evaluate_access(&f, ctx.lang()),
        Ok(Err(e)) => Outcome::unknown(e.to_string()),
        Err(t) => ctx.timed_out(
            &tr!(
                ctx.lang(),
                "reading the configured files",
                "lecture des fichiers configurés"
            ),
            t,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_file_and_its_grant() {
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let mut u = Unreadable::new(std::path::Path::new("/srv/p/.env"), &e);
        u.user = "nagios".into();
        u.grant = Some("setfacl -m u:nagios:r /srv/p/.env".into());
        u.group = Some("mssante".into());
        let f = AccessFacts {
            user: "nagios".into(),
            checked: 7,
            unreadable: vec![u],
            owner_only_keys: vec![],
        };
        let o = evaluate_access(&f, Lang::En);
        assert_eq!(o.status, crate::Status::Unknown);
        assert!(
            o.summary.contains("nagios cannot read 1 of 7") && o.summary.contains("/srv/p/.env"),
            "{}",
            o.summary
        );
        let cmds: Vec<_> = o
            .remediation
            .iter()
            .filter_map(|r| r.command.as_deref())
            .collect();
        assert_eq!(
            cmds,
            [
                "setfacl -m u:nagios:r /srv/p/.env",
                "usermod -aG mssante nagios"
            ]
        );
        let o = evaluate_access(&f, Lang::Fr);
        assert!(o.summary.contains("ne peut pas lire"), "{}", o.summary);
        let ok = evaluate_access(
            &AccessFacts {
                user: "root".into(),
                checked: 7,
                unreadable: vec![],
                owner_only_keys: vec![],
            },
            Lang::En,
        );
        assert_eq!(ok.status, crate::Status::Ok);
    }
}
