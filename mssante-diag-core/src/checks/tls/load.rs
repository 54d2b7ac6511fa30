//! Loading certificates: bounded file reads, PEM or DER, parsed with x509-parser into owned
//! facts ([`Certificate`]). Hostile input (garbage, a truncated PEM, a huge file, thousands of
//! blocks) is a [`LoadError`], never a panic or an unbounded allocation.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio_rustls::rustls::pki_types::pem::{PemObject, SectionKind};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::{tr, Lang};

/// Largest certificate or key file read: a certificate chain is a few KiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most certificates taken from one file.
pub const MAX_CERTS_PER_FILE: usize = 64;
/// Most files read from the CA folder.
pub const MAX_CA_FILES: usize = 256;

/// Why a certificate (or key) file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoadError {
    /// No such file.
    Missing,
    /// The file exists but cannot be read (permission...).
    Unreadable {
        /// Why.
        cause: String,
    },
    /// Larger than [`MAX_FILE_BYTES`]: not a certificate file.
    TooLarge {
        /// Its size.
        bytes: u64,
    },
    /// Not a regular file (a folder, a device...).
    NotAFile,
    /// The content is not a certificate (bad PEM, bad DER, truncated).
    Malformed {
        /// What is wrong, without quoting the content.
        cause: String,
    },
    /// A PEM file without any certificate block.
    NoCertificate,
    /// More than [`MAX_CERTS_PER_FILE`] certificates.
    TooMany,
}

impl LoadError {
    /// One line naming the file and what is wrong with it.
    #[must_use]
    pub fn describe(&self, lang: Lang, file: &str) -> String {
        match self {
            LoadError::Missing => tr!(lang, "{file} does not exist", "{file} n'existe pas"),
            LoadError::Unreadable { cause } => tr!(
                lang,
                "cannot read {file}: {cause}",
                "impossible de lire {file} : {cause}"
            ),
            LoadError::TooLarge { bytes } => {
                let mib = format!("{:.1}", *bytes as f64 / 1_048_576.0);
                tr!(
                    lang,
                    "{file} is {mib} MiB: too large for a certificate or key file (not read)",
                    "{file} fait {mib} Mio : trop gros pour un fichier de certificat ou de clé (non lu)"
                )
            }
            LoadError::NotAFile => tr!(
                lang,
                "{file} is not a regular file",
                "{file} n'est pas un fichier ordinaire"
            ),
            LoadError::Malformed { cause } => tr!(
                lang,
                "{file} is not a valid certificate: {cause}",
                "{file} n'est pas un certificat valide : {cause}"
            ),
            LoadError::NoCertificate => tr!(
                lang,
                "{file} holds no certificate (no BEGIN CERTIFICATE block)",
                "{file} ne contient aucun certificat (pas de bloc BEGIN CERTIFICATE)"
            ),
            LoadError::TooMany => tr!(
                lang,
                "{file} holds more than {MAX_CERTS_PER_FILE} certificates",
                "{file} contient plus de {MAX_CERTS_PER_FILE} certificats"
            ),
        }
    }
}

