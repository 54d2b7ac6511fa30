//! A JSON Web Key Set as `auth.psc` judges it and `auth.jwt` uses it: which keys can verify
//! a signature (RSA of 2048 bits or more, EC P-256/P-384, Ed25519), and why the others cannot.

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Serialize;

/// Keys of a set looked at, at most (a hostile set's millions of keys are not all parsed).
pub const MAX_KEYS: usize = 100;

/// Key families, as an algorithm needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// HS256/384/512: a shared secret.
    Hmac,
    /// RS*/PS*: an RSA key.
    Rsa,
    /// ES256/384: an EC key.
    Ec,
    /// EdDSA: an Ed25519 key.
    Ed,
}

impl Family {
    /// The family of keys an algorithm verifies with.
    #[must_use]
    pub fn of(alg: Algorithm) -> Family {
        match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
            Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
            Algorithm::EdDSA => Family::Ed,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512 => Family::Rsa,
        }
    }
}

/// One key of the set, as published (public parameters only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// `kid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `kty` (`RSA`, `EC`, `OKP`...).
    pub kty: String,
    /// `alg`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key size: RSA modulus or EC coordinate, bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<usize>,
    /// Why it cannot verify signatures (`unsupported_type`, `bad_encoding`, `wrong_size`,
    /// `rsa_under_2048`, `not_for_signatures`, `unknown_alg`); none when usable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unusable: Option<&'static str>,
}

/// A key that can verify signatures.
#[derive(Clone)]
pub struct UsableKey {
    /// `kid`.
    pub kid: Option<String>,
    /// Its family.
    pub family: Family,
    /// Its `alg`, when the set names one.
    pub alg: Option<Algorithm>,
    /// The verification key.
    pub key: DecodingKey,
}

impl std::fmt::Debug for UsableKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsableKey").field("kid", &self.kid).field("family", &self.family).finish_non_exhaustive()
    }
}

/// A parsed key set.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    /// Every key looked at, usable or not.
    pub info: Vec<KeyInfo>,
    /// The usable ones.
    pub keys: Vec<UsableKey>,
    /// The set had more than [`MAX_KEYS`] keys; the rest were not looked at.
    pub truncated: bool,
}

/// Why a document is no key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotJwks {
    /// Not JSON.
    NotJson,
    /// JSON without a `keys` array.
    NoKeys,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// Parses one key: its description, and the key when it is usable.
#[must_use]
pub fn parse_key(v: &serde_json::Value) -> (KeyInfo, Option<UsableKey>) {
    let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
    let mut info = KeyInfo { kid: text("kid"), kty: text("kty").unwrap_or_default(), alg: text("alg"), bits: None, unusable: None };
    let alg = match info.alg.as_deref().map(str::parse::<Algorithm>) {
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            info.unusable = Some("unknown_alg");
            return (info, None);
        }
        None => None,
    };
    if text("use").is_some_and(|u| u != "sig") {
        info.unusable = Some("not_for_signatures");
        return (info, None);
    }
    let field = |k: &str| text(k).as_deref().and_then(b64);
    let made: Result<(Family, DecodingKey), &'static str> = match info.kty.as_str() {
        "RSA" => match (field("n"), field("e")) {
            (Some(n), Some(e)) if !e.is_empty() && e.len() <= 8 => {
                let n: Vec<u8> = n.into_iter().skip_while(|b| *b == 0).collect();
                info.bits = Some(n.len() * 8);
                if n.len() < 256 {
                    Err("rsa_under_2048")
                } else {
                    Ok((Family::Rsa, DecodingKey::from_rsa_raw_components(&n, &e)))
                }
            }
            _ => Err("bad_encoding"),
        },
        "EC" => {
            let size = match text("crv").as_deref() {
                Some("P-256") => Some(32),
                Some("P-384") => Some(48),
                _ => None,
            };
            match (size, field("x"), field("y")) {
                (None, _, _) => Err("unsupported_type"),
                (Some(size), Some(x), Some(y)) if x.len() == size && y.len() == size => {
                    info.bits = Some(size * 8);
                    match (text("x"), text("y")) {
                        (Some(x), Some(y)) => DecodingKey::from_ec_components(&x, &y).map(|k| (Family::Ec, k)).map_err(|_| "bad_encoding"),
                        _ => Err("bad_encoding"),
                    }
                }
                (Some(_), Some(_), Some(_)) => Err("wrong_size"),
                _ => Err("bad_encoding"),
            }
        }
        "OKP" if text("crv").as_deref() == Some("Ed25519") => match (field("x"), text("x")) {
            (Some(x), Some(raw)) if x.len() == 32 => {
                info.bits = Some(256);
                DecodingKey::from_ed_components(&raw).map(|k| (Family::Ed, k)).map_err(|_| "bad_encoding")
            }
            (Some(_), _) => Err("wrong_size"),
            _ => Err("bad_encoding"),
        },
        _ => Err("unsupported_type"),
    };
    match made {
        Ok((family, key)) if alg.is_none_or(|a| Family::of(a) == family) => {
            let usable = UsableKey { kid: info.kid.clone(), family, alg, key };
            (info, Some(usable))
        }
        Ok(_) => {
            info.unusable = Some("unknown_alg");
            (info, None)
        }
        Err(why) => {
            info.unusable = Some(why);
            (info, None)
        }
    }
}

/// Parses a key set document.
///
/// # Errors
/// [`NotJwks`] when it is not JSON or has no `keys` array.
pub fn parse(body: &[u8]) -> Result<Jwks, NotJwks> {
    let doc: serde_json::Value = serde_json::from_slice(body).map_err(|_| NotJwks::NotJson)?;
    let keys = doc.get("keys").and_then(serde_json::Value::as_array).ok_or(NotJwks::NoKeys)?;
    let mut set = Jwks { truncated: keys.len() > MAX_KEYS, ..Jwks::default() };
    for k in keys.iter().take(MAX_KEYS) {
        let (info, key) = parse_key(k);
        set.info.push(info);
        set.keys.extend(key);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_keys_say_why() {
        let set = parse(br#"{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"},{"kty":"oct","k":"c2VjcmV0"},{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"},{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}]}"#)
            .expect("a set");
        let why: Vec<_> = set.info.iter().map(|k| k.unusable).collect();
        assert_eq!(why, [Some("bad_encoding"), Some("unsupported_type"), Some("wrong_size"), Some("rsa_under_2048"), Some("not_for_signatures")]);
        assert!(set.keys.is_empty());
        assert_eq!(parse(b"{\"keys\": 3}").map(|_| ()), Err(NotJwks::NoKeys));
        assert_eq!(parse(b"<html>").map(|_| ()), Err(NotJwks::NotJson));
    }
}
