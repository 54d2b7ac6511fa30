//! `tls.chain`, `tls.issuer`, `tls.trust`: the chain built from the certificate file, the
//! fullchain file and the CA folder (signatures verified with x509-parser/ring), and the
//! IGC Santé policy (guide: Certificats P2, P3).
//!
//! Each check owns one question, so that one fault turns one check:
//! - `tls.chain`: can the chain be built to a root of the CA folder, are the files in order,
//!   does an intermediate expire before the server certificate (a self-signed certificate
//!   has no chain to build: that is `tls.issuer`'s finding);
//! - `tls.issuer`: is the certificate issued by a CA of the configured set (IGC Santé names
//!   or a CA certificate of the CA folder);
//! - `tls.trust`: are the CAs of the chain IGC Santé CAs ending at an IGC Santé root, and no
//!   TEST IGC Santé CA on a production platform.

use serde::Serialize;

use super::cert::{day, fold, Finding};
use super::load::{CaSet, Certificate, LoadError};
use super::settings::Environment;
use super::{Material, Settings};
use crate::checks::{step, Outcome, Step};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// Longest chain followed.
const MAX_DEPTH: usize = 10;

/// Where the chain built from a certificate stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainEnd {
    /// At a self-signed root.
    Root,
    /// The certificate is self-signed: there is no chain.
    SelfSignedLeaf,
    /// No certificate of the files and folder is the issuer of the last one.
    MissingIssuer {
        /// The issuer's name (CN, else DN).
        issuer: String,
    },
    /// A certificate with the issuer's name exists, but its key does not verify the signature.
    BadSignature {
        /// The issuer's name.
        issuer: String,
    },
    /// The chain comes back to a certificate already in it.
    Loop {
        /// The certificate met twice.
        at: String,
    },
    /// Longer than [`MAX_DEPTH`].
    TooLong,
}

/// A chain from a certificate up to where it stops.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chain {
    /// Names of the certificates, the server certificate first.
    pub names: Vec<String>,
    /// Where it stops.
    pub end: ChainEnd,
    /// The certificates, the server certificate first.
    #[serde(skip)]
    pub certs: Vec<Certificate>,
}

impl Chain {
    /// The CAs above the certificate.
    #[must_use]
    pub fn cas(&self) -> &[Certificate] {
        self.certs.get(1..).unwrap_or_default()
    }
}

/// Builds the chain of `leaf` from a pool of candidate certificates: at each step, a candidate
/// whose subject is the issuer's name and whose key verifies the signature.
#[must_use]
pub fn build_chain(leaf: &Certificate, pool: &[&Certificate]) -> Chain {
    let mut certs = vec![leaf.clone()];
    let end = loop {
        let cur = &certs[certs.len() - 1];
        if cur.self_signed() {
            break if certs.len() == 1 {
                ChainEnd::SelfSignedLeaf
            } else {
                ChainEnd::Root
            };
        }
        if certs.len() > MAX_DEPTH {
            break ChainEnd::TooLong;
        }
        let named: Vec<&&Certificate> = pool
            .iter()
            .filter(|c| c.subject_raw == cur.issuer_raw && c.sha256 != cur.sha256)
            .collect();
        let Some(next) = named.iter().find(|c| cur.issued_by(c)) else {
            let issuer = cur.issuer_name().to_owned();
            break if named.is_empty() {
                ChainEnd::MissingIssuer { issuer }
            } else {
                ChainEnd::BadSignature { issuer }
            };
        };
        if certs.iter().any(|c| c.sha256 == next.sha256) {
            break ChainEnd::Loop {
                at: next.name().to_owned(),
            };
        }
        certs.push((**next).clone());
    };
    Chain {
        names: certs.iter().map(|c| c.name().to_owned()).collect(),
        end,
        certs,
    }
}

/// Index of the server certificate in a file's certificates: the first that is not a CA and
/// issues none of the others; else the first non-CA; else the first.
#[must_use]
pub fn leaf_index(certs: &[Certificate]) -> usize {
    let issues_another = |i: usize| {
        certs.iter().enumerate().any(|(j, o)| {
            j != i && o.issuer_raw == certs[i].subject_raw && o.subject_raw != o.issuer_raw
        })
    };
    (0..certs.len())
        .find(|&i| !certs[i].is_ca && !issues_another(i))
        .or_else(|| (0..certs.len()).find(|&i| !certs[i].is_ca))
        .unwrap_or(0)
}

