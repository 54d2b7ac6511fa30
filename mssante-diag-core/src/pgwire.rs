//! Shared infrastructure: a relay between sqlx and the PostgreSQL server that reads the
//! server's message framing, so that no peer-announced length decides an allocation.
//!
//! sqlx reads each backend message whole before parsing it, reserving what the message's
//! 4-byte length announces: a hostile or broken server announcing 2 GiB and flooding would
//! make the tool's memory grow with what it sends. Every PostgreSQL connection of the tool
//! (the `postgres.*` attempt, the run's read-only pool used by `pgread`, the bundle's database
//! member) goes through a [`Relay`] instead:
//!
//! - it listens where only this process reaches it (Linux: an abstract Unix socket, no file,
//!   peers checked by `SO_PEERCRED`; elsewhere `127.0.0.1:0`), and connects each accepted
//!   connection to the configured server (TCP `host:port`, or `<host>/.s.PGSQL.<port>` when
//!   `postgres.host` is a folder);
//! - client bytes pass untouched; server bytes pass through one fixed-size buffer after their
//!   framing is checked ([`Framer`]): a message announcing more than [`MAX_MESSAGE`] (or less
//!   than its own length field) closes both sides at once, its body never forwarded, and the
//!   reason is kept ([`Cut`]) for the check's outcome;
//! - after an SSLRequest or GSSENCRequest answered `S`/`G` the stream is encrypted end to end
//!   and cannot be parsed: the relay then allows [`ENCRYPTED_BUDGET`] bytes per connection;
//! - a connection's task ends when either side closes; every task ends when the relay is
//!   dropped (with the run's PostgreSQL session).

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{tr, Lang};

/// Longest server message the relay lets through, bytes (length field included). The checks
/// read small rows (query texts are cut at 500 characters, `pg_stat_activity.query` at
/// `track_activity_query_size`, 1 MiB at most); no answer they read comes near it.
pub const MAX_MESSAGE: u32 = 8 << 20;

/// Bytes a server may send over one encrypted connection (TLS or GSSAPI, not parsed).
pub const ENCRYPTED_BUDGET: u64 = 64 << 20;

/// Size of each direction's copy buffer.
const BUF: usize = 16 * 1024;

/// After the client closed its side, how long the server may take to close its own.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// SSLRequest and GSSENCRequest codes (answered by one byte).
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// Why the relay cut a connection (or could not open it).
#[derive(Debug, Clone)]
pub enum Cut {
    /// A message announcing more than [`MAX_MESSAGE`] bytes: type byte and announced length.
    Oversized(u8, u32),
    /// A message announcing less than its own length field (4 bytes).
    Malformed(u8, u32),
    /// More than this many bytes over an encrypted connection.
    Budget(u64),
    /// The server could not be reached.
    Upstream(Arc<io::Error>),
}

impl Cut {
    /// What happened, in a few words (no byte of the peer's message quoted).
    #[must_use]
    pub fn describe(&self, lang: Lang) -> String {
        match self {
            Cut::Oversized(_, len) => {
                let cap = crate::units::bytes(u64::from(MAX_MESSAGE), lang);
                tr!(
                    lang,
                    "the server announced a message of {len} bytes (cap {cap}): not read",
                    "le serveur annonce un message de {len} octets (plafond {cap}) : non lu"
                )
            }
            Cut::Malformed(_, len) => tr!(
                lang,
                "the server announced a message of {len} bytes, shorter than its length field: not PostgreSQL",
                "le serveur annonce un message de {len} octets, plus court que son champ de longueur : ce n'est pas PostgreSQL"
            ),
            Cut::Budget(b) => {
                let b = crate::units::bytes(*b, lang);
                tr!(
                    lang,
                    "the server sent more than {b} over one encrypted connection (cap): cut",
                    "le serveur a envoyé plus de {b} sur une connexion chiffrée (plafond) : coupée"
                )
            }
            Cut::Upstream(e) => crate::probe::io_cause(lang, e),
        }
    }
}

/// Checks the framing of what a server sends, chunk by chunk, before it is forwarded; never
/// allocates (a header is 5 bytes, a body is only counted).
#[derive(Debug)]
pub struct Framer {
    head: [u8; 5],
    have: usize,
    body_left: u64,
    /// Bytes left of the budget once the stream is encrypted.
    encrypted: Option<u64>,
    cap: u32,
    budget: u64,
}

