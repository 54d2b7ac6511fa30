//! `auth.jwt`: one token, decoded and judged (guide: Auth P2): malformed, `alg: none`,
//! expired, not yet valid, issued in the future (beyond the tolerated clock skew), and its
//! signature checked with the platform's secret (HS256/384/512) or PSC's key set (RS256,
//! ES256...). The token, its signature and the secret are never part of the result; header
//! fields and the standard claims are, with `sub` masked.

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Serialize;

use super::jwks::{Family, UsableKey};
use crate::checks::Outcome;
use crate::config::Secret;
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// Longest token decoded, bytes (real ones are 1 to 4 KiB).
pub const TOKEN_MAX_BYTES: usize = 16 * 1024;

/// Why a token does not decode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Malformed {
    /// Empty.
    Empty,
    /// Longer than [`TOKEN_MAX_BYTES`].
    TooLong {
        /// Its length.
        bytes: usize,
    },
    /// Not three parts separated by dots.
    Parts {
        /// Parts found.
        found: usize,
    },
    /// A part is not base64url.
    Base64 {
        /// `header`, `payload` or `signature`.
        part: &'static str,
    },
    /// A part is not a JSON object.
    NotJson {
        /// `header` or `payload`.
        part: &'static str,
    },
    /// The header has no `alg`.
    NoAlg,
    /// A time claim (`exp`, `nbf`, `iat`) is not a number.
    BadTime {
        /// The claim.
        claim: &'static str,
    },
}

impl Malformed {
    /// What is wrong, in a few words.
    #[must_use]
    pub fn describe(&self, lang: Lang) -> String {
        match self {
            Malformed::Empty => tr!(lang, "empty token", "jeton vide"),
            Malformed::TooLong { bytes } => {
                let max = TOKEN_MAX_BYTES;
                tr!(lang, "{bytes} bytes, more than the {max} a token may have", "{bytes} octets, plus que les {max} d'un jeton")
            }
            Malformed::Parts { found } => tr!(lang, "{found} part(s) instead of 3 separated by dots", "{found} partie(s) au lieu de 3 séparées par des points"),
            Malformed::Base64 { part } => tr!(lang, "the {part} is not base64url", "la partie {part} n'est pas en base64url"),
            Malformed::NotJson { part } => tr!(lang, "the {part} is not a JSON object", "la partie {part} n'est pas un objet JSON"),
            Malformed::NoAlg => tr!(lang, "the header has no alg", "l'en-tête n'a pas d'alg"),
            Malformed::BadTime { claim } => tr!(lang, "claim {claim} is not a number", "la revendication {claim} n'est pas un nombre"),
        }
    }
}

/// A token split and decoded, before any judgement.
#[derive(Debug, Clone)]
pub struct Parsed<'a> {
    /// Header fields.
    pub header: serde_json::Map<String, serde_json::Value>,
    /// Claims.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// `header.payload`, what the signature covers.
    pub signing_input: &'a str,
    /// The signature, base64url (never shown).
    pub signature: &'a str,
}

/// Splits and decodes a token (a leading `Bearer ` and surrounding blanks are ignored).
///
/// # Errors
/// [`Malformed`] naming what is wrong.
pub fn parse(token: &str) -> Result<Parsed<'_>, Malformed> {
    let t = token.trim();
    let t = t.strip_prefix("Bearer ").or_else(|| t.strip_prefix("bearer ")).unwrap_or(t).trim();
    if t.is_empty() {
        return Err(Malformed::Empty);
    }
    if t.len() > TOKEN_MAX_BYTES {
        return Err(Malformed::TooLong { bytes: t.len() });
    }
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() != 3 {
        return Err(Malformed::Parts { found: parts.len() });
    }
    let decode = |s: &str, part| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|_| Malformed::Base64 { part });
    let object = |bytes: Vec<u8>, part| match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(Malformed::NotJson { part }),
    };
    let header = object(decode(parts[0], "header")?, "header")?;
    let claims = object(decode(parts[1], "payload")?, "payload")?;
    decode(parts[2], "signature")?;
    if !header.get("alg").is_some_and(serde_json::Value::is_string) {
        return Err(Malformed::NoAlg);
    }
    let signing_input = &t[..parts[0].len() + 1 + parts[1].len()];
    Ok(Parsed { header, claims, signing_input, signature: parts[2] })
}

