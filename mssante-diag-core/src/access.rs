//! Least privilege: what the user running the tool could not read, and the narrowest grant
//! that would allow it (an ACL entry for that user, or a group that already may read it),
//! never a wider mode. Used by `config.access`, by [`crate::config::EnvFile`] (an unreadable
//! `.env` is recorded, not fatal) and by the runner (checks that need a value of that `.env`
//! become `unknown` naming the value and the file: see [`missing_env_values`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::{tr, Lang};

/// The name of the user the tool runs as (effective uid), else `uid N`.
#[must_use]
pub fn current_user() -> String {
    let uid = nix::unistd::geteuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {uid}"), |u| u.name)
}

/// A file or folder the tool could not read, and how to let it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Unreadable {
    /// The file or folder.
    pub path: PathBuf,
    /// The user the tool ran as.
    pub user: String,
    /// The error, as the system gave it (`permission denied`).
    pub reason: String,
    /// The command that grants read access to that user alone (ACL), when permission is the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// A group that already may read it, which the user could join instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Unreadable {
    /// The record of `path` failing with `err` for the current user: the grant names the first
    /// folder on the way that the user may not enter, else the path itself.
    #[must_use]
    pub fn new(path: &Path, err: &std::io::Error) -> Self {
        let user = current_user();
        let denied = err.kind() == std::io::ErrorKind::PermissionDenied;
        let (grant, group) = if denied {
            grant(path, &user)
        } else {
            (None, None)
        };
        Self {
            path: path.to_path_buf(),
            user,
            reason: err.kind().to_string(),
            grant,
            group,
        }
    }

    /// One sentence: "USER cannot read PATH (REASON)".
    #[must_use]
    pub fn describe(&self, lang: Lang) -> String {
        let (user, path, reason) = (&self.user, self.path.display(), &self.reason);
        tr!(
            lang,
            "{user} cannot read {path} ({reason})",
            "{user} ne peut pas lire {path} ({reason})"
        )
    }
}

/// The narrowest grant letting `user` read `path`: `setfacl` on the first folder of the way the
/// user may not enter (`x` only), else on the path (`r`, `rX` for a folder); and a group that
/// already may read it, if any.
fn grant(path: &Path, user: &str) -> (Option<String>, Option<String>) {
    use nix::unistd::{access, AccessFlags};
    let ancestors: Vec<&Path> = path
        .ancestors()
        .skip(1)
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    if let Some(blocked) = ancestors
        .iter()
        .rev()
        .find(|dir| access(**dir, AccessFlags::X_OK).is_err())
    {
        return (
            Some(format!("setfacl -m u:{user}:x {}", blocked.display())),
            None,
        );
    }
    let meta = std::fs::metadata(path).ok();
    let is_dir = meta.as_ref().is_some_and(std::fs::Metadata::is_dir);
    let perm = if is_dir { "rX" } else { "r" };
    let group = meta.and_then(|m| {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        (m.permissions().mode() & 0o040 != 0)
            .then(|| {
                nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(m.gid()))
                    .ok()
                    .flatten()
                    .map(|g| g.name)
            })
            .flatten()
    });
    (
        Some(format!("setfacl -m u:{user}:{perm} {}", path.display())),
        group,
    )
}

/// Tries to read `path` as the current user (opens a file, lists a folder). `None` when it is
/// readable or does not exist (a missing file is the business of the check that uses it).
#[must_use]
pub fn probe(path: &Path) -> Option<Unreadable> {
    let result = match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path).map(drop),
        Ok(_) => std::fs::File::open(path).map(drop),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Some(Unreadable::new(path, &e)),
        _ => None,
    }
}

/// The status of a result that is otherwise `status` but could not look at some paths, for the
/// reasons given: `unknown` when it would be ok and every reason is a permission this user lacks
/// (the tool could not look), else at least `warning` (something is missing).
#[must_use]
pub fn blind_status<'a>(
    status: crate::Status,
    reasons: impl IntoIterator<Item = &'a str>,
) -> crate::Status {
    let denied = std::io::ErrorKind::PermissionDenied.to_string();
    let mut reasons = reasons.into_iter().peekable();
    if reasons.peek().is_none() {
        return status;
    }
    if status == crate::Status::Ok && reasons.all(|r| r.eq_ignore_ascii_case(&denied)) {
        crate::Status::Unknown
    } else {
        status.worst(crate::Status::Warning)
    }
}

