//! A deterministic generator of realistic Postfix + Dovecot syslog (Postfix 3.7 and Dovecot
//! 2.3 wording), streamed to any writer, returning what it wrote: exact counts per outcome
//! and per reason, so tests can assert the summary against the fixture's known content.
//! The benchmark writes a 1 GiB log with it.

use std::collections::BTreeMap;
use std::io::{self, Write};

use mssante_diag_core::maillog::parse::{civil_from_days, local_offset};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Messages (inbound and outbound).
    pub messages: usize,
    /// Outbound messages deferred once, percent (half of them delivered on retry, the rest
    /// left in the queue).
    pub deferral_pct: u64,
    /// Outbound messages bounced, percent.
    pub bounce_pct: u64,
    /// Postfix SASL failures.
    pub sasl_failures: usize,
    /// Dovecot IMAP login failures (one attempt each).
    pub dovecot_failures: usize,
    /// Failed TLS handshakes (`SSL_accept error` + `TLS library problem`).
    pub tls_failures: usize,
    /// `NOQUEUE: reject` lines.
    pub rejects: usize,
    /// Junk lines: binary, 1 MiB, truncated, non-UTF-8, another program's.
    pub junk: bool,
    /// First line's Unix time.
    pub start: i64,
    /// Seconds the log spans.
    pub span_secs: i64,
    /// RFC 3339 timestamps (rsyslog's high-precision format) instead of `Mmm dd hh:mm:ss`.
    pub rfc3339: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Self { messages: 1000, deferral_pct: 10, bounce_pct: 3, sasl_failures: 40, dovecot_failures: 25, tls_failures: 6, rejects: 30, junk: true, start: 0, span_secs: 3000, rfc3339: false }
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Lines written.
    pub lines: u64,
    /// `client=` lines.
    pub received: u64,
    /// `status=sent` lines.
    pub delivered: u64,
    /// `status=deferred` lines.
    pub deferred: u64,
    /// `status=bounced` lines.
    pub bounced: u64,
    /// `NOQUEUE: reject` lines.
    pub rejected: u64,
    /// Non-delivery notifications.
    pub bounce_notifications: u64,
    /// SASL failures.
    pub sasl_failures: u64,
    /// Dovecot login failures.
    pub dovecot_failures: u64,
    /// Dovecot logins.
    pub dovecot_logins: u64,
    /// `SSL_accept error` lines.
    pub tls_handshakes: u64,
    /// `TLS library problem` lines.
    pub tls_library: u64,
    /// Messages removed with every recipient delivered.
    pub msg_delivered: u64,
    /// Of those, after a deferral.
    pub msg_delivered_after_deferral: u64,
    /// Messages removed bounced.
    pub msg_bounced: u64,
    /// Messages deferred at least once.
    pub msg_deferred: u64,
    /// Messages left in the queue.
    pub msg_still_queued: u64,
    /// Normalised deferral reason → count.
    pub deferral_reasons: BTreeMap<String, u64>,
    /// Normalised bounce reason → count.
    pub bounce_reasons: BTreeMap<String, u64>,
    /// Normalised reject reason → count.
    pub reject_reasons: BTreeMap<String, u64>,
    /// Client address → failed logins.
    pub auth_clients: BTreeMap<String, u64>,
    /// Junk lines by kind: malformed, non-UTF-8, too long, other program.
    pub junk: [u64; 4],
}

/// (raw reason with `{to}` for the recipient, normalised reason), by weight.
const DEFERRALS: &[(&str, &str, u64)] = &[
    ("connect to mx.clinique-exemple.fr[198.51.100.9]:25: Connection timed out", "connect to mx.clinique-exemple.fr[198.51.100.9]:25: Connection timed out", 5),
    (
        "host mx.hopital-exemple.fr[198.51.100.20] said: 451 4.7.1 <{to}>: Recipient address rejected: Greylisted for 300 seconds (in reply to RCPT TO command)",
        "host mx.hopital-exemple.fr[198.51.100.20] said: 451 4.7.1 <*@hopital-exemple.fr>: Recipient address rejected: Greylisted for 300 seconds (in reply to RCPT TO command)",
        3,
    ),
    ("TLS is required, but was not offered by host mx.cabinet-exemple.fr[198.51.100.30]", "TLS is required, but was not offered by host mx.cabinet-exemple.fr[198.51.100.30]", 2),
];

