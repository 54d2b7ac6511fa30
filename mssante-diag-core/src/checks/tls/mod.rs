//! Certificates and TLS (guide: Certificats P1-P3, Stockage P1): the server certificate file,
//! its chain up to the CA folder, the IGC Santé trust policy, the private key, and live
//! handshakes on the platform's endpoints.
//!
//! The files (certificate, fullchain, CA folder) are read once per run ([`TlsState`]), bounded
//! ([`load::MAX_FILE_BYTES`]) and parsed with x509-parser; chains are built by verifying
//! signatures (ring), and served chains are judged through rustls/webpki against the CA
//! folder's roots. Each fault turns one check: see [`chain`] for how the chain questions are
//! split between `tls.chain`, `tls.issuer` and `tls.trust`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::FutureExt;
use serde::Serialize;
use tokio::sync::OnceCell;

use super::{step, CheckDef, Ctx, Outcome, Step};
use crate::model::{Metric, Status};
use crate::tr;

pub mod cert;
pub mod chain;
pub mod endpoints;
#[cfg(test)]
mod fuzz_corpus;
pub mod key;
pub mod load;
mod settings;

pub use cert::{covers, evaluate_cert, name_matches};
pub use chain::{build_chain, evaluate_chain, evaluate_issuer, evaluate_trust, Chain, ChainEnd};
pub use endpoints::{evaluate_endpoint, probe_endpoint, EndpointFacts};
pub use key::{evaluate_key, key_facts, parse_private_key, KeyContent, KeyFacts};
pub use load::{load_ca_set, load_file, parse_certificates, CaSet, Certificate, LoadError};
pub use settings::{
    Endpoint, Environment, Settings, Upgrade, DEFAULT_ENDPOINTS, IGC_ISSUERS, IGC_ROOTS,
};

/// The files a run judges: the certificate, the fullchain and the CA set, read once.
#[derive(Debug, Clone, Serialize)]
pub struct Material {
    /// The certificate file, as configured.
    pub cert_shown: String,
    /// Its certificates, or why none.
    pub cert: Result<Vec<Certificate>, LoadError>,
    /// The fullchain file, as configured.
    pub fullchain_shown: String,
    /// Its certificates; `None` when there is no such file (or it is the certificate file).
    pub fullchain: Option<Result<Vec<Certificate>, LoadError>>,
    /// The CA folder, as configured.
    pub ca_shown: String,
    /// The CA set.
    pub ca: CaSet,
}

impl Material {
    /// Reads the configured files (blocking; bounded).
    #[must_use]
    pub fn load(s: &Settings, resolve: impl Fn(&Path) -> PathBuf) -> Self {
        let (cert_path, fullchain_path) = (resolve(&s.cert), resolve(&s.fullchain));
        let fullchain = if fullchain_path == cert_path {
            None
        } else {
            match load_file(&fullchain_path) {
                Err(LoadError::Missing) => None,
                other => Some(other),
            }
        };
        Self {
            cert_shown: s.cert.display().to_string(),
            cert: load_file(&cert_path),
            fullchain_shown: s.fullchain.display().to_string(),
            fullchain,
            ca_shown: s.ca_dir.display().to_string(),
            ca: load_ca_set(&resolve(&s.ca_dir)),
        }
    }

    /// The server certificate of the certificate file.
    #[must_use]
    pub fn leaf(&self) -> Option<&Certificate> {
        self.cert
            .as_ref()
            .ok()
            .and_then(|c| c.get(chain::leaf_index(c)))
    }
}

/// Per-run state: the files, read once for every `tls.*` check.
#[derive(Debug, Default)]
pub struct TlsState(OnceCell<Arc<Material>>);

/// The `tls.*` checks share the files they read.
pub type State = TlsState;

/// Seconds since the epoch.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The run's files, read on first use (under a named step: a hung filesystem is a finding).
async fn material(ctx: &Ctx) -> Result<Arc<Material>, Outcome> {
    let load = || async {
        let (s, cfg) = (ctx.config.tls.clone(), ctx.config.clone());
        let m =
            tokio::task::spawn_blocking(move || Material::load(&s, |p| cfg.project_path(p))).await;
        m.map(Arc::new).unwrap_or_else(|_| {
            Arc::new(Material {
                cert_shown: String::new(),
                cert: Err(LoadError::Unreadable {
                    cause: "reader panicked".into(),
                }),
                fullchain_shown: String::new(),
                fullchain: None,
                ca_shown: String::new(),
                ca: CaSet::default(),
            })
        })
    };
    match ctx
        .step_named("read certificates", ctx.state.tls.0.get_or_init(load))
        .await
    {
        Ok(m) => Ok(m.clone()),
        Err(t) => Err(ctx.timed_out(
            &tr!(
                ctx.lang(),
                "reading the certificate files",
                "lecture des fichiers de certificats"
            ),
            t,
        )),
    }
}

