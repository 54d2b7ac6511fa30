//! The platform's own configuration (guide: Auth P1 P2, Démarrage P4): its `.env`.
//!
//! `config.env` reads the `.env` the configuration was loaded with and judges required keys,
//! placeholders left from the template, the shape of PSC_REDIRECT_URI and the strength of
//! JWT_SECRET. It names keys, never values. A `.env` that does not parse stops the run before
//! any check (the error names the file, the line and the key: see [`crate::config::EnvFile`]);
//! one this user may not read does not: `config.access` names it, with the grant (see [`access`]).

use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt;
use serde::Serialize;

use super::{step, CheckDef, Ctx, Outcome, Step};
use crate::config::EnvFile;
use crate::model::{Metric, Status};
use crate::{tr, Lang};

mod access;
mod settings;
pub use access::{evaluate_access, AccessFacts};
pub use settings::{Settings, PSC_CALLBACK_PATH};

/// The `config.*` checks keep no per-run state.
pub type State = ();

/// The `config.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "config.env",
    title_en: ".env: required keys, placeholders left in, PSC redirect URI shape, weak JWT secret",
    title_fr: ".env : clés requises, valeurs d'exemple restées, forme de l'URI de retour PSC, secret JWT faible",
    guide: "Auth P1 P2, Démarrage P4",
    quick: false,
    remedy: &[
        step!(
            "List the keys of .env (names only) and compare them with the guide's",
            "Lister les clés du .env (noms seulement) et les comparer à celles du guide",
            guide = "Démarrage P4",
            cmd = "grep -o '^[A-Za-z_][A-Za-z0-9_]*=' .env"
        ),
        RESTART_API,
    ],
    steps: 1,
    run: |ctx| env(ctx).boxed(),
}, CheckDef {
    id: "config.access",
    title_en: "files the configuration names (.env, config file, certificates, keys, logs, backups) readable by the user running the tool",
    title_fr: "fichiers que nomme la configuration (.env, fichier de configuration, certificats, clés, journaux, sauvegardes) lisibles par l'utilisateur qui lance l'outil",
    guide: "Démarrage P4",
    quick: true,
    remedy: &[step!(
        "Let the user running the tool read each file named, with an ACL for that user alone (docs/least-privilege.md)",
        "Permettre à l'utilisateur qui lance l'outil de lire chaque fichier nommé, par une ACL pour lui seul (docs/least-privilege.md)",
        guide = "Démarrage P4",
        cmd = "setfacl -m u:nagios:r .env && getfacl .env"
    )],
    steps: 1,
    run: |ctx| access::run(ctx).boxed(),
}];

/// Restarting the API makes it read `.env` again (and ends every session signed with the old secret).
const RESTART_API: Step = step!(
    "Restart the API so that it reads .env again",
    "Redémarrer l'API pour qu'elle relise le .env",
    guide = "Auth P2",
    cmd = "{docker.compose} restart api",
    destructive = true
);

const MISSING_STEPS: &[Step] = &[step!(
    "Add the missing keys to .env (PSC_* values come from the client registered on the ANS portal)",
    "Ajouter les clés manquantes au .env (les valeurs PSC_* viennent du client enregistré sur le portail de l'ANS)",
    guide = "Auth P1",
    cmd = "grep -o '^[A-Za-z_][A-Za-z0-9_]*=' .env"
)];

const PLACEHOLDER_STEPS: &[Step] = &[step!(
    "Replace the template's example values with the platform's real ones",
    "Remplacer les valeurs d'exemple du modèle par celles de la plateforme",
    guide = "Auth P1, Démarrage P4"
)];

const REDIRECT_STEPS: &[Step] = &[
    step!(
        "Set PSC_REDIRECT_URI to https://<DOMAIN>{config.psc_callback_path} (redirect_uri_mismatch otherwise)",
        "Définir PSC_REDIRECT_URI à https://<DOMAIN>{config.psc_callback_path} (sinon redirect_uri_mismatch)",
        guide = "Auth P1"
    ),
    step!(
        "Check that the same callback URL is registered for the PSC client on the ANS portal",
        "Vérifier que la même URL de retour est enregistrée pour le client PSC sur le portail de l'ANS",
        guide = "Auth P1"
    ),
];