impl Framer {
    /// A framer letting through messages up to `cap` bytes, and `budget` encrypted bytes.
    #[must_use]
    pub fn new(cap: u32, budget: u64) -> Self {
        Self {
            head: [0; 5],
            have: 0,
            body_left: 0,
            encrypted: None,
            cap,
            budget,
        }
    }

    /// Whether the stream is encrypted (only counted from then on).
    #[must_use]
    pub fn encrypted(&self) -> bool {
        self.encrypted.is_some()
    }

    /// Checks the next `bytes` of the server's stream. `answer_due`: the client's last message
    /// was an SSLRequest or GSSENCRequest, so the next byte is the server's one-byte answer
    /// (`S`/`G`: encrypted from then on; `N`: plaintext messages go on); cleared when read.
    ///
    /// # Errors
    /// Why the connection must be cut, and how many bytes of `bytes` come before the
    /// offending message (whole messages, or the start of a header begun in an earlier chunk):
    /// only those may be forwarded.
    pub fn feed(&mut self, bytes: &[u8], answer_due: &mut bool) -> Result<(), (usize, Cut)> {
        let mut i = 0;
        while i < bytes.len() {
            let rest = bytes.len() - i;
            if let Some(left) = self.encrypted {
                let n = rest as u64;
                if n > left {
                    return Err((i, Cut::Budget(self.budget)));
                }
                self.encrypted = Some(left - n);
                return Ok(());
            }
            if self.body_left > 0 {
                let n = self.body_left.min(rest as u64);
                self.body_left -= n;
                i += usize::try_from(n).unwrap_or(rest);
                continue;
            }
            if self.have == 0 && *answer_due {
                *answer_due = false;
                match bytes[i] {
                    b'S' | b'G' => {
                        self.encrypted = Some(self.budget);
                        i += 1;
                        continue;
                    }
                    b'N' => {
                        i += 1;
                        continue;
                    }
                    // Anything else (an ErrorResponse) is a message like any other.
                    _ => {}
                }
            }
            let start = if self.have == 0 { i } else { 0 };
            let n = (5 - self.have).min(rest);
            self.head[self.have..self.have + n].copy_from_slice(&bytes[i..i + n]);
            self.have += n;
            i += n;
            if self.have == 5 {
                self.have = 0;
                let (kind, len) = (
                    self.head[0],
                    u32::from_be_bytes([self.head[1], self.head[2], self.head[3], self.head[4]]),
                );
                if len < 4 {
                    return Err((start, Cut::Malformed(kind, len)));
                }
                if len > self.cap {
                    return Err((start, Cut::Oversized(kind, len)));
                }
                self.body_left = u64::from(len - 4);
            }
        }
        Ok(())
    }
}

/// Follows the client's startup packets (untyped: length, code) to tell when it asked for
/// encryption; stops at the first other packet (the StartupMessage).
#[derive(Debug, Default)]
struct ClientStartup {
    head: [u8; 8],
    have: usize,
    done: bool,
}

impl ClientStartup {
    /// Reads the next client bytes; true when they end an SSLRequest or GSSENCRequest.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        let mut asked = false;
        let mut i = 0;
        while !self.done && i < bytes.len() {
            let n = (8 - self.have).min(bytes.len() - i);
            self.head[self.have..self.have + n].copy_from_slice(&bytes[i..i + n]);
            self.have += n;
            i += n;
            if self.have == 8 {
                self.have = 0;
                let len =
                    u32::from_be_bytes([self.head[0], self.head[1], self.head[2], self.head[3]]);
                let code =
                    u32::from_be_bytes([self.head[4], self.head[5], self.head[6], self.head[7]]);
                if len == 8 && (code == SSL_REQUEST || code == GSSENC_REQUEST) {
                    asked = true;
                } else {
                    self.done = true;
                }
            }
        }
        asked
    }
}

/// Where the real server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// TCP host and port.
    Tcp(String, u16),
    /// A Unix socket, `<dir>/.s.PGSQL.<port>`.
    Unix(PathBuf),
}

