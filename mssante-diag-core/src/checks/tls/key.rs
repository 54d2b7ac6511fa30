//! `tls.key`: the private key file: mode, owner, encryption, and whether it matches the
//! certificate (public keys compared, RSA, EC and Ed25519). The key is read, parsed and
//! dropped: no byte of it is ever shown, not even in an error.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio_rustls::rustls::pki_types::pem::{PemObject, SectionKind};
use x509_parser::asn1_rs::{Any, Class, FromDer, Tag};

use super::load::{read_bounded, strip_zeros, Certificate, LoadError, PublicMaterial};
use crate::checks::{step, Outcome, Step};
use crate::model::Status;
use crate::{tr, Lang};

/// Largest key file read.
const MAX_KEY_BYTES: u64 = 64 * 1024;

/// What the key file holds (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeyContent {
    /// An unencrypted private key.
    Plain {
        /// `RSA`, `EC`, `Ed25519` or the algorithm OID.
        algorithm: String,
        /// Its encoding: `PKCS#8`, `PKCS#1`, `SEC1`.
        format: String,
        /// The public half, when it can be derived.
        #[serde(skip)]
        public: Option<PublicMaterial>,
    },
    /// A passphrase-protected key (PKCS#8 `ENCRYPTED PRIVATE KEY`, or a legacy
    /// `Proc-Type: 4,ENCRYPTED` PEM).
    Encrypted,
    /// Not a private key: what was found, in a few words.
    Unrecognised {
        /// What is wrong, without quoting the content.
        cause: String,
    },
}

/// Facts of the private key file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyFacts {
    /// The file.
    pub path: PathBuf,
    /// Permission bits (`0o600`), when the file exists.
    pub mode: Option<u32>,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Owner name, when known.
    pub owner: Option<String>,
    /// Owners accepted: the configured `key_owner`, else root and the project folder's owner.
    pub accepted_owners: Vec<String>,
    /// The content, or why it could not be read.
    pub content: Result<KeyContent, LoadError>,
    /// Only its owner may read it and this user is not the owner (the monitoring user, as
    /// docs/least-privilege.md recommends): mode and owner are judged, the content is not.
    pub kept_from_user: bool,
}

fn user_name(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// Reads the key file's mode, owner and content. `owners` are the accepted owners (names or uids).
#[must_use]
pub fn key_facts(path: &Path, owners: Vec<String>) -> KeyFacts {
    let meta = std::fs::metadata(path).ok();
    let content = read_bounded(path, MAX_KEY_BYTES).map(|b| parse_private_key(&b));
    KeyFacts {
        path: path.to_path_buf(),
        mode: meta.as_ref().map(|m| m.mode() & 0o7777),
        uid: meta.as_ref().map(MetadataExt::uid),
        owner: meta.as_ref().and_then(|m| user_name(m.uid())),
        accepted_owners: owners,
        kept_from_user: matches!(content, Err(LoadError::Unreadable { .. })) && crate::access::owner_only(path),
        content,
    }
}

/// The accepted owners: `key_owner` when configured, else root and the owner of `project_dir`.
#[must_use]
pub fn accepted_owners(key_owner: Option<&str>, project_dir: &Path) -> Vec<String> {
    if let Some(o) = key_owner {
        return vec![o.to_owned()];
    }
    let mut v = vec!["root".to_owned()];
    if let Some(uid) = std::fs::metadata(project_dir)
        .ok()
        .map(|m| m.uid())
        .filter(|u| *u != 0)
    {
        v.push(user_name(uid).unwrap_or_else(|| uid.to_string()));
    }
    v
}

/// The DER elements inside a constructed value (at most 16).
fn elements<'a>(mut data: &'a [u8]) -> Option<Vec<Any<'a>>> {
    let mut v = Vec::new();
    while !data.is_empty() && v.len() < 16 {
        let (rest, any) = Any::from_der(data).ok()?;
        v.push(any);
        data = rest;
    }
    Some(v)
}

fn sequence(der: &[u8]) -> Option<Vec<Any<'_>>> {
    let (rest, any) = Any::from_der(der).ok()?;
    (rest.is_empty() && any.tag() == Tag::Sequence).then_some(())?;
    elements(any.data)
}

/// PKCS#1 `RSAPrivateKey`: version, n, e, ...
fn pkcs1(der: &[u8]) -> Option<PublicMaterial> {
    let e = sequence(der)?;
    (e.len() >= 3 && e.iter().take(3).all(|x| x.tag() == Tag::Integer)).then_some(())?;
    Some(PublicMaterial::Rsa {
        n: strip_zeros(e[1].data),
        e: strip_zeros(e[2].data),
    })
}