const SECRET_STEPS: &[Step] = &[step!(
    "Generate a strong JWT_SECRET (at least {config.jwt_secret_min_length} random characters) and put it in .env",
    "Générer un JWT_SECRET robuste (au moins {config.jwt_secret_min_length} caractères aléatoires) et le mettre dans le .env",
    guide = "Auth P2",
    cmd = "openssl rand -base64 48"
)];

/// Restarting the API after a new JWT_SECRET: every session ends.
const SECRET_RESTART: Step = step!(
    "Restart the API: tokens signed with the old secret become invalid, users log in again",
    "Redémarrer l'API : les jetons signés avec l'ancien secret deviennent invalides, les utilisateurs se reconnectent",
    guide = "Auth P2",
    cmd = "{docker.compose} restart api",
    destructive = true
);

/// JWT secrets that are well known (tutorials, templates): critical whatever their length.
const WELL_KNOWN_SECRETS: &[&str] = &[
    "secret",
    "changeme",
    "change_me",
    "change-me",
    "password",
    "jwt_secret",
    "jwt-secret",
    "jwtsecret",
    "mysecret",
    "my_secret",
    "supersecret",
    "your_jwt_secret",
    "your-jwt-secret",
    "votre_secret",
    "votre_jwt_secret",
    "secretkey",
    "secret_key",
    "123456",
    "test",
    "admin",
    "default",
];

/// What `.env` holds, by key name (values are never kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EnvFacts {
    /// The `.env` read, if one exists.
    pub path: Option<PathBuf>,
    /// Number of keys.
    pub keys: usize,
    /// Required keys absent.
    pub missing: Vec<String>,
    /// Required keys present with an empty value.
    pub empty: Vec<String>,
    /// Keys whose value holds a template placeholder.
    pub placeholders: Vec<String>,
    /// Keys defined more than once (the last one wins).
    pub duplicates: Vec<String>,
    /// Shape of PSC_REDIRECT_URI, when it is set.
    pub redirect_uri: Option<RedirectUri>,
    /// Strength of JWT_SECRET, when it is set.
    pub jwt_secret: Option<SecretStrength>,
}

/// The shape of PSC_REDIRECT_URI (never the URI itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedirectUri {
    /// It parses as a URL.
    pub is_url: bool,
    /// Its scheme is `https`.
    pub https: bool,
    /// Its host is DOMAIN or one of its subdomains; `None` when DOMAIN is not set.
    pub on_domain: Option<bool>,
    /// Its path ends with the callback path.
    pub callback_path: bool,
}

/// How strong a secret is (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecretStrength {
    /// Length, characters.
    pub length: usize,
    /// Estimated entropy: length times the Shannon entropy of its characters, bits.
    pub entropy_bits: f64,
    /// One of the secrets tutorials and templates use (`secret`, `changeme`...).
    pub well_known: bool,
}

impl SecretStrength {
    /// Measures a secret.
    #[must_use]
    pub fn of(secret: &str) -> Self {
        let chars: Vec<char> = secret.chars().collect();
        let mut counts = std::collections::HashMap::<char, usize>::new();
        for c in &chars {
            *counts.entry(*c).or_default() += 1;
        }
        #[allow(clippy::cast_precision_loss)]
        let n = chars.len() as f64;
        #[allow(clippy::cast_precision_loss)]
        let per_char: f64 = counts.values().map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum();
        let lower = secret.to_ascii_lowercase();
        Self { length: chars.len(), entropy_bits: (per_char * n * 10.0).round() / 10.0, well_known: WELL_KNOWN_SECRETS.contains(&lower.as_str()) }
    }
}

/// Judges the shape of a redirect URI against the platform's domain and the callback path.
#[must_use]
pub fn redirect_uri_shape(uri: &str, domain: Option<&str>, callback_path: &str) -> RedirectUri {
    let Ok(url) = reqwest::Url::parse(uri) else { return RedirectUri { is_url: false, https: false, on_domain: None, callback_path: false } };
    let host = url.host_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
    let on_domain = domain.map(|d| {
        let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        !d.is_empty() && (host == d || host.ends_with(&format!(".{d}")))
    });
    let path = url.path().trim_end_matches('/');
    RedirectUri { is_url: true, https: url.scheme() == "https", on_domain, callback_path: path.ends_with(callback_path.trim_end_matches('/')) }
}