/// The first place where a chain file is out of order: the server certificate not first, or a
/// certificate not followed by its issuer. `None` when in order.
#[must_use]
pub fn order_break(certs: &[Certificate], lang: Lang) -> Option<String> {
    let leaf = leaf_index(certs);
    if leaf != 0 {
        let (l, first) = (certs[leaf].name(), certs[0].name());
        return Some(tr!(
            lang,
            "the server certificate {l} is not first (the file starts with {first})",
            "le certificat serveur {l} n'est pas en tête (le fichier commence par {first})"
        ));
    }
    certs.windows(2).find(|w| !w[0].issued_by(&w[1])).map(|w| {
        let (a, b) = (w[0].name(), w[1].name());
        tr!(
            lang,
            "{a} is followed by {b}, which did not issue it",
            "{a} est suivi de {b}, qui ne l'a pas émis"
        )
    })
}

/// Normalises a CA name for comparison: upper case, single spaces.
fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// Whether `cn` is one of `names`, or its `TEST ` variant.
#[must_use]
pub fn is_named(cn: &str, names: &[String]) -> bool {
    let cn = norm(cn);
    let bare = cn.strip_prefix("TEST ").unwrap_or(&cn);
    names.iter().map(|n| norm(n)).any(|n| n == cn || n == bare)
}

/// A CA of the IGC Santé TEST hierarchy: its CN starts with `TEST `, or an OU says `IGC-SANTE TEST`.
#[must_use]
pub fn is_test_ca(c: &Certificate) -> bool {
    is_test_name(&c.subject_cn)
        || c.subject_ou
            .iter()
            .any(|ou| norm(ou).contains("IGC-SANTE TEST"))
}

fn is_test_name(cn: &str) -> bool {
    norm(cn).starts_with("TEST ")
}

const CHAIN_STEPS: &[Step] = &[
    step!(
        "Look at the chain a client receives",
        "Regarder la chaîne reçue par un client",
        guide = "Certificats P2",
        cmd = "openssl s_client -connect {tls.name}:443 -showcerts"
    ),
    step!(
        "Rebuild the fullchain: server certificate, then intermediate, then root",
        "Reconstruire le fullchain : certificat serveur, puis intermédiaire, puis racine",
        guide = "Certificats P2",
        cmd =
            "cat {tls.cert} {tls.ca_dir}/intermediate.pem {tls.ca_dir}/root.pem > {tls.fullchain}"
    ),
    step!(
        "Serve fullchain.pem instead of server.crt (docker-compose.yml), then restart",
        "Servir fullchain.pem au lieu de server.crt (docker-compose.yml), puis redémarrer",
        guide = "Certificats P2",
        cmd = "{docker.compose} restart"
    ),
];
const CA_STEPS: &[Step] = &[
    step!(
        "Install the IGC Santé CA bundle (roots and intermediates) in the CA folder",
        "Installer le bundle des AC IGC Santé (racines et intermédiaires) dans le dossier des AC",
        guide = "Certificats P3",
        cmd = "ls -l {tls.ca_dir}  # download from https://igc-sante.esante.gouv.fr"
    ),
    step!(
        "Check which CA issued the certificate",
        "Vérifier quelle AC a émis le certificat",
        guide = "Certificats P3",
        cmd = "openssl x509 -in {tls.cert} -noout -issuer"
    ),
];
const ISSUER_STEPS: &[Step] = &[
    step!(
        "Check which CA issued the certificate",
        "Vérifier quelle AC a émis le certificat",
        guide = "Certificats P3",
        cmd = "openssl x509 -in {tls.cert} -noout -issuer -subject"
    ),
    step!(
        "Order the server certificate from the IGC Santé (AC IGC-SANTE ELEMENTAIRE ORGANISATIONS) and install it with its key",
        "Commander le certificat serveur à l'IGC Santé (AC IGC-SANTE ELEMENTAIRE ORGANISATIONS) et l'installer avec sa clé",
        guide = "Certificats P3"
    ),
];
const TEST_CA_STEPS: &[Step] = &[
    step!(
        "Install the production IGC Santé certificate and key (or, on a recette platform, set environment = \"test\" in [tls])",
        "Installer le certificat et la clé IGC Santé de production (ou, sur une plateforme de recette, régler environment = \"test\" dans [tls])",
        guide = "Certificats P3",
        cmd = "openssl x509 -in {tls.cert} -noout -issuer"
    ),
    step!(
        "Restart the services that serve it",
        "Redémarrer les services qui le présentent",
        guide = "Certificats P1",
        cmd = "{docker.compose} restart postfix dovecot traefik"
    ),
];