/// SEC1 `ECPrivateKey`: version 1, private key, [0] parameters, [1] public key.
fn sec1(der: &[u8]) -> Option<Option<PublicMaterial>> {
    let e = sequence(der)?;
    (e.len() >= 2 && e[0].tag() == Tag::Integer && e[1].tag() == Tag::OctetString).then_some(())?;
    let public = e
        .iter()
        .find(|x| x.class() == Class::ContextSpecific && x.tag() == Tag(1))
        .and_then(|x| {
            let (_, bits) = Any::from_der(x.data).ok()?;
            (bits.tag() == Tag::BitString)
                .then(|| PublicMaterial::Point(bits.data.get(1..).unwrap_or_default().to_vec()))
        });
    Some(public)
}

/// PKCS#8 `PrivateKeyInfo`: version, algorithm, private key, [0] attributes, [1] public key.
fn pkcs8(der: &[u8]) -> Option<KeyContent> {
    let e = sequence(der)?;
    if e.first().is_some_and(|x| x.tag() == Tag::Sequence)
        && e.len() == 2
        && e[1].tag() == Tag::OctetString
    {
        // EncryptedPrivateKeyInfo: algorithm, encrypted data.
        return Some(KeyContent::Encrypted);
    }
    (e.len() >= 3
        && e[0].tag() == Tag::Integer
        && e[1].tag() == Tag::Sequence
        && e[2].tag() == Tag::OctetString)
        .then_some(())?;
    let alg = elements(e[1].data)?
        .into_iter()
        .next()?
        .oid()
        .ok()?
        .to_id_string();
    let (algorithm, public) = match alg.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            ("RSA".to_owned(), Some(pkcs1(e[2].data)?))
        }
        "1.2.840.10045.2.1" => ("EC".to_owned(), sec1(e[2].data)?),
        "1.3.101.112" => {
            // The seed is an OCTET STRING inside the OCTET STRING; the public key is derived.
            let (_, seed) = Any::from_der(e[2].data).ok()?;
            let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed.data).ok()?;
            (
                "Ed25519".to_owned(),
                Some(PublicMaterial::Point(
                    ring::signature::KeyPair::public_key(&pair)
                        .as_ref()
                        .to_vec(),
                )),
            )
        }
        other => (other.to_owned(), None),
    };
    Some(KeyContent::Plain {
        algorithm,
        format: "PKCS#8".into(),
        public,
    })
}

fn from_der(der: &[u8]) -> KeyContent {
    if let Some(k) = pkcs8(der) {
        return k;
    }
    if let Some(public) = pkcs1(der) {
        return KeyContent::Plain {
            algorithm: "RSA".into(),
            format: "PKCS#1".into(),
            public: Some(public),
        };
    }
    if let Some(public) = sec1(der) {
        return KeyContent::Plain {
            algorithm: "EC".into(),
            format: "SEC1".into(),
            public,
        };
    }
    KeyContent::Unrecognised {
        cause: "not a PKCS#8, PKCS#1 or SEC1 private key".into(),
    }
}

/// Recognises a private key file's content (PEM or DER) and derives its public half.
#[must_use]
pub fn parse_private_key(bytes: &[u8]) -> KeyContent {
    if memchr::memmem::find(bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----").is_some()
        || memchr::memmem::find(bytes, b"Proc-Type: 4,ENCRYPTED").is_some()
    {
        return KeyContent::Encrypted;
    }
    if !super::load::looks_like_pem(bytes) {
        return from_der(bytes);
    }
    for (i, section) in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes).enumerate() {
        let (kind, der) = match section {
            Ok(s) => s,
            Err(e) => {
                return KeyContent::Unrecognised {
                    cause: super::load::pem_error(&e, i + 1),
                }
            }
        };
        let content = match kind {
            SectionKind::PrivateKey => pkcs8(&der),
            SectionKind::RsaPrivateKey => pkcs1(&der).map(|p| KeyContent::Plain {
                algorithm: "RSA".into(),
                format: "PKCS#1".into(),
                public: Some(p),
            }),
            SectionKind::EcPrivateKey => sec1(&der).map(|p| KeyContent::Plain {
                algorithm: "EC".into(),
                format: "SEC1".into(),
                public: p,
            }),
            _ => continue,
        };
        return content.unwrap_or_else(|| KeyContent::Unrecognised {
            cause: format!("PEM block #{}: malformed private key", i + 1),
        });
    }
    KeyContent::Unrecognised {
        cause: "no PRIVATE KEY block".into(),
    }
}

