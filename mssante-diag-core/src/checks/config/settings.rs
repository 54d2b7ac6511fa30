//! `[config]`: what the platform's own configuration (`.env`) must hold.

use serde::{Deserialize, Serialize};

use crate::config::{Platform, Section};

/// The callback path of the guide's PSC_REDIRECT_URI (`https://<domain>/auth/psc/callback`, Auth P1).
pub const PSC_CALLBACK_PATH: &str = "/auth/psc/callback";

/// `[config]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Keys `.env` must define with a value. Default: `DOMAIN`, `POSTGRES_USER`,
    /// `POSTGRES_PASSWORD`, `POSTGRES_DB`, `PSC_CLIENT_ID`, `PSC_CLIENT_SECRET`,
    /// `PSC_REDIRECT_URI`, `JWT_SECRET`.
    pub required_keys: Vec<String>,
    /// Fragments that mark a value as a placeholder left from the template, compared without
    /// case. Default: `votre_`, `votre-`, `your_`, `your-`, `changeme`, `change_me`,
    /// `change-me`, `example.com`, `example.org`, `example.net`, `xxxx`, `replace_me`.
    pub placeholders: Vec<String>,
    /// Path PSC_REDIRECT_URI must end with. Default: `/auth/psc/callback`.
    pub psc_callback_path: String,
    /// JWT_SECRET shorter than this warns (half of it is critical), characters. Default: 32.
    pub jwt_secret_min_length: usize,
    /// JWT_SECRET with less estimated entropy than this warns (half of it is critical), bits.
    /// Default: 128.
    pub jwt_secret_min_bits: f64,
}

impl Section for Settings {
    fn defaults(_: &Platform<'_>) -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Self {
            required_keys: strings(&[
                "DOMAIN",
                "POSTGRES_USER",
                "POSTGRES_PASSWORD",
                "POSTGRES_DB",
                "PSC_CLIENT_ID",
                "PSC_CLIENT_SECRET",
                "PSC_REDIRECT_URI",
                "JWT_SECRET",
            ]),
            placeholders: strings(&[
                "votre_",
                "votre-",
                "your_",
                "your-",
                "changeme",
                "change_me",
                "change-me",
                "example.com",
                "example.org",
                "example.net",
                "xxxx",
                "replace_me",
            ]),
            psc_callback_path: PSC_CALLBACK_PATH.to_owned(),
            jwt_secret_min_length: 32,
            jwt_secret_min_bits: 128.0,
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.placeholders.iter().any(|p| p.trim().is_empty()) {
            return Err(("placeholders", "an empty fragment would mark every value".into()));
        }
        if !self.psc_callback_path.starts_with('/') {
            return Err(("psc_callback_path", "must start with `/`".into()));
        }
        if !(self.jwt_secret_min_bits.is_finite() && self.jwt_secret_min_bits >= 0.0) {
            return Err(("jwt_secret_min_bits", "must be a positive number of bits".into()));
        }
        Ok(())
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![("psc_callback_path", self.psc_callback_path.clone()), ("jwt_secret_min_length", self.jwt_secret_min_length.to_string())]
    }
}
