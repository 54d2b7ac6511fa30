//! Pieces shared by the network checks: explaining connection failures, TLS
//! upgrades that record, rather than enforce, certificate trust (trust is judged
//! by the `tls.*` checks), bounded reads, and the named steps of a probe with
//! one deadline for all of them ([`Deadline`], [`Phase`], [`Hung`]).

use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

use crate::lang::Lang;
use crate::tr;

/// Explains an I/O error of a connection attempt in a few words.
#[must_use]
pub fn io_cause(lang: Lang, e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => tr!(
            lang,
            "connection refused (nothing listens)",
            "connexion refusée (aucun service n'écoute)"
        ),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            tr!(
                lang,
                "connection closed by the server",
                "connexion fermée par le serveur"
            )
        }
        K::PermissionDenied => tr!(lang, "permission denied", "permission refusée"),
        K::TimedOut => tr!(lang, "connection timed out", "délai de connexion dépassé"),
        _ => e.to_string(),
    }
}

/// Walks an error's source chain for an I/O error.
#[must_use]
pub fn find_io_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}

/// A TLS connector that completes any handshake (the certificate is not judged here).
#[must_use]
pub fn tls_connector() -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// The certificates a server sent during the handshake, in the order it sent them.
#[must_use]
pub fn peer_chain(conn: &rustls::ClientConnection) -> Vec<CertificateDer<'static>> {
    conn.peer_certificates()
        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
        .unwrap_or_default()
}

/// The TLS library's reason inside a failed handshake's I/O error.
#[must_use]
pub fn tls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Whether a failed handshake means the server speaks only TLS versions older than 1.2.
#[must_use]
pub fn is_old_protocol(e: &rustls::Error) -> bool {
    use rustls::{AlertDescription, PeerIncompatible};
    matches!(
        e,
        rustls::Error::AlertReceived(AlertDescription::ProtocolVersion)
            | rustls::Error::PeerIncompatible(
                PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
                    | PeerIncompatible::ServerDoesNotSupportTls12Or13
            )
    )
}

/// Verifies a served chain (`chain[0]` the server's certificate, then what it sent with it) as a
/// client would (webpki, through rustls), against `anchors`, for `name`, at `at_unix` seconds.
///
/// # Errors
/// The client's reason to reject it (unknown issuer, name, signature...).
pub fn verify_chain(
    anchors: &[CertificateDer<'_>],
    chain: &[CertificateDer<'_>],
    name: &str,
    at_unix: u64,
) -> Result<(), rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for a in anchors {
        // An anchor webpki cannot use is simply not an anchor.
        let _ = roots.add(a.clone().into_owned());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
    let (leaf, rest) = chain
        .split_first()
        .ok_or(rustls::Error::NoCertificatesPresented)?;
    let name =
        ServerName::try_from(name.to_owned()).map_err(|e| rustls::Error::General(e.to_string()))?;
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(at_unix));
    verifier
        .verify_server_cert(leaf, rest, &name, &[], at)
        .map(drop)
}

/// A server name for SNI: the configured name, else the host, else `localhost`.
#[must_use]
pub fn server_name(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_owned())
        .unwrap_or_else(|_| ServerName::try_from("localhost").expect("valid name"))
}

/// Facts of a completed handshake.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsFacts {
    /// Protocol version, e.g. `TLSv1_3`.
    pub version: String,
    /// Negotiated cipher suite.
    pub cipher: String,
    /// Number of certificates the server sent.
    pub chain_len: usize,
    /// The certificate served (the first of the chain), when it parses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertFacts>,
}

/// Facts of a client TLS connection.
#[must_use]
pub fn tls_facts(conn: &rustls::ClientConnection) -> TlsFacts {
    TlsFacts {
        version: conn
            .protocol_version()
            .map_or_else(|| "?".into(), |v| format!("{v:?}")),
        cipher: conn
            .negotiated_cipher_suite()
            .map_or_else(|| "?".into(), |c| format!("{:?}", c.suite())),
        chain_len: conn.peer_certificates().map_or(0, <[_]>::len),
        certificate: conn
            .peer_certificates()
            .and_then(<[_]>::first)
            .and_then(|c| CertFacts::from_der(c)),
    }
}

/// The certificate a server presented during a handshake, as a probe reports it (the `tls.*`
/// checks judge chains, names and trust; a probe only says what it was served).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertFacts {
    /// Subject, e.g. `C=FR, O=..., CN=mail.example.fr`.
    pub subject: String,
    /// Issuer.
    pub issuer: String,
    /// Start of validity (RFC 3339, UTC).
    pub not_before: String,
    /// End of validity (RFC 3339, UTC).
    pub not_after: String,
    /// Whole days until `not_after` (negative once expired).
    pub days_left: i64,
    /// DNS names of the subjectAltName extension.
    pub dns_names: Vec<String>,
    #[serde(skip)]
    not_before_ts: i64,
    #[serde(skip)]
    not_after_ts: i64,
}

