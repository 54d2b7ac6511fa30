//! Counting the lines of one chunk: each line parsed ([`super::parse`]), dispatched on its
//! program (`smtpd`, `qmgr`, `smtp`/`lmtp`..., Dovecot's `*-login`) with plain byte
//! comparisons, counted into an [`Acc`], its queue id handed to the chunk's join table.
//! Nothing is allocated per line: reasons are normalised into one scratch buffer and only
//! copied when new to their table.

use memchr::memmem::Finder;
use memchr::{memchr, memrchr};

use super::join::{Domain, Entry, Fragment, Local, Qid};
use super::parse::{parse_line_cached, Clock, Line, Skip, StampCache};
use super::summary::{Acc, HourRow};
use super::MAX_LINE;

/// Bytes kept of a normalised reason.
const MAX_REASON: usize = 240;

/// What a chunk yields: its counts and its pieces of messages for the carried join.
#[derive(Debug, Default)]
pub(crate) struct ChunkOut {
    pub(crate) acc: Acc,
    pub(crate) fragments: Vec<Fragment>,
    pub(crate) started: Vec<(Qid, Entry)>,
}

/// The compiled line scanner (shared by the worker threads).
#[derive(Debug)]
pub(crate) struct Scanner {
    clock: Clock,
    since: Option<i64>,
    until: Option<i64>,
    status: Finder<'static>,
    auth_failed: Finder<'static>,
    dovecot_auth_failed: Finder<'static>,
    tls_handshaking: Finder<'static>,
    forwarded: Finder<'static>,
}

/// Per-chunk state.
struct Chunk<'s> {
    s: &'s Scanner,
    acc: Acc,
    join: Local,
    scratch: Vec<u8>,
    stamps: StampCache,
    hour: i64,
    row: HourRow,
}

const RECEIVED: usize = 0;
const DELIVERED: usize = 1;
const DEFERRED: usize = 2;
const BOUNCED: usize = 3;
const REJECTED: usize = 4;

impl Scanner {
    pub(crate) fn new(clock: Clock, since: Option<i64>, until: Option<i64>) -> Self {
        Self {
            clock,
            since,
            until,
            status: Finder::new(b", status=").into_owned(),
            auth_failed: Finder::new(b"authentication failed").into_owned(),
            dovecot_auth_failed: Finder::new(b"(auth failed, ").into_owned(),
            tls_handshaking: Finder::new(b"TLS handshaking").into_owned(),
            forwarded: Finder::new(b"forwarded as ").into_owned(),
        }
    }

    /// Counts the lines of `data` (whole lines; the last one may lack its `\n`).
    pub(crate) fn chunk(&self, data: &[u8]) -> ChunkOut {
        let mut c = Chunk {
            s: self,
            acc: Acc::default(),
            join: Local::default(),
            scratch: Vec::with_capacity(256),
            stamps: StampCache::default(),
            hour: i64::MIN,
            row: HourRow::default(),
        };
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', data) {
            c.line(&data[start..end]);
            start = end + 1;
        }
        if start < data.len() {
            c.line(&data[start..]);
        }
        c.flush_hour();
        let (fragments, started) = c.join.finish_chunk();
        ChunkOut {
            acc: c.acc,
            fragments,
            started,
        }
    }
}

/// `QUEUEID: rest` at the start of a message.
fn qid(msg: &[u8]) -> Option<(Qid, &[u8])> {
    let end = msg
        .iter()
        .take(21)
        .position(|c| !c.is_ascii_alphanumeric())?;
    // Queue ids are upper-case hex (short form) or mixed case with digits (long form), never
    // a lower-case word (`warning: `).
    if end < 5
        || msg.get(end..end + 2) != Some(b": ")
        || msg[..end] == *b"NOQUEUE"
        || msg[..end].iter().all(u8::is_ascii_lowercase)
    {
        return None;
    }
    Some((Qid::new(&msg[..end]), &msg[end + 2..]))
}

