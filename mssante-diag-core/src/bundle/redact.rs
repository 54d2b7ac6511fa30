//! Redaction of everything the bundle writes: applied to each member before it is added.
//!
//! Replaced by `[REDACTED]`: values of secret-looking keys (`PASSWORD`, `SECRET`, `TOKEN`,
//! `KEY`...) in `KEY=value`, `key: value`, `"key": "value"` forms; passwords in URLs
//! (`scheme://user:password@`, the short `user:password@host` of proxy variables) and libpq DSNs (`password=...`); `Authorization` headers;
//! bearer and basic credentials; JWTs; PEM private keys (an unterminated one to the end of
//! the text); and every known secret value wherever it appears (the values of `.env` keys
//! that are secret, the configuration's credentials). E-mail addresses are masked
//! (`d***@domain`) unless asked otherwise.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use regex::Regex;

use crate::config::REDACTED;

/// Words that make a key secret (matched case-insensitively anywhere in the key name).
const SECRET_WORDS: &str = r"pass(?:word|wd|phrase)?|pwd|secret|token|key|credential|authorization|cookie|session|salt|private|signature";

/// A key name that looks secret (`POSTGRES_PASSWORD`, `api_key`, `jwt.secret`...).
static SECRET_KEY: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!(r"(?i)^[\w.-]*(?:{SECRET_WORDS})[\w.-]*$")));

/// `key = value`, `key: value`, `"key": "value"` with a secret-looking key.
static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r#"(?i)(["']?[\w.-]*(?:{SECRET_WORDS})[\w.-]*["']?[ \t]*(?:=|:)[ \t]*)(\[REDACTED\]|"[^"\r\n]*"|'[^'\r\n]*'|[^\s,;&"'}}\]]+)"#
    ))
});

/// `Authorization: ...` and `Proxy-Authorization: ...` headers: the rest of the line.
static AUTH_HEADER: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)((?:proxy-)?authorization[ \t]*[:=][ \t]*)[^\r\n]*"));

/// `Bearer <token>`, `Basic <base64>`.
static BEARER: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)\b(bearer|basic)([ \t]+)[A-Za-z0-9._~+/=-]{4,}"));

/// A JWT (header and payload are base64url JSON objects, so both start with `eyJ`).
static JWT: LazyLock<Regex> =
    LazyLock::new(|| compile(r"eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"));

/// `scheme://user:password@`: the password.
static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):([^\s@/]*)@"));

/// `user:password@host` without a scheme (a proxy variable's short form): the password.
static USERINFO_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    compile(r#"(?i)(^|[\s=,;"'(])([a-z0-9._%+-]+):([^\s@/"']+)@([a-z0-9.-]+|\[[0-9a-f:.]+\])"#)
});

/// A PEM private key block (any kind), or its beginning when the end is cut off.
static PEM_KEY: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?s)-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
    )
});

/// An e-mail address.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b",
    )
});

/// The patterns are constants: a failure to compile is a bug caught by every test.
fn compile(pattern: &str) -> Regex {
    #[allow(clippy::unwrap_used)]
    Regex::new(pattern).unwrap()
}

/// Known secret values shorter than this are not searched for (they would mask ordinary words).
pub const MIN_SECRET_LEN: usize = 4;

/// Whether a key name looks secret (`POSTGRES_PASSWORD`, `client_secret`, `API_KEY`...).
#[must_use]
pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEY.is_match(key.trim().trim_matches(['"', '\'']))
}