impl CertFacts {
    /// Facts of a DER certificate; `None` when it does not parse.
    #[must_use]
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let validity = cert.validity();
        let (nb, na) = (
            validity.not_before.timestamp(),
            validity.not_after.timestamp(),
        );
        let rfc3339 = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0).map_or_else(|| t.to_string(), |d| d.to_rfc3339())
        };
        let dns_names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: rfc3339(nb),
            not_after: rfc3339(na),
            days_left: (na - chrono::Utc::now().timestamp()).div_euclid(86_400),
            dns_names,
            not_before_ts: nb,
            not_after_ts: na,
        })
    }

    /// What is wrong with the validity window right now, in one sentence naming `what`
    /// (`SMTP 127.0.0.1:25`): expired, or not yet valid; `None` when valid.
    #[must_use]
    pub fn validity_problem(&self, lang: Lang, what: &str) -> Option<String> {
        let now = chrono::Utc::now().timestamp();
        let (subject, after, before) = (&self.subject, &self.not_after, &self.not_before);
        if now > self.not_after_ts {
            Some(tr!(
                lang,
                "{what} serves an expired certificate ({subject}, expired {after})",
                "{what} présente un certificat expiré ({subject}, expiré le {after})"
            ))
        } else if now < self.not_before_ts {
            Some(tr!(lang, "{what} serves a certificate not valid yet ({subject}, valid from {before})", "{what} présente un certificat pas encore valide ({subject}, valide à partir du {before})"))
        } else {
            None
        }
    }
}

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A stream that fails once more than `budget` bytes were read: a hostile
/// server's endless line ends as an error, not as memory growth.
#[derive(Debug)]
pub struct Bounded<S> {
    inner: S,
    left: usize,
}

/// Bytes a protocol probe reads at most from one server: a few times what a real session
/// sends (greeting, capabilities, a TLS handshake with its certificate chain). Small on
/// purpose: some parsers re-read their whole buffer at each read, so a peer's flood costs
/// CPU as the square of this budget.
pub const READ_BUDGET: usize = 64 * 1024;

impl<S> Bounded<S> {
    /// Wraps a stream with a read budget.
    pub fn new(inner: S, budget: usize) -> Self {
        Self {
            inner,
            left: budget,
        }
    }
    /// The wrapped stream.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.left == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "server sent more data than a diagnostic probe accepts",
            )));
        }
        let before = buf.filled().len();
        let res = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.left = self.left.saturating_sub(read);
        res
    }
}

/// Writes of a read-side wrapper (`Bounded`, `Watched`) go straight to the stream it wraps.
macro_rules! write_through {
    ($wrapper:ident) => {
        impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $wrapper<S> {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
            }
            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_flush(cx)
            }
            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
            }
        }
    };
}

write_through!(Bounded);

/// What a reader saw of a stream: its first bytes, whether the peer closed it, whether the
/// read budget ran out. For a reason when a client library above says only that the
/// connection ended (the redis driver).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// The first bytes read (at most 8).
    pub first: Vec<u8>,
    /// The peer closed the connection.
    pub closed: bool,
    /// The read budget ran out ([`Bounded`]), or another read error.
    pub failed: bool,
}

/// A stream that records what its reads saw in a shared [`Seen`].
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    seen: Arc<std::sync::Mutex<Seen>>,
}

impl<S> Watched<S> {
    /// Wraps a stream; the second value reads what it saw.
    pub fn new(inner: S) -> (Self, Arc<std::sync::Mutex<Seen>>) {
        let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
        (
            Self {
                inner,
                seen: Arc::clone(&seen),
            },
            seen,
        )
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Watched<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let (before, room) = (buf.filled().len(), buf.remaining());
        let res = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(r) = &res {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let got = &buf.filled()[before..];
            match r {
                Err(_) => seen.failed = true,
                Ok(()) if got.is_empty() && room > 0 => seen.closed = true,
                Ok(()) => {
                    let take = 8usize.saturating_sub(seen.first.len()).min(got.len());
                    seen.first.extend_from_slice(&got[..take]);
                }
            }
        }
        res
    }
}

write_through!(Watched);

