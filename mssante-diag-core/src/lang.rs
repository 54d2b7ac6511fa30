//! User-facing language: every message exists in English and French.

use serde::{Deserialize, Serialize};

/// Language of summaries and remedies.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English (the default).
    #[default]
    En,
    /// French.
    Fr,
}

impl Lang {
    /// The language of the process locale (`LC_ALL`, `LC_MESSAGES`, then `LANG`): French for `fr*`.
    #[must_use]
    pub fn from_env() -> Lang {
        for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Ok(v) = std::env::var(var) {
                if !v.is_empty() {
                    return if v.starts_with("fr") {
                        Lang::Fr
                    } else {
                        Lang::En
                    };
                }
            }
        }
        Lang::En
    }

    /// Picks the text of this language.
    #[must_use]
    pub fn pick<'a>(self, en: &'a str, fr: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Fr => fr,
        }
    }
}

/// Formats a message in the given language: `tr!(lang, "en {x}", "fr {x}")`.
#[macro_export]
macro_rules! tr {
    ($lang:expr, $en:literal, $fr:literal $(, $arg:expr)* $(,)?) => {
        match $lang {
            $crate::Lang::En => format!($en $(, $arg)*),
            $crate::Lang::Fr => format!($fr $(, $arg)*),
        }
    };
}