/// Redacts text and JSON for the bundle.
#[derive(Clone)]
pub struct Redactor {
    known: Option<AhoCorasick>,
    mask_emails: bool,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("mask_emails", &self.mask_emails)
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// A redactor that also replaces each of `secrets` wherever it appears (values shorter
    /// than [`MIN_SECRET_LEN`] are ignored), and masks e-mail addresses if `mask_emails`.
    #[must_use]
    pub fn new<I: IntoIterator<Item = String>>(secrets: I, mask_emails: bool) -> Self {
        let mut values: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.chars().count() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so a secret that contains another is replaced whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        let known = if values.is_empty() {
            None
        } else {
            aho_corasick::AhoCorasickBuilder::new()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&values)
                .ok()
        };
        Self { known, mask_emails }
    }

    /// The text with every secret replaced by `[REDACTED]` (and e-mail addresses masked).
    #[must_use]
    pub fn text(&self, text: &str) -> String {
        let mut out = match &self.known {
            Some(ac) => ac.replace_all(text, &vec![REDACTED; ac.patterns_len()]),
            None => text.to_owned(),
        };
        out = PEM_KEY
            .replace_all(
                &out,
                format!("-----BEGIN $1----- {REDACTED} -----END $1-----"),
            )
            .into_owned();
        out = AUTH_HEADER
            .replace_all(&out, format!("${{1}}{REDACTED}"))
            .into_owned();
        out = BEARER
            .replace_all(&out, format!("${{1}}${{2}}{REDACTED}"))
            .into_owned();
        out = JWT.replace_all(&out, REDACTED).into_owned();
        out = URL_PASSWORD
            .replace_all(&out, format!("${{1}}:{REDACTED}@"))
            .into_owned();
        out = USERINFO_PASSWORD
            .replace_all(&out, format!("${{1}}${{2}}:{REDACTED}@${{4}}"))
            .into_owned();
        out = KEY_VALUE
            .replace_all(&out, |c: &regex::Captures<'_>| {
                let value = &c[2];
                let quoted =
                    |q: char| value.len() >= 2 && value.starts_with(q) && value.ends_with(q);
                if value.trim_matches(['"', '\'']) == REDACTED || value.is_empty() {
                    c[0].to_owned()
                } else if quoted('"') {
                    format!("{}\"{REDACTED}\"", &c[1])
                } else if quoted('\'') {
                    format!("{}'{REDACTED}'", &c[1])
                } else {
                    format!("{}{REDACTED}", &c[1])
                }
            })
            .into_owned();
        if self.mask_emails {
            out = EMAIL.replace_all(&out, "$1***@$2").into_owned();
        }
        out
    }

    /// A JSON document with every string redacted as [`Redactor::text`], and every scalar
    /// under a secret-looking key replaced by `[REDACTED]`.
    #[must_use]
    pub fn json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) if is_secret_key(k) && !s.is_empty() => {
                                Value::String(REDACTED.to_owned())
                            }
                            other => self.json(other),
                        };
                        (self.text(k), v)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The lines of a `.env` file: the value of every key in `secret_keys` or that looks
    /// secret becomes `[REDACTED]`; every other line goes through [`Redactor::text`].
    #[must_use]
    pub fn env_file(&self, text: &str, secret_keys: &[String]) -> String {
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            let body = line.trim_start().trim_start_matches("export ").trim_start();
            let key = body
                .split_once('=')
                .map(|(k, _)| k.trim())
                .filter(|k| !k.is_empty() && !k.starts_with('#'));
            match key {
                Some(k) if is_secret_key(k) || secret_keys.iter().any(|s| s == k) => {
                    out.push_str(k);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                _ => out.push_str(&self.text(line)),
            }
            out.push('\n');
        }
        out
    }
}

