//! Authentication (guide: Auth P1 P2): Pro Santé Connect's discovery and key set
//! (`auth.psc`), and a token the platform issued or PSC signed (`auth.jwt`).
//!
//! Both checks of a run share one PSC fetch ([`AuthState`]): `auth.jwt` checks an RS256 or
//! ES256 signature with the key set `auth.psc` judged.

use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::OnceCell;

use super::{step, CheckDef, Ctx, Outcome, Step};
use crate::config::{Config, Secret};
use crate::model::Report;
use crate::runner::Selection;
use crate::tr;

pub mod jwks;
pub mod jwt;
pub mod psc;
mod settings;

pub use jwt::{evaluate_jwt, Malformed, Signature, TokenFacts};
pub use psc::{evaluate_psc, PscFacts};
pub use settings::{Settings, PSC_PRODUCTION_ISSUER};

/// Per-run state of the `auth.*` checks: one PSC discovery and key set fetch.
#[derive(Debug, Default)]
pub struct AuthState {
    psc: OnceCell<PscFacts>,
}

impl AuthState {
    /// PSC's discovery and key set, fetched on first use.
    pub async fn psc(&self, ctx: &Ctx) -> &PscFacts {
        let cfg = &ctx.config;
        self.psc
            .get_or_init(|| async {
                let proxies = crate::proxy::Proxies::resolve(cfg);
                psc::gather(&cfg.auth, &cfg.project_dir, &proxies, cfg.timeout(), ctx.lang()).await
            })
            .await
    }
}

/// Per-run state.
pub type State = AuthState;

/// The `auth.*` checks.
pub const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "auth.psc",
        title_en: "Pro Santé Connect discovery ({auth.issuer}) and key set: reachable, valid, issuer, https endpoints, latency",
        title_fr: "Découverte Pro Santé Connect ({auth.issuer}) et jeu de clés : joignable, valide, émetteur, points d'accès https, latence",
        guide: "Auth P1",
        quick: false,
        remedy: PSC_STEPS,
        // Two discovery paths, then the key set.
        steps: 3,
        run: |ctx| run_psc(ctx).boxed(),
    },
    CheckDef {
        id: "auth.jwt",
        title_en: "A given token: malformed, alg none, expired, not yet valid, issued in the future, bad signature",
        title_fr: "Un jeton donné : malformé, alg none, expiré, pas encore valide, émis dans le futur, signature invalide",
        guide: "Auth P2",
        quick: false,
        remedy: JWT_STEPS,
        // It may wait for PSC's key set (three fetches).
        steps: 3,
        run: |ctx| run_jwt(ctx).boxed(),
    },
];

const PSC_STEPS: &[Step] = &[
    step!(
        "Fetch the discovery document by hand",
        "Récupérer le document de découverte à la main",
        guide = "Auth P1",
        cmd = "curl -sv {auth.discovery_url}"
    ),
    step!(
        "invalid_client: PSC_CLIENT_ID and PSC_CLIENT_SECRET must be those of the client registered on the ANS portal for this issuer ({auth.issuer}: production and test 'bas' clients differ)",
        "invalid_client : PSC_CLIENT_ID et PSC_CLIENT_SECRET doivent être ceux du client enregistré sur le portail de l'ANS pour cet émetteur ({auth.issuer} : les clients de production et de test « bas » diffèrent)",
        guide = "Auth P1",
        cmd = "grep -o '^PSC_[A-Z_]*=' .env"
    ),
    step!(
        "redirect_uri_mismatch: PSC_REDIRECT_URI must be registered, character for character, as a callback URL of the client on the ANS portal",
        "redirect_uri_mismatch : PSC_REDIRECT_URI doit être enregistrée, au caractère près, comme URL de retour du client sur le portail de l'ANS",
        guide = "Auth P1"
    ),
    step!(
        "Look for PSC errors in the API's logs",
        "Chercher les erreurs PSC dans les logs de l'API",
        guide = "Auth P1",
        cmd = "{docker.compose} logs api | grep -i psc"
    ),
];

const JWT_STEPS: &[Step] = &[
    step!(
        "Check that the API runs with the JWT_SECRET of .env (compares digests, never the secret)",
        "Vérifier que l'API tourne avec le JWT_SECRET du .env (compare des empreintes, jamais le secret)",
        guide = "Auth P2",
        cmd = "{docker.compose} exec api printenv JWT_SECRET | sha256sum; grep '^JWT_SECRET=' .env | cut -d= -f2- | sha256sum"
    ),
    step!(
        "Get a new token with the refresh token",
        "Obtenir un nouveau jeton avec le jeton de rafraîchissement",
        guide = "Auth P2",
        cmd = "curl -X POST https://api.<domain>/api/v1/auth/refresh -H 'Content-Type: application/json' -d '{\"refreshToken\":\"YOUR_REFRESH_TOKEN\"}'"
    ),
    CLOCK_STATUS,
    step!("Restart the API", "Redémarrer l'API", guide = "Auth P2", cmd = "{docker.compose} restart api", destructive = true),
];

const CLOCK_STATUS: Step =
    step!("Check the clock's synchronisation", "Vérifier la synchronisation de l'horloge", guide = "Auth P2", cmd = "timedatectl status");

const CLOCK_STEPS: &[Step] = &[
    CLOCK_STATUS,
    step!(
        "Synchronise the clock (the issuer's or this host's is off)",
        "Synchroniser l'horloge (celle de l'émetteur ou de cet hôte est décalée)",
        guide = "Auth P2",
        cmd = "sudo timedatectl set-ntp true"
    ),
];