/// The pool the chain is built from: the certificate file, the fullchain file, the CA set.
fn pool(m: &Material) -> Vec<&Certificate> {
    let mut v: Vec<&Certificate> = Vec::new();
    let files = m
        .cert
        .iter()
        .flatten()
        .chain(m.fullchain.iter().flat_map(|f| f.iter().flatten()))
        .chain(&m.ca.certs);
    for c in files {
        if !v.iter().any(|x| x.sha256 == c.sha256) {
            v.push(c);
        }
    }
    v
}

/// The chain of the configured server certificate, when it was loaded.
#[must_use]
pub fn chain_of(m: &Material) -> Option<Chain> {
    m.leaf().map(|leaf| build_chain(leaf, &pool(m)))
}

fn not_loaded(m: &Material, lang: Lang) -> Outcome {
    let why = m
        .cert
        .as_ref()
        .err()
        .map_or_else(String::new, |e| e.describe(lang, &m.cert_shown));
    Outcome::unknown(tr!(
        lang,
        "the certificate could not be loaded (see tls.cert): {why}",
        "le certificat n'a pas pu être chargé (voir tls.cert) : {why}"
    ))
}

fn ca_set_findings(ca: &CaSet, shown: &str, lang: Lang) -> Vec<Finding> {
    let mut v = Vec::new();
    match &ca.error {
        Some(e @ LoadError::Unreadable { .. }) => {
            v.push(Finding::new(Status::Unknown, e.describe(lang, shown), &[]))
        }
        Some(e) => v.push(Finding::new(
            Status::Critical,
            e.describe(lang, shown),
            CA_STEPS,
        )),
        None if ca.certs.is_empty() => v.push(Finding::new(
            Status::Critical,
            tr!(
                lang,
                "{shown} holds no CA certificate",
                "{shown} ne contient aucun certificat d'AC"
            ),
            CA_STEPS,
        )),
        None => {}
    }
    for f in &ca.files {
        if let Err(e) = &f.loaded {
            let name = f.path.file_name().map_or_else(
                || f.path.display().to_string(),
                |n| format!("{shown}/{}", n.to_string_lossy()),
            );
            v.push(Finding::new(
                Status::Warning,
                e.describe(lang, &name),
                CA_STEPS,
            ));
        }
    }
    v
}