/// Gathers the facts of `env` (the text of its file, if any, gives the duplicates).
#[must_use]
pub fn env_facts(env: &EnvFile, text: Option<&str>, settings: &Settings) -> EnvFacts {
    let keys: Vec<&str> = env.keys().collect();
    let mut facts = EnvFacts { path: env.path.clone(), keys: keys.len(), ..EnvFacts::default() };
    for k in &settings.required_keys {
        if !keys.contains(&k.as_str()) {
            facts.missing.push(k.clone());
        } else if env.get(k).is_none() {
            facts.empty.push(k.clone());
        }
    }
    let fragments: Vec<String> = settings.placeholders.iter().map(|p| p.to_lowercase()).collect();
    for k in &keys {
        let value = env.get(k).unwrap_or_default().to_lowercase();
        if fragments.iter().any(|f| value.contains(f.as_str())) {
            facts.placeholders.push((*k).to_owned());
        }
    }
    if let Some(text) = text {
        let mut seen = std::collections::HashSet::new();
        for (k, _) in dotenvy::from_read_iter(text.as_bytes()).map_while(Result::ok) {
            if !seen.insert(k.clone()) && !facts.duplicates.contains(&k) {
                facts.duplicates.push(k);
            }
        }
    }
    facts.redirect_uri = env.get("PSC_REDIRECT_URI").map(|u| redirect_uri_shape(u, env.get("DOMAIN"), &settings.psc_callback_path));
    facts.jwt_secret = env.get("JWT_SECRET").map(SecretStrength::of);
    facts
}