/// The decimal number at the start of `s` (0 when none).
fn leading_number(s: &[u8]) -> u64 {
    s.iter()
        .take_while(|c| c.is_ascii_digit())
        .take(19)
        .fold(0u64, |n, c| n * 10 + u64::from(c - b'0'))
}

/// `service: rest` → (`service`, `rest`), the first `: ` of `s`.
fn split_colon(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut from = 0;
    while let Some(i) = memchr(b':', &s[from..]) {
        let at = from + i;
        if s.get(at + 1) == Some(&b' ') {
            return Some((&s[..at], &s[at + 2..]));
        }
        from = at + 1;
    }
    None
}

/// The address inside the first `host[addr]` of `s`.
fn bracketed(s: &[u8]) -> Option<&[u8]> {
    let open = memchr(b'[', s)?;
    let close = memchr(b']', &s[open..])? + open;
    Some(&s[open + 1..close])
}

/// The value of `key` (`rip=`) up to the next `,` or the end.
fn field<'a>(s: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = memchr::memmem::find(s, key)? + key.len();
    let v = &s[at..];
    Some(&v[..memchr(b',', v).unwrap_or(v.len())])
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("?")
}

/// A reason with e-mail addresses' local parts (`*@domain`) and ids (queue ids, session ids:
/// letters and digits mixed, 8 or more) masked, cut to [`MAX_REASON`] bytes.
pub(crate) fn normalize_reason(reason: &[u8], out: &mut Vec<u8>) {
    out.clear();
    append_normalized(reason, out);
}

/// [`normalize_reason`] appending to `out`.
fn append_normalized(reason: &[u8], out: &mut Vec<u8>) {
    let base = out.len();
    for (i, word) in reason.split(|c| *c == b' ').enumerate() {
        if out.len() >= MAX_REASON {
            break;
        }
        if i > 0 || base > 0 {
            out.push(b' ');
        }
        let lead = word
            .iter()
            .take_while(|c| matches!(c, b'<' | b'(' | b'"' | b'['))
            .count();
        let trail = word[lead..]
            .iter()
            .rev()
            .take_while(|c| matches!(c, b'>' | b')' | b':' | b',' | b';' | b'"' | b']' | b'.'))
            .count();
        let core = &word[lead..word.len() - trail];
        out.extend_from_slice(&word[..lead]);
        if let Some(at) = memrchr(b'@', core) {
            out.extend_from_slice(b"*@");
            let start = out.len();
            out.extend_from_slice(&core[at + 1..]);
            out[start..].make_ascii_lowercase();
        } else if core.len() >= 8
            && core.iter().all(u8::is_ascii_alphanumeric)
            && core.iter().any(u8::is_ascii_digit)
            && core.iter().any(u8::is_ascii_alphabetic)
        {
            out.extend_from_slice(b"<id>");
        } else {
            out.extend_from_slice(core);
        }
        out.extend_from_slice(&word[word.len() - trail..]);
    }
    if out.len() > MAX_REASON {
        let mut n = MAX_REASON;
        while n > 0 && (out[n] & 0xC0) == 0x80 {
            n -= 1;
        }
        out.truncate(n);
    }
}