/// Judges the chain: complete up to a root of the CA folder, files in order, fullchain complete,
/// no CA expiring before the server certificate.
#[must_use]
pub fn evaluate_chain(m: &Material, now: i64, lang: Lang) -> Outcome {
    let (Some(leaf), Some(chain)) = (m.leaf(), chain_of(m)) else {
        return not_loaded(m, lang);
    };
    let mut v = ca_set_findings(&m.ca, &m.ca_shown, lang);
    let (cert, ca_dir) = (m.cert_shown.as_str(), m.ca_shown.as_str());
    if let Ok(certs) = &m.cert {
        if let Some(b) = order_break(certs, lang) {
            v.push(Finding::new(
                Status::Critical,
                tr!(lang, "{cert} is in the wrong order: {b} (expected: server certificate, then its issuers)", "{cert} est dans le mauvais ordre : {b} (attendu : certificat serveur, puis ses émetteurs)"),
                CHAIN_STEPS,
            ));
        }
    }
    let name = leaf.name();
    match &chain.end {
        ChainEnd::SelfSignedLeaf | ChainEnd::Root => {}
        ChainEnd::MissingIssuer { issuer } => {
            let last = chain.names.last().map_or(name, String::as_str);
            v.push(Finding::new(
                Status::Critical,
                tr!(
                    lang,
                    "missing intermediate: {issuer} (issuer of {last}) is neither in {cert} nor in {ca_dir}: add it to {ca_dir} and serve fullchain.pem = server.crt + intermediate",
                    "intermédiaire manquant : {issuer} (émetteur de {last}) n'est ni dans {cert} ni dans {ca_dir} : l'ajouter à {ca_dir} et servir fullchain.pem = server.crt + intermédiaire"
                ),
                CHAIN_STEPS,
            ));
        }
        ChainEnd::BadSignature { issuer } => v.push(Finding::new(
            Status::Critical,
            tr!(
                lang,
                "a certificate named {issuer} is in the files, but its key did not sign the chain's certificate (another generation of that CA?): install the intermediate that issued it",
                "un certificat nommé {issuer} est présent, mais sa clé n'a pas signé le certificat de la chaîne (autre génération de cette AC ?) : installer l'intermédiaire qui l'a émis"
            ),
            CHAIN_STEPS,
        )),
        ChainEnd::Loop { at } => v.push(Finding::new(
            Status::Critical,
            tr!(lang, "the chain loops: {at} comes back (CAs certifying each other); no root is reached", "la chaîne boucle : {at} revient (AC qui se certifient l'une l'autre) ; aucune racine n'est atteinte"),
            CA_STEPS,
        )),
        ChainEnd::TooLong => v.push(Finding::new(
            Status::Critical,
            tr!(lang, "the chain is longer than {MAX_DEPTH} certificates", "la chaîne compte plus de {MAX_DEPTH} certificats"),
            CA_STEPS,
        )),
    }
    if chain.end == ChainEnd::Root {
        if let Some(root) = chain.certs.last().filter(|r| {
            !m.ca.contains(r)
                && !m
                    .ca
                    .certs
                    .iter()
                    .any(|c| c.subject_raw == r.subject_raw && c.public == r.public)
        }) {
            let r = root.name();
            v.push(Finding::new(
                Status::Critical,
                tr!(
                    lang,
                    "the chain ends at root {r}, which is not in the CA folder {ca_dir}",
                    "la chaîne aboutit à la racine {r}, absente du dossier des AC {ca_dir}"
                ),
                CA_STEPS,
            ));
        }
    }
    for ca in chain.cas() {
        let (n, end, leaf_end) = (ca.name(), day(&ca.not_after), day(&leaf.not_after));
        if !ca.is_ca {
            v.push(Finding::new(
                Status::Critical,
                tr!(
                    lang,
                    "{n} issues {name}'s chain but is not a CA (basicConstraints)",
                    "{n} émet la chaîne de {name} mais n'est pas une AC (basicConstraints)"
                ),
                CA_STEPS,
            ));
        }
        if ca.not_after_unix < now {
            v.push(Finding::new(
                Status::Critical,
                tr!(
                    lang,
                    "CA {n} expired on {end}",
                    "l'AC {n} a expiré le {end}"
                ),
                CA_STEPS,
            ));
        } else if ca.not_after_unix < leaf.not_after_unix {
            v.push(Finding::new(
                Status::Warning,
                tr!(
                    lang,
                    "CA {n} expires on {end}, before the server certificate ({leaf_end}): install its successor in {ca_dir} and the fullchain before then",
                    "l'AC {n} expire le {end}, avant le certificat serveur ({leaf_end}) : installer son successeur dans {ca_dir} et le fullchain avant cette date"
                ),
                CA_STEPS,
            ));
        }
    }
    let fullchain = m.fullchain_shown.as_str();
    match &m.fullchain {
        None => {}
        Some(Err(e)) => v.push(Finding::new(
            Status::Critical,
            e.describe(lang, fullchain),
            CHAIN_STEPS,
        )),
        Some(Ok(fc)) => {
            if let Some(b) = order_break(fc, lang) {
                v.push(Finding::new(
                    Status::Critical,
                    tr!(lang, "{fullchain} is in the wrong order: {b} (expected: server certificate, then intermediate(s))", "{fullchain} est dans le mauvais ordre : {b} (attendu : certificat serveur, puis intermédiaire(s))"),
                    CHAIN_STEPS,
                ));
            }
            let fc_leaf = &fc[leaf_index(fc)];
            if fc_leaf.sha256 != leaf.sha256 {
                let other = fc_leaf.name();
                v.push(Finding::new(
                    Status::Warning,
                    tr!(
                        lang,
                        "{fullchain} holds another server certificate ({other}, serial {}) than {cert} (serial {}): rebuild it",
                        "{fullchain} contient un autre certificat serveur ({other}, numéro {}) que {cert} (numéro {}) : le reconstruire",
                        fc_leaf.serial,
                        leaf.serial
                    ),
                    CHAIN_STEPS,
                ));
            } else {
                let missing: Vec<&str> = chain
                    .cas()
                    .iter()
                    .filter(|c| !c.self_signed() && !fc.iter().any(|x| x.sha256 == c.sha256))
                    .map(Certificate::name)
                    .collect();
                if !missing.is_empty() {
                    let l = missing.join(", ");
                    v.push(Finding::new(
                        Status::Critical,
                        tr!(
                            lang,
                            "{fullchain} lacks the intermediate {l}: clients get an incomplete chain; rebuild fullchain.pem = server.crt + intermediate",
                            "{fullchain} ne contient pas l'intermédiaire {l} : les clients reçoivent une chaîne incomplète ; reconstruire fullchain.pem = server.crt + intermédiaire"
                        ),
                        CHAIN_STEPS,
                    ));
                }
            }
        }
    }
    let path = chain.names.join(" → ");
    let ok = if chain.end == ChainEnd::SelfSignedLeaf {
        tr!(lang, "{name} is self-signed: no chain to build (its issuer is judged by tls.issuer)", "{name} est auto-signé : pas de chaîne à construire (son émetteur est jugé par tls.issuer)")
    } else {
        tr!(
            lang,
            "chain complete: {path} (root in {ca_dir})",
            "chaîne complète : {path} (racine dans {ca_dir})"
        )
    };
    let details = serde_json::json!({ "chain": chain, "ca": m.ca.files, "cas": chain.cas() });
    let mut o = fold(v, ok, lang).details(details);
    if let Some(first) = chain
        .cas()
        .iter()
        .map(|c| c.days_left(now))
        .min_by(f64::total_cmp)
    {
        o = o.metric(Metric::new(
            "ca_days_left",
            (first * 10.0).round() / 10.0,
            "d",
        ));
    }
    o
}