/// Reads one line (up to and including `\n`) of at most `max` bytes: a longer line is an
/// error, never a growing buffer. An empty result means the peer closed the connection.
///
/// # Errors
/// The I/O error, or [`std::io::ErrorKind::InvalidData`] for a line over `max` bytes.
pub async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncBufReadExt;
    let mut line = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    tokio::io::AsyncReadExt::take(&mut *reader, limit)
        .read_until(b'\n', &mut line)
        .await?;
    if line.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("line longer than {max} bytes"),
        ));
    }
    Ok(line)
}

/// The first bytes a peer sent, for a message that names what it is not: `0x41 0x41 ...`.
#[must_use]
pub fn show_bytes(bytes: &[u8]) -> String {
    let mut s = bytes
        .iter()
        .take(8)
        .map(|b| format!("{b:#04x}"))
        .collect::<Vec<_>>()
        .join(" ");
    if bytes.len() > 8 {
        s.push_str(" ...");
    }
    s
}

/// A step of a network probe, named in the summary when the target stops answering there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Opening the TCP connection.
    Connect,
    /// Opening an HTTPS connection: TCP, then the TLS handshake (one step for an HTTP client).
    HttpsConnect,
    /// Waiting for an SMTP server's `220` banner.
    Banner,
    /// Waiting for an IMAP server's `* OK` greeting.
    Greeting,
    /// Waiting for the answer to `EHLO`.
    Ehlo,
    /// Waiting for the answer to `STARTTLS`.
    StartTls,
    /// The TLS handshake.
    TlsHandshake,
    /// Waiting for the answer to `EHLO` sent over TLS.
    EhloAfterTls,
    /// Waiting for the answer to IMAP `CAPABILITY`.
    Capability,
    /// Waiting for the HTTP status line and headers.
    HttpResponse,
    /// Reading the HTTP body.
    Body,
    /// Waiting for PostgreSQL's answer to the startup message.
    Startup,
    /// Authentication and session start (PostgreSQL).
    Login,
    /// Waiting for the answer to a query.
    Query,
    /// Waiting for Redis' answer to the connection setup (`AUTH`, `CLIENT SETINFO`).
    Setup,
    /// Waiting for the answer to Redis `PING`.
    Ping,
    /// Waiting for the answer to Redis `INFO`.
    Info,
    /// Waiting for the answer to SMTP `MAIL FROM`.
    MailFrom,
    /// Waiting for the answer to SMTP `RCPT TO`.
    RcptTo,
    /// Waiting for the answer to IMAP `SELECT`.
    Select,
    /// Waiting for the answer to IMAP `FETCH`.
    Fetch,
    /// Waiting for the answer to `LOGOUT` (IMAP) or `QUIT` (SMTP).
    Logout,
    /// Waiting for the DNS answer to an MX query.
    MxLookup,
    /// Waiting for the DNS answer to an address (A/AAAA) query.
    AddressLookup,
}

impl Phase {
    /// The step's short name, as the runner shows it (`(step banner)`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::HttpsConnect => "connect + TLS handshake",
            Phase::Banner => "banner",
            Phase::Greeting => "greeting",
            Phase::Ehlo => "EHLO",
            Phase::StartTls => "STARTTLS",
            Phase::TlsHandshake => "TLS handshake",
            Phase::EhloAfterTls => "EHLO after TLS",
            Phase::Capability => "CAPABILITY",
            Phase::HttpResponse => "HTTP response",
            Phase::Body => "body",
            Phase::Startup => "startup",
            Phase::Login => "login",
            Phase::Query => "query",
            Phase::Setup => "setup",
            Phase::Ping => "PING",
            Phase::Info => "INFO",
            Phase::MailFrom => "MAIL FROM",
            Phase::RcptTo => "RCPT TO",
            Phase::Select => "SELECT",
            Phase::Fetch => "FETCH",
            Phase::Logout => "LOGOUT",
            Phase::MxLookup => "MX lookup",
            Phase::AddressLookup => "address lookup",
        }
    }
}

/// A probe's step that had not finished when the probe's time was up.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Hung {
    /// The step.
    pub step: Phase,
    /// The probe's timeout, seconds.
    pub timeout_secs: f64,
}

// The timeout is a validated, finite number of seconds: equality is total.
impl Eq for Hung {}