/// Reads a whole file of at most `max` bytes.
///
/// # Errors
/// [`LoadError::Missing`], [`LoadError::Unreadable`], [`LoadError::NotAFile`], [`LoadError::TooLarge`].
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, LoadError> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::Missing,
        _ => LoadError::Unreadable {
            cause: crate::probe::io_cause(Lang::En, &e),
        },
    })?;
    let meta = file.metadata().map_err(|e| LoadError::Unreadable {
        cause: e.kind().to_string(),
    })?;
    if !meta.is_file() {
        return Err(LoadError::NotAFile);
    }
    if meta.len() > max {
        return Err(LoadError::TooLarge { bytes: meta.len() });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| LoadError::Unreadable {
            cause: e.kind().to_string(),
        })?;
    if bytes.len() as u64 > max {
        return Err(LoadError::TooLarge {
            bytes: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// A certificate's public key, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// `RSA`, `EC`, `Ed25519`, `DSA` or the algorithm's OID.
    pub algorithm: String,
    /// Size in bits (0 when unknown).
    pub bits: u32,
    /// Named curve of an EC key (`P-256`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<String>,
}

/// The public key itself, to compare with a private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicMaterial {
    /// RSA modulus and exponent, big-endian, without leading zeros.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// An EC point or an Ed25519 key: the subjectPublicKey bytes.
    Point(Vec<u8>),
    /// Anything else: the raw subjectPublicKey bytes.
    Other(Vec<u8>),
}

/// What a certificate says, owned (parsed once with x509-parser).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Certificate {
    /// Subject DN.
    pub subject: String,
    /// Subject common name (empty when none).
    pub subject_cn: String,
    /// Issuer DN.
    pub issuer: String,
    /// Issuer common name (empty when none).
    pub issuer_cn: String,
    /// Serial number, hex.
    pub serial: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// DNS names of the subjectAltName.
    pub dns_names: Vec<String>,
    /// IP addresses of the subjectAltName.
    pub ip_addresses: Vec<String>,
    /// basicConstraints CA:TRUE.
    pub is_ca: bool,
    /// keyUsage bits set (`digitalSignature`...), `None` when the extension is absent.
    pub key_usage: Option<Vec<String>>,
    /// extendedKeyUsage purposes (`serverAuth`...), `None` when the extension is absent.
    pub ext_key_usage: Option<Vec<String>>,
    /// Public key type and size.
    pub key: KeyInfo,
    /// Signature algorithm (`sha256WithRSAEncryption`...).
    pub signature_algorithm: String,
    /// Signed with MD2, MD5 or SHA-1.
    pub weak_signature: bool,
    /// SHA-256 fingerprint, hex.
    pub sha256: String,
    /// Organisational units of the subject.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_ou: Vec<String>,
    /// Validity bounds, Unix seconds.
    #[serde(skip)]
    pub not_before_unix: i64,
    /// End of validity, Unix seconds.
    #[serde(skip)]
    pub not_after_unix: i64,
    /// DER encoding.
    #[serde(skip)]
    pub der: Vec<u8>,
    /// Raw subject DN, to match an issuer DN byte for byte.
    #[serde(skip)]
    pub subject_raw: Vec<u8>,
    /// Raw issuer DN.
    #[serde(skip)]
    pub issuer_raw: Vec<u8>,
    /// The public key.
    #[serde(skip)]
    pub public: PublicMaterial,
}

fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map_or_else(
        || ts.to_string(),
        |d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// Big-endian integer bytes without leading zeros.
pub(crate) fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b[first..].to_vec()
}

fn bits_of(int: &[u8]) -> u32 {
    let v = strip_zeros(int);
    match v.first() {
        None => 0,
        Some(f) => u32::try_from((v.len() - 1) * 8)
            .unwrap_or(u32::MAX)
            .saturating_add(8 - f.leading_zeros()),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn sha256(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn sig_name(oid: &str) -> (&'static str, bool) {
    match oid {
        "1.2.840.113549.1.1.2" => ("md2WithRSAEncryption", true),
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", true),
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => ("sha1WithRSAEncryption", true),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", true),
        "1.2.840.10040.4.3" => ("dsa-with-sha1", true),
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", false),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", false),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", false),
        "1.2.840.113549.1.1.14" => ("sha224WithRSAEncryption", false),
        "1.2.840.113549.1.1.10" => ("rsassaPss", false),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", false),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", false),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", false),
        "1.3.101.112" => ("Ed25519", false),
        "1.3.101.113" => ("Ed448", false),
        _ => ("", false),
    }
}

fn curve_name(oid: &str) -> Option<&'static str> {
    match oid {
        "1.2.840.10045.3.1.7" => Some("P-256"),
        "1.3.132.0.34" => Some("P-384"),
        "1.3.132.0.35" => Some("P-521"),
        "1.3.132.0.10" => Some("secp256k1"),
        _ => None,
    }
}

fn first_cn(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_owned()
}