/// Judges the issuer: an IGC Santé CA of the configured names, or a CA certificate of the CA folder.
#[must_use]
pub fn evaluate_issuer(m: &Material, s: &Settings, lang: Lang) -> Outcome {
    let Some(leaf) = m.leaf() else {
        return not_loaded(m, lang);
    };
    let (name, issuer, ca_dir) = (leaf.name(), leaf.issuer_name(), m.ca_shown.as_str());
    let details = serde_json::json!({ "subject": leaf.subject, "issuer": leaf.issuer, "igc_issuers": s.igc_issuers });
    if leaf.self_signed() {
        return Outcome::critical(tr!(
            lang,
            "{name} is self-signed: no client trusts it; order a server certificate from the IGC Santé (AC IGC-SANTE ELEMENTAIRE ORGANISATIONS)",
            "{name} est auto-signé : aucun client ne lui fait confiance ; commander un certificat serveur à l'IGC Santé (AC IGC-SANTE ELEMENTAIRE ORGANISATIONS)"
        ))
        .details(details)
        .remedies(ISSUER_STEPS, lang);
    }
    if is_named(&leaf.issuer_cn, &s.igc_issuers) || is_named(&leaf.issuer_cn, &s.igc_roots) {
        return Outcome::ok(tr!(
            lang,
            "{name} is issued by {issuer}, an IGC Santé CA",
            "{name} est émis par {issuer}, une AC IGC Santé"
        ))
        .details(details);
    }
    if m.ca.certs.iter().any(|c| leaf.issued_by(c)) {
        return Outcome::ok(tr!(
            lang,
            "{name} is issued by {issuer}, a CA of {ca_dir}",
            "{name} est émis par {issuer}, une AC de {ca_dir}"
        ))
        .details(details);
    }
    Outcome::critical(tr!(
        lang,
        "{name} is issued by {issuer}, which is neither an IGC Santé CA nor a CA of {ca_dir}",
        "{name} est émis par {issuer}, qui n'est ni une AC IGC Santé ni une AC de {ca_dir}"
    ))
    .details(details)
    .remedies(ISSUER_STEPS, lang)
}

