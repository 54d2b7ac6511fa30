//! `smtp.auth`: the test account logs in on the submission port, over STARTTLS only
//! (the password is never sent in clear), and a refusal is explained.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::session::open;
use crate::starttls::{command, goodbye, Failure, SmtpReply, SmtpSession};
use crate::account::{decode_challenge, Login, Sasl};
use crate::checks::{elapsed_ms, Outcome};
use crate::model::{Metric, Status};
use crate::probe::{Deadline, Phase};
use crate::{tr, Lang};

/// Most challenge rounds of one AUTH exchange (LOGIN takes two).
const MAX_ROUNDS: usize = 4;

/// What an AUTH attempt revealed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuthAttempt {
    /// The session up to AUTH (banner, EHLO, STARTTLS, mechanisms offered).
    pub session: SmtpSession,
    /// Login name used (never the secret).
    pub username: String,
    /// The mechanism tried, if the server offered one the account can use.
    pub mechanism: Option<Sasl>,
    /// Mechanisms the account can use, preferred first.
    pub usable: Vec<Sasl>,
    /// The server's final answer to AUTH.
    pub reply: Option<SmtpReply>,
    /// Time of the AUTH exchange itself, ms.
    pub auth_ms: Option<f64>,
}

/// Opens a session on `port`, upgrades it with STARTTLS, and authenticates `login` with the
/// first mechanism both sides know, all within `timeout`. Without TLS, or without a common
/// mechanism, no credential is sent.
///
/// # Errors
/// The failure of the step that failed, with what was gathered so far.
pub async fn try_auth(
    host: &str,
    port: u16,
    hello: &str,
    tls_name: &str,
    login: &Login,
    timeout: Duration,
    lang: Lang,
) -> Result<AuthAttempt, (AuthAttempt, Failure)> {
    let d = Deadline::after(timeout);
    let mut a = AuthAttempt { username: login.username.clone(), usable: login.mechanisms().to_vec(), ..AuthAttempt::default() };
    let start = Instant::now();
    let r = attempt(&mut a, host, port, hello, tls_name, login, &d, lang).await;
    a.session.latency_ms = elapsed_ms(start);
    match r {
        Ok(()) => Ok(a),
        Err(f) => Err((a, f)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn attempt(a: &mut AuthAttempt, host: &str, port: u16, hello: &str, tls_name: &str, login: &Login, d: &Deadline, lang: Lang) -> Result<(), Failure> {
    let mut io = open(&mut a.session, host, port, hello, tls_name, d, lang).await?;
    a.mechanism = if a.session.tls_established { login.pick(&a.session.auth_after_tls) } else { None };
    let Some(m) = a.mechanism else {
        goodbye(&mut io, d, lang).await;
        return Ok(());
    };
    let start = Instant::now();
    let first = if m == Sasl::Login { "AUTH LOGIN\r\n".to_owned() } else { format!("AUTH {} {}\r\n", m.name(), login.response_b64(m, None)) };
    let mut reply = d.step(Phase::Login, command(&mut io, Some(&first), Phase::Login, lang)).await??;
    for _ in 0..MAX_ROUNDS {
        if reply.code != 334 {
            break;
        }
        let challenge = decode_challenge(reply.first());
        let answer = format!("{}\r\n", login.response_b64(m, Some(&challenge)));
        reply = d.step(Phase::Login, command(&mut io, Some(&answer), Phase::Login, lang)).await??;
    }
    a.auth_ms = Some(elapsed_ms(start));
    a.reply = Some(reply.shown());
    goodbye(&mut io, d, lang).await;
    Ok(())
}

/// Why an AUTH was refused, from its reply code and enhanced status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthRefusal {
    /// `535 5.7.8`: the username or password (or token) is wrong.
    WrongCredentials,
    /// `530 5.7.0`, `538 5.7.11`: the server requires TLS first.
    TlsRequired,
    /// `504 5.5.4`: the mechanism is not supported after all.
    MechanismRejected,
    /// `534 5.7.9`: the mechanism is too weak for this server.
    MechanismTooWeak,
    /// `454 4.7.0` and other 4xx: the authentication backend did not answer (Dovecot's auth).
    Temporary,
    /// Any other reply.
    Other,
}

/// Classifies a refusal of AUTH.
#[must_use]
pub fn classify(reply: &SmtpReply) -> AuthRefusal {
    let e = reply.enhanced.as_deref().unwrap_or_default();
    match (reply.code, e) {
        (535, _) | (_, "5.7.8") => AuthRefusal::WrongCredentials,
        (530 | 538, _) | (_, "5.7.11" | "5.7.0") => AuthRefusal::TlsRequired,
        (504, _) | (_, "5.5.4") => AuthRefusal::MechanismRejected,
        (534, _) | (_, "5.7.9") => AuthRefusal::MechanismTooWeak,
        (400..=499, _) => AuthRefusal::Temporary,
        _ => AuthRefusal::Other,
    }
}

/// Judges an AUTH attempt: accepted (235) is `ok`; anything else is `critical`, explained:
/// no TLS, no common mechanism, wrong credentials, TLS required, backend down.
#[must_use]
pub fn evaluate_auth(a: &AuthAttempt, target: &str, lang: Lang) -> Outcome {
    let user = &a.username;
    let s = &a.session;
    let wanted = a.usable.iter().map(|m| m.name()).collect::<Vec<_>>().join("/");
    let (status, summary) = if !s.starttls_offered {
        (Status::Critical, tr!(lang, "{target} does not offer STARTTLS: TLS is required before AUTH, the password was not sent", "{target} ne propose pas STARTTLS : TLS est requis avant AUTH, le mot de passe n'a pas été envoyé"))
    } else if !s.tls_established {
        (Status::Critical, tr!(lang, "STARTTLS did not complete on {target}: the password was not sent", "STARTTLS n'a pas abouti sur {target} : le mot de passe n'a pas été envoyé"))
    } else if let (Some(m), Some(r)) = (a.mechanism, &a.reply) {
        let m = m.name();
        if r.code == 235 {
            (Status::Ok, tr!(lang, "{user} authenticated with {m} over TLS on {target}", "{user} authentifié avec {m} sous TLS sur {target}"))
        } else {
            let explained = match classify(r) {
                AuthRefusal::WrongCredentials => tr!(
                    lang,
                    "wrong credentials: {target} refused {user} with {m} over TLS ({r})",
                    "identifiants refusés : {target} a rejeté {user} avec {m} sous TLS ({r})"
                ),
                AuthRefusal::TlsRequired => tr!(lang, "TLS required: {target} refused AUTH {m} ({r})", "TLS exigé : {target} a refusé AUTH {m} ({r})"),
                AuthRefusal::MechanismRejected | AuthRefusal::MechanismTooWeak => {
                    tr!(lang, "mechanism {m} refused by {target} although offered ({r})", "mécanisme {m} refusé par {target} bien que proposé ({r})")
                }
                AuthRefusal::Temporary => tr!(
                    lang,
                    "temporary authentication failure on {target} ({r}): the authentication backend (Dovecot's auth service) does not answer",
                    "échec temporaire d'authentification sur {target} ({r}) : le service d'authentification (auth de Dovecot) ne répond pas"
                ),
                AuthRefusal::Other => tr!(lang, "{target} answered AUTH {m} with {r}", "{target} a répondu {r} à AUTH {m}"),
            };
            (Status::Critical, explained)
        }
    } else {
        let offered = if s.auth_after_tls.is_empty() { tr!(lang, "no AUTH at all", "aucun AUTH") } else { format!("AUTH {}", s.auth_after_tls.join(" ")) };
        (Status::Critical, tr!(
            lang,
            "mechanism not offered: {target} offers {offered} after TLS, the test account needs {wanted}",
            "mécanisme non proposé : {target} propose {offered} après TLS, le compte de test a besoin de {wanted}"
        ))
    };
    let mut o = Outcome::new(status, summary).metric(Metric::new("latency", s.latency_ms, "ms"));
    if let Some(ms) = a.auth_ms {
        o = o.metric(Metric::new("auth_time", ms, "ms"));
    }
    let refusal = a.reply.as_ref().filter(|r| r.code != 235).map(classify);
    o.details(serde_json::json!({ "target": target, "attempt": a, "refusal": refusal }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, enhanced: Option<&str>) -> SmtpReply {
        SmtpReply { code, enhanced: enhanced.map(str::to_owned), text: String::new() }
    }

    #[test]
    fn refusals_are_told_apart() {
        assert_eq!(classify(&reply(535, Some("5.7.8"))), AuthRefusal::WrongCredentials);
        assert_eq!(classify(&reply(530, Some("5.7.0"))), AuthRefusal::TlsRequired);
        assert_eq!(classify(&reply(538, None)), AuthRefusal::TlsRequired);
        assert_eq!(classify(&reply(504, Some("5.5.4"))), AuthRefusal::MechanismRejected);
        assert_eq!(classify(&reply(534, Some("5.7.9"))), AuthRefusal::MechanismTooWeak);
        assert_eq!(classify(&reply(454, Some("4.7.0"))), AuthRefusal::Temporary);
        assert_eq!(classify(&reply(554, None)), AuthRefusal::Other);
    }
}