const PERMISSION_STEP: Step = step!(
    "Restrict the private key to its owner",
    "Réserver la clé privée à son propriétaire",
    guide = "Stockage P1",
    cmd = "chmod 600 {tls.key}"
);
const MISMATCH_STEPS: &[Step] = &[
    step!(
        "Compare the public key of the certificate and of the key: both digests must be equal",
        "Comparer la clé publique du certificat et celle de la clé : les deux empreintes doivent être égales",
        guide = "Certificats P1",
        cmd = "openssl x509 -in {tls.cert} -noout -pubkey | openssl sha256; openssl pkey -in {tls.key} -pubout | openssl sha256"
    ),
    step!(
        "Install the key generated with this certificate's request (or the certificate issued for this key), then restart the services",
        "Installer la clé générée avec la demande de ce certificat (ou le certificat émis pour cette clé), puis redémarrer les services",
        guide = "Certificats P1",
        cmd = "{docker.compose} restart postfix dovecot traefik"
    ),
];
const ENCRYPTED_STEP: Step = step!(
    "Servers started unattended cannot type a passphrase: store the key unencrypted, readable by its owner only",
    "Un serveur démarré sans opérateur ne peut pas saisir de phrase secrète : stocker la clé non chiffrée, lisible par son seul propriétaire",
    guide = "Certificats P1",
    cmd = "openssl pkey -in {tls.key} -out server.key.plain && chmod 600 server.key.plain"
);