impl Certificate {
    /// Parses one DER certificate (nothing may follow it).
    ///
    /// # Errors
    /// Why it is not a certificate (no content quoted).
    pub fn from_der(der: Vec<u8>) -> Result<Self, String> {
        let (rest, x) = X509Certificate::from_der(&der).map_err(|e| format!("DER: {e}"))?;
        if !rest.is_empty() {
            return Err(format!("{} bytes after the certificate", rest.len()));
        }
        let tbs = &x.tbs_certificate;
        let spki = x.public_key();
        let alg_oid = spki.algorithm.algorithm.to_id_string();
        let raw_key = spki.subject_public_key.data.to_vec();
        let (key, public) = match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => (
                KeyInfo {
                    algorithm: "RSA".into(),
                    bits: bits_of(rsa.modulus),
                    curve: None,
                },
                PublicMaterial::Rsa {
                    n: strip_zeros(rsa.modulus),
                    e: strip_zeros(rsa.exponent),
                },
            ),
            Ok(PublicKey::EC(point)) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                let named = curve.as_deref().and_then(curve_name);
                let bits = match named {
                    Some("P-256" | "secp256k1") => 256,
                    Some("P-384") => 384,
                    Some("P-521") => 521,
                    _ => u32::try_from(point.key_size()).unwrap_or(0),
                };
                let curve = named.map(str::to_owned).or(curve);
                (
                    KeyInfo {
                        algorithm: "EC".into(),
                        bits,
                        curve,
                    },
                    PublicMaterial::Point(raw_key),
                )
            }
            Ok(PublicKey::DSA(y)) => (
                KeyInfo {
                    algorithm: "DSA".into(),
                    bits: bits_of(y),
                    curve: None,
                },
                PublicMaterial::Other(raw_key),
            ),
            _ if alg_oid == "1.3.101.112" => (
                KeyInfo {
                    algorithm: "Ed25519".into(),
                    bits: 256,
                    curve: None,
                },
                PublicMaterial::Point(raw_key),
            ),
            _ if alg_oid == "1.3.101.113" => (
                KeyInfo {
                    algorithm: "Ed448".into(),
                    bits: 456,
                    curve: None,
                },
                PublicMaterial::Point(raw_key),
            ),
            _ => (
                KeyInfo {
                    algorithm: alg_oid,
                    bits: 0,
                    curve: None,
                },
                PublicMaterial::Other(raw_key),
            ),
        };
        let sig_oid = x.signature_algorithm.algorithm.to_id_string();
        let (name, weak) = sig_name(&sig_oid);
        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        let mut is_ca = false;
        let mut key_usage = None;
        let mut ext_key_usage = None;
        for ext in tbs.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for n in &san.general_names {
                        match n {
                            GeneralName::DNSName(d) => dns_names.push((*d).to_owned()),
                            GeneralName::IPAddress(ip) => ip_addresses.push(match ip.len() {
                                4 => {
                                    std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()
                                }
                                16 => <[u8; 16]>::try_from(*ip).map_or_else(
                                    |_| hex(ip),
                                    |a| std::net::Ipv6Addr::from(a).to_string(),
                                ),
                                _ => hex(ip),
                            }),
                            _ => {}
                        }
                    }
                }
                ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
                ParsedExtension::KeyUsage(ku) => {
                    let names = [
                        "digitalSignature",
                        "nonRepudiation",
                        "keyEncipherment",
                        "dataEncipherment",
                        "keyAgreement",
                        "keyCertSign",
                        "cRLSign",
                        "encipherOnly",
                        "decipherOnly",
                    ];
                    key_usage = Some(
                        names
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| ku.flags >> i & 1 == 1)
                            .map(|(_, n)| (*n).to_owned())
                            .collect(),
                    );
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let mut v: Vec<String> = [
                        (eku.any, "anyExtendedKeyUsage"),
                        (eku.server_auth, "serverAuth"),
                        (eku.client_auth, "clientAuth"),
                        (eku.code_signing, "codeSigning"),
                        (eku.email_protection, "emailProtection"),
                        (eku.time_stamping, "timeStamping"),
                        (eku.ocsp_signing, "OCSPSigning"),
                    ]
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, n)| (*n).to_owned())
                    .collect();
                    v.extend(eku.other.iter().map(|o| o.to_id_string()));
                    ext_key_usage = Some(v);
                }
                _ => {}
            }
        }
        let not_before_unix = tbs.validity.not_before.timestamp();
        let not_after_unix = tbs.validity.not_after.timestamp();
        Ok(Self {
            subject: tbs.subject.to_string(),
            subject_cn: first_cn(&tbs.subject),
            issuer: tbs.issuer.to_string(),
            issuer_cn: first_cn(&tbs.issuer),
            serial: hex(tbs.raw_serial()),
            not_before: rfc3339(not_before_unix),
            not_after: rfc3339(not_after_unix),
            dns_names,
            ip_addresses,
            is_ca,
            key_usage,
            ext_key_usage,
            key,
            signature_algorithm: if name.is_empty() {
                sig_oid
            } else {
                name.to_owned()
            },
            weak_signature: weak,
            sha256: sha256(&der),
            subject_ou: tbs
                .subject
                .iter_organizational_unit()
                .filter_map(|a| a.as_str().ok())
                .map(str::to_owned)
                .collect(),
            not_before_unix,
            not_after_unix,
            subject_raw: tbs.subject.as_raw().to_vec(),
            issuer_raw: tbs.issuer.as_raw().to_vec(),
            public,
            der,
        })
    }

    /// A short name: the CN, else the whole subject.
    #[must_use]
    pub fn name(&self) -> &str {
        if self.subject_cn.is_empty() {
            &self.subject
        } else {
            &self.subject_cn
        }
    }

    /// The issuer's short name: its CN, else the whole DN.
    #[must_use]
    pub fn issuer_name(&self) -> &str {
        if self.issuer_cn.is_empty() {
            &self.issuer
        } else {
            &self.issuer_cn
        }
    }

    /// `parent`'s key verifies this certificate's signature (and the names chain).
    #[must_use]
    pub fn issued_by(&self, parent: &Certificate) -> bool {
        if self.issuer_raw != parent.subject_raw {
            return false;
        }
        let (Ok((_, child)), Ok((_, p))) = (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&parent.der),
        ) else {
            return false;
        };
        child.verify_signature(Some(p.public_key())).is_ok()
    }

    /// Self-issued and self-signed (a root, or a self-signed server certificate).
    #[must_use]
    pub fn self_signed(&self) -> bool {
        self.issued_by(self)
    }

    /// Days of validity left at `now` (negative once expired).
    #[must_use]
    pub fn days_left(&self, now: i64) -> f64 {
        (self.not_after_unix - now) as f64 / 86_400.0
    }
}