/// Decodes `data` as a token and judges it with an HMAC secret and with an empty PSC key
/// set (the `jwt` fuzz target). Never panics.
#[doc(hidden)]
pub fn exercise(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(p) = parse(&text) else { return };
    let _ = needs(&p);
    let secret = Secret::new("fuzz-secret");
    for keys in [Keys { secret: Some(("JWT_SECRET", &secret)), psc: None }, Keys { secret: None, psc: Some(Ok(&[])) }, Keys { secret: None, psc: Some(Err("none")) }] {
        let signature = check_signature(&p, keys, Lang::En);
        if let Ok(t) = facts(&p, signature, 1_732_971_600) {
            let _ = evaluate_jwt(&t, 60, Lang::Fr);
        }
    }
}

/// What the signature check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Signature {
    /// It verifies.
    Valid {
        /// With which key (`JWT_SECRET`, `PSC key rsa-1`).
        key: String,
    },
    /// It does not verify.
    Invalid {
        /// Against what (`JWT_SECRET`, `the PSC key set`...).
        against: String,
    },
    /// `alg: none`: no signature at all.
    Unsigned,
    /// It could not be checked.
    NotChecked {
        /// Why.
        reason: String,
    },
}

/// The keys a signature may be checked with.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    /// The platform's HMAC secret and the name of its variable.
    pub secret: Option<(&'a str, &'a Secret)>,
    /// PSC's usable keys, or why there are none; `None` when PSC is not consulted.
    pub psc: Option<Result<&'a [UsableKey], &'a str>>,
}

/// The family of keys a token needs: `None` for `alg: none`, `Err` for an algorithm no key verifies.
///
/// # Errors
/// The algorithm's name when it is not one this tool knows.
pub fn needs(p: &Parsed<'_>) -> Result<Option<Family>, String> {
    let alg = p.header.get("alg").and_then(serde_json::Value::as_str).unwrap_or_default();
    if alg.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    alg.parse::<Algorithm>().map(|a| Some(Family::of(a))).map_err(|_| alg.to_owned())
}

/// Checks the signature with the keys the algorithm calls for.
#[must_use]
pub fn check_signature(p: &Parsed<'_>, keys: Keys<'_>, lang: Lang) -> Signature {
    let alg_name = p.header.get("alg").and_then(serde_json::Value::as_str).unwrap_or_default();
    if alg_name.eq_ignore_ascii_case("none") {
        return Signature::Unsigned;
    }
    let Ok(alg) = alg_name.parse::<Algorithm>() else {
        return Signature::NotChecked { reason: tr!(lang, "unknown algorithm {alg_name}", "algorithme inconnu {alg_name}") };
    };
    let verifies = |key: &DecodingKey| jsonwebtoken::crypto::verify(p.signature, p.signing_input.as_bytes(), key, alg).unwrap_or(false);
    if Family::of(alg) == Family::Hmac {
        return match keys.secret {
            Some((name, secret)) => {
                if verifies(&DecodingKey::from_secret(secret.expose().as_bytes())) {
                    Signature::Valid { key: name.to_owned() }
                } else {
                    Signature::Invalid { against: name.to_owned() }
                }
            }
            None => Signature::NotChecked { reason: tr!(lang, "no secret to check {alg_name} with", "pas de secret pour vérifier {alg_name}") },
        };
    }
    let set = match keys.psc {
        None => {
            return Signature::NotChecked { reason: tr!(lang, "PSC is not consulted ([auth] psc = false)", "PSC n'est pas consulté ([auth] psc = false)") }
        }
        Some(Err(why)) => return Signature::NotChecked { reason: tr!(lang, "PSC key set unavailable: {why}", "jeu de clés PSC indisponible : {why}") },
        Some(Ok(set)) => set,
    };
    let family = Family::of(alg);
    let kid = p.header.get("kid").and_then(serde_json::Value::as_str);
    let mut candidates: Vec<&UsableKey> = set.iter().filter(|k| k.family == family && k.alg.is_none_or(|a| a == alg)).collect();
    if let Some(kid) = kid {
        candidates.retain(|k| k.kid.as_deref() == Some(kid));
        if candidates.is_empty() {
            return Signature::Invalid {
                against: tr!(lang, "the PSC key set (no key {kid} for {alg_name})", "le jeu de clés PSC (pas de clé {kid} pour {alg_name})"),
            };
        }
    }
    match candidates.iter().find(|k| verifies(&k.key)) {
        Some(k) => Signature::Valid { key: tr!(lang, "PSC key {}", "clé PSC {}", k.kid.as_deref().unwrap_or("-")) },
        None if candidates.is_empty() => {
            Signature::Invalid { against: tr!(lang, "the PSC key set (no key for {alg_name})", "le jeu de clés PSC (aucune clé pour {alg_name})") }
        }
        None => Signature::Invalid { against: tr!(lang, "the PSC key set", "le jeu de clés PSC") },
    }
}