impl Upstream {
    /// The server of `postgres.host`/`postgres.port`: a host starting with `/` is a socket
    /// folder, as libpq and sqlx read it.
    #[must_use]
    pub fn of(host: &str, port: u16) -> Self {
        if host.starts_with('/') {
            Upstream::Unix(PathBuf::from(format!("{host}/.s.PGSQL.{port}")))
        } else {
            Upstream::Tcp(host.to_owned(), port)
        }
    }

    async fn connect(&self) -> io::Result<Box<dyn Io>> {
        match self {
            Upstream::Tcp(host, port) => {
                let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                s.set_nodelay(true)?;
                Ok(Box::new(s))
            }
            Upstream::Unix(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
        }
    }
}

/// A byte stream either way.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The relay of one PostgreSQL session: listening while it lives, its tasks aborted on drop.
pub struct Relay {
    /// Abstract socket name (without the leading NUL and sqlx's suffix), or the TCP port.
    endpoint: Endpoint,
    port: u16,
    cut: Arc<Mutex<Option<Cut>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone)]
enum Endpoint {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Abstract(String),
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    Tcp(u16),
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // The accept loop owns the connections' tasks: aborting it drops (aborts) them all.
        self.task.abort();
    }
}

impl Relay {
    /// Starts a relay to `upstream` (each connection to it opened within `connect_timeout`),
    /// for sqlx connections with port `port`. Needs a Tokio runtime.
    ///
    /// # Errors
    /// No runtime, or the listener could not be bound.
    pub fn start(upstream: Upstream, port: u16, connect_timeout: Duration) -> io::Result<Self> {
        let handle =
            tokio::runtime::Handle::try_current().map_err(|e| io::Error::other(e.to_string()))?;
        let _guard = handle.enter();
        let (endpoint, listener) = bind(port)?;
        let cut = Arc::new(Mutex::new(None));
        let task = handle.spawn(accept_loop(
            listener,
            upstream,
            connect_timeout,
            cut.clone(),
        ));
        Ok(Self {
            endpoint,
            port,
            cut,
            task,
        })
    }

    /// `opts` pointed at the relay (user, password, database and TLS settings unchanged; on
    /// Linux the host too, so a TLS server name stays the configured one).
    #[must_use]
    pub fn route(&self, opts: PgConnectOptions) -> PgConnectOptions {
        match &self.endpoint {
            Endpoint::Abstract(name) => opts.socket(format!("\0{name}")).port(self.port),
            Endpoint::Tcp(port) => opts.host("127.0.0.1").port(*port),
        }
    }