/// Parses every certificate of a file's content: PEM (any number of blocks, other blocks
/// ignored) or one DER certificate. The function the fuzz target drives.
///
/// # Errors
/// [`LoadError::Malformed`], [`LoadError::NoCertificate`] or [`LoadError::TooMany`].
pub fn parse_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, LoadError> {
    let malformed = |cause: String| LoadError::Malformed { cause };
    if !looks_like_pem(bytes) {
        if bytes.is_empty() {
            return Err(LoadError::NoCertificate);
        }
        return Certificate::from_der(bytes.to_vec())
            .map(|c| vec![c])
            .map_err(|e| malformed(format!("neither PEM nor DER ({e})")));
    }
    let mut out = Vec::new();
    for (i, section) in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes).enumerate() {
        let (kind, der) = section.map_err(|e| malformed(pem_error(&e, i + 1)))?;
        if kind != SectionKind::Certificate {
            continue;
        }
        if out.len() == MAX_CERTS_PER_FILE {
            return Err(LoadError::TooMany);
        }
        let n = out.len() + 1;
        out.push(
            Certificate::from_der(der).map_err(|e| malformed(format!("certificate #{n}: {e}")))?,
        );
    }
    if out.is_empty() {
        return Err(LoadError::NoCertificate);
    }
    Ok(out)
}

/// Runs every loader over `data`, as a certificate file and as a key file, and chains, orders
/// and names what loads: the code the fuzz target (`fuzz/`) and the stable mutation test drive.
/// Whatever the bytes, it returns (no panic, bounded work).
pub fn exercise(data: &[u8]) {
    if let Ok(certs) = parse_certificates(data) {
        let pool: Vec<&Certificate> = certs.iter().collect();
        for c in &certs {
            let chain = super::chain::build_chain(c, &pool);
            let _ = (chain.cas().len(), c.days_left(0), c.name(), c.issuer_name());
            let _ = super::cert::covers(c, "mail.example.fr");
        }
        let _ = super::chain::order_break(&certs, Lang::En);
    }
    let _ = super::key::parse_private_key(data);
}

/// A `-----BEGIN ` line somewhere in the content.
#[must_use]
pub fn looks_like_pem(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"-----BEGIN ").is_some()
}

/// A PEM error in a few words, never quoting the content.
pub(crate) fn pem_error(e: &tokio_rustls::rustls::pki_types::pem::Error, block: usize) -> String {
    use tokio_rustls::rustls::pki_types::pem::Error as E;
    match e {
        E::MissingSectionEnd { .. } => {
            format!("PEM block #{block} has no END line (truncated file?)")
        }
        E::IllegalSectionStart { .. } => format!("PEM block #{block}: malformed BEGIN line"),
        E::Base64Decode(_) => format!("PEM block #{block}: invalid base64"),
        E::SectionTooLarge => format!("PEM block #{block} is too large"),
        _ => format!("PEM block #{block}: unreadable"),
    }
}