impl Hung {
    /// One line naming the target and what it did not do in time, e.g.
    /// "SMTP 127.0.0.1:25 accepted the connection, no banner within 5 s".
    #[must_use]
    pub fn describe(&self, lang: Lang, what: &str) -> String {
        let s = self.timeout_secs;
        match self.step {
            Phase::Connect => tr!(
                lang,
                "{what}: no TCP connection within {s} s",
                "{what} : pas de connexion TCP en {s} s"
            ),
            Phase::HttpsConnect => tr!(
                lang,
                "{what}: connection and TLS handshake not complete within {s} s",
                "{what} : connexion et négociation TLS inachevées en {s} s"
            ),
            Phase::Banner => tr!(
                lang,
                "{what} accepted the connection, no banner within {s} s",
                "{what} a accepté la connexion, pas de bannière en {s} s"
            ),
            Phase::Greeting => {
                tr!(
                    lang,
                    "{what} accepted the connection, no greeting within {s} s",
                    "{what} a accepté la connexion, pas de message d'accueil en {s} s"
                )
            }
            Phase::Startup => tr!(
                lang,
                "{what} accepted the connection, no answer to the startup message within {s} s",
                "{what} a accepté la connexion, pas de réponse au message de démarrage en {s} s"
            ),
            Phase::Setup => tr!(
                lang,
                "{what} accepted the connection, no answer to AUTH / CLIENT SETINFO within {s} s",
                "{what} a accepté la connexion, pas de réponse à AUTH / CLIENT SETINFO en {s} s"
            ),
            Phase::HttpResponse => tr!(
                lang,
                "{what}: no HTTP response within {s} s",
                "{what} : pas de réponse HTTP en {s} s"
            ),
            Phase::Body => tr!(
                lang,
                "{what}: HTTP headers received, body not complete within {s} s",
                "{what} : en-têtes HTTP reçus, corps incomplet en {s} s"
            ),
            Phase::TlsHandshake => tr!(
                lang,
                "{what}: TLS handshake not complete within {s} s",
                "{what} : négociation TLS inachevée en {s} s"
            ),
            Phase::Login => tr!(
                lang,
                "{what}: authentication not complete within {s} s",
                "{what} : authentification inachevée en {s} s"
            ),
            Phase::Query => tr!(
                lang,
                "{what}: no answer to the query within {s} s",
                "{what} : pas de réponse à la requête en {s} s"
            ),
            Phase::EhloAfterTls => tr!(
                lang,
                "{what}: no answer to EHLO after STARTTLS within {s} s",
                "{what} : pas de réponse à EHLO après STARTTLS en {s} s"
            ),
            Phase::MxLookup | Phase::AddressLookup => {
                let q = self.step.name();
                tr!(
                    lang,
                    "{what}: no DNS answer to the {q} within {s} s",
                    "{what} : pas de réponse DNS à la requête ({q}) en {s} s"
                )
            }
            Phase::Ehlo
            | Phase::StartTls
            | Phase::Capability
            | Phase::Ping
            | Phase::Info
            | Phase::MailFrom
            | Phase::RcptTo
            | Phase::Select
            | Phase::Fetch
            | Phase::Logout => {
                let cmd = self.step.name();
                tr!(
                    lang,
                    "{what}: no answer to {cmd} within {s} s",
                    "{what} : pas de réponse à {cmd} en {s} s"
                )
            }
        }
    }

    /// The outcome of a target that stopped answering: `critical`, or as `timeout_state` says,
    /// naming the step; details give the target and the step.
    #[must_use]
    pub fn outcome(&self, ctx: &crate::checks::Ctx, what: &str) -> crate::checks::Outcome {
        crate::checks::Outcome::new(ctx.config.timeout_state.into(), self.describe(ctx.lang(), what))
            .details(serde_json::json!({ "target": what, "step": self.step, "timeout_secs": self.timeout_secs }))
    }
}

/// One deadline for every step of a probe (the configured timeout), so that a probe of
/// several steps still ends within its check's deadline, and a hang is named by its step.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: tokio::time::Instant,
    secs: f64,
}

impl Deadline {
    /// A deadline `timeout` from now.
    #[must_use]
    pub fn after(timeout: std::time::Duration) -> Self {
        Self::at(tokio::time::Instant::now() + timeout, timeout.as_secs_f64())
    }

    /// A deadline at an instant, reported as a timeout of `secs` seconds.
    #[must_use]
    pub fn at(at: tokio::time::Instant, secs: f64) -> Self {
        Self { at, secs }
    }

    /// Time left.
    #[must_use]
    pub fn remaining(&self) -> std::time::Duration {
        self.at
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// Runs one step until the deadline; the runner's deadline message names it too.
    ///
    /// # Errors
    /// [`Hung`] naming the step when the deadline passed first.
    pub async fn step<F: std::future::Future>(
        &self,
        step: Phase,
        fut: F,
    ) -> Result<F::Output, Hung> {
        crate::checks::enter_step(step.name());
        tokio::time::timeout_at(self.at, fut)
            .await
            .map_err(|_| Hung {
                step,
                timeout_secs: self.secs,
            })
    }
}