/// Judges the facts: a missing `.env`, a missing or empty required key, a placeholder, a
/// redirect URI PSC will refuse, or a well-known or very weak JWT secret is critical; a weak
/// secret or a duplicated key warns. Every message names keys, never values.
#[must_use]
pub fn evaluate_env(f: &EnvFacts, s: &Settings, lang: Lang) -> Outcome {
    if f.path.is_none() && f.keys == 0 {
        return Outcome::critical(tr!(lang, "no .env in the project folder", "pas de .env dans le dossier du projet")).details(f).remedies(MISSING_STEPS, lang);
    }
    let mut problems: Vec<(Status, String)> = Vec::new();
    let mut steps: Vec<&Step> = Vec::new();
    let list = |v: &[String]| v.join(", ");
    if !f.missing.is_empty() || !f.empty.is_empty() {
        if !f.missing.is_empty() {
            let keys = list(&f.missing);
            problems.push((Status::Critical, tr!(lang, "missing keys: {keys}", "clés absentes : {keys}")));
        }
        if !f.empty.is_empty() {
            let keys = list(&f.empty);
            problems.push((Status::Critical, tr!(lang, "empty keys: {keys}", "clés vides : {keys}")));
        }
        steps.extend(MISSING_STEPS);
    }
    if !f.placeholders.is_empty() {
        let keys = list(&f.placeholders);
        problems.push((Status::Critical, tr!(lang, "example values left in: {keys}", "valeurs d'exemple restées : {keys}")));
        steps.extend(PLACEHOLDER_STEPS);
    }
    if let Some(r) = &f.redirect_uri {
        let path = &s.psc_callback_path;
        let mut wrong = Vec::new();
        if !r.is_url {
            wrong.push(tr!(lang, "is not a URL", "n'est pas une URL"));
        } else {
            if !r.https {
                wrong.push(tr!(lang, "is not https", "n'est pas en https"));
            }
            if r.on_domain == Some(false) {
                wrong.push(tr!(lang, "is not on DOMAIN", "n'est pas sur DOMAIN"));
            }
            if !r.callback_path {
                wrong.push(tr!(lang, "does not end with {path}", "ne se termine pas par {path}"));
            }
        }
        if !wrong.is_empty() {
            let why = wrong.join(", ");
            problems.push((Status::Critical, tr!(lang, "PSC_REDIRECT_URI {why}", "PSC_REDIRECT_URI {why}")));
            steps.extend(REDIRECT_STEPS);
        }
    }
    let mut metrics = Vec::new();
    let mut weak_secret = false;
    if let Some(js) = &f.jwt_secret {
        #[allow(clippy::cast_precision_loss)]
        let (len, bits) = (js.length as f64, js.entropy_bits);
        metrics.push(Metric::new("jwt_secret_length", len, "chars"));
        metrics.push(Metric::new("jwt_secret_entropy", bits, "bits"));
        #[allow(clippy::cast_precision_loss)]
        let min_len = s.jwt_secret_min_length as f64;
        let (min_bits, n) = (s.jwt_secret_min_bits, js.length);
        let status = if js.well_known || len < min_len / 2.0 || bits < min_bits / 2.0 {
            Status::Critical
        } else if len < min_len || bits < min_bits {
            Status::Warning
        } else {
            Status::Ok
        };
        if status != Status::Ok {
            let text = if js.well_known {
                tr!(lang, "JWT_SECRET is a well-known example secret", "JWT_SECRET est un secret d'exemple connu")
            } else {
                tr!(
                    lang,
                    "JWT_SECRET is weak ({n} characters, about {bits:.0} bits; wanted {min_len} and {min_bits:.0})",
                    "JWT_SECRET est faible ({n} caractères, environ {bits:.0} bits ; attendu {min_len} et {min_bits:.0})"
                )
            };
            problems.push((status, text));
            steps.extend(SECRET_STEPS);
            weak_secret = true;
        }
    }
    if !f.duplicates.is_empty() {
        let keys = list(&f.duplicates);
        problems
            .push((Status::Warning, tr!(lang, "keys defined twice (the last one wins): {keys}", "clés définies deux fois (la dernière l'emporte) : {keys}")));
    }
    let status = problems.iter().fold(Status::Ok, |acc, (s, _)| acc.worst(*s));
    let summary = if problems.is_empty() {
        let n = f.keys;
        tr!(
            lang,
            ".env: {n} keys, required keys set, PSC redirect URI and JWT secret fine",
            ".env : {n} clés, clés requises présentes, URI de retour PSC et secret JWT corrects"
        )
    } else {
        // The worst first.
        problems.sort_by_key(|(s, _)| std::cmp::Reverse(s.severity()));
        format!(".env: {}", problems.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("; "))
    };
    // One restart, last: the one that warns about sessions when the secret changes.
    if status != Status::Ok {
        steps.push(if weak_secret { &SECRET_RESTART } else { &RESTART_API });
    }
    let mut o = Outcome::new(status, summary).details(f);
    o.metrics = metrics;
    for st in steps {
        o = o.remedy(st, lang);
    }
    o
}

/// Largest `.env` read again for duplicated keys.
const ENV_READ_LIMIT: u64 = 1 << 20;