impl Chunk<'_> {
    fn line(&mut self, raw: &[u8]) {
        self.acc.lines += 1;
        if raw.len() > MAX_LINE {
            self.acc.skipped_too_long += 1;
            return;
        }
        let l = match parse_line_cached(raw, &self.s.clock, &mut self.stamps) {
            Ok(l) => l,
            Err(Skip::Malformed) => {
                // An empty line is not worth a mention either way.
                if !raw.is_empty() {
                    self.acc.skipped_malformed += 1;
                }
                return;
            }
            Err(Skip::NonUtf8) => {
                self.acc.skipped_non_utf8 += 1;
                return;
            }
        };
        if self.s.since.is_some_and(|s| l.ts < s) || self.s.until.is_some_and(|u| l.ts > u) {
            self.acc.outside_window += 1;
            return;
        }
        let counted = if let Some(slash) = memrchr(b'/', l.program) {
            self.postfix(&l.program[slash + 1..], &l)
        } else if l.program == b"dovecot" {
            match split_colon(l.message) {
                Some((service, msg)) => self.dovecot(service, msg, &l),
                None => true,
            }
        } else if l.host.is_empty() && is_dovecot_native(l.program) {
            let msg = l.message;
            let msg = [
                &b"Info: "[..],
                b"Warning: ",
                b"Error: ",
                b"Fatal: ",
                b"Panic: ",
            ]
            .iter()
            .find_map(|p| msg.strip_prefix(*p))
            .unwrap_or(msg);
            self.dovecot(l.program, msg, &l)
        } else {
            l.program == b"postfix" || l.program == b"postfix-script"
        };
        if counted {
            if l.program.first() == Some(&b'p') || memchr(b'/', l.program).is_some() {
                self.acc.postfix_lines += 1;
            } else {
                self.acc.dovecot_lines += 1;
            }
            self.acc.first_ts = Some(self.acc.first_ts.map_or(l.ts, |f| f.min(l.ts)));
            self.acc.last_ts = Some(self.acc.last_ts.map_or(l.ts, |f| f.max(l.ts)));
        } else {
            self.acc.skipped_unknown_program += 1;
        }
    }

    fn bump(&mut self, ts: i64, col: usize) {
        let h = ts.div_euclid(3600);
        if h != self.hour {
            self.flush_hour();
            self.hour = h;
        }
        self.row[col] += 1;
    }

    fn flush_hour(&mut self) {
        if self.hour != i64::MIN && self.row.iter().any(|v| *v > 0) {
            let r = self.acc.hour(self.hour * 3600);
            for (a, b) in r.iter_mut().zip(self.row) {
                *a += b;
            }
        }
        self.row = HourRow::default();
    }

    /// One Postfix line of daemon `daemon`. Always counted as a Postfix line.
    fn postfix(&mut self, daemon: &[u8], l: &Line<'_>) -> bool {
        let msg = l.message;
        match daemon {
            b"smtpd" | b"postscreen" => self.smtpd(msg, l.ts),
            b"qmgr" | b"nqmgr" => {
                if let Some((q, rest)) = qid(msg) {
                    if rest == b"removed" {
                        self.join.remove(q, &mut self.acc);
                    } else if let Some(from) = rest.strip_prefix(b"from=<") {
                        let end = memchr(b'>', from).unwrap_or(from.len());
                        let after = from.get(end + 1..).unwrap_or_default();
                        if after.starts_with(b", status=expired") {
                            self.acc.expired += 1;
                            return true;
                        }
                        let addr = &from[..end];
                        let domain = memrchr(b'@', addr).map_or(addr, |at| &addr[at + 1..]);
                        let size = after.strip_prefix(b", size=").map_or(0, leading_number);
                        let e = self.join.get(q);
                        if !e.queued {
                            e.queued = true;
                            e.sender = Domain::new(domain, true);
                            e.size = size;
                        }
                    }
                }
            }
            b"smtp" | b"lmtp" | b"local" | b"virtual" | b"pipe" | b"error" | b"retry"
            | b"discard" | b"relay" => {
                if let Some((q, rest)) = qid(msg) {
                    if rest.starts_with(b"to=<") {
                        self.delivery(q, rest, l.ts);
                    }
                } else if msg.starts_with(b"SSL_connect error to ") {
                    self.tls_failure(bracketed(msg));
                } else if let Some(p) = msg.strip_prefix(b"warning: TLS library problem: ") {
                    self.tls_library(p);
                }
            }
            b"cleanup" => {
                if let Some((q, rest)) = qid(msg) {
                    if rest.starts_with(b"reject: ") || rest.starts_with(b"milter-reject: ") {
                        self.reject_content(rest, l.ts);
                    } else {
                        self.join.get(q);
                    }
                }
            }
            b"pickup" => {
                if let Some((q, rest)) = qid(msg) {
                    if rest.starts_with(b"uid=") || rest.starts_with(b"sender=") {
                        self.acc.received += 1;
                        self.bump(l.ts, RECEIVED);
                        self.join.start(q);
                    }
                }
            }
            b"bounce" => {
                if let Some((_, rest)) = qid(msg) {
                    if let Some(i) = memchr::memmem::find(rest, b"notification: ") {
                        self.acc.bounce_notifications += 1;
                        let new = &rest[i + 14..];
                        let end = new
                            .iter()
                            .take(21)
                            .position(|c| !c.is_ascii_alphanumeric())
                            .unwrap_or(new.len().min(21));
                        if (5..=20).contains(&end) {
                            self.join.start(Qid::new(&new[..end]));
                        }
                    }
                }
            }
            b"postsuper" => {
                if let Some((q, b"removed")) = qid(msg) {
                    self.acc.deleted += 1;
                    self.join.remove(q, &mut self.acc);
                }
            }
            b"tlsproxy" => {
                if msg.starts_with(b"SSL_accept error from ") {
                    self.tls_failure(bracketed(msg));
                } else if let Some(p) = msg.strip_prefix(b"warning: TLS library problem: ") {
                    self.tls_library(p);
                }
            }
            _ => {}
        }
        true
    }

    fn smtpd(&mut self, msg: &[u8], ts: i64) {
        if let Some((q, rest)) = qid(msg) {
            if rest.starts_with(b"client=") {
                self.acc.received += 1;
                self.bump(ts, RECEIVED);
                self.join.start(q);
            } else if rest.starts_with(b"reject: ") || rest.starts_with(b"milter-reject: ") {
                self.reject_smtp(rest, ts);
            }
        } else if let Some(rest) = msg.strip_prefix(b"NOQUEUE: ") {
            if rest.starts_with(b"reject: ") || rest.starts_with(b"milter-reject: ") {
                self.reject_smtp(rest, ts);
            }
        } else if msg.starts_with(b"connect from ") {
            self.acc.connections += 1;
        } else if let Some(w) = msg.strip_prefix(b"warning: ") {
            if let Some(p) = w.strip_prefix(b"TLS library problem: ") {
                self.tls_library(p);
            } else if let Some(i) = memchr::memmem::find(w, b": SASL ") {
                if self.s.auth_failed.find(&w[i..]).is_some() {
                    self.acc.sasl_failures += 1;
                    let client = bracketed(&w[..i]).unwrap_or(b"unknown");
                    *self.acc.auth_clients.entry(text(client)) += 1;
                }
            }
        } else if msg.starts_with(b"SSL_accept error from ") {
            self.tls_failure(bracketed(msg));
        }
    }

    fn tls_failure(&mut self, client: Option<&[u8]>) {
        self.acc.tls_failures += 1;
        *self
            .acc
            .tls_clients
            .entry(text(client.unwrap_or(b"unknown"))) += 1;
    }

    /// `error:0A000076:SSL routines::no suitable signature algorithm:file:line:` → its reason.
    fn tls_library(&mut self, p: &[u8]) {
        self.acc.tls_library_problems += 1;
        let parts: Vec<&[u8]> = p.splitn(7, |c| *c == b':').collect();
        let reason = if p.starts_with(b"error:") && parts.len() >= 5 {
            if parts[4].is_empty() {
                parts[3]
            } else {
                parts[4]
            }
        } else {
            p
        };
        normalize_reason(reason, &mut self.scratch);
        *self.acc.tls_reasons.entry(text(&self.scratch)) += 1;
    }

    /// `reject: RCPT from host[addr]: 550 5.1.1 <a@b>: Recipient address rejected: ...; from=<...> ...`
    fn reject_smtp(&mut self, rest: &[u8], ts: i64) {
        self.acc.rejected += 1;
        self.bump(ts, REJECTED);
        let body = memchr::memmem::find(rest, b"]: ").map_or(rest, |i| &rest[i + 3..]);
        let body = memchr::memmem::find(body, b"; from=").map_or(body, |i| &body[..i]);
        let (code, text_part) = split_code(body);
        let text_part = strip_subject(text_part);
        *self.acc.reject_codes.entry(text(code)) += 1;
        self.scratch.clear();
        self.scratch.extend_from_slice(code);
        append_normalized(text_part, &mut self.scratch);
        *self.acc.reject_reasons.entry(text(&self.scratch)) += 1;
    }

    /// cleanup's `reject: header Subject: ... from host[addr]; from=<...> ...: 5.7.1 text`.
    fn reject_content(&mut self, rest: &[u8], ts: i64) {
        self.acc.rejected += 1;
        self.bump(ts, REJECTED);
        let tail = memchr::memmem::rfind(rest, b">: ").map_or(rest, |i| &rest[i + 3..]);
        let (code, t) = split_code(tail);
        *self.acc.reject_codes.entry(text(code)) += 1;
        self.scratch.clear();
        self.scratch.extend_from_slice(b"content:");
        if !code.is_empty() {
            self.scratch.push(b' ');
            self.scratch.extend_from_slice(code);
        }
        append_normalized(t, &mut self.scratch);
        *self.acc.reject_reasons.entry(text(&self.scratch)) += 1;
    }

    /// `to=<a@b>, relay=..., delay=..., dsn=4.4.1, status=deferred (reason)`
    fn delivery(&mut self, q: Qid, rest: &[u8], ts: i64) {
        let Some(at) = self.s.status.find(rest) else {
            return;
        };
        let st = &rest[at + 9..];
        let word_end = st
            .iter()
            .position(|c| *c == b' ' || *c == b',')
            .unwrap_or(st.len());
        let (status, after) = (&st[..word_end], &st[word_end..]);
        let to = &rest[4..];
        let addr = &to[..memchr(b'>', to).unwrap_or(to.len())];
        let domain = memrchr(b'@', addr).map_or(&b""[..], |i| &addr[i + 1..]);
        let mut dom = Domain::new(domain, true);
        if dom.as_str().is_empty() {
            dom = Domain::new(b"(local)", false);
        }
        let reason = after
            .strip_prefix(b" (")
            .map(|r| r.strip_suffix(b")").unwrap_or(r))
            .unwrap_or(b"");
        match status {
            b"sent" => {
                if self.s.forwarded.find(reason).is_some() {
                    self.acc.forwarded += 1;
                    return;
                }
                self.acc.delivered += 1;
                self.bump(ts, DELIVERED);
                self.acc.recipient_domains.entry(dom.as_str())[0] += 1;
                self.join.get(q).sent += 1;
            }
            b"deferred" => {
                self.acc.deferred += 1;
                self.bump(ts, DEFERRED);
                self.acc.recipient_domains.entry(dom.as_str())[1] += 1;
                self.join.get(q).deferred += 1;
                normalize_reason(reason, &mut self.scratch);
                *self.acc.deferral_reasons.entry(text(&self.scratch)) += 1;
            }
            b"bounced" => {
                self.acc.bounced += 1;
                self.bump(ts, BOUNCED);
                self.acc.recipient_domains.entry(dom.as_str())[2] += 1;
                self.join.get(q).bounced += 1;
                normalize_reason(reason, &mut self.scratch);
                *self.acc.bounce_reasons.entry(text(&self.scratch)) += 1;
            }
            _ => {}
        }
    }

    /// One Dovecot line: `service` (`imap-login`, `imap(user)`, `auth`...) and its message.
    fn dovecot(&mut self, service: &[u8], msg: &[u8], _l: &Line<'_>) -> bool {
        if service.ends_with(b"-login") {
            if let Some(i) = self.s.dovecot_auth_failed.find(msg) {
                let n = &msg[i + 14..];
                let n = leading_number(n).max(1);
                self.acc.dovecot_auth_failures += n;
                let client = field(msg, b"rip=").unwrap_or(b"unknown");
                *self.acc.auth_clients.entry(text(client)) += n;
            } else if msg.starts_with(b"Login: ") {
                self.acc.dovecot_logins += 1;
            }
            if let Some(i) = self.s.tls_handshaking.find(msg) {
                self.acc.tls_failures += 1;
                let client = field(msg, b"rip=").unwrap_or(b"unknown");
                *self.acc.tls_clients.entry(text(client)) += 1;
                let reason = &msg[i..];
                let reason =
                    memchr::memmem::rfind(reason, b"failed: ").map_or(reason, |j| &reason[j + 8..]);
                let reason = reason.strip_prefix(b"error:").map_or(reason, |r| {
                    let parts: Vec<&[u8]> = r.splitn(5, |c| *c == b':').collect();
                    parts.get(3).copied().filter(|p| !p.is_empty()).unwrap_or(r)
                });
                normalize_reason(reason, &mut self.scratch);
                *self.acc.tls_reasons.entry(text(&self.scratch)) += 1;
            }
        }
        true
    }
}