/// Reads and parses a certificate file.
///
/// # Errors
/// The [`LoadError`].
pub fn load_file(path: &Path) -> Result<Vec<Certificate>, LoadError> {
    parse_certificates(&read_bounded(path, MAX_FILE_BYTES)?)
}

/// One file of the CA folder and what it gave.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaFile {
    /// Its path.
    pub path: PathBuf,
    /// Certificates taken from it, or why none.
    pub loaded: Result<usize, LoadError>,
}

/// The CA set: every certificate of the CA folder (or bundle file), deduplicated.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CaSet {
    /// The files read.
    pub files: Vec<CaFile>,
    /// Their certificates, each once.
    pub certs: Vec<Certificate>,
    /// Why the folder itself could not be read.
    pub error: Option<LoadError>,
    /// Files left unread past [`MAX_CA_FILES`].
    pub skipped_files: usize,
}

impl CaSet {
    /// Whether this exact certificate is in the set.
    #[must_use]
    pub fn contains(&self, c: &Certificate) -> bool {
        self.certs.iter().any(|x| x.sha256 == c.sha256)
    }

    /// The set's self-signed certificates: the trust anchors.
    pub fn anchors(&self) -> impl Iterator<Item = &Certificate> {
        self.certs.iter().filter(|c| c.self_signed())
    }
}

/// Loads the CA set from a folder (its `*.pem`, `*.crt`, `*.cer`, `*.der` files, in name order)
/// or from one bundle file.
#[must_use]
pub fn load_ca_set(path: &Path) -> CaSet {
    let mut set = CaSet::default();
    let files: Vec<PathBuf> = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => vec![path.to_path_buf()],
        Ok(_) => match std::fs::read_dir(path) {
            Ok(rd) => {
                let mut v: Vec<PathBuf> = rd
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                            ["pem", "crt", "cer", "der"].contains(&e.to_ascii_lowercase().as_str())
                        })
                    })
                    .collect();
                v.sort();
                if v.len() > MAX_CA_FILES {
                    set.skipped_files = v.len() - MAX_CA_FILES;
                    v.truncate(MAX_CA_FILES);
                }
                v
            }
            Err(e) => {
                set.error = Some(LoadError::Unreadable {
                    cause: crate::probe::io_cause(Lang::En, &e),
                });
                return set;
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            set.error = Some(LoadError::Missing);
            return set;
        }
        Err(e) => {
            set.error = Some(LoadError::Unreadable {
                cause: crate::probe::io_cause(Lang::En, &e),
            });
            return set;
        }
    };
    for f in files {
        let loaded = load_file(&f).map(|certs| {
            let n = certs.len();
            for c in certs {
                if !set.contains(&c) {
                    set.certs.push(c);
                }
            }
            n
        });
        set.files.push(CaFile { path: f, loaded });
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_finding_not_a_panic() {
        for bytes in [
            &b""[..],
            b"hello",
            b"\x30\x82\xff\xff",
            b"-----BEGIN CERTIFICATE-----\nAAAA",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        ] {
            assert!(parse_certificates(bytes).is_err(), "{bytes:?}");
        }
        let truncated =
            parse_certificates(b"-----BEGIN CERTIFICATE-----\nMIIB\n").expect_err("truncated");
        assert!(
            matches!(&truncated, LoadError::Malformed { cause } if cause.contains("no END line")),
            "{truncated:?}"
        );
        assert_eq!(
            parse_certificates(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(LoadError::NoCertificate)
        );
    }

    #[test]
    fn bits_count_the_significant_bits() {
        assert_eq!(bits_of(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(bits_of(&[0x01]), 1);
        assert_eq!(bits_of(&[0, 0]), 0);
    }

    #[test]
    fn big_files_are_refused_before_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("big.pem");
        std::fs::write(&f, vec![b'A'; 2 * 1024 * 1024]).expect("write");
        assert_eq!(
            load_file(&f),
            Err(LoadError::TooLarge {
                bytes: 2 * 1024 * 1024
            })
        );
        assert_eq!(
            load_file(&dir.path().join("none.pem")),
            Err(LoadError::Missing)
        );
        assert_eq!(load_file(dir.path()), Err(LoadError::NotAFile));
    }
}