/// The `.env` keys marked secret by a comment: `# @secret` on the line before the key, or
/// after the value (`KEY=value # @secret`).
#[must_use]
pub fn marked_env_keys(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut marked = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            marked = marked || t.contains("@secret");
            continue;
        }
        if let Some((k, v)) = t.trim_start_matches("export ").split_once('=') {
            if marked || v.contains("# @secret") {
                keys.push(k.trim().to_owned());
            }
        }
        marked = false;
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new(["Known-Value-42".to_owned(), "abc".to_owned()], true)
    }

    #[test]
    fn secret_keys_in_every_form() {
        let text = "POSTGRES_PASSWORD=pw1\npassword = \"pw2\"\n\"client_secret\": \"pw3\"\napi_key: pw4\nJWT_SECRET='pw5'\nx=1 token=pw6&y=2";
        let out = r().text(text);
        for s in ["pw1", "pw2", "pw3", "pw4", "pw5", "pw6"] {
            assert!(!out.contains(s), "{s} in {out}");
        }
        assert!(
            out.contains("POSTGRES_PASSWORD=[REDACTED]")
                && out.contains("password = \"[REDACTED]\"")
                && out.contains("x=1"),
            "{out}"
        );
    }

    #[test]
    fn urls_dsns_headers_tokens_keys() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let text = format!(
            "db postgres://u:urlpw@h:5432/d and redis://:redispw@h/0\nhost=h user=u password=dsnpw dbname=d\n\
             Authorization: Basic dXNlcjpoZWFkZXJwdw==\ncurl -H 'X: Bearer bearertok123'\nt={jwt}\n\
             -----BEGIN RSA PRIVATE KEY-----\nMIIEpemkey\n-----END RSA PRIVATE KEY-----\n-----BEGIN PRIVATE KEY-----\ncutpem"
        );
        let out = r().text(&text);
        let short =
            r().text("ALL_PROXY=proxyuser:shortpw@proxy.example:3128 and (u:shortpw2@[::1])");
        assert_eq!(
            short,
            "ALL_PROXY=proxyuser:[REDACTED]@proxy.example:3128 and (u:[REDACTED]@[::1])"
        );
        for s in [
            "urlpw",
            "redispw",
            "dsnpw",
            "dXNlcjpoZWFkZXJwdw",
            "bearertok123",
            "c2lnbmF0dXJl",
            "MIIEpemkey",
            "cutpem",
        ] {
            assert!(!out.contains(s), "{s} in {out}");
        }
        assert!(out.contains("postgres://u:[REDACTED]@h:5432/d"), "{out}");
    }

    #[test]
    fn known_values_and_emails() {
        let out = r().text("log: user dr.house@hopital.mssante.fr said Known-Value-42; abc stays");
        assert!(
            !out.contains("Known-Value-42") && !out.contains("dr.house"),
            "{out}"
        );
        assert!(
            out.contains("d***@hopital.mssante.fr") && out.contains("abc stays"),
            "{out}"
        );
        let kept = Redactor::new(Vec::<String>::new(), false).text("a@b.fr");
        assert_eq!(kept, "a@b.fr");
    }

    #[test]
    fn json_by_key_and_by_value() {
        let v = serde_json::json!({"password": "p1", "nested": {"api_token": "p2", "n": 3, "url": "http://u:p3@h"}, "list": ["SECRET_X=p4"]});
        let out = r().json(&v).to_string();
        for s in ["p1", "p2", "p3", "p4"] {
            assert!(
                !out.contains(&format!("\"{s}"))
                    && !out.contains(&format!(":{s}@"))
                    && !out.contains(&format!("={s}")),
                "{s} in {out}"
            );
        }
        assert!(out.contains("\"n\":3"), "{out}");
    }

    #[test]
    fn env_file_hides_secret_and_marked_keys() {
        let env =
            "DOMAIN=x.fr\n# @secret\nPLAIN_LOOKING=v1\nOTHER=v2 # @secret\nREDIS_PASSWORD=v3\n";
        let marked = marked_env_keys(env);
        assert_eq!(marked, ["PLAIN_LOOKING", "OTHER"]);
        let out = r().env_file(env, &marked);
        assert!(
            out.contains("DOMAIN=x.fr")
                && !out.contains("v1")
                && !out.contains("v2")
                && !out.contains("v3"),
            "{out}"
        );
    }

    #[test]
    fn redaction_is_idempotent() {
        let once = r().text("PASSWORD=x y=https://a:b@c");
        assert_eq!(r().text(&once), once);
    }
}