/// `550 5.1.1 rest` → (`550 5.1.1`, `rest`); `5.7.1 rest` → (`5.7.1`, `rest`).
fn split_code(s: &[u8]) -> (&[u8], &[u8]) {
    let mut end = 0;
    let mut words = 0;
    for (i, w) in s.split(|c| *c == b' ').enumerate().take(2) {
        let is_code = (w.len() == 3 && w.iter().all(u8::is_ascii_digit))
            || (i < 2
                && w.len() >= 5
                && w.iter().all(|c| c.is_ascii_digit() || *c == b'.')
                && w.iter().filter(|c| **c == b'.').count() == 2);
        if !is_code {
            break;
        }
        end += w.len() + usize::from(words > 0);
        words += 1;
    }
    if words == 0 {
        return (b"", s);
    }
    (&s[..end], s.get(end + 1..).unwrap_or_default())
}

/// The `<address>: ` or `host[addr]: ` a Postfix reject names before its reason.
fn strip_subject(s: &[u8]) -> &[u8] {
    if let Some(i) = memchr::memmem::find(s, b": ") {
        let subject = &s[..i];
        if (subject.starts_with(b"<") && subject.ends_with(b">")) || subject.ends_with(b"]") {
            return &s[i + 2..];
        }
    }
    s
}