const EXPIRED_STEPS: &[Step] = &[step!(
    "Get a new token: log in again, or use the refresh token",
    "Obtenir un nouveau jeton : se reconnecter, ou utiliser le jeton de rafraîchissement",
    guide = "Auth P2",
    cmd = "curl -X POST https://api.<domain>/api/v1/auth/refresh -H 'Content-Type: application/json' -d '{\"refreshToken\":\"YOUR_REFRESH_TOKEN\"}'"
)];

const SIGNATURE_STEPS: &[Step] = &[
    step!(
        "A token signed with another secret or key: was JWT_SECRET changed (users must log in again), or does the token come from another PSC environment than {auth.issuer}?",
        "Jeton signé avec un autre secret ou une autre clé : JWT_SECRET a-t-il changé (les utilisateurs doivent se reconnecter), ou le jeton vient-il d'un autre environnement PSC que {auth.issuer} ?",
        guide = "Auth P2"
    ),
    step!(
        "Check that the API runs with the JWT_SECRET of .env (compares digests, never the secret)",
        "Vérifier que l'API tourne avec le JWT_SECRET du .env (compare des empreintes, jamais le secret)",
        guide = "Auth P2",
        cmd = "{docker.compose} exec api printenv JWT_SECRET | sha256sum; grep '^JWT_SECRET=' .env | cut -d= -f2- | sha256sum"
    ),
];

const MALFORMED_STEPS: &[Step] = &[step!(
    "The token was cut or altered: copy it whole (three base64url parts separated by dots), e.g. `mssante-diag jwt -` reading it from stdin",
    "Le jeton est tronqué ou altéré : le copier en entier (trois parties base64url séparées par des points), par exemple `mssante-diag jwt -` en le lisant sur l'entrée standard",
    guide = "Auth P2"
)];

async fn run_psc(ctx: Arc<Ctx>) -> Outcome {
    let (cfg, lang) = (&ctx.config.auth, ctx.lang());
    if !cfg.psc {
        return Outcome::skipped(tr!(lang, "disabled ([auth] psc = false)", "désactivé ([auth] psc = false)"));
    }
    let facts = ctx.state.auth.psc(&ctx).await;
    evaluate_psc(facts, cfg.latency_warn_ms, cfg.latency_crit_ms, ctx.config.timeout_state.into(), lang)
}

/// The token `auth.jwt` judges: `[auth] token`, else the variable `[auth] token_env`.
fn configured_token(config: &Config) -> Option<Secret> {
    let a = &config.auth;
    a.token.clone().or_else(|| a.token_env.as_deref().and_then(|k| config.env.lookup(k)).map(Secret::new))
}

async fn run_jwt(ctx: Arc<Ctx>) -> Outcome {
    let (config, lang) = (&ctx.config, ctx.lang());
    let Some(token) = configured_token(config) else {
        return Outcome::skipped(tr!(
            lang,
            "no token given (`mssante-diag jwt TOKEN`, or [auth] token / token_env)",
            "aucun jeton fourni (`mssante-diag jwt JETON`, ou [auth] token / token_env)"
        ));
    };
    let parsed = match jwt::parse(token.expose()) {
        Ok(p) => p,
        Err(m) => return malformed(&m, lang),
    };
    // PSC's key set only for the algorithms that need it.
    let needs_psc = matches!(jwt::needs(&parsed), Ok(Some(f)) if f != jwks::Family::Hmac);
    let psc_facts = if needs_psc && config.auth.psc { Some(ctx.state.auth.psc(&ctx).await) } else { None };
    let psc_keys = psc_facts.map(|f| f.usable_keys(lang));
    let secret_name = config.auth.jwt_secret_env.as_str();
    let secret = config.env.lookup(secret_name).map(Secret::new);
    let keys = jwt::Keys { secret: secret.as_ref().map(|s| (secret_name, s)), psc: psc_keys.as_ref().map(|r| r.as_ref().map(|k| *k).map_err(String::as_str)) };
    let signature = jwt::check_signature(&parsed, keys, lang);
    let facts = match jwt::facts(&parsed, signature, chrono::Utc::now().timestamp()) {
        Ok(f) => f,
        Err(m) => return malformed(&m, lang),
    };
    let (mut o, causes) = evaluate_jwt(&facts, config.auth.clock_skew_secs, lang);
    if causes.signature {
        o = o.remedies(SIGNATURE_STEPS, lang);
    }
    if causes.expired {
        o = o.remedies(EXPIRED_STEPS, lang);
    }
    if causes.clock {
        o = o.remedies(CLOCK_STEPS, lang);
    }
    o
}

fn malformed(m: &Malformed, lang: crate::Lang) -> Outcome {
    let why = m.describe(lang);
    Outcome::critical(tr!(lang, "jwt malformed: {why}", "jwt malformé : {why}")).details(m).remedies(MALFORMED_STEPS, lang)
}

/// Decodes and judges one token (`mssante-diag jwt TOKEN`): runs `auth.jwt` on it alone with
/// `config` (its secret, PSC's key set, the clock skew). The token never enters the report.
///
/// # Errors
/// None in practice: the selection is a check of the catalogue.
pub async fn decode_jwt(config: Arc<Config>, token: &str) -> crate::Result<Report> {
    let mut config = (*config).clone();
    config.auth.token = Some(Secret::new(token));
    config.auth.token_env = None;
    crate::runner::run(Arc::new(config), &Selection::Only(vec!["auth.jwt".to_owned()])).await
}
