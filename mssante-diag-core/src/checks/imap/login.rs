//! `imap.auth` and `imap.latency`: the test account logs in over STARTTLS (never in clear),
//! then, for the latency, the guide's timed `SELECT INBOX`, `FETCH 1:10 (FLAGS)`, `LOGOUT`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use super::session::open;
use crate::starttls::{logout, Failure, ImapSession, GOODBYE_GRACE};
use crate::account::{Login, Sasl};
use crate::checks::{elapsed_ms, grade, Outcome};
use crate::model::{Metric, Status};
use crate::probe::{Deadline, Phase};
use crate::{tr, Lang};

/// Most messages fetched (the guide's `FETCH 1:10`).
const FETCH_MAX: u32 = 10;

/// What to do once logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Log out at once (`imap.auth`).
    Logout,
    /// `SELECT INBOX`, `FETCH 1:10 (FLAGS)`, `LOGOUT`, each timed (`imap.latency`).
    Latency,
}

/// Why the server refused the login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginRefusal {
    /// `NO [AUTHENTICATIONFAILED]`: wrong username or password (or token).
    WrongCredentials,
    /// `NO [PRIVACYREQUIRED]`: TLS required.
    TlsRequired,
    /// `NO [UNAVAILABLE]`: the authentication backend is down.
    Temporary,
    /// Anything else.
    Other,
}

/// One timed step of the session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timed {
    /// `LOGIN`, `SELECT`, `FETCH`, `LOGOUT`.
    pub step: &'static str,
    /// Its time, ms.
    pub ms: f64,
}

/// What the test account's session revealed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImapLogin {
    /// Greeting, capabilities, TLS.
    pub session: ImapSession,
    /// Login name (never the secret).
    pub username: String,
    /// `LOGIN` or `AUTHENTICATE <mechanism>`, when one was possible.
    pub method: Option<String>,
    /// The server accepted the login.
    pub accepted: bool,
    /// Why it did not.
    pub refusal: Option<LoginRefusal>,
    /// The server's refusal (capped).
    pub refusal_text: Option<String>,
    /// No `LOGINDISABLED` before TLS: the server takes a plaintext LOGIN in clear.
    pub plaintext_login_before_tls: bool,
    /// Timed steps after TLS, in order.
    pub steps: Vec<Timed>,
    /// Messages in INBOX (`SELECT`).
    pub exists: Option<u32>,
    /// Messages returned by `FETCH`.
    pub fetched: Option<usize>,
}

impl ImapLogin {
    /// Total time of the timed steps, ms.
    #[must_use]
    pub fn total_ms(&self) -> f64 {
        self.steps.iter().map(|s| s.ms).sum()
    }
}

/// Answers the server's SASL challenges for `AUTHENTICATE`.
struct Sasl2<'a> {
    login: &'a Login,
    m: Sasl,
    rounds: usize,
}

impl async_imap::Authenticator for Sasl2<'_> {
    type Response = Vec<u8>;
    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        self.rounds += 1;
        let text = String::from_utf8_lossy(challenge);
        // The first challenge of an initial-response mechanism is empty: answer with the response.
        let challenge = if self.rounds == 1 && self.m != Sasl::Login { None } else { Some(text.as_ref()) };
        self.login.response(self.m, challenge)
    }
}

fn classify(e: &async_imap::error::Error) -> (LoginRefusal, String) {
    let text: String = e.to_string().chars().take(200).collect();
    let t = text.to_ascii_lowercase();
    let kind = if t.contains("authenticationfailed") || t.contains("authentication failed") {
        LoginRefusal::WrongCredentials
    } else if t.contains("privacyrequired") || t.contains("logindisabled") {
        LoginRefusal::TlsRequired
    } else if t.contains("unavailable") || t.contains("temporary") {
        LoginRefusal::Temporary
    } else {
        LoginRefusal::Other
    };
    (kind, text)
}

