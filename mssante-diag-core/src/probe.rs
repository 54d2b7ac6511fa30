//! Pieces shared by the network checks: explaining connection failures, TLS
//! upgrades that record, rather than enforce, certificate trust (trust is judged
//! by the `tls.*` checks), bounded reads, and the named steps of a probe with
//! one deadline for all of them ([`Deadline`], [`Phase`], [`Hung`]).

use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

use crate::lang::Lang;
use crate::tr;

/// Explains an I/O error of a connection attempt in a few words.
#[must_use]
pub fn io_cause(lang: Lang, e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => tr!(lang, "connection refused (nothing listens)", "connexion refusée (aucun service n'écoute)"),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            tr!(lang, "connection closed by the server", "connexion fermée par le serveur")
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

/// A server name for SNI: the configured name, else the host, else `localhost`.
#[must_use]
pub fn server_name(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_owned()).unwrap_or_else(|_| ServerName::try_from("localhost").expect("valid name"))
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
}

/// Facts of a client TLS connection.
#[must_use]
pub fn tls_facts(conn: &rustls::ClientConnection) -> TlsFacts {
    TlsFacts {
        version: conn.protocol_version().map_or_else(|| "?".into(), |v| format!("{v:?}")),
        cipher: conn.negotiated_cipher_suite().map_or_else(|| "?".into(), |c| format!("{:?}", c.suite())),
        chain_len: conn.peer_certificates().map_or(0, <[_]>::len),
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
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

/// Bytes a protocol probe reads at most from one server.
pub const READ_BUDGET: usize = 1 << 20;

impl<S> Bounded<S> {
    /// Wraps a stream with a read budget.
    pub fn new(inner: S, budget: usize) -> Self {
        Self { inner, left: budget }
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

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