/// First step of the `tls.issuer` and `tls.trust` remedies.
const ISSUER_STEP: Step = step!(
    "Check that the certificate comes from the IGC Santé",
    "Vérifier que le certificat provient de l'IGC Santé",
    guide = "Certificats P3",
    cmd = "openssl x509 -in {tls.cert} -noout -issuer"
);

/// The `tls.*` checks.
pub const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "tls.cert",
        title_en: "Server certificate {tls.cert}: validity (warn {tls.warn_days} d, critical {tls.crit_days} d), names, key usage, key size, signature",
        title_fr: "Certificat serveur {tls.cert} : validité (alerte {tls.warn_days} j, critique {tls.crit_days} j), noms, usages, taille de clé, signature",
        guide: "Certificats P1 P3",
        quick: false,
        remedy: cert::RENEW_STEPS,
        steps: 1,
        run: |ctx| run_cert(ctx).boxed(),
    },
    CheckDef {
        id: "tls.chain",
        title_en: "Chain from the certificate to the CA folder {tls.ca_dir}: missing or misordered intermediates",
        title_fr: "Chaîne du certificat jusqu'au dossier des AC {tls.ca_dir} : intermédiaires manquants ou mal ordonnés",
        guide: "Certificats P2",
        quick: false,
        remedy: &[
            step!("Look at the chain a client receives", "Regarder la chaîne reçue par un client", guide = "Certificats P2", cmd = "openssl s_client -connect {tls.name}:443 -showcerts"),
            step!(
                "Rebuild the fullchain: server certificate, then intermediate, then root",
                "Reconstruire le fullchain : certificat serveur, puis intermédiaire, puis racine",
                guide = "Certificats P2",
                cmd = "cat {tls.cert} {tls.ca_dir}/intermediate.pem {tls.ca_dir}/root.pem > {tls.fullchain}"
            ),
        ],
        steps: 1,
        run: |ctx| run_chain(ctx).boxed(),
    },
    CheckDef {
        id: "tls.issuer",
        title_en: "Issuer of the certificate belongs to the configured CA set",
        title_fr: "L'émetteur du certificat appartient à l'ensemble d'AC configuré",
        guide: "Certificats P3",
        quick: false,
        remedy: &[ISSUER_STEP],
        steps: 1,
        run: |ctx| run_issuer(ctx).boxed(),
    },
    CheckDef {
        id: "tls.trust",
        title_en: "IGC Santé trust policy: the chain ends at an IGC Santé root; no TEST CA on a production platform ({tls.environment})",
        title_fr: "Politique de confiance IGC Santé : la chaîne aboutit à une racine IGC Santé ; pas d'AC de TEST en production ({tls.environment})",
        guide: "Certificats P3",
        quick: false,
        remedy: &[
            ISSUER_STEP,
            step!(
                "Install the IGC Santé CA bundle (https://igc-sante.esante.gouv.fr) in the CA folder",
                "Installer le bundle des AC IGC Santé (https://igc-sante.esante.gouv.fr) dans le dossier des AC",
                guide = "Certificats P3",
                cmd = "ls -l {tls.ca_dir}"
            ),
        ],
        steps: 1,
        run: |ctx| run_trust(ctx).boxed(),
    },
    CheckDef {
        id: "tls.key",
        title_en: "Private key {tls.key}: mode 600 and owner, matches the certificate",
        title_fr: "Clé privée {tls.key} : mode 600 et propriétaire, correspond au certificat",
        guide: "Stockage P1, Certificats P1",
        quick: false,
        remedy: &[step!("Restrict the private key to its owner", "Réserver la clé privée à son propriétaire", guide = "Stockage P1", cmd = "chmod 600 {tls.key}")],
        steps: 1,
        run: |ctx| run_key(ctx).boxed(),
    },
    CheckDef {
        id: "tls.endpoints",
        title_en: "Live TLS on each endpoint (direct or STARTTLS): version >= 1.2, served chain, expiry, name {tls.name}, same certificate as on disk",
        title_fr: "TLS en direct sur chaque point d'accès (direct ou STARTTLS) : version >= 1.2, chaîne présentée, expiration, nom {tls.name}, même certificat que sur disque",
        guide: "Certificats P1 P2 P3",
        quick: false,
        remedy: &[endpoints::LOOK_STEP],
        steps: 2,
        run: |ctx| run_endpoints(ctx).boxed(),
    },
];

async fn run_cert(ctx: Arc<Ctx>) -> Outcome {
    let m = match material(&ctx).await {
        Ok(m) => m,
        Err(o) => return o,
    };
    let lang = ctx.lang();
    match (&m.cert, m.leaf()) {
        (_, Some(leaf)) => evaluate_cert(leaf, &ctx.config.tls, &m.cert_shown, now(), lang),
        (Err(e), _) => {
            let status = if matches!(e, LoadError::Unreadable { .. }) {
                Status::Unknown
            } else {
                Status::Critical
            };
            Outcome::new(status, e.describe(lang, &m.cert_shown))
                .details(serde_json::json!({ "file": m.cert_shown, "error": e }))
                .remedies(cert::RENEW_STEPS, lang)
        }
        (Ok(_), None) => Outcome::unknown(tr!(
            lang,
            "{} holds no certificate",
            "{} ne contient aucun certificat",
            m.cert_shown
        )),
    }
}