async fn env(ctx: Arc<Ctx>) -> Outcome {
    let cfg = &ctx.config;
    if let Some(u) = &cfg.env.unreadable {
        let why = u.describe(ctx.lang());
        let mut o = Outcome::unknown(tr!(ctx.lang(), "cannot judge .env: {why}", "impossible de juger le .env : {why}")).details(u);
        o.remediation = crate::access::grant_remedy(u, "Démarrage P4", ctx.lang());
        return o;
    }
    let path = cfg.env.path.clone();
    let read = ctx
        .step_named(
            "read .env",
            tokio::task::spawn_blocking(move || {
                use std::io::Read;
                let mut text = String::new();
                let file = std::fs::File::open(path?).ok()?;
                file.take(ENV_READ_LIMIT).read_to_string(&mut text).ok()?;
                Some(text)
            }),
        )
        .await;
    let text = match read {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Outcome::unknown(e.to_string()),
        Err(t) => return ctx.timed_out(&tr!(ctx.lang(), "reading .env", "lecture du .env"), t),
    };
    let facts = env_facts(&cfg.env, text.as_deref(), &cfg.config);
    evaluate_env(&facts, &cfg.config, ctx.lang())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvFile {
        EnvFile::from_pairs(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    const GOOD: &[(&str, &str)] = &[
        ("DOMAIN", "hopital.mssante.fr"),
        ("POSTGRES_USER", "mssante"),
        ("POSTGRES_PASSWORD", "Zq8v1Lr0pXc4Wm2"),
        ("POSTGRES_DB", "mssante"),
        ("PSC_CLIENT_ID", "hopital-mss"),
        ("PSC_CLIENT_SECRET", "b1f0c9a2-77aa-4c1e-9d3e-0f5e2a6c8b11"),
        ("PSC_REDIRECT_URI", "https://api.hopital.mssante.fr/auth/psc/callback"),
        ("JWT_SECRET", "q4Jx9vT2mW7pL0sZ8rB3nK6cH1dF5gY-aE_uQ"),
    ];

    fn judge(pairs: &[(&str, &str)]) -> Outcome {
        let s = Settings::default();
        evaluate_env(&env_facts(&env(pairs), None, &s), &s, Lang::En)
    }

    fn with(key: &str, value: &str) -> Vec<(&'static str, String)> {
        GOOD.iter().map(|(k, v)| (*k, if *k == key { value.to_owned() } else { (*v).to_owned() })).collect()
    }

    fn judge_with(key: &str, value: &str) -> Outcome {
        let pairs = with(key, value);
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        judge(&refs)
    }

    #[test]
    fn a_complete_env_is_ok() {
        let o = judge(GOOD);
        assert_eq!(o.status, Status::Ok, "{}", o.summary);
    }

    #[test]
    fn each_defect_is_named_by_key_never_by_value() {
        let o = judge(&GOOD[1..]);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("missing keys: DOMAIN"), "{}", o.summary);
        let o = judge_with("PSC_CLIENT_ID", "votre_client_id");
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("example values left in: PSC_CLIENT_ID") && !o.summary.contains("votre"), "{}", o.summary);
        let o = judge_with("PSC_REDIRECT_URI", "http://api.hopital.mssante.fr/auth/psc/callback");
        assert!(o.summary.contains("PSC_REDIRECT_URI is not https"), "{}", o.summary);
        let o = judge_with("PSC_REDIRECT_URI", "https://autre.fr/auth/psc/callback");
        assert!(o.summary.contains("is not on DOMAIN") && !o.summary.contains("autre.fr"), "{}", o.summary);
        let o = judge_with("PSC_REDIRECT_URI", "https://hopital.mssante.fr/callback");
        assert!(o.summary.contains("does not end with /auth/psc/callback"), "{}", o.summary);
        let o = judge_with("JWT_SECRET", "secret");
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("JWT_SECRET is a well-known example secret"), "{}", o.summary);
        let o = judge_with("JWT_SECRET", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab");
        assert_eq!(o.status, Status::Critical, "{}", o.summary);
        let o = judge_with("JWT_SECRET", "k2Jd8fQ0xZ1mV7pR4tY");
        assert_eq!(o.status, Status::Warning, "{}", o.summary);
        assert!(o.remediation.iter().any(|r| r.destructive), "restarting the API is flagged");
    }

    #[test]
    fn a_subdomain_is_on_the_domain_and_a_lookalike_is_not() {
        let shape = |u| redirect_uri_shape(u, Some("mssante.test"), PSC_CALLBACK_PATH);
        assert_eq!(shape("https://mssante.test/auth/psc/callback").on_domain, Some(true));
        assert_eq!(shape("https://api.mssante.test/auth/psc/callback/").on_domain, Some(true));
        assert_eq!(shape("https://evilmssante.test/auth/psc/callback").on_domain, Some(false));
        assert!(!shape("not a url").is_url);
    }

    #[test]
    fn duplicates_are_read_from_the_file() {
        let s = Settings::default();
        let f = env_facts(&env(GOOD), Some("DOMAIN=a\nX=1\nDOMAIN=b\n"), &s);
        assert_eq!(f.duplicates, vec!["DOMAIN".to_owned()]);
        assert_eq!(evaluate_env(&f, &s, Lang::Fr).status, Status::Warning);
    }
}