const BOUNCES: &[(&str, &str, u64)] = &[
    (
        "host mx.hopital-exemple.fr[198.51.100.20] said: 550 5.1.1 <{to}>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)",
        "host mx.hopital-exemple.fr[198.51.100.20] said: 550 5.1.1 <*@hopital-exemple.fr>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)",
        3,
    ),
    (
        "host mx.clinique-exemple.fr[198.51.100.9] said: 550 5.7.26 Unauthenticated email is not accepted: SPF and DKIM fail (in reply to end of DATA command)",
        "host mx.clinique-exemple.fr[198.51.100.9] said: 550 5.7.26 Unauthenticated email is not accepted: SPF and DKIM fail (in reply to end of DATA command)",
        1,
    ),
];

const REJECTS: &[(&str, &str, u64)] = &[
    ("554 5.7.1 <{to}>: Relay access denied", "554 5.7.1 Relay access denied", 2),
    ("550 5.1.1 <{to}>: Recipient address rejected: User unknown in virtual mailbox table", "550 5.1.1 Recipient address rejected: User unknown in virtual mailbox table", 1),
];

const REMOTE: &[&str] = &["hopital-exemple.fr", "clinique-exemple.fr", "cabinet-exemple.fr", "ght-exemple.fr"];
const LOCAL: &str = "mssante.test";
const ATTACKERS: &[&str] = &["203.0.113.66", "203.0.113.77", "198.51.100.200"];

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a>(&mut self, list: &'a [(&'a str, &'a str, u64)]) -> (&'a str, &'a str) {
        let total: u64 = list.iter().map(|r| r.2).sum();
        let mut x = self.below(total);
        for (raw, norm, w) in list {
            if x < *w {
                return (raw, norm);
            }
            x -= w;
        }
        (list[0].0, list[0].1)
    }
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

struct Writer<'w, W: Write> {
    out: &'w mut W,
    rfc3339: bool,
    offset: i64,
    /// Cached timestamp text of `cached_at`.
    cached_at: i64,
    cached: String,
    lines: u64,
}

impl<W: Write> Writer<'_, W> {
    fn stamp(&mut self, t: i64) -> &str {
        if t != self.cached_at {
            let local = t + self.offset;
            let (y, m, d) = civil_from_days(local.div_euclid(86_400));
            let s = local.rem_euclid(86_400);
            let (h, mi, se) = (s / 3600, (s % 3600) / 60, s % 60);
            self.cached = if self.rfc3339 {
                let (sign, off) = if self.offset < 0 { ('-', -self.offset) } else { ('+', self.offset) };
                format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}.000000{sign}{:02}:{:02}", off / 3600, (off % 3600) / 60)
            } else {
                format!("{} {d:>2} {h:02}:{mi:02}:{se:02}", MONTHS[(m - 1) as usize])
            };
            self.cached_at = t;
        }
        &self.cached
    }

    fn line(&mut self, t: i64, tag: &str, msg: std::fmt::Arguments<'_>) -> io::Result<()> {
        self.lines += 1;
        let stamp = self.stamp(t).to_owned();
        writeln!(self.out, "{stamp} mail {tag}: {msg}")
    }

    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.lines += 1;
        self.out.write_all(bytes)?;
        self.out.write_all(b"\n")
    }
}