    /// Why the relay last cut a connection, taken (each cut explains one failure).
    #[must_use]
    pub fn take_cut(&self) -> Option<Cut> {
        self.cut
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// The listener only this process may use.
enum Listener {
    #[cfg(target_os = "linux")]
    Unix(tokio::net::UnixListener),
    #[cfg(not(target_os = "linux"))]
    Tcp(tokio::net::TcpListener),
}

#[cfg(target_os = "linux")]
fn bind(port: u16) -> io::Result<(Endpoint, Listener)> {
    use std::hash::BuildHasher;
    use std::os::linux::net::SocketAddrExt;
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut last = io::Error::other("no name");
    for _ in 0..8 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let salt = std::collections::hash_map::RandomState::new().hash_one(n);
        let name = format!("mssante-diag-pg-{}-{n}-{salt:016x}", std::process::id());
        // sqlx appends `/.s.PGSQL.<port>` to the socket "folder" it is given.
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(format!("{name}/.s.PGSQL.{port}"))?;
        match std::os::unix::net::UnixListener::bind_addr(&addr) {
            Ok(l) => {
                l.set_nonblocking(true)?;
                return Ok((
                    Endpoint::Abstract(name),
                    Listener::Unix(tokio::net::UnixListener::from_std(l)?),
                ));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(not(target_os = "linux"))]
fn bind(_port: u16) -> io::Result<(Endpoint, Listener)> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    l.set_nonblocking(true)?;
    let port = l.local_addr()?.port();
    Ok((
        Endpoint::Tcp(port),
        Listener::Tcp(tokio::net::TcpListener::from_std(l)?),
    ))
}

impl Listener {
    /// The next connection of this process (others are closed at once).
    async fn accept(&self) -> io::Result<Option<Box<dyn Io>>> {
        match self {
            #[cfg(target_os = "linux")]
            Listener::Unix(l) => {
                let (s, _) = l.accept().await?;
                let ours = s
                    .peer_cred()
                    .is_ok_and(|c| c.pid() == i32::try_from(std::process::id()).ok());
                Ok(ours.then(|| Box::new(s) as Box<dyn Io>))
            }
            #[cfg(not(target_os = "linux"))]
            Listener::Tcp(l) => {
                let (s, _) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok(Some(Box::new(s)))
            }
        }
    }
}

async fn accept_loop(
    listener: Listener,
    upstream: Upstream,
    connect_timeout: Duration,
    cut: Arc<Mutex<Option<Cut>>>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(Some(client)) => {
                    conns.spawn(relay_one(client, upstream.clone(), connect_timeout, cut.clone()));
                }
                Ok(None) => tracing::debug!("PostgreSQL relay: a connection from another process refused"),
                // Out of descriptors, say: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

fn record(cut: &Mutex<Option<Cut>>, c: Cut) {
    tracing::debug!(cause = %c.describe(Lang::En), "PostgreSQL relay: connection cut");
    *cut.lock().unwrap_or_else(PoisonError::into_inner) = Some(c);
}

/// One connection: open the server's, then copy both ways until either side closes.
async fn relay_one(
    client: Box<dyn Io>,
    upstream: Upstream,
    connect_timeout: Duration,
    cut: Arc<Mutex<Option<Cut>>>,
) {
    let server = match tokio::time::timeout(connect_timeout, upstream.connect()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return record(&cut, Cut::Upstream(Arc::new(e))),
        Err(_) => {
            return record(
                &cut,
                Cut::Upstream(Arc::new(io::Error::new(io::ErrorKind::TimedOut, "connect"))),
            )
        }
    };
    if let Some(c) = pump(client, server).await {
        record(&cut, c);
    }
}

/// Copies client -> server untouched and server -> client through a [`Framer`]; returns the
/// cut when the server's framing ended the connection.
async fn pump(client: Box<dyn Io>, server: Box<dyn Io>) -> Option<Cut> {
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, mut sw) = tokio::io::split(server);
    let answer_due = AtomicBool::new(false);
    let up = async {
        let mut buf = vec![0u8; BUF];
        let mut startup = ClientStartup::default();
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                return sw.shutdown().await;
            }
            if startup.feed(&buf[..n]) {
                answer_due.store(true, Ordering::SeqCst);
            }
            sw.write_all(&buf[..n]).await?;
        }
    };
    let down = async {
        let mut buf = vec![0u8; BUF];
        let mut framer = Framer::new(MAX_MESSAGE, ENCRYPTED_BUDGET);
        loop {
            let n = sr.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, io::Error>(None);
            }
            let mut due = answer_due.load(Ordering::SeqCst);
            if let Err((whole, c)) = framer.feed(&buf[..n], &mut due) {
                // The messages before the refused one, then both sides closed.
                cw.write_all(&buf[..whole]).await?;
                return Ok(Some(c));
            }
            answer_due.store(due, Ordering::SeqCst);
            cw.write_all(&buf[..n]).await?;
        }
    };
    tokio::pin!(up, down);
    let mut client_closed = false;
    let grace = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(grace);
    loop {
        tokio::select! {
            r = &mut up, if !client_closed => match r {
                // The client said goodbye: let the server close its side (no reset in its log).
                Ok(()) => {
                    client_closed = true;
                    grace.as_mut().reset(tokio::time::Instant::now() + CLOSE_GRACE);
                }
                Err(_) => return None,
            },
            r = &mut down => return r.ok().flatten(),
            () = &mut grace, if client_closed => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&u32::try_from(body.len() + 4).expect("small").to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn framer_follows_messages_split_anywhere() {
        let stream = [
            msg(b'R', &[0, 0, 0, 0]),
            msg(b'S', b"server_version\x0015.4\x00"),
            msg(b'Z', b"I"),
        ]
        .concat();
        for cut_at in 0..stream.len() {
            for step in [1, 2, 3, 7] {
                let mut f = Framer::new(64, 1024);
                let mut due = false;
                f.feed(&stream[..cut_at], &mut due).expect("plain messages");
                for chunk in stream[cut_at..].chunks(step) {
                    f.feed(chunk, &mut due).expect("plain messages");
                }
                assert_eq!(
                    (f.have, f.body_left),
                    (0, 0),
                    "at a message boundary after {cut_at}/{step}"
                );
            }
        }
    }

    #[test]
    fn framer_refuses_an_oversized_or_malformed_header_even_split() {
        let mut f = Framer::new(MAX_MESSAGE, ENCRYPTED_BUDGET);
        let mut due = false;
        f.feed(&msg(b'Z', b"I"), &mut due).expect("small");
        f.feed(b"S\x7f", &mut due).expect("header incomplete");
        assert!(matches!(
            f.feed(b"\xff\xff\xffAAAA", &mut due),
            Err((0, Cut::Oversized(b'S', 0x7fff_ffff)))
        ));
        // In one chunk with a whole message before it: that message may go through.
        let mut f = Framer::new(MAX_MESSAGE, ENCRYPTED_BUDGET);
        let chunk = [msg(b'Z', b"I"), b"S\x7f\xff\xff\xffAAAA".to_vec()].concat();
        assert!(matches!(
            f.feed(&chunk, &mut due),
            Err((6, Cut::Oversized(b'S', _)))
        ));
        // Exactly the cap passes; one more byte does not.
        let mut f = Framer::new(MAX_MESSAGE, ENCRYPTED_BUDGET);
        f.feed(&[b'D', 0, 0x80, 0, 0], &mut due)
            .expect("8 MiB is the cap");
        assert_eq!(f.body_left, u64::from(MAX_MESSAGE) - 4);
        let mut f = Framer::new(MAX_MESSAGE, ENCRYPTED_BUDGET);
        assert!(matches!(
            f.feed(&[b'D', 0, 0x80, 0, 1], &mut due),
            Err((0, Cut::Oversized(b'D', 0x0080_0001)))
        ));
        let mut f = Framer::new(MAX_MESSAGE, ENCRYPTED_BUDGET);
        assert!(matches!(
            f.feed(b"R\0\0\0\x02", &mut due),
            Err((0, Cut::Malformed(b'R', 2)))
        ));
        let text = Cut::Oversized(b'S', 0x7fff_ffff).describe(Lang::En);
        assert_eq!(
            text,
            "the server announced a message of 2147483647 bytes (cap 8.0 MiB): not read"
        );
        assert!(Cut::Oversized(b'S', 9 << 20)
            .describe(Lang::Fr)
            .contains("plafond 8.0 Mio"));
    }

    #[test]
    fn ssl_refused_then_plaintext_is_parsed() {
        let mut client = ClientStartup::default();
        let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        assert!(
            !client.feed(&ssl[..3]) && client.feed(&ssl[3..]),
            "an SSLRequest split in two"
        );
        let mut f = Framer::new(64, 1024);
        let mut due = true;
        // 'N' then, later, the plaintext messages; an oversized one is still refused.
        f.feed(b"N", &mut due).expect("refusal byte");
        assert!(!due && !f.encrypted());
        f.feed(&msg(b'R', &[0, 0, 0, 3]), &mut due).expect("plain");
        assert!(matches!(
            f.feed(&[b'E', 0, 0, 1, 0], &mut due),
            Err((0, Cut::Oversized(b'E', 256)))
        ));
        // The StartupMessage ends the client's startup packets.
        assert!(!client.feed(&[0, 0, 0, 9, 0, 3, 0, 0, 0]));
        assert!(
            !client.feed(&ssl),
            "after the StartupMessage, bytes are not read"
        );
    }

    #[test]
    fn ssl_accepted_then_only_a_byte_budget() {
        let mut f = Framer::new(64, 1000);
        let mut due = true;
        // 'S' and the first TLS bytes in one read: they are not framed (0x16 would announce a lot).
        f.feed(b"S\x16\x03\x03\xff\xff", &mut due)
            .expect("encrypted bytes are counted");
        assert!(f.encrypted() && !due);
        f.feed(&[0u8; 995], &mut due).expect("within the budget");
        assert!(matches!(
            f.feed(&[0u8; 1], &mut due),
            Err((0, Cut::Budget(1000)))
        ));
        let mut g = Framer::new(64, 10);
        let mut due = true;
        g.feed(b"G", &mut due).expect("GSSAPI accepted");
        assert!(g.encrypted());
        // An error instead of the one-byte answer is framed as a message.
        let mut h = Framer::new(64, 10);
        let mut due = true;
        h.feed(&msg(b'E', b"SFATAL\0"), &mut due)
            .expect("an error message");
        assert!(!h.encrypted() && !due);
    }

    #[test]
    fn upstream_reads_a_socket_folder_as_libpq() {
        assert_eq!(
            Upstream::of("/run/postgresql", 5433),
            Upstream::Unix(PathBuf::from("/run/postgresql/.s.PGSQL.5433"))
        );
        assert_eq!(
            Upstream::of("db.local", 5432),
            Upstream::Tcp("db.local".into(), 5432)
        );
    }

    /// A server that authenticates (`R` ok, `Z`), then sends a message announcing 2 GiB and
    /// floods: the relay cuts both sides at once and says why; a second relay pass reaches
    /// a closed port and says that.
    #[tokio::test]
    async fn relay_cuts_an_oversized_message_and_ends_its_task() {
        use tokio::net::TcpListener;
        let server = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = server.local_addr().expect("addr").port();
        let flooder = tokio::spawn(async move {
            let (mut s, _) = server.accept().await.expect("accept");
            let mut b = [0u8; 256];
            let _ = s.read(&mut b).await;
            s.write_all(
                &[
                    msg(b'R', &[0, 0, 0, 0]),
                    msg(b'Z', b"I"),
                    b"S\x7f\xff\xff\xff".to_vec(),
                ]
                .concat(),
            )
            .await
            .expect("head");
            let chunk = vec![b'A'; 64 * 1024];
            let mut sent = 0usize;
            while s.write_all(&chunk).await.is_ok() {
                sent += chunk.len();
                if sent > 50 << 20 {
                    break;
                }
            }
            sent
        });
        let relay = Relay::start(
            Upstream::Tcp("127.0.0.1".into(), port),
            port,
            Duration::from_secs(2),
        )
        .expect("relay");
        let Endpoint::Abstract(name) = relay.endpoint.clone() else {
            panic!("Linux: abstract socket")
        };
        let mut c = tokio::net::UnixStream::connect(format!("\0{name}/.s.PGSQL.{port}"))
            .await
            .expect("connect to the relay");
        c.write_all(&[0, 0, 0, 8, 0, 3, 0, 0])
            .await
            .expect("startup");
        let mut got = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut got))
            .await
            .expect("closed at once")
            .expect("read");
        assert_eq!(
            n,
            9 + 6,
            "the two small messages, nothing of the huge one: {got:?}"
        );
        let sent = tokio::time::timeout(Duration::from_secs(5), flooder)
            .await
            .expect("the server's writes fail")
            .expect("task");
        assert!(
            sent < 50 << 20,
            "the flood stopped when the relay closed: {sent}"
        );
        let why = relay.take_cut().expect("the cut is recorded");
        assert!(matches!(why, Cut::Oversized(b'S', 0x7fff_ffff)), "{why:?}");
        assert!(relay.take_cut().is_none(), "taken once");

        // Nothing listens any more: the relay closes the client and records the refusal.
        let mut c = tokio::net::UnixStream::connect(format!("\0{name}/.s.PGSQL.{port}"))
            .await
            .expect("connect to the relay");
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut got))
            .await
            .expect("closed")
            .expect("read");
        assert!(
            matches!(relay.take_cut(), Some(Cut::Upstream(e)) if e.kind() == io::ErrorKind::ConnectionRefused)
        );
        drop(relay);
        let mut gone = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if tokio::net::UnixStream::connect(format!("\0{name}/.s.PGSQL.{port}"))
                .await
                .is_err()
            {
                gone = true;
                break;
            }
        }
        assert!(gone, "the listener is gone with the relay");
    }
}