/// Words that make a key of the configuration name a file or folder.
const PATH_KEYS: &[&str] = &[
    "file", "path", "dir", "bundle", "key", "log", "anchors", "cert", "config",
];

/// Keys whose folders are only measured (their filesystem's usage), never read.
const MEASURED_ONLY: &[&str] = &["disk_paths"];

/// The files and folders the effective configuration names (its file, `.env`, certificates,
/// keys, logs, backup and data folders...), absolute, without duplicates; not the folders
/// only measured (`system.disk_paths`: measuring needs no right on their content).
#[must_use]
pub fn configured_paths(config: &Config) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = config.source.iter().cloned().collect();
    out.push(config.project_dir.join(".env"));
    out.extend(named_paths(config, |key| !MEASURED_ONLY.contains(&key)));
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

/// The private keys the configuration names (`tls.key`, `dns.dkim_key`...).
#[must_use]
pub fn private_key_paths(config: &Config) -> Vec<PathBuf> {
    named_paths(config, |key| key == "key" || key.ends_with("_key"))
}

/// Paths the configuration's values name, under the keys `keep` accepts.
fn named_paths(config: &Config, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    fn walk(
        key: &str,
        v: &toml::Value,
        config: &Config,
        keep: &dyn Fn(&str) -> bool,
        out: &mut Vec<PathBuf>,
    ) {
        match v {
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| walk(k, v, config, keep, out)),
            toml::Value::Array(a) => a.iter().for_each(|v| walk(key, v, config, keep, out)),
            toml::Value::String(s) => {
                let pathlike = !key.ends_with("_env") && PATH_KEYS.iter().any(|w| key.contains(w));
                if pathlike
                    && keep(key)
                    && !s.is_empty()
                    && !s.contains("://")
                    && (s.contains('/') || s.contains('.'))
                {
                    out.push(config.project_path(Path::new(s)));
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(table) = toml::Table::try_from(config) {
        table
            .iter()
            .for_each(|(k, v)| walk(k, v, config, &keep, &mut out));
    }
    out
}

/// Whether `path` is a file only its owner may read (mode without group or other bits, so no
/// ACL entry either: the ACL mask shows in the group bits) and this user is not that owner:
/// a private key kept from the monitoring user, as docs/least-privilege.md recommends.
#[must_use]
pub fn owner_only(path: &Path) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::metadata(path).is_ok_and(|m| {
        m.is_file()
            && m.permissions().mode() & 0o077 == 0
            && m.uid() != nix::unistd::geteuid().as_raw()
    })
}

/// A value a subsystem takes from the platform's `.env` that this run could not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingValue {
    /// The key of the configuration naming the variable (`postgres.password_env`).
    pub key: String,
    /// The variable (`POSTGRES_PASSWORD`).
    pub variable: String,
}

/// When `.env` could not be read: per subsystem, the variables its section takes from it
/// (`*_env` keys without an inline value, not set in the process environment). Empty when
/// `.env` was read.
#[must_use]
pub fn missing_env_values(config: &Config) -> BTreeMap<String, Vec<MissingValue>> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut Vec<MissingValue>) {
        for (k, v) in t {
            let key = format!("{prefix}.{k}");
            match v {
                toml::Value::Table(inner) => walk(&key, inner, out),
                toml::Value::String(var) => {
                    let Some(inline) = k.strip_suffix("_env") else {
                        continue;
                    };
                    let has_inline = t
                        .keys()
                        .any(|o| o != k && o.starts_with(inline) && !o.ends_with("_env"));
                    if !has_inline && std::env::var(var).map_or(true, |v| v.is_empty()) {
                        out.push(MissingValue {
                            key,
                            variable: var.clone(),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = BTreeMap::new();
    if config.env.unreadable.is_none() {
        return out;
    }
    let Ok(table) = toml::Table::try_from(config) else {
        return out;
    };
    for (section, v) in &table {
        if let toml::Value::Table(t) = v {
            let mut missing = Vec::new();
            walk(section, t, &mut missing);
            if !missing.is_empty() {
                out.insert(section.clone(), missing);
            }
        }
    }
    out
}

/// A local socket this user may not connect to (a daemon's control socket), and how to let it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeniedSocket {
    /// The socket.
    pub path: PathBuf,
    /// The user the tool ran as.
    pub user: String,
    /// The socket's group, when members may connect (mode `g+w`): joining it is the grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl DeniedSocket {
    /// The socket named by a daemon's error line such as Dovecot's
    /// `net_connect_unix(/run/dovecot/anvil) failed: Permission denied`.
    #[must_use]
    pub fn from_error(line: &str) -> Option<Self> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if !line.contains("Permission denied") {
            return None;
        }
        let path = PathBuf::from(line.split_once("net_connect_unix(")?.1.split_once(')')?.0);
        let group = std::fs::metadata(&path)
            .ok()
            .filter(|m| m.permissions().mode() & 0o020 != 0)
            .and_then(|m| {
                nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(m.gid()))
                    .ok()
                    .flatten()
            })
            .map(|g| g.name);
        Some(Self {
            path,
            user: current_user(),
            group,
        })
    }

    /// The remedy: join the socket's group, else give the socket's listener a group (the
    /// daemon recreates the socket at each start, so an ACL on it would not last).
    #[must_use]
    pub fn remedy(&self, guide: &str, lang: Lang) -> crate::Remedy {
        let (user, path) = (&self.user, self.path.display());
        match &self.group {
            Some(group) => crate::Remedy {
                text: tr!(lang, "Let {user} connect to {path}: join its group {group}", "Permettre à {user} de se connecter à {path} : rejoindre son groupe {group}"),
                command: Some(format!("usermod -aG {group} {user}")),
                guide: guide.to_owned(),
                destructive: false,
            },
            None => crate::Remedy {
                text: tr!(
                    lang,
                    "Let {user} connect to {path}: in the daemon's configuration, give that listener a group {user} belongs to and mode 0660 (Dovecot: unix_listener ... {{ group = ...; mode = 0660 }}), then join that group",
                    "Permettre à {user} de se connecter à {path} : dans la configuration du démon, donner à cet écouteur un groupe dont {user} est membre et le mode 0660 (Dovecot : unix_listener ... {{ group = ... ; mode = 0660 }}), puis rejoindre ce groupe"
                ),
                command: None,
                guide: guide.to_owned(),
                destructive: false,
            },
        }
    }
}

/// The remedy granting `u.user` read access to what `u` names (ACL, or joining a group that may).
#[must_use]
pub fn grant_remedy(u: &Unreadable, guide: &str, lang: Lang) -> Vec<crate::Remedy> {
    let user = &u.user;
    let mut out = Vec::new();
    if let Some(grant) = &u.grant {
        out.push(crate::Remedy {
            text: tr!(
                lang,
                "Let {user} read it, and nobody else (ACL)",
                "Autoriser {user} à le lire, et personne d'autre (ACL)"
            ),
            command: Some(grant.clone()),
            guide: guide.to_owned(),
            destructive: false,
        });
    }
    if let Some(group) = &u.group {
        out.push(crate::Remedy {
            text: tr!(
                lang,
                "Or add {user} to the group {group}, which may already read it",
                "Ou ajouter {user} au groupe {group}, qui peut déjà le lire"
            ),
            command: Some(format!("usermod -aG {group} {user}")),
            guide: guide.to_owned(),
            destructive: false,
        });
    }
    out
}

/// What the runner gives a check of `subsystem` that did not come back ok while `.env` was
/// unreadable and its section takes values from it: `unknown`, naming the values and the file,
/// with the grant; what it saw without them stays in the details (`without_env`). Any other
/// outcome is returned as is.
#[must_use]
pub fn without_env(
    subsystem: &str,
    outcome: crate::Outcome,
    config: &Config,
    lang: Lang,
) -> crate::Outcome {
    use crate::model::Status;
    let Some(unreadable) = &config.env.unreadable else {
        return outcome;
    };
    if outcome.status == Status::Ok {
        return outcome;
    }
    let all = missing_env_values(config);
    // Its own section's variables, or any missing variable its summary names (a check may use
    // another section's value: network.annuaire and the Annuaire API key).
    let text = format!("{} {}", outcome.summary, outcome.details);
    let named: Vec<MissingValue> = all
        .values()
        .flatten()
        .filter(|m| text.contains(&m.variable))
        .cloned()
        .collect();
    let Some(missing) = all
        .get(subsystem)
        .cloned()
        .or_else(|| (!named.is_empty()).then_some(named))
    else {
        return outcome;
    };
    let names = missing
        .iter()
        .map(|m| format!("{} ({})", m.variable, m.key))
        .collect::<Vec<_>>()
        .join(", ");
    let why = unreadable.describe(lang);
    let summary = tr!(
        lang,
        "cannot check without {names} from .env: {why}",
        "vérification impossible sans {names} du .env : {why}"
    );
    let seen = serde_json::json!({"status": outcome.status, "summary": outcome.summary, "details": outcome.details});
    let missing = &missing;
    let mut o = crate::Outcome::unknown(summary).details(
        serde_json::json!({"missing_env": missing, "env_file": unreadable, "without_env": seen}),
    );
    o.remediation = grant_remedy(unreadable, "Démarrage P4", lang);
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_denied_socket_is_named_from_the_daemon_error() {
        let d = DeniedSocket::from_error(
            "Fatal: net_connect_unix(/nonexistent/run/anvil) failed: Permission denied",
        )
        .expect("a denied socket");
        assert_eq!(d.path, PathBuf::from("/nonexistent/run/anvil"));
        assert_eq!(d.group, None);
        assert!(d
            .remedy("Messagerie P4", Lang::En)
            .text
            .contains("mode 0660"));
        assert!(DeniedSocket::from_error(
            "Fatal: net_connect_unix(/x) failed: No such file or directory"
        )
        .is_none());
        assert!(DeniedSocket::from_error("Permission denied").is_none());
    }

    use super::*;

    #[test]
    fn unreadable_env_names_what_each_subsystem_misses() {
        let mut c = Config::from_toml_str(
            "[postgres.reserved]\nuser = \"admin\"\npassword = \"inline\"\n",
            Path::new("/srv/p"),
        )
        .expect("valid");
        assert!(
            missing_env_values(&c).is_empty(),
            "a readable .env misses nothing"
        );
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        c.env.unreadable = Some(Unreadable::new(Path::new("/srv/p/.env"), &e));
        let m = missing_env_values(&c);
        let pg: Vec<&str> = m
            .get("postgres")
            .map(|v| v.iter().map(|x| x.variable.as_str()).collect())
            .unwrap_or_default();
        assert!(pg.contains(&"POSTGRES_PASSWORD"), "{m:?}");
        assert!(
            !m["postgres"]
                .iter()
                .any(|x| x.key.starts_with("postgres.reserved")),
            "the inline password needs no .env: {m:?}"
        );
        assert!(m.contains_key("redis") && m.contains_key("smtp"), "{m:?}");
    }

    #[test]
    fn grant_is_an_acl_for_that_user_only() {
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let u = Unreadable::new(Path::new("/"), &e);
        assert_eq!(
            u.grant.as_deref(),
            Some(format!("setfacl -m u:{}:rX /", current_user()).as_str())
        );
        let u = Unreadable::new(
            Path::new("/nonexistent/x"),
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(u.grant, None);
        assert!(u
            .describe(Lang::Fr)
            .contains("ne peut pas lire /nonexistent/x"));
    }

    #[test]
    fn configured_paths_name_files_not_hosts() {
        let c = Config::from_toml_str(
            "[postgres]\nhost = \"db.local\"\n[system]\nkernel_log = \"kern.log\"\n",
            Path::new("/srv/p"),
        )
        .expect("valid");
        let paths = configured_paths(&c);
        assert!(
            paths.contains(&PathBuf::from("/srv/p/.env"))
                && paths.contains(&PathBuf::from("/srv/p/kern.log")),
            "{paths:?}"
        );
        assert!(!paths.iter().any(|p| p.ends_with("db.local")), "{paths:?}");
    }
}