/// Programs of Dovecot's own log file (`log_path`, no host): `imap-login`, `imap(user)<..>`,
/// `auth`, `master`, `lmtp(...)`...
fn is_dovecot_native(p: &[u8]) -> bool {
    p.ends_with(b"-login")
        || memchr(b'(', p).is_some()
        || matches!(
            p,
            b"auth"
                | b"auth-worker"
                | b"master"
                | b"lmtp"
                | b"imap"
                | b"pop3"
                | b"config"
                | b"log"
                | b"anvil"
                | b"stats"
                | b"dict"
                | b"indexer"
                | b"indexer-worker"
                | b"doveadm"
                | b"submission"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let mut out = Vec::new();
        normalize_reason(s.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn reasons_are_normalised() {
        assert_eq!(
            norm("host mx.peer.fr[198.51.100.7] said: 550 5.1.1 <Jean.Dupont@Peer.FR>: Recipient address rejected (in reply to RCPT TO command)"),
            "host mx.peer.fr[198.51.100.7] said: 550 5.1.1 <*@peer.fr>: Recipient address rejected (in reply to RCPT TO command)"
        );
        assert_eq!(
            norm("250 2.0.0 Ok: queued as 4F2A81C0123"),
            "250 2.0.0 Ok: queued as <id>"
        );
        assert!(norm(&"é".repeat(400)).len() <= MAX_REASON);
    }

    #[test]
    fn codes() {
        assert_eq!(
            split_code(b"550 5.1.1 <a@b>: no"),
            (&b"550 5.1.1"[..], &b"<a@b>: no"[..])
        );
        assert_eq!(split_code(b"5.7.1 spam"), (&b"5.7.1"[..], &b"spam"[..]));
        assert_eq!(
            split_code(b"Relay denied"),
            (&b""[..], &b"Relay denied"[..])
        );
        assert_eq!(
            strip_subject(b"<a@b>: Recipient address rejected"),
            b"Recipient address rejected"
        );
    }
}