/// Judges the IGC Santé trust policy: the chain's CAs are IGC Santé CAs, it ends at an IGC Santé
/// root, the CA folder trusts only IGC Santé roots, and no TEST CA on a production platform.
#[must_use]
pub fn evaluate_trust(m: &Material, s: &Settings, lang: Lang) -> Outcome {
    let (Some(leaf), Some(chain)) = (m.leaf(), chain_of(m)) else {
        return not_loaded(m, lang);
    };
    let ca_dir = m.ca_shown.as_str();
    let mut v = Vec::new();
    let igc = |c: &Certificate| {
        is_named(&c.subject_cn, &s.igc_roots) || is_named(&c.subject_cn, &s.igc_issuers)
    };
    for ca in chain.cas() {
        let n = ca.name();
        if chain.end == ChainEnd::Root && std::ptr::eq(ca, &chain.certs[chain.certs.len() - 1]) {
            if !is_named(&ca.subject_cn, &s.igc_roots) {
                let roots = s.igc_roots.join(", ");
                v.push(Finding::new(
                    Status::Critical,
                    tr!(
                        lang,
                        "the chain ends at {n}, not an IGC Santé root ({roots})",
                        "la chaîne aboutit à {n}, qui n'est pas une racine IGC Santé ({roots})"
                    ),
                    ISSUER_STEPS,
                ));
            }
        } else if !igc(ca) {
            v.push(Finding::new(
                Status::Critical,
                tr!(
                    lang,
                    "{n} in the chain is not an IGC Santé CA",
                    "{n}, dans la chaîne, n'est pas une AC IGC Santé"
                ),
                ISSUER_STEPS,
            ));
        }
    }
    for anchor in m.ca.anchors() {
        if !is_named(&anchor.subject_cn, &s.igc_roots)
            && !chain.cas().iter().any(|c| c.sha256 == anchor.sha256)
        {
            let n = anchor.name();
            v.push(Finding::new(
                Status::Warning,
                tr!(
                    lang,
                    "{ca_dir} also trusts {n}, which is not an IGC Santé root",
                    "{ca_dir} fait aussi confiance à {n}, qui n'est pas une racine IGC Santé"
                ),
                CA_STEPS,
            ));
        }
    }
    // TEST CAs of the chain; when no CA was found, the issuer's name still tells.
    let mut tests: Vec<String> = chain
        .cas()
        .iter()
        .filter(|c| is_test_ca(c))
        .map(|c| c.name().to_owned())
        .collect();
    if chain.cas().is_empty()
        && chain.end != ChainEnd::SelfSignedLeaf
        && is_test_name(&leaf.issuer_cn)
    {
        tests.push(leaf.issuer_cn.clone());
    }
    if s.environment == Environment::Production && !tests.is_empty() {
        let (name, t) = (leaf.name(), tests.join(", "));
        v.push(Finding::new(
            Status::Critical,
            tr!(
                lang,
                "{name} is issued under the TEST IGC Santé hierarchy ({t}) on a production platform: other operators reject it",
                "{name} est émis sous la hiérarchie de TEST de l'IGC Santé ({t}) sur une plateforme de production : les autres opérateurs le rejettent"
            ),
            TEST_CA_STEPS,
        ));
    }
    let env = s.environment.as_str();
    let ok = match (&chain.end, chain.certs.last()) {
        (ChainEnd::SelfSignedLeaf, _) => {
            let name = leaf.name();
            tr!(lang, "no CA above {name} (self-signed: see tls.issuer); the roots of {ca_dir} are IGC Santé roots", "aucune AC au-dessus de {name} (auto-signé : voir tls.issuer) ; les racines de {ca_dir} sont des racines IGC Santé")
        }
        (ChainEnd::Root, Some(root)) => {
            let r = root.name();
            tr!(
                lang,
                "the chain ends at the IGC Santé root {r} ({env} platform)",
                "la chaîne aboutit à la racine IGC Santé {r} (plateforme de {env})"
            )
        }
        _ => {
            let cas = chain.names.get(1..).unwrap_or_default().join(", ");
            tr!(lang, "the CAs found ({cas}) are IGC Santé CAs; the chain is incomplete (see tls.chain)", "les AC trouvées ({cas}) sont des AC IGC Santé ; la chaîne est incomplète (voir tls.chain)")
        }
    };
    let details = serde_json::json!({
        "environment": env,
        "chain": chain,
        "test_cas": tests,
        "anchors": m.ca.anchors().map(Certificate::name).collect::<Vec<_>>(),
        "igc_roots": s.igc_roots,
    });
    fold(v, ok, lang).details(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn igc_names_match_with_their_test_variant() {
        let roots: Vec<String> = super::super::settings::IGC_ROOTS
            .map(str::to_owned)
            .to_vec();
        assert!(is_named("AC RACINE IGC-SANTE ELEMENTAIRE", &roots));
        assert!(is_named("TEST AC RACINE IGC-SANTE ELEMENTAIRE", &roots));
        assert!(is_named("ac  racine igc-sante fort", &roots));
        assert!(!is_named("AC RACINE IGC-SANTE", &roots));
        assert!(!is_named("Example Root CA", &roots));
        assert!(is_test_name("TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"));
        assert!(!is_test_name("AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"));
    }
}