/// A token's facts: header fields, standard claims (`sub` masked), the signature check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenFacts {
    /// `alg`.
    pub alg: String,
    /// `typ`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// `kid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `iss`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `aud` (a string or a list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    /// `sub`, masked (`j***@domaine.fr`, `f:***`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `exp`, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// `nbf`, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// `iat`, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Names of every claim.
    pub claims: Vec<String>,
    /// The signature check.
    pub signature: Signature,
    /// When the token was judged, Unix seconds.
    pub checked_at: i64,
}

/// `sub` as shown: the first character of an e-mail's local part and its domain, else the
/// first two characters.
#[must_use]
pub fn mask(sub: &str) -> String {
    match sub.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None if sub.chars().count() > 6 => format!("{}***", sub.chars().take(2).collect::<String>()),
        None => "***".to_owned(),
    }
}

/// The facts of a parsed token, judged at `now` (Unix seconds).
///
/// # Errors
/// [`Malformed::BadTime`] when `exp`, `nbf` or `iat` is not a number.
pub fn facts(p: &Parsed<'_>, signature: Signature, now: i64) -> Result<TokenFacts, Malformed> {
    let text = |m: &serde_json::Map<String, serde_json::Value>, k: &str| m.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
    let time = |claim: &'static str| -> Result<Option<i64>, Malformed> {
        match p.claims.get(claim) {
            None | Some(serde_json::Value::Null) => Ok(None),
            // NumericDate may have a fraction; whole seconds are enough here.
            #[allow(clippy::cast_possible_truncation)]
            Some(v) => v.as_f64().filter(|f| f.is_finite()).map(|f| Some(f.floor() as i64)).ok_or(Malformed::BadTime { claim }),
        }
    };
    Ok(TokenFacts {
        alg: text(&p.header, "alg").unwrap_or_default(),
        typ: text(&p.header, "typ"),
        kid: text(&p.header, "kid"),
        iss: text(&p.claims, "iss"),
        aud: p.claims.get("aud").cloned(),
        sub: text(&p.claims, "sub").map(|s| mask(&s)),
        exp: time("exp")?,
        nbf: time("nbf")?,
        iat: time("iat")?,
        claims: p.claims.keys().cloned().collect(),
        signature,
        checked_at: now,
    })
}

