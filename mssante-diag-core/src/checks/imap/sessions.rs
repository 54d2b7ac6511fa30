//! `imap.sessions`: Dovecot's open sessions per user (`doveadm who`, Messagerie P4), through
//! the exec runner on the host or in the dovecot container.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checks::{Ctx, Outcome};
use crate::exec::{self, ExecError};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// A user's open sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserSessions {
    /// Login name.
    pub username: String,
    /// Open connections, all protocols.
    pub connections: u32,
    /// Protocols (`imap`, `pop3`...).
    pub protocols: Vec<String>,
}

/// What `doveadm who` showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DovecotSessions {
    /// Users with at least one session, most connections first.
    pub users: Vec<UserSessions>,
    /// Connections in all.
    pub total: u32,
    /// Where doveadm ran.
    pub ran_in: String,
}

/// Parses `doveadm -f tab who`: a header, then `username  #  proto  (pids)  (ips)` per line.
/// Lines that do not fit are ignored (never a panic).
#[must_use]
pub fn parse_who(text: &str) -> Vec<UserSessions> {
    let mut users: BTreeMap<String, UserSessions> = BTreeMap::new();
    for line in text.lines().skip_while(|l| !l.starts_with("username")).skip(1) {
        let mut f = line.split('\t');
        let (Some(user), Some(count), proto) = (f.next(), f.next().and_then(|c| c.trim().parse::<u32>().ok()), f.next().unwrap_or_default().trim()) else { continue };
        let u = users.entry(user.to_owned()).or_insert_with(|| UserSessions { username: user.to_owned(), connections: 0, protocols: Vec::new() });
        u.connections = u.connections.saturating_add(count);
        if !proto.is_empty() && !u.protocols.iter().any(|p| p == proto) {
            u.protocols.push(proto.to_owned());
        }
    }
    let mut list: Vec<UserSessions> = users.into_values().collect();
    list.sort_by(|a, b| b.connections.cmp(&a.connections).then_with(|| a.username.cmp(&b.username)));
    list
}

/// Runs `doveadm [-c CONFIG] -f tab who` where `[imap] doveadm` says.
///
/// # Errors
/// Why doveadm could not run, or its failure (exit code and first line of its errors).
pub async fn who(ctx: &Ctx) -> Result<DovecotSessions, WhoError> {
    let c = &ctx.config.imap;
    let config = c.doveadm_config.as_ref().map(|p| p.to_string_lossy().into_owned());
    let mut argv = vec!["doveadm"];
    if let Some(cfg) = &config {
        argv.extend(["-c", cfg.as_str()]);
    }
    argv.extend(["-f", "tab", "who"]);
    let out = exec::run(ctx, &c.doveadm, &argv).await.map_err(WhoError::Exec)?;
    if !out.success() {
        let first = out.stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or_default().chars().take(300).collect();
        let denied = crate::access::DeniedSocket::from_error(&out.stderr);
        return Err(WhoError::Failed { exit_code: out.exit_code, stderr: first, denied });
    }
    let users = parse_who(&out.stdout);
    let total = users.iter().map(|u| u.connections).fold(0u32, u32::saturating_add);
    Ok(DovecotSessions { users, total, ran_in: out.ran_in })
}

/// Why `doveadm who` gave no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum WhoError {
    /// It could not run (not installed, no container, Docker unusable, refused, timed out).
    Exec(ExecError),
    /// It ran and failed (Dovecot down: no anvil socket...).
    Failed {
        /// Exit code.
        exit_code: Option<i64>,
        /// First line of its errors.
        stderr: String,
        /// The Dovecot socket this user may not connect to, when that is why.
        denied: Option<crate::access::DeniedSocket>,
    },
}

/// Judges the sessions: a user with `warn_per_user` connections or more is a `warning` (Dovecot
/// refuses more than `mail_max_userip_connections`, 10 by default, per user and address).
/// doveadm out of reach is `skipped`; a doveadm that ran and failed is `unknown`.
#[must_use]
pub fn evaluate_sessions(r: &Result<DovecotSessions, WhoError>, warn_per_user: u32, lang: Lang) -> Outcome {
    match r {
        Ok(s) => {
            let busy: Vec<&UserSessions> = s.users.iter().filter(|u| u.connections >= warn_per_user).collect();
            let (total, users) = (s.total, s.users.len());
            let mut o = if busy.is_empty() {
                Outcome::ok(tr!(lang, "{total} IMAP connection(s) for {users} user(s) (doveadm who)", "{total} connexion(s) IMAP pour {users} utilisateur(s) (doveadm who)"))
            } else {
                let list = busy.iter().map(|u| format!("{} ({})", u.username, u.connections)).collect::<Vec<_>>().join(", ");
                Outcome::warning(tr!(
                    lang,
                    "users with {warn_per_user} connections or more: {list}; Dovecot refuses more past mail_max_userip_connections",
                    "utilisateurs avec {warn_per_user} connexions ou plus : {list} ; Dovecot refuse au-delà de mail_max_userip_connections"
                ))
            };
            o = o.metric(Metric::new("connections", f64::from(total), "")).metric(Metric::new("users", f64::from(u32::try_from(users).unwrap_or(u32::MAX)), ""));
            let top = s.users.first().map_or(0, |u| u.connections);
            let mut max = Metric::new("max_per_user", f64::from(top), "");
            max.warn = Some(f64::from(warn_per_user));
            o.metric(max).details(s)
        }
        Err(WhoError::Exec(e)) if matches!(e, ExecError::TimedOut(_)) => {
            Outcome::unknown(tr!(lang, "doveadm who: {}", "doveadm who : {}", e.describe(lang)))
        }
        Err(WhoError::Exec(e)) => Outcome::skipped(tr!(
            lang,
            "doveadm is not reachable ({}): set imap.doveadm (\"host\" or \"service:NAME\") and imap.doveadm_config",
            "doveadm est injoignable ({}) : renseigner imap.doveadm (\"host\" ou \"service:NOM\") et imap.doveadm_config",
            e.describe(lang)
        )),
        Err(WhoError::Failed { exit_code, stderr, denied }) => {
            let code = exit_code.map_or_else(|| "?".to_owned(), |c| c.to_string());
            let mut o = Outcome::new(Status::Unknown, tr!(lang, "doveadm who failed (exit {code}): {stderr}", "échec de doveadm who (code {code}) : {stderr}"))
                .details(serde_json::json!({ "exit_code": exit_code, "stderr": stderr, "denied_socket": denied }));
            o.remediation.extend(denied.iter().map(|d| d.remedy("Messagerie P4", lang)));
            o
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_lines_are_summed_per_user() {
        let text = "username\t#\tproto\t(pids)\t(ips)\n\
                    a@x.fr\t2\timap\t(10 11)\t(10.0.0.1)\n\
                    b@x.fr\t1\timap\t(12)\t(10.0.0.2)\n\
                    a@x.fr\t1\tpop3\t(13)\t(10.0.0.1)\n\
                    garbage line\n\tnot-a-number\timap\n";
        let users = parse_who(text);
        assert_eq!(users.len(), 2);
        assert_eq!(users[0], UserSessions { username: "a@x.fr".into(), connections: 3, protocols: vec!["imap".into(), "pop3".into()] });
        assert!(parse_who("").is_empty() && parse_who("username\t#\tproto\t(pids)\t(ips)\n").is_empty());
    }
}
