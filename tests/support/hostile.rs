//! Hostile peers on loopback for `tests/it/hostile.rs`: TCP servers that play one script per
//! connection, and nameservers (UDP and TCP on one port) that answer DNS queries the hostile
//! way a test asks for (silence, drips, floods, garbage, oversized or malformed messages).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::rdata::{A, MX, PTR, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// A hostile peer listening on `127.0.0.1:port`; what must stay bound for it (a listener that
/// is never accepted from, a silent UDP socket) lives as long as this value.
pub struct Peer {
    /// Its port (TCP, and UDP for a nameserver).
    pub port: u16,
    _keep: Vec<Box<dyn Send + Sync>>,
}

impl Peer {
    /// A peer that needs nothing kept (its threads own their sockets).
    #[must_use]
    pub fn at(port: u16) -> Self {
        Self { port, _keep: Vec::new() }
    }
}

impl Peer {
    /// A peer on `port` whose server lives as long as `server` (a child process, a listener).
    #[must_use]
    pub fn keeping(port: u16, server: Box<dyn Send + Sync>) -> Self {
        Self { port, _keep: vec![server] }
    }
}

/// A TCP peer whose kernel completes handshakes but which never reads nor answers.
#[must_use]
pub fn hung_tcp() -> Peer {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().expect("addr").port();
    Peer { port, _keep: vec![Box::new(l)] }
}

/// A TCP peer running `script` on every connection it accepts (each in its own thread).
#[must_use]
pub fn tcp_peer(script: impl Fn(TcpStream) + Send + Sync + 'static) -> Peer {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    Peer::at(serve_tcp(l, script))
}

fn serve_tcp(l: TcpListener, script: impl Fn(TcpStream) + Send + Sync + 'static) -> u16 {
    let port = l.local_addr().expect("addr").port();
    let script = Arc::new(script);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let script = Arc::clone(&script);
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                script(s);
            });
        }
    });
    port
}

/// Reads what the client sent first (a request, a startup message, a ClientHello): one read.
pub fn read_some(s: &mut TcpStream) -> usize {
    s.read(&mut [0u8; 16 * 1024]).unwrap_or(0)
}

/// Keeps a connection open, silent, for 10 s: the client must give up on its own deadline.
pub fn hold(s: TcpStream) {
    std::thread::sleep(Duration::from_secs(10));
    drop(s);
}

/// Writes `bytes` one byte every 200 ms (a slowloris peer: every read gets something).
pub fn drip(s: &mut TcpStream, bytes: &[u8]) {
    for b in bytes {
        if s.write_all(&[*b]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Writes `total` bytes of `b'A'` (no newline, no terminator) in 64 KiB writes, as fast as
/// they are read; stops when the client leaves.
pub fn flood(s: &mut TcpStream, total: usize) {
    static CHUNK: [u8; 64 * 1024] = [b'A'; 64 * 1024];
    let mut left = total;
    while left > 0 {
        let n = left.min(CHUNK.len());
        if s.write_all(&CHUNK[..n]).is_err() {
            return;
        }
        left -= n;
    }
}

/// Deterministic binary garbage (a linear congruential generator): `n` bytes, no protocol's
/// first byte in particular, NULs and high bytes included.
#[must_use]
pub fn garbage(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

/// What a nameserver's TCP side does.
pub enum DnsTcp {
    /// Nothing listens: connections are refused.
    Refused,
    /// Connections complete (kernel backlog) and are never read.
    Hung,
    /// Each accepted connection runs this script.
    Script(Box<dyn Fn(TcpStream) + Send + Sync>),
}

/// A nameserver on `127.0.0.1:port`: each UDP query goes to `udp` (the socket, the query, its
/// sender), TCP as `tcp` says.
#[must_use]
pub fn dns_peer(udp: impl Fn(&UdpSocket, &[u8], SocketAddr) + Send + 'static, tcp: DnsTcp) -> Peer {
    // One port for both: take a free TCP port, then bind UDP on it.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().expect("addr").port();
    let sock = UdpSocket::bind(("127.0.0.1", port)).expect("bind udp");
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            udp(&sock, &buf[..n], from);
        }
    });
    let mut keep: Vec<Box<dyn Send + Sync>> = Vec::new();
    match tcp {
        DnsTcp::Refused => drop(l),
        DnsTcp::Hung => keep.push(Box::new(l)),
        DnsTcp::Script(script) => {
            let _ = serve_tcp(l, script);
        }
    }
    Peer { port, _keep: keep }
}

/// A nameserver whose UDP side never answers (its TCP side as `tcp` says).
#[must_use]
pub fn silent_udp(tcp: DnsTcp) -> Peer {
    dns_peer(|_, _, _| {}, tcp)
}

/// A nameserver that answers every UDP query with an empty truncated reply (TC set), sending
/// the client to its TCP side, which does as `tcp` says.
#[must_use]
pub fn truncating_udp(tcp: DnsTcp) -> Peer {
    dns_peer(
        |sock, q, from| {
            if let Some(r) = reply(q, |_| Vec::new(), true) {
                let _ = sock.send_to(&r, from);
            }
        },
        tcp,
    )
}

/// [`truncating_udp`] with a TCP side running `script` on each connection.
#[must_use]
pub fn over_tcp(script: impl Fn(TcpStream) + Send + Sync + 'static) -> Peer {
    truncating_udp(DnsTcp::Script(Box::new(script)))
}

/// Reads one length-prefixed DNS query from a TCP connection.
pub fn read_dns_tcp(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut q).ok()?;
    Some(q)
}