async fn run_chain(ctx: Arc<Ctx>) -> Outcome {
    match material(&ctx).await {
        Ok(m) => evaluate_chain(&m, now(), ctx.lang()),
        Err(o) => o,
    }
}

async fn run_issuer(ctx: Arc<Ctx>) -> Outcome {
    match material(&ctx).await {
        Ok(m) => evaluate_issuer(&m, &ctx.config.tls, ctx.lang()),
        Err(o) => o,
    }
}

async fn run_trust(ctx: Arc<Ctx>) -> Outcome {
    match material(&ctx).await {
        Ok(m) => evaluate_trust(&m, &ctx.config.tls, ctx.lang()),
        Err(o) => o,
    }
}

async fn run_key(ctx: Arc<Ctx>) -> Outcome {
    let m = match material(&ctx).await {
        Ok(m) => m,
        Err(o) => return o,
    };
    let s = &ctx.config.tls;
    let path = ctx.config.project_path(&s.key);
    let owners = key::accepted_owners(s.key_owner.as_deref(), &ctx.config.project_dir);
    let facts = match ctx
        .step_named(
            "read the private key",
            tokio::task::spawn_blocking(move || key_facts(&path, owners)),
        )
        .await
    {
        Ok(Ok(f)) => f,
        Ok(Err(_)) => {
            return Outcome::unknown(tr!(
                ctx.lang(),
                "the key reader failed",
                "la lecture de la clé a échoué"
            ))
        }
        Err(t) => {
            return ctx.timed_out(
                &tr!(
                    ctx.lang(),
                    "reading the private key",
                    "lecture de la clé privée"
                ),
                t,
            )
        }
    };
    evaluate_key(&facts, m.leaf(), &s.key.display().to_string(), ctx.lang())
}

async fn run_endpoints(ctx: Arc<Ctx>) -> Outcome {
    let m = match material(&ctx).await {
        Ok(m) => m,
        Err(o) => return o,
    };
    let (s, lang) = (&ctx.config.tls, ctx.lang());
    if s.endpoints.is_empty() {
        return Outcome::skipped(tr!(
            lang,
            "no endpoint configured ([tls] endpoints)",
            "aucun point d'accès configuré ([tls] endpoints)"
        ));
    }
    let name = s.names.first().cloned().unwrap_or_default();
    let facts = futures::future::join_all(
        s.endpoints
            .iter()
            .map(|e| probe_endpoint(e, &name, ctx.config.timeout(), lang)),
    )
    .await;
    let der =
        |c: &Certificate| tokio_rustls::rustls::pki_types::CertificateDer::from(c.der.clone());
    let anchors: Vec<_> = m.ca.anchors().map(der).collect();
    let intermediates: Vec<_> =
        m.ca.certs
            .iter()
            .filter(|c| !c.self_signed())
            .map(der)
            .collect();
    let reference = endpoints::Reference {
        disk: m.leaf(),
        anchors: &anchors,
        intermediates: &intermediates,
        cert_shown: &m.cert_shown,
        ca_shown: &m.ca_shown,
    };
    let hung = ctx.config.timeout_state.into();
    let (t, n) = (now(), facts.len());
    let mut all = Vec::new();
    let mut per = Vec::new();
    let mut o_metrics = Vec::new();
    for f in &facts {
        let findings = evaluate_endpoint(f, &reference, s, t, hung, lang);
        let status = findings
            .iter()
            .map(|x| x.status)
            .max_by_key(|s| s.severity())
            .unwrap_or(Status::Ok);
        if let Some(leaf) = f.served.first().and_then(|c| c.cert.as_ref()) {
            o_metrics.push(
                Metric::new("days_left", (leaf.days_left(t) * 10.0).round() / 10.0, "d")
                    .thresholds(s.warn_days, s.crit_days)
                    .label("endpoint", f.endpoint.clone()),
            );
        }
        o_metrics
            .push(Metric::new("latency", f.latency_ms, "ms").label("endpoint", f.endpoint.clone()));
        per.push(serde_json::json!({ "endpoint": f.endpoint, "status": status, "facts": f, "findings": findings }));
        all.extend(findings);
    }
    let versions: Vec<String> = facts
        .iter()
        .filter_map(|f| f.tls.as_ref().map(|t| t.version.replace('_', ".")))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let ok = tr!(
        lang,
        "{n} endpoint(s): {}, complete trusted chain, valid, for {name}, the certificate on disk",
        "{n} point(s) d'accès : {}, chaîne complète et de confiance, valide, pour {name}, le certificat sur disque",
        versions.join("/")
    );
    let mut o = cert::fold(all, ok, lang).details(serde_json::json!({ "endpoints": per }));
    o.metrics = o_metrics;
    o
}
