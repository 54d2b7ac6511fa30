//! The test account the mail checks log in with (`smtp.auth`, `imap.auth`, `imap.latency`):
//! who, with which secret (a password, or a bearer token for XOAUTH2 / OAUTHBEARER), and the
//! SASL responses built from them. The secret only ever goes to the protocol: never into a
//! summary, a detail or an error.

use std::path::PathBuf;

use base64::Engine as _;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Credential, Secret};
use crate::{tr, Lang};

/// Largest bearer-token file read, bytes (a JWT is a few KiB).
const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// A section's test account: `username`, `password_env` (or `password`), and optionally a
/// bearer token (`bearer_token_file` or `bearer_token_env`) for XOAUTH2 / OAUTHBEARER.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TestAccount {
    /// Login name. Default: `SMTP_TEST_USER` of `.env`, else none (the auth checks are skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// File holding an OAuth2 bearer token (relative to the project folder); when set (or
    /// `bearer_token_env`), XOAUTH2 / OAUTHBEARER is used instead of the password. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// Variable holding an OAuth2 bearer token (environment, then `.env`). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
    /// Variable holding the password (environment, then `.env`). Default: `SMTP_TEST_PASSWORD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Inline password (prefer `password_env`). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

impl TestAccount {
    /// The platform's test account: `SMTP_TEST_USER` and `SMTP_TEST_PASSWORD` of `.env`.
    #[must_use]
    pub fn from_platform(p: &crate::config::Platform<'_>) -> Self {
        Self {
            username: p.env.get("SMTP_TEST_USER").map(str::to_owned),
            bearer_token_file: None,
            bearer_token_env: None,
            password_env: Some("SMTP_TEST_PASSWORD".into()),
            password: None,
        }
    }

    /// The `{section.username}` value remedies cite (`USER` when none is configured).
    #[must_use]
    pub fn username_var(&self) -> (&'static str, String) {
        (
            "username",
            self.username.clone().unwrap_or_else(|| "USER".into()),
        )
    }
}

/// What the account logs in with.
#[derive(Debug, Clone)]
pub enum LoginSecret {
    /// A password (PLAIN, LOGIN).
    Password(Secret),
    /// An OAuth2 bearer token (XOAUTH2, OAUTHBEARER).
    Bearer(Secret),
}

/// A resolved test account, ready to log in.
#[derive(Debug, Clone)]
pub struct Login {
    /// Login name.
    pub username: String,
    /// Its secret.
    pub secret: LoginSecret,
}

/// Why the account cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoLogin {
    /// Nothing configured: the check is skipped; the text names the keys to set.
    NotConfigured(String),
    /// A configured token file could not be read: the check cannot run.
    Unreadable(String),
}

/// What stops a check that needs the account: skipped when not configured, unknown when unreadable.
impl From<NoLogin> for crate::checks::Outcome {
    fn from(e: NoLogin) -> Self {
        match e {
            NoLogin::NotConfigured(m) => Self::skipped(m),
            NoLogin::Unreadable(m) => Self::unknown(m),
        }
    }
}

impl Login {
    /// The account of section `section` (`smtp`, `imap`) of `config`.
    ///
    /// # Errors
    /// [`NoLogin`]: not configured (skip), or the token file unreadable.
    pub fn resolve(
        account: &TestAccount,
        section: &str,
        config: &Config,
        lang: Lang,
    ) -> Result<Self, NoLogin> {
        let missing = || {
            NoLogin::NotConfigured(tr!(
                lang,
                "no test account configured: set {section}.username and {section}.password_env (or SMTP_TEST_USER and SMTP_TEST_PASSWORD in .env)",
                "aucun compte de test configuré : renseigner {section}.username et {section}.password_env (ou SMTP_TEST_USER et SMTP_TEST_PASSWORD dans .env)"
            ))
        };
        let username = account
            .username
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(missing)?;
        if let Some(file) = &account.bearer_token_file {
            let path = config.project_path(file);
            let token = read_token(&path).map_err(|reason| {
                let p = path.display();
                NoLogin::Unreadable(tr!(
                    lang,
                    "cannot read the bearer token file {p}: {reason}",
                    "impossible de lire le fichier de jeton {p} : {reason}"
                ))
            })?;
            return Ok(Self {
                username,
                secret: LoginSecret::Bearer(token),
            });
        }
        if let Some(var) = &account.bearer_token_env {
            let token = config.env.lookup(var).ok_or_else(|| {
                NoLogin::NotConfigured(tr!(
                    lang,
                    "{section}.bearer_token_env names {var}, which is not set",
                    "{section}.bearer_token_env désigne {var}, qui n'est pas définie"
                ))
            })?;
            return Ok(Self {
                username,
                secret: LoginSecret::Bearer(Secret::new(token.trim())),
            });
        }
        let credential = Credential {
            password: account.password.clone(),
            password_env: account.password_env.clone(),
        };
        let password = config.secret(&credential).ok_or_else(missing)?;
        Ok(Self {
            username,
            secret: LoginSecret::Password(password),
        })
    }

    /// The password or token itself: for the protocol only.
    fn exposed(&self) -> &str {
        match &self.secret {
            LoginSecret::Password(s) | LoginSecret::Bearer(s) => s.expose(),
        }
    }

    fn credentials(&self) -> Credentials {
        Credentials::new(self.username.clone(), self.exposed().to_owned())
    }

    /// The password, for IMAP `LOGIN` (none for a bearer token).
    #[must_use]
    pub fn password(&self) -> Option<&str> {
        match &self.secret {
            LoginSecret::Password(s) => Some(s.expose()),
            LoginSecret::Bearer(_) => None,
        }
    }