/// Judges the key file against the certificate `cert` (the leaf), when it could be loaded.
#[must_use]
pub fn evaluate_key(f: &KeyFacts, cert: Option<&Certificate>, shown: &str, lang: Lang) -> Outcome {
    let mut findings: Vec<(Status, String, &[Step])> = Vec::new();
    if let (Err(e), false) = (&f.content, f.kept_from_user) {
        let status = match e {
            LoadError::Unreadable { .. } => Status::Unknown,
            _ => Status::Critical,
        };
        findings.push((status, e.describe(lang, shown), &[]));
    }
    if let Some(mode) = f.mode {
        let m = format!("{mode:o}");
        if mode & 0o007 != 0 {
            findings.push((
                Status::Critical,
                tr!(lang, "{shown} has mode {m}: any local user can read the private key (600 expected)", "{shown} a le mode {m} : tout utilisateur local peut lire la clé privée (600 attendu)"),
                std::slice::from_ref(&PERMISSION_STEP),
            ));
        } else if mode & 0o070 != 0 {
            findings.push((
                Status::Warning,
                tr!(
                    lang,
                    "{shown} has mode {m}: its group can read the private key (600 expected)",
                    "{shown} a le mode {m} : son groupe peut lire la clé privée (600 attendu)"
                ),
                std::slice::from_ref(&PERMISSION_STEP),
            ));
        }
    }
    if let Some(uid) = f.uid {
        let owner = f.owner.clone().unwrap_or_else(|| uid.to_string());
        if !f
            .accepted_owners
            .iter()
            .any(|o| *o == owner || *o == uid.to_string())
        {
            let want = f.accepted_owners.join(lang.pick(" or ", " ou "));
            findings.push((
                Status::Warning,
                tr!(
                    lang,
                    "{shown} belongs to {owner}, expected {want}",
                    "{shown} appartient à {owner}, {want} attendu"
                ),
                &[],
            ));
        }
    }
    match (&f.content, cert) {
        (Ok(KeyContent::Encrypted), _) => findings.push((
            Status::Warning,
            tr!(
                lang,
                "{shown} is encrypted with a passphrase: Postfix, Dovecot and Traefik cannot load it unattended, and it cannot be compared with the certificate",
                "{shown} est chiffrée par une phrase secrète : Postfix, Dovecot et Traefik ne peuvent pas la charger sans opérateur, et elle ne peut pas être comparée au certificat"
            ),
            std::slice::from_ref(&ENCRYPTED_STEP),
        )),
        (Ok(KeyContent::Unrecognised { cause }), _) => findings.push((
            Status::Critical,
            tr!(lang, "{shown} is not a usable private key: {cause}", "{shown} n'est pas une clé privée utilisable : {cause}"),
            &[],
        )),
        (Ok(KeyContent::Plain { public: Some(p), .. }), Some(c)) if *p != c.public => {
            let name = c.name();
            findings.push((
                Status::Critical,
                tr!(
                    lang,
                    "{shown} does not match the certificate {name} (different public keys): servers refuse the pair or fail every handshake",
                    "{shown} ne correspond pas au certificat {name} (clés publiques différentes) : les serveurs refusent la paire ou échouent à chaque négociation"
                ),
                MISMATCH_STEPS,
            ));
        }
        (Ok(KeyContent::Plain { public: None, algorithm, .. }), Some(_)) => findings.push((
            Status::Unknown,
            tr!(
                lang,
                "{shown} ({algorithm}) does not carry its public key: it cannot be compared with the certificate",
                "{shown} ({algorithm}) ne contient pas sa clé publique : impossible de la comparer au certificat"
            ),
            &[],
        )),
        (Ok(KeyContent::Plain { .. }), None) => findings.push((
            Status::Unknown,
            tr!(lang, "the certificate could not be loaded (see tls.cert): the key is not compared", "le certificat n'a pas pu être chargé (voir tls.cert) : la clé n'est pas comparée"),
            &[],
        )),
        _ => {}
    }
    let details = serde_json::json!({ "key": f, "matches_certificate": matches!((&f.content, cert), (Ok(KeyContent::Plain { public: Some(p), .. }), Some(c)) if *p == c.public) });
    let worst = findings.iter().map(|x| x.0).max_by_key(|s| s.severity());
    let Some(status) = worst.filter(|s| *s != Status::Ok) else {
        let (alg, mode) = match &f.content {
            Ok(KeyContent::Plain { algorithm, .. }) => (
                algorithm.clone(),
                f.mode.map_or_else(String::new, |m| format!("{m:o}")),
            ),
            _ => (String::new(), f.mode.map_or_else(String::new, |m| format!("{m:o}"))),
        };
        if f.kept_from_user {
            let (user, owner) = (crate::access::current_user(), f.owner.clone().unwrap_or_default());
            return Outcome::ok(tr!(
                lang,
                "{shown}: mode {mode}, owner {owner}, kept from {user} as recommended: not compared with the certificate (tls.endpoints sees the pair the servers use)",
                "{shown} : mode {mode}, propriétaire {owner}, inaccessible à {user} comme recommandé : non comparée au certificat (tls.endpoints voit la paire qu'utilisent les serveurs)"
            ))
            .details(details);
        }
        return Outcome::ok(tr!(
            lang,
            "{shown}: {alg} key, mode {mode}, matches the certificate",
            "{shown} : clé {alg}, mode {mode}, correspond au certificat"
        ))
        .details(details);
    };
    // The worst finding first, then the others.
    findings.sort_by_key(|x| std::cmp::Reverse(x.0.severity()));
    let summary = findings
        .iter()
        .map(|x| x.1.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let mut o = Outcome::new(status, summary).details(details);
    for (_, _, steps) in &findings {
        o = o.remedies(steps, lang);
    }
    o
}

#[cfg(test)]
mod tests {
    fn unreadable(kept_from_user: bool, mode: u32) -> KeyFacts {
        KeyFacts {
            path: PathBuf::from("/srv/p/server.key"),
            mode: Some(mode),
            uid: Some(0),
            owner: Some("root".into()),
            accepted_owners: vec!["root".into()],
            content: Err(LoadError::Unreadable { cause: "permission denied".into() }),
            kept_from_user,
        }
    }

    #[test]
    fn a_key_kept_from_the_user_is_judged_by_mode_and_owner() {
        let o = evaluate_key(&unreadable(true, 0o600), None, "server.key", Lang::En);
        assert_eq!(o.status, Status::Ok, "{}", o.summary);
        assert!(o.summary.contains("not compared with the certificate"), "{}", o.summary);
        // Owned by someone unexpected: still a finding, without reading the key.
        let mut f = unreadable(true, 0o600);
        f.owner = Some("www-data".into());
        f.uid = Some(33);
        assert_eq!(evaluate_key(&f, None, "server.key", Lang::Fr).status, Status::Warning);
        // Unreadable for another reason (the group may read it, not this user): unknown.
        assert_eq!(evaluate_key(&unreadable(false, 0o640), None, "server.key", Lang::En).status, Status::Unknown);
    }

    use super::*;

    #[test]
    fn garbage_keys_are_unrecognised_and_never_quoted() {
        for bytes in [
            &b""[..],
            b"hello",
            b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA",
        ] {
            match parse_private_key(bytes) {
                KeyContent::Unrecognised { cause } => assert!(
                    !cause.contains("c2VjcmV0") && !cause.contains("secret"),
                    "{cause}"
                ),
                other => panic!("{other:?}"),
            }
        }
        let legacy = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(parse_private_key(legacy), KeyContent::Encrypted);
    }
}