/// Opens a session, upgrades it with STARTTLS, logs `login` in (LOGIN, or AUTHENTICATE when
/// LOGIN is disabled or a bearer token is configured), then does `then`, within `timeout`.
/// Without TLS, or without a usable mechanism, no credential is sent.
///
/// # Errors
/// The failure of the step that failed, with what was gathered so far.
pub async fn login_session(host: &str, port: u16, tls_name: &str, login: &Login, then: Then, timeout: Duration, lang: Lang) -> Result<ImapLogin, (ImapLogin, Failure)> {
    let d = Deadline::after(timeout);
    let start = Instant::now();
    let mut l = ImapLogin { username: login.username.clone(), ..ImapLogin::default() };
    let r = run(&mut l, host, port, tls_name, login, then, &d, lang).await;
    l.session.latency_ms = elapsed_ms(start);
    match r {
        Ok(()) => Ok(l),
        Err(f) => Err((l, f)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(l: &mut ImapLogin, host: &str, port: u16, tls_name: &str, login: &Login, then: Then, d: &Deadline, lang: Lang) -> Result<(), Failure> {
    let Some(mut client) = open(&mut l.session, host, port, tls_name, d, lang).await? else { return Ok(()) };
    let has = |caps: &[String], c: &str| caps.iter().any(|x| x.eq_ignore_ascii_case(c));
    l.plaintext_login_before_tls = !has(&l.session.capabilities, "LOGINDISABLED");
    let caps = &l.session.capabilities_after_tls;
    let mechanisms: Vec<String> = caps.iter().filter_map(|c| c.get(..5).filter(|p| p.eq_ignore_ascii_case("AUTH=")).map(|_| c[5..].to_owned())).collect();
    let method = match login.password() {
        Some(_) if !has(caps, "LOGINDISABLED") => None,
        _ => match login.pick(&mechanisms) {
            Some(m) => Some(m),
            None => {
                logout(&mut client, d).await;
                return Ok(());
            }
        },
    };
    l.method = Some(method.map_or_else(|| "LOGIN".to_owned(), |m| format!("AUTHENTICATE {}", m.name())));
    let t = Instant::now();
    let attempt = async {
        match (method, login.password()) {
            (None, Some(pw)) => client.login(&login.username, pw).await,
            (m, _) => client.authenticate(m.unwrap_or(Sasl::Plain).name(), Sasl2 { login, m: m.unwrap_or(Sasl::Plain), rounds: 0 }).await,
        }
    };
    let mut session = match d.step(Phase::Login, attempt).await? {
        Ok(s) => s,
        Err((e, mut client)) => {
            let (kind, text) = classify(&e);
            (l.refusal, l.refusal_text) = (Some(kind), Some(text));
            logout(&mut client, d).await;
            return Ok(());
        }
    };
    l.accepted = true;
    l.steps.push(Timed { step: "LOGIN", ms: elapsed_ms(t) });
    if then == Then::Logout {
        let _ = tokio::time::timeout(GOODBYE_GRACE.min(d.remaining()), session.logout()).await;
        return Ok(());
    }
    let failed = |step: Phase, what: &str, e: async_imap::error::Error| Failure::Protocol { step, cause: format!("{what}: {}", e.to_string().chars().take(200).collect::<String>()) };
    let t = Instant::now();
    let inbox = d.step(Phase::Select, async { session.select("INBOX").await.map_err(|e| failed(Phase::Select, "SELECT INBOX", e)) }).await??;
    l.steps.push(Timed { step: "SELECT", ms: elapsed_ms(t) });
    l.exists = Some(inbox.exists);
    if inbox.exists > 0 {
        let set = format!("1:{}", inbox.exists.min(FETCH_MAX));
        let t = Instant::now();
        let n = d.step(Phase::Fetch, async {
            let stream = session.fetch(&set, "(FLAGS)").await.map_err(|e| failed(Phase::Fetch, "FETCH", e))?;
            let all: Vec<_> = stream.collect().await;
            let n = all.iter().filter(|f| f.is_ok()).count();
            match all.into_iter().find_map(Result::err) {
                Some(e) => Err(failed(Phase::Fetch, "FETCH", e)),
                None => Ok(n),
            }
        })
        .await??;
        l.steps.push(Timed { step: "FETCH", ms: elapsed_ms(t) });
        l.fetched = Some(n);
    }
    let t = Instant::now();
    d.step(Phase::Logout, async { session.logout().await.map_err(|e| failed(Phase::Logout, "LOGOUT", e)) }).await??;
    l.steps.push(Timed { step: "LOGOUT", ms: elapsed_ms(t) });
    Ok(())
}

/// What keeps the login from being `ok`, if anything: no TLS, no mechanism, a refusal.
fn login_problem(l: &ImapLogin, target: &str, lang: Lang) -> Option<(Status, String)> {
    let user = &l.username;
    let s = &l.session;
    if !s.starttls_offered {
        return Some((Status::Critical, tr!(lang, "{target} does not offer STARTTLS: the password was not sent in clear", "{target} ne propose pas STARTTLS : le mot de passe n'a pas été envoyé en clair")));
    }
    let Some(method) = &l.method else {
        let offered = s.capabilities_after_tls.iter().filter(|c| c.to_ascii_uppercase().starts_with("AUTH=")).cloned().collect::<Vec<_>>().join(" ");
        return Some((Status::Critical, tr!(
            lang,
            "mechanism not offered: {target} offers [{offered}] after TLS, none the test account can use",
            "mécanisme non proposé : {target} propose [{offered}] après TLS, aucun que le compte de test sache utiliser"
        )));
    };
    if l.accepted {
        return None;
    }
    let text = l.refusal_text.as_deref().unwrap_or("?");
    let summary = match l.refusal {
        Some(LoginRefusal::WrongCredentials) => {
            tr!(lang, "wrong credentials: {target} refused {user} ({method} over TLS): {text}", "identifiants refusés : {target} a rejeté {user} ({method} sous TLS) : {text}")
        }
        Some(LoginRefusal::TlsRequired) => tr!(lang, "TLS required: {target} refused {method}: {text}", "TLS exigé : {target} a refusé {method} : {text}"),
        Some(LoginRefusal::Temporary) => tr!(
            lang,
            "temporary authentication failure on {target}: {text} (Dovecot's auth service does not answer)",
            "échec temporaire d'authentification sur {target} : {text} (le service auth de Dovecot ne répond pas)"
        ),
        _ => tr!(lang, "{target} refused {method} for {user}: {text}", "{target} a refusé {method} pour {user} : {text}"),
    };
    Some((Status::Critical, summary))
}

/// Judges the test account's login: accepted over TLS is `ok`, unless the server also takes a
/// plaintext LOGIN before TLS (no `LOGINDISABLED`): a `warning`, passwords may travel in clear.
#[must_use]
pub fn evaluate_auth(l: &ImapLogin, target: &str, lang: Lang) -> Outcome {
    let (user, method) = (&l.username, l.method.as_deref().unwrap_or("LOGIN"));
    let (status, summary) = login_problem(l, target, lang).unwrap_or_else(|| {
        if l.plaintext_login_before_tls {
            (Status::Warning, tr!(
                lang,
                "{user} logged in over TLS, but {target} accepts a plaintext LOGIN before STARTTLS (no LOGINDISABLED): passwords may travel in clear",
                "{user} connecté sous TLS, mais {target} accepte un LOGIN en clair avant STARTTLS (pas de LOGINDISABLED) : les mots de passe peuvent circuler en clair"
            ))
        } else {
            (Status::Ok, tr!(lang, "{user} logged in with {method} over TLS on {target}; LOGIN disabled before TLS", "{user} connecté avec {method} sous TLS sur {target} ; LOGIN désactivé avant TLS"))
        }
    });
    let mut o = Outcome::new(status, summary).metric(Metric::new("latency", l.session.latency_ms, "ms"));
    if let Some(t) = l.steps.first() {
        o = o.metric(Metric::new("login_time", t.ms, "ms"));
    }
    o.details(serde_json::json!({ "target": target, "login": l }))
}

/// Judges the timed session: the total of LOGIN, SELECT, FETCH and LOGOUT against
/// `warn_ms` / `crit_ms`; each step's time is a metric.
#[must_use]
pub fn evaluate_latency(l: &ImapLogin, target: &str, warn_ms: f64, crit_ms: f64, lang: Lang) -> Outcome {
    if let Some((status, summary)) = login_problem(l, target, lang) {
        return Outcome::new(status, summary).details(serde_json::json!({ "target": target, "login": l }));
    }
    let total = l.total_ms();
    let status = grade(total, warn_ms, crit_ms);
    let steps = l.steps.iter().map(|s| format!("{} {:.0} ms", s.step, s.ms)).collect::<Vec<_>>().join(", ");
    let summary = if status == Status::Ok {
        tr!(lang, "IMAP session on {target} in {total:.0} ms ({steps})", "session IMAP sur {target} en {total:.0} ms ({steps})")
    } else {
        let limit = if status == Status::Critical { crit_ms } else { warn_ms };
        tr!(lang, "slow IMAP on {target}: {total:.0} ms over {limit} ms ({steps})", "IMAP lent sur {target} : {total:.0} ms au-delà de {limit} ms ({steps})")
    };
    let mut o = Outcome::new(status, summary).metric(Metric::new("total_time", total, "ms").thresholds(warn_ms, crit_ms));
    for s in &l.steps {
        o = o.metric(Metric::new(format!("{}_time", s.step.to_ascii_lowercase()), s.ms, "ms"));
    }
    o.details(serde_json::json!({ "target": target, "login": l }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(plaintext_before_tls: bool) -> ImapLogin {
        ImapLogin {
            session: ImapSession { starttls_offered: true, ..ImapSession::default() },
            username: "u@x.fr".into(),
            method: Some("LOGIN".into()),
            accepted: true,
            plaintext_login_before_tls: plaintext_before_tls,
            steps: vec![Timed { step: "LOGIN", ms: 12.0 }, Timed { step: "SELECT", ms: 3.0 }],
            ..ImapLogin::default()
        }
    }

    #[test]
    fn plaintext_login_before_tls_is_a_finding() {
        let o = evaluate_auth(&accepted(true), "h:143", Lang::En);
        assert_eq!(o.status, Status::Warning, "{}", o.summary);
        assert!(o.summary.contains("plaintext LOGIN before STARTTLS"), "{}", o.summary);
        assert_eq!(evaluate_auth(&accepted(false), "h:143", Lang::Fr).status, Status::Ok);
    }

    #[test]
    fn latency_sums_the_steps_against_the_thresholds() {
        let l = accepted(false);
        assert_eq!(evaluate_latency(&l, "h:143", 10.0, 20.0, Lang::En).status, Status::Warning);
        assert_eq!(evaluate_latency(&l, "h:143", 100.0, 200.0, Lang::En).status, Status::Ok);
        let o = evaluate_latency(&l, "h:143", 1.0, 15.0, Lang::Fr);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.starts_with("IMAP lent"), "{}", o.summary);
    }
}