    /// The SASL mechanisms this account can use, preferred first.
    #[must_use]
    pub fn mechanisms(&self) -> &'static [Sasl] {
        match self.secret {
            LoginSecret::Password(_) => &[Sasl::Plain, Sasl::Login],
            LoginSecret::Bearer(_) => &[Sasl::OAuthBearer, Sasl::XOAuth2],
        }
    }

    /// The first of [`Login::mechanisms`] that the server offers (names as in `AUTH=PLAIN`
    /// or an EHLO `AUTH PLAIN LOGIN` line, any case).
    #[must_use]
    pub fn pick(&self, offered: &[String]) -> Option<Sasl> {
        self.mechanisms()
            .iter()
            .copied()
            .find(|m| offered.iter().any(|o| o.eq_ignore_ascii_case(m.name())))
    }

    /// The client's response (not yet base64-encoded) to `challenge` (`None` for the initial
    /// response) with mechanism `m`.
    #[must_use]
    pub fn response(&self, m: Sasl, challenge: Option<&str>) -> Vec<u8> {
        match m {
            Sasl::Plain => Mechanism::Plain
                .response(&self.credentials(), None)
                .unwrap_or_default()
                .into_bytes(),
            Sasl::Login => Mechanism::Login
                .response(&self.credentials(), challenge)
                .unwrap_or_default()
                .into_bytes(),
            // After a failed XOAUTH2 / OAUTHBEARER the server sends an error challenge: the
            // client answers it with an empty response, then gets the final refusal.
            Sasl::XOAuth2 | Sasl::OAuthBearer if challenge.is_some() => Vec::new(),
            Sasl::XOAuth2 => Mechanism::Xoauth2
                .response(&self.credentials(), None)
                .unwrap_or_default()
                .into_bytes(),
            Sasl::OAuthBearer => {
                let token = self.exposed();
                format!(
                    "n,a={},\x01auth=Bearer {token}\x01\x01",
                    self.username.replace('=', "=3D").replace(',', "=2C")
                )
                .into_bytes()
            }
        }
    }

    /// [`Login::response`], base64-encoded (as SMTP `AUTH` and IMAP `AUTHENTICATE` send it).
    #[must_use]
    pub fn response_b64(&self, m: Sasl, challenge: Option<&str>) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.response(m, challenge))
    }
}

/// Decodes a base64 server challenge (`334 VXNlcm5hbWU6`) to text, lossily.
#[must_use]
pub fn decode_challenge(b64: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A SASL mechanism the mail checks speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Sasl {
    /// RFC 4616.
    #[serde(rename = "PLAIN")]
    Plain,
    /// The obsolete LOGIN mechanism.
    #[serde(rename = "LOGIN")]
    Login,
    /// Google's XOAUTH2.
    #[serde(rename = "XOAUTH2")]
    XOAuth2,
    /// RFC 7628.
    #[serde(rename = "OAUTHBEARER")]
    OAuthBearer,
}

impl Sasl {
    /// The mechanism's name on the wire.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Sasl::Plain => "PLAIN",
            Sasl::Login => "LOGIN",
            Sasl::XOAuth2 => "XOAUTH2",
            Sasl::OAuthBearer => "OAUTHBEARER",
        }
    }
}

fn read_token(path: &std::path::Path) -> Result<Secret, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.kind().to_string())?;
    let mut text = String::new();
    file.take(MAX_TOKEN_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.kind().to_string())?;
    if text.len() as u64 > MAX_TOKEN_FILE {
        return Err(format!("larger than {MAX_TOKEN_FILE} bytes"));
    }
    let token = text.trim();
    if token.is_empty() {
        return Err("empty".into());
    }
    Ok(Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(secret: LoginSecret) -> Login {
        Login {
            username: "dr,who=x@example.test".into(),
            secret,
        }
    }

    #[test]
    fn sasl_responses() {
        let p = login(LoginSecret::Password(Secret::new("pw")));
        assert_eq!(
            p.response(Sasl::Plain, None),
            b"\0dr,who=x@example.test\0pw"
        );
        assert_eq!(
            p.response(Sasl::Login, Some("Username:")),
            b"dr,who=x@example.test"
        );
        assert_eq!(p.response(Sasl::Login, Some("Password:")), b"pw");
        let b = login(LoginSecret::Bearer(Secret::new("tok")));
        assert_eq!(
            b.response(Sasl::XOAuth2, None),
            b"user=dr,who=x@example.test\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            b.response(Sasl::OAuthBearer, None),
            b"n,a=dr=2Cwho=3Dx@example.test,\x01auth=Bearer tok\x01\x01"
        );
        assert!(b
            .response(Sasl::XOAuth2, Some("{\"status\":\"401\"}"))
            .is_empty());
        assert_eq!(decode_challenge("VXNlcm5hbWU6"), "Username:");
    }

    #[test]
    fn mechanisms_follow_the_secret() {
        let p = login(LoginSecret::Password(Secret::new("pw")));
        assert_eq!(p.pick(&["login".into(), "PLAIN".into()]), Some(Sasl::Plain));
        assert_eq!(p.pick(&["XOAUTH2".into()]), None);
        let b = login(LoginSecret::Bearer(Secret::new("tok")));
        assert_eq!(
            b.pick(&["PLAIN".into(), "XOAUTH2".into()]),
            Some(Sasl::XOAuth2)
        );
        assert!(format!("{b:?}").contains("[REDACTED]") && !format!("{b:?}").contains("tok"));
    }
}