/// Writes a log of `p` seeded by `seed` to `out`; returns what it holds.
///
/// # Errors
/// The writer's.
#[allow(clippy::too_many_lines)]
pub fn generate(p: &Profile, seed: u64, out: &mut impl Write) -> io::Result<Expected> {
    let mut rng = Rng(seed | 1);
    let mut e = Expected::default();
    let mut w = Writer { out, rfc3339: p.rfc3339, offset: local_offset(p.start), cached_at: i64::MIN, cached: String::new(), lines: 0 };
    let events = p.messages + p.sasl_failures + p.dovecot_failures + p.tls_failures + p.rejects;
    // Which slot gets which event: messages spread, the others at fixed strides.
    let step = |n: usize| events.checked_div(n).map_or(usize::MAX, |s| s.max(1));
    let (sasl_every, dove_every, tls_every, rej_every) = (step(p.sasl_failures), step(p.dovecot_failures), step(p.tls_failures), step(p.rejects));
    let (mut sasl, mut dove, mut tls, mut rej, mut msgs) = (0, 0, 0, 0, 0);
    let qbase = 0x0100_0000_0000_u64 + (seed % 0x1000) * 0x0100_0000;
    let mut qn = 0u64;
    let mut qid = || {
        qn += 1;
        format!("{:011X}", qbase + qn)
    };
    let slot = |i: usize| p.start + i64::try_from(i).unwrap_or(0) * p.span_secs / i64::try_from(events.max(1)).unwrap_or(1);
    for i in 0..events {
        let t = slot(i);
        let pid = 1000 + rng.below(30_000);
        if sasl < p.sasl_failures && i % sasl_every == 0 {
            sasl += 1;
            let ip = ATTACKERS[sasl % ATTACKERS.len()];
            w.line(t, &format!("postfix/submission/smtpd[{pid}]"), format_args!("warning: unknown[{ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"))?;
            e.sasl_failures += 1;
            *e.auth_clients.entry(ip.to_owned()).or_default() += 1;
            continue;
        }
        if dove < p.dovecot_failures && i % dove_every == 1 % dove_every {
            dove += 1;
            let ip = ATTACKERS[(dove + 1) % ATTACKERS.len()];
            w.line(t, "dovecot", format_args!("imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<dr.martin@{LOCAL}>, method=PLAIN, rip={ip}, lip=172.18.0.5, TLS, session=<k4TG+31h+oN/AAAB>"))?;
            e.dovecot_failures += 1;
            *e.auth_clients.entry(ip.to_owned()).or_default() += 1;
            continue;
        }
        if tls < p.tls_failures && i % tls_every == 2 % tls_every {
            tls += 1;
            w.line(t, &format!("postfix/smtpd[{pid}]"), format_args!("connect from unknown[192.0.2.{}]", 10 + tls % 5))?;
            w.line(t, &format!("postfix/smtpd[{pid}]"), format_args!("SSL_accept error from unknown[192.0.2.{}]: -1", 10 + tls % 5))?;
            w.line(t, &format!("postfix/smtpd[{pid}]"), format_args!("warning: TLS library problem: error:0A000076:SSL routines::no suitable signature algorithm:../ssl/statem/statem_srvr.c:2234:"))?;
            w.line(t, &format!("postfix/smtpd[{pid}]"), format_args!("lost connection after STARTTLS from unknown[192.0.2.{}]", 10 + tls % 5))?;
            e.tls_handshakes += 1;
            e.tls_library += 1;
            continue;
        }
        if rej < p.rejects && i % rej_every == 3 % rej_every {
            rej += 1;
            let (raw, norm) = rng.pick(REJECTS);
            let to = format!("contact{}@elsewhere.example", rng.below(50));
            let reason = raw.replace("{to}", &to);
            w.line(t, &format!("postfix/smtpd[{pid}]"), format_args!("NOQUEUE: reject: RCPT from unknown[203.0.113.{}]: {reason}; from=<spam@bad.example> to=<{to}> proto=ESMTP helo=<bad.example>", rng.below(250)))?;
            e.rejected += 1;
            *e.reject_reasons.entry(norm.to_owned()).or_default() += 1;
            continue;
        }
        if msgs >= p.messages {
            continue;
        }
        msgs += 1;
        let q = qid();
        let (cpid, qpid) = (pid + 1, 900);
        if rng.below(100) < 60 {
            // Inbound from a peer domain, delivered to a local mailbox over LMTP.
            let peer = REMOTE[rng.below(REMOTE.len() as u64) as usize];
            let user = format!("dr.{}", rng.below(500));
            w.line(t, &format!("postfix/smtpd[{pid}]"), format_args!("connect from mx.{peer}[198.51.100.{}]", rng.below(200)))?;
            w.line(t, &format!("postfix/smtpd[{pid}]"), format_args!("Anonymous TLS connection established from mx.{peer}[198.51.100.7]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"))?;
            w.line(t, &format!("postfix/smtpd[{pid}]"), format_args!("{q}: client=mx.{peer}[198.51.100.7]"))?;
            w.line(t, &format!("postfix/cleanup[{cpid}]"), format_args!("{q}: message-id=<{}.{i}@{peer}>", rng.next() % 1_000_000))?;
            w.line(t, &format!("postfix/qmgr[{qpid}]"), format_args!("{q}: from=<secretariat@{peer}>, size={}, nrcpt=1 (queue active)", 2000 + rng.below(50_000)))?;
            w.line(t, &format!("postfix/smtpd[{pid}]"), format_args!("disconnect from mx.{peer}[198.51.100.7] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7"))?;
            w.line(t + 1, &format!("postfix/lmtp[{}]", pid + 2), format_args!("{q}: to=<{user}@{LOCAL}>, relay=dovecot[172.18.0.5]:24, delay=0.21, delays=0.05/0.01/0.05/0.1, dsn=2.0.0, status=sent (250 2.0.0 <{user}@{LOCAL}> kK3mJ7kPS2W6aAAAHjH3Yg Saved)"))?;
            w.line(t + 1, &format!("postfix/qmgr[{qpid}]"), format_args!("{q}: removed"))?;
            e.received += 1;
            e.delivered += 1;
            e.msg_delivered += 1;
            if rng.below(4) == 0 {
                w.line(t + 1, "dovecot", format_args!("imap-login: Login: user=<{user}@{LOCAL}>, method=PLAIN, rip=10.0.0.{}, lip=172.18.0.5, mpid={pid}, TLS, session=<yUzD+31h8IN/AAAB>", rng.below(200)))?;
                e.dovecot_logins += 1;
            }
            continue;
        }
        // Outbound through submission.
        let dest = REMOTE[rng.below(REMOTE.len() as u64) as usize];
        let to = format!("contact{}@{dest}", rng.below(300));
        let size = 3000 + rng.below(200_000);
        w.line(t, &format!("postfix/submission/smtpd[{pid}]"), format_args!("{q}: client=unknown[10.0.0.{}], sasl_method=PLAIN, sasl_username=dr.{}@{LOCAL}", rng.below(200), rng.below(500)))?;
        w.line(t, &format!("postfix/cleanup[{cpid}]"), format_args!("{q}: message-id=<{}@{LOCAL}>", rng.next() % 1_000_000_000))?;
        w.line(t, &format!("postfix/qmgr[{qpid}]"), format_args!("{q}: from=<dr.{}@{LOCAL}>, size={size}, nrcpt=1 (queue active)", rng.below(500)))?;
        e.received += 1;
        let roll = rng.below(100);
        let spid = pid + 3;
        if roll < p.bounce_pct {
            let (raw, norm) = rng.pick(BOUNCES);
            // The reasons naming a recipient come from hopital-exemple.fr's MX.
            let reason = raw.replace("{to}", &format!("contact{}@hopital-exemple.fr", rng.below(300)));
            w.line(t + 1, &format!("postfix/smtp[{spid}]"), format_args!("{q}: to=<{to}>, relay=mx.{dest}[198.51.100.20]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, status=bounced ({reason})"))?;
            let nq = qid();
            w.line(t + 1, &format!("postfix/bounce[{}]", pid + 4), format_args!("{q}: sender non-delivery notification: {nq}"))?;
            w.line(t + 1, &format!("postfix/qmgr[{qpid}]"), format_args!("{nq}: from=<>, size={}, nrcpt=1 (queue active)", 2000 + size))?;
            w.line(t + 1, &format!("postfix/qmgr[{qpid}]"), format_args!("{q}: removed"))?;
            w.line(t + 2, &format!("postfix/lmtp[{}]", pid + 2), format_args!("{nq}: to=<dr.1@{LOCAL}>, relay=dovecot[172.18.0.5]:24, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <dr.1@{LOCAL}> Saved)"))?;
            w.line(t + 2, &format!("postfix/qmgr[{qpid}]"), format_args!("{nq}: removed"))?;
            e.bounced += 1;
            e.bounce_notifications += 1;
            e.delivered += 1;
            e.msg_bounced += 1;
            e.msg_delivered += 1;
            *e.bounce_reasons.entry(norm.to_owned()).or_default() += 1;
        } else if roll < p.bounce_pct + p.deferral_pct {
            let (raw, norm) = rng.pick(DEFERRALS);
            let reason = raw.replace("{to}", &format!("contact{}@hopital-exemple.fr", rng.below(300)));
            w.line(t + 1, &format!("postfix/smtp[{spid}]"), format_args!("{q}: to=<{to}>, relay=none, delay=30, delays=0.1/0/30/0, dsn=4.4.1, status=deferred ({reason})"))?;
            e.deferred += 1;
            e.msg_deferred += 1;
            *e.deferral_reasons.entry(norm.to_owned()).or_default() += 1;
            if rng.below(2) == 0 {
                w.line(t + 2, &format!("postfix/qmgr[{qpid}]"), format_args!("{q}: from=<dr.1@{LOCAL}>, size={size}, nrcpt=1 (queue active)"))?;
                w.line(t + 2, &format!("postfix/smtp[{spid}]"), format_args!("{q}: to=<{to}>, relay=mx.{dest}[198.51.100.20]:25, delay=300, delays=299/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4XK2{}Yz9)", rng.below(1000)))?;
                w.line(t + 2, &format!("postfix/qmgr[{qpid}]"), format_args!("{q}: removed"))?;
                e.delivered += 1;
                e.msg_delivered += 1;
                e.msg_delivered_after_deferral += 1;
            } else {
                e.msg_still_queued += 1;
            }
        } else {
            w.line(t + 1, &format!("postfix/smtp[{spid}]"), format_args!("{q}: to=<{to}>, relay=mx.{dest}[198.51.100.20]:25, delay=0.8, delays=0.1/0/0.3/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4XK2{}Yz9)", rng.below(1000)))?;
            w.line(t + 1, &format!("postfix/qmgr[{qpid}]"), format_args!("{q}: removed"))?;
            e.delivered += 1;
            e.msg_delivered += 1;
        }
    }
    if p.junk {
        let end = slot(events);
        w.raw(b"\x00\x01\x02\x03binary\x7f garbage \x04")?;
        e.junk[0] += 1;
        w.raw(b"Nov 30 12:0")?;
        e.junk[0] += 1;
        let stamp = w.stamp(end).to_owned();
        w.raw(&[stamp.as_bytes(), b" mail postfix/smtpd[1]: bad \xff\xfe bytes"].concat())?;
        e.junk[1] += 1;
        let mut long = format!("{stamp} mail postfix/smtpd[1]: ").into_bytes();
        long.resize(1 << 20, b'A');
        w.raw(&long)?;
        e.junk[2] += 1;
        w.line(end, "CRON[4242]", format_args!("(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"))?;
        e.junk[3] += 1;
    }
    e.lines = w.lines;
    Ok(e)
}