/// A Unix time as RFC 3339 (UTC).
fn at(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map_or_else(|| t.to_string(), |d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// What went wrong with a token, for the remedies: which causes were found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Causes {
    /// Expired.
    pub expired: bool,
    /// `nbf` or `iat` ahead of this host's clock.
    pub clock: bool,
    /// Bad or missing signature.
    pub signature: bool,
}

/// Judges a token: unsigned, a signature that does not verify, expired, not yet valid or
/// issued in the future (beyond `skew` seconds) is critical; a signature that could not be
/// checked is unknown; no `exp` warns.
#[must_use]
pub fn evaluate_jwt(t: &TokenFacts, skew: u64, lang: Lang) -> (Outcome, Causes) {
    let now = t.checked_at;
    let skew = i64::try_from(skew).unwrap_or(i64::MAX);
    let mut problems: Vec<(Status, String)> = Vec::new();
    let mut causes = Causes::default();
    let alg = &t.alg;
    match &t.signature {
        Signature::Valid { .. } => {}
        Signature::Unsigned => {
            causes.signature = true;
            problems.push((Status::Critical, tr!(lang, "alg none: the token is not signed", "alg none : le jeton n'est pas signé")));
        }
        Signature::Invalid { against } => {
            causes.signature = true;
            problems.push((
                Status::Critical,
                tr!(lang, "invalid {alg} signature: does not verify with {against}", "signature {alg} invalide : ne se vérifie pas avec {against}"),
            ));
        }
        Signature::NotChecked { reason } => problems.push((Status::Unknown, tr!(lang, "signature not checked: {reason}", "signature non vérifiée : {reason}"))),
    }
    #[allow(clippy::cast_precision_loss)]
    let dur = |secs: i64| crate::units::duration(secs.unsigned_abs() as f64, lang);
    if let Some(exp) = t.exp {
        if now > exp.saturating_add(skew) {
            causes.expired = true;
            let (when, ago) = (at(exp), dur(now - exp));
            problems.push((Status::Critical, tr!(lang, "expired at {when} ({ago} ago)", "expiré le {when} (il y a {ago})")));
        }
    } else {
        problems.push((Status::Warning, tr!(lang, "no expiry (exp)", "pas d'expiration (exp)")));
    }
    if let Some(nbf) = t.nbf.filter(|n| *n > now.saturating_add(skew)) {
        causes.clock = true;
        let (when, ahead) = (at(nbf), dur(nbf - now));
        problems.push((Status::Critical, tr!(lang, "not valid before {when} (in {ahead})", "pas valide avant le {when} (dans {ahead})")));
    }
    if let Some(iat) = t.iat.filter(|i| *i > now.saturating_add(skew)) {
        causes.clock = true;
        let (when, ahead) = (at(iat), dur(iat - now));
        problems.push((
            Status::Critical,
            tr!(
                lang,
                "issued in the future ({when}, {ahead} ahead of this host's clock)",
                "émis dans le futur ({when}, {ahead} d'avance sur l'horloge de cet hôte)"
            ),
        ));
    }
    let status = problems.iter().fold(Status::Ok, |acc, (s, _)| acc.worst(*s));
    let summary = if problems.is_empty() {
        let key = match &t.signature {
            Signature::Valid { key } => key.as_str(),
            _ => "",
        };
        let left = t.exp.map(|e| dur(e - now)).unwrap_or_default();
        let iss = t.iss.as_deref().map(|i| tr!(lang, ", issuer {i}", ", émetteur {i}")).unwrap_or_default();
        tr!(lang, "valid {alg} token signed with {key}, expires in {left}{iss}", "jeton {alg} valide signé avec {key}, expire dans {left}{iss}")
    } else {
        problems.sort_by_key(|(s, _)| std::cmp::Reverse(s.severity()));
        problems.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>().join("; ")
    };
    let mut o = Outcome::new(status, summary).details(t);
    if let Some(exp) = t.exp {
        #[allow(clippy::cast_precision_loss)]
        let left = (exp - now) as f64;
        o = o.metric(Metric::new("expires_in", left, "s"));
    }
    (o, causes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong_without_quoting() {
        assert_eq!(parse("").map(|_| ()), Err(Malformed::Empty));
        assert_eq!(parse("abc.def").map(|_| ()), Err(Malformed::Parts { found: 2 }));
        assert_eq!(parse("a!b.c.d").map(|_| ()), Err(Malformed::Base64 { part: "header" }));
        let t = format!("{}.{}.", b64("[1]"), b64("{}"));
        assert_eq!(parse(&t).map(|_| ()), Err(Malformed::NotJson { part: "header" }));
        let t = format!("{}.{}.", b64("{\"typ\":\"JWT\"}"), b64("{}"));
        assert_eq!(parse(&t).map(|_| ()), Err(Malformed::NoAlg));
        let long = "a".repeat(TOKEN_MAX_BYTES + 1);
        assert!(matches!(parse(&long), Err(Malformed::TooLong { .. })));
        let t = format!("Bearer {}.{}.", b64("{\"alg\":\"none\"}"), b64("{\"exp\":\"soon\"}"));
        let p = parse(&t).expect("parses");
        assert_eq!(facts(&p, Signature::Unsigned, 0).map(|_| ()), Err(Malformed::BadTime { claim: "exp" }));
    }

    #[test]
    fn times_are_judged_with_the_skew() {
        let t = format!("{}.{}.", b64("{\"alg\":\"HS256\"}"), b64("{\"exp\":1000,\"iat\":1080,\"sub\":\"jean.dupont@hopital.fr\"}"));
        let p = parse(&t).expect("parses");
        let f = facts(&p, Signature::Valid { key: "JWT_SECRET".into() }, 1030).expect("facts");
        assert_eq!(f.sub.as_deref(), Some("j***@hopital.fr"));
        assert_eq!(evaluate_jwt(&f, 60, Lang::En).0.status, Status::Ok);
        let (o, causes) = evaluate_jwt(&f, 10, Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("expired at 1970-01-01T00:16:40Z") && o.summary.contains("issued in the future"), "{}", o.summary);
        assert!(causes.expired && causes.clock);
    }
}