/// `m` with its two-byte length prefix (DNS over TCP).
#[must_use]
pub fn framed(m: &[u8]) -> Vec<u8> {
    [&u16::try_from(m.len()).unwrap_or(u16::MAX).to_be_bytes()[..], m].concat()
}

/// The reply to query `q` carrying the records `answers` gives for its question (`truncated`:
/// with the TC bit), or `None` when `q` is not a DNS query.
#[must_use]
pub fn reply(q: &[u8], answers: impl FnOnce(&hickory_proto::op::Query) -> Vec<Record>, truncated: bool) -> Option<Vec<u8>> {
    let query = Message::from_vec(q).ok()?;
    let mut m = Message::new();
    m.set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_truncated(truncated);
    if let Some(question) = query.queries().first() {
        m.add_query(question.clone());
        m.add_answers(answers(question));
    }
    m.to_vec().ok()
}

/// Plausible records for a question of a `hostile.test` zone: A 127.0.77.1, MX 10
/// mail.hostile.test, TXT `v=spf1 -all` (or a DMARC record at `_dmarc.`), PTR
/// mail.hostile.test; nothing for other types.
#[must_use]
pub fn plausible(q: &hickory_proto::op::Query) -> Vec<Record> {
    let name = q.name().clone();
    let mail = Name::from_ascii("mail.hostile.test.").expect("name");
    let data = match q.query_type() {
        RecordType::A => RData::A(A::new(127, 0, 77, 1)),
        RecordType::MX => RData::MX(MX::new(10, mail)),
        RecordType::PTR => RData::PTR(PTR(mail)),
        RecordType::TXT if name.to_ascii().starts_with("_dmarc.") => RData::TXT(TXT::new(vec!["v=DMARC1; p=reject; rua=mailto:d@hostile.test".into()])),
        RecordType::TXT => RData::TXT(TXT::new(vec!["v=spf1 -all".into()])),
        _ => return Vec::new(),
    };
    vec![Record::from_rdata(name, 60, data)]
}

/// One TXT record of `size` bytes at the question's name, in 255-byte character-strings
/// (an SPF record there, a DMARC one at `_dmarc.`): a DNS message near its 64 KiB limit.
#[must_use]
pub fn huge_txt(q: &hickory_proto::op::Query, size: usize) -> Vec<Record> {
    let head = if q.name().to_ascii().starts_with("_dmarc.") { "v=DMARC1; p=reject; x=" } else { "v=spf1 ip4:192.0.2.1" };
    let text = format!("{head}{}", " ip4:192.0.2.1".repeat(size / 14));
    let strings: Vec<String> = text.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    vec![Record::from_rdata(q.name().clone(), 60, RData::TXT(TXT::new(strings)))]
}

/// The ways [`malformed`] breaks an answer.
#[derive(Debug, Clone, Copy)]
pub enum Malformed {
    /// A valid answer cut in the middle of its record (no TC bit).
    Truncated,
    /// A valid answer to another query id.
    WrongId,
    /// An answer whose owner name is a compression pointer to itself (an endless loop for a
    /// decoder that follows pointers blindly).
    CompressionLoop,
    /// A header announcing 65 535 answers, with none.
    Counts,
}

/// A malformed reply to query `q`.
#[must_use]
pub fn malformed(q: &[u8], how: Malformed) -> Vec<u8> {
    let Some(good) = reply(q, plausible, false) else { return Vec::new() };
    match how {
        Malformed::Truncated => good[..good.len().saturating_sub(5).max(12)].to_vec(),
        Malformed::WrongId => {
            let mut m = good;
            m[1] = m[1].wrapping_add(1);
            m
        }
        Malformed::Counts => {
            let mut m = good[..good.len().min(12)].to_vec();
            if m.len() == 12 {
                m[6] = 0xff;
                m[7] = 0xff;
            }
            m
        }
        Malformed::CompressionLoop => {
            // Header (ANCOUNT 1) + the question, then an answer whose name points at itself.
            let Ok(query) = Message::from_vec(q) else { return Vec::new() };
            let Some(question) = query.queries().first() else { return Vec::new() };
            let mut m = Vec::from(&good[..12]);
            m[6] = 0;
            m[7] = 1;
            let mut qbytes = Message::new();
            qbytes.add_query(question.clone());
            let Ok(encoded) = qbytes.to_vec() else { return Vec::new() };
            m.extend_from_slice(&encoded[12..]);
            let at = u16::try_from(m.len()).unwrap_or(0);
            m.extend_from_slice(&(0xc000 | at).to_be_bytes());
            m.extend_from_slice(&u16::from(question.query_type()).to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 77, 1]);
            m
        }
    }
}
