//! One syslog line into its parts: timestamp, host, program, pid, message.
//!
//! Accepted forms (each optionally behind a `docker compose logs` prefix `postfix-1  | ` or a
//! Docker `--timestamps` RFC 3339 prefix):
//! - RFC 3164 / BSD: `Nov 30 12:59:43 mail postfix/smtpd[123]: message` (no year: the most
//!   recent such date not more than a day after the reference time, local time);
//! - RFC 3339 timestamps (rsyslog's high-precision format): `2024-11-30T12:59:43.1+01:00 mail postfix/smtpd[123]: ...`;
//! - RFC 5424: `<22>1 2024-11-30T12:59:43Z mail postfix/smtpd 123 - - message`;
//! - Dovecot's own log file (`log_path`): `Nov 30 12:59:43 imap-login: Info: message` (no host).
//!
//! Nothing is allocated: every part borrows the line.

use memchr::memchr;

/// The parts of a syslog line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// Unix seconds (UTC).
    pub ts: i64,
    /// Host name (empty in Dovecot's own log file, `-` in RFC 5424 when unknown).
    pub host: &'a [u8],
    /// Program (syslog tag without the pid): `postfix/smtpd`, `dovecot`, `imap-login`...
    pub program: &'a [u8],
    /// Process id, when given.
    pub pid: Option<u32>,
    /// The message after `program[pid]: `.
    pub message: &'a [u8],
}

/// Why a line was not parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// No timestamp or no program where syslog puts them (garbage, a truncated line).
    Malformed,
    /// Bytes that are not UTF-8.
    NonUtf8,
}

/// Turns syslog's year-less local timestamps into Unix seconds: the year is the reference
/// time's, or the one before when that would put the line more than a day in the future.
/// The local offset is the reference time's (a daylight-saving change inside the log shifts
/// the lines of the other season by that hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Reference instant in local seconds (Unix seconds + offset).
    ref_local: i64,
    ref_year: i64,
    /// Local time minus UTC, seconds.
    offset: i64,
    /// Local seconds at the start of each month of the reference year and of the year before.
    month_starts: [[i64; 12]; 2],
}

impl Clock {
    /// A clock for reference instant `now` (Unix seconds) and a fixed offset (local - UTC, seconds).
    #[must_use]
    pub fn new(now: i64, offset: i64) -> Self {
        let ref_local = now + offset;
        let (y, _, _) = civil_from_days(ref_local.div_euclid(86_400));
        let starts = |year: i64| {
            let mut starts = [0i64; 12];
            for (m, start) in (1..=12u32).zip(starts.iter_mut()) {
                *start = days_from_civil(year, m, 1) * 86_400;
            }
            starts
        };
        Self {
            ref_local,
            ref_year: y,
            offset,
            month_starts: [starts(y), starts(y - 1)],
        }
    }

    /// A clock for `now` in this machine's time zone.
    #[must_use]
    pub fn local(now: i64) -> Self {
        Self::new(now, local_offset(now))
    }

    /// Unix seconds of a year-less local date and time (the reference year, or the year before
    /// when that would be more than a day ahead of the reference instant).
    #[must_use]
    pub fn resolve(&self, month: u32, day: u32, secs_of_day: i64) -> i64 {
        let within = |starts: &[i64; 12], year: i64| match usize::try_from(month)
            .ok()
            .and_then(|m| starts.get(m.wrapping_sub(1)))
        {
            Some(start) => start + (i64::from(day) - 1) * 86_400 + secs_of_day,
            None => days_from_civil(year, month, day) * 86_400 + secs_of_day,
        };
        let mut local = within(&self.month_starts[0], self.ref_year);
        if local > self.ref_local + 86_400 {
            local = within(&self.month_starts[1], self.ref_year - 1);
        }
        local - self.offset
    }
}

/// This machine's time zone offset at Unix time `t` (local - UTC, seconds).
#[must_use]
pub fn local_offset(t: i64) -> i64 {
    use chrono::{Local, Offset, TimeZone};
    Local
        .timestamp_opt(t, 0)
        .single()
        .map_or(0, |t| i64::from(t.offset().fix().local_minus_utc()))
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; H. Hinnant's algorithm).
#[must_use]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day count since 1970-01-01.
#[must_use]
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn month(b: &[u8]) -> Option<u32> {
    Some(match b {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn hms(b: &[u8]) -> Option<i64> {
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, s) = (digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..8])?);
    (h < 24 && m < 60 && s < 61).then_some(h * 3600 + m * 60 + s)
}

/// The last `Mmm dd hh:mm:ss` stamp parsed and its time: consecutive lines of a log mostly
/// share their second.
#[derive(Debug, Clone, Copy, Default)]
pub struct StampCache {
    stamp: [u8; 15],
    ts: i64,
}

/// `Mmm dd hh:mm:ss ` at the start of `s`: Unix seconds and the rest.
fn rfc3164<'a>(s: &'a [u8], clock: &Clock, cache: &mut StampCache) -> Option<(i64, &'a [u8])> {
    if s.len() < 16 || s[3] != b' ' || s[6] != b' ' || s[15] != b' ' {
        return None;
    }
    // The zeroed initial stamp never matches (a stamp starts with a month's letters).
    if s[..15] == cache.stamp {
        return Some((cache.ts, &s[16..]));
    }
    let ts = rfc3164_time(s, clock)?;
    cache.stamp.copy_from_slice(&s[..15]);
    cache.ts = ts;
    Some((ts, &s[16..]))
}

/// The time of the `Mmm dd hh:mm:ss` stamp at the start of `s` (checked 16 bytes or more).
fn rfc3164_time(s: &[u8], clock: &Clock) -> Option<i64> {
    let m = month(&s[0..3])?;
    let day = if s[4] == b' ' {
        digits(&s[5..6])?
    } else {
        digits(&s[4..6])?
    };
    if !(1..=31).contains(&day) {
        return None;
    }
    let t = hms(&s[7..15])?;
    Some(clock.resolve(m, u32::try_from(day).ok()?, t))
}

/// An RFC 3339 timestamp at the start of `s` (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`), then a
/// space: Unix seconds and the rest.
pub(crate) fn rfc3339(s: &[u8]) -> Option<(i64, &[u8])> {
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || !(s[10] == b'T' || s[10] == b' ') {
        return None;
    }
    let (y, mo, d) = (digits(&s[0..4])?, digits(&s[5..7])?, digits(&s[8..10])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let t = hms(&s[11..19])?;
    let mut i = 19;
    if s.get(i) == Some(&b'.') {
        i += 1;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset = match s.get(i)? {
        b'Z' | b'z' => {
            i += 1;
            0
        }
        c @ (b'+' | b'-') => {
            let tz = s.get(i + 1..i + 6)?;
            let off = if tz[2] == b':' {
                digits(&tz[0..2])? * 3600 + digits(&tz[3..5])? * 60
            } else {
                return None;
            };
            i += 6;
            if *c == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let rest = match s.get(i) {
        None => &s[i..],
        Some(b' ') => &s[i + 1..],
        Some(_) => return None,
    };
    let utc =
        days_from_civil(y, u32::try_from(mo).ok()?, u32::try_from(d).ok()?) * 86_400 + t - offset;
    Some((utc, rest))
}

/// `program[pid]` → (program, pid).
fn split_pid(tag: &[u8]) -> (&[u8], Option<u32>) {
    if tag.last() == Some(&b']') {
        if let Some(open) = memchr(b'[', tag) {
            let pid = digits(&tag[open + 1..tag.len() - 1]).and_then(|p| u32::try_from(p).ok());
            return (&tag[..open], pid);
        }
    }
    (tag, None)
}

fn token(s: &[u8]) -> (&[u8], &[u8]) {
    match memchr(b' ', s) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[]),
    }
}

/// The RFC 5424 header after `1 `: `TIMESTAMP HOST APP PROCID MSGID SD [MSG]`.
fn rfc5424(s: &[u8]) -> Option<Line<'_>> {
    let (ts, rest) = rfc3339(s)?;
    let (host, rest) = token(rest);
    let (app, rest) = token(rest);
    let (procid, rest) = token(rest);
    let (_msgid, rest) = token(rest);
    if app.is_empty() {
        return None;
    }
    let msg = match rest.first() {
        Some(b'-') => rest.get(2..).unwrap_or_default(),
        Some(b'[') => {
            // Structured data: `[id k="v" ...]...`; `\]` and `\"` are escapes inside values.
            let (mut i, mut quoted, mut depth) = (0, false, 0u32);
            while i < rest.len() {
                match rest[i] {
                    b'\\' if quoted => i += 1,
                    b'"' => quoted = !quoted,
                    b'[' if !quoted => depth += 1,
                    b']' if !quoted => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 && rest.get(i + 1) != Some(&b'[') {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            rest.get(i + 1..).unwrap_or_default()
        }
        _ => return None,
    };
    let msg = msg.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(msg);
    let pid = digits(procid).and_then(|p| u32::try_from(p).ok());
    Some(Line {
        ts,
        host,
        program: app,
        pid,
        message: msg,
    })
}

/// A `docker compose logs` prefix (`postfix-1  | `) at the start of `s`, removed.
fn strip_compose_prefix(s: &[u8]) -> &[u8] {
    if !s.first().is_some_and(u8::is_ascii_lowercase) {
        return s;
    }
    let head = &s[..s.len().min(96)];
    match memchr(b'|', head) {
        Some(p)
            if s.get(p + 1) == Some(&b' ')
                && head[..p].iter().all(|c| c.is_ascii_graphic() || *c == b' ') =>
        {
            &s[p + 2..]
        }
        _ => s,
    }
}

/// Parses one line (without its `\n`).
///
/// # Errors
/// [`Skip`]: why the line is not a syslog line.
pub fn parse_line<'a>(line: &'a [u8], clock: &Clock) -> Result<Line<'a>, Skip> {
    parse_line_cached(line, clock, &mut StampCache::default())
}

/// [`parse_line`] for the lines of one log in order, remembering the last stamp in `cache`.
///
/// # Errors
/// [`Skip`]: why the line is not a syslog line.
pub fn parse_line_cached<'a>(
    line: &'a [u8],
    clock: &Clock,
    cache: &mut StampCache,
) -> Result<Line<'a>, Skip> {
    if !line.is_ascii() && std::str::from_utf8(line).is_err() {
        return Err(Skip::NonUtf8);
    }
    let mut s = line.strip_suffix(b"\r").unwrap_or(line);
    s = strip_compose_prefix(s);
    if s.first() == Some(&b'<') {
        let end = memchr(b'>', &s[..s.len().min(6)]).ok_or(Skip::Malformed)?;
        digits(&s[1..end]).ok_or(Skip::Malformed)?;
        s = &s[end + 1..];
        if s.starts_with(b"1 ") {
            return rfc5424(&s[2..]).ok_or(Skip::Malformed);
        }
    }
    let (ts, rest) = if s.first().is_some_and(u8::is_ascii_digit) {
        let (ts, rest) = rfc3339(s).ok_or(Skip::Malformed)?;
        // `docker logs --timestamps` in front of a syslog line: keep the engine's (dated) time.
        (ts, rfc3164(rest, clock, cache).map_or(rest, |(_, r)| r))
    } else {
        rfc3164(s, clock, cache).ok_or(Skip::Malformed)?
    };
    let (first, after) = token(rest);
    let (host, tag, message) = if let Some(tag) = first.strip_suffix(b":") {
        // Dovecot's own log file: no host.
        (&rest[..0], tag, after)
    } else {
        let colon = memchr(b':', after).ok_or(Skip::Malformed)?;
        let tag = &after[..colon];
        if tag.is_empty() || memchr(b' ', tag).is_some() {
            return Err(Skip::Malformed);
        }
        let msg = &after[colon + 1..];
        (first, tag, msg.strip_prefix(b" ").unwrap_or(msg))
    };
    if tag.is_empty() {
        return Err(Skip::Malformed);
    }
    let (program, pid) = split_pid(tag);
    Ok(Line {
        ts,
        host,
        program,
        pid,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-11-30 13:00:00 UTC.
    const NOW: i64 = 1_732_971_600;

    #[test]
    fn civil_days_round_trip() {
        for z in [-1000, 0, 365, 19_000, 20_057, 60_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(2024, 11, 30), 20_057);
    }

    #[test]
    fn clock_resolves_every_day_of_the_calendar() {
        // Reference instants around new year and a leap day, in several offsets.
        for (now, offset) in [
            (NOW, 0),
            (NOW + 32 * 86_400, 3600),
            (1_709_208_000, -18_000),
            (1_704_067_200, 7200),
        ] {
            let c = Clock::new(now, offset);
            let (year, _, _) = civil_from_days((now + offset).div_euclid(86_400));
            for month in 1..=12 {
                for day in 1..=31 {
                    let secs = 3723;
                    let this = days_from_civil(year, month, day) * 86_400 + secs;
                    let expected = if this > now + offset + 86_400 {
                        days_from_civil(year - 1, month, day) * 86_400 + secs
                    } else {
                        this
                    };
                    assert_eq!(
                        c.resolve(month, day, secs),
                        expected - offset,
                        "{year}-{month}-{day}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_stamp_cache_never_changes_a_result() {
        let c = Clock::new(NOW, 3600);
        let lines: [&[u8]; 7] = [
            b"Nov 30 12:59:43 mail postfix/smtpd[1]: a",
            b"Nov 30 12:59:43 mail postfix/smtpd[1]: b",
            b"Nov 30 12:59:44 mail postfix/qmgr[2]: c",
            b"Nov 30 12:59:4x mail postfix/qmgr[2]: bad stamp",
            b"2024-11-30T12:00:00Z Nov 30 12:59:44 mail postfix/qmgr[2]: docker",
            b"Dec 31 23:59:59 mail postfix/qmgr[2]: last year",
            b"Nov 30 12:59:44 mail postfix/qmgr[2]: c again",
        ];
        let mut cache = StampCache::default();
        for line in lines {
            assert_eq!(
                parse_line_cached(line, &c, &mut cache),
                parse_line(line, &c),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn bsd_line() {
        let c = Clock::new(NOW, 0);
        let l = parse_line(b"Nov 30 12:59:43 mail postfix/submission/smtpd[21979]: connect from localhost[127.0.0.1]", &c).unwrap();
        assert_eq!(l.ts, NOW - 17);
        assert_eq!(
            (l.host, l.program, l.pid),
            (&b"mail"[..], &b"postfix/submission/smtpd"[..], Some(21979))
        );
        assert_eq!(l.message, b"connect from localhost[127.0.0.1]");
        // Space-padded day; a December line read in January belongs to the year before.
        let jan = Clock::new(NOW + 40 * 86_400, 3600);
        let l = parse_line(b"Dec  1 01:00:00 mail postfix/qmgr[1]: x", &jan).unwrap();
        assert_eq!(l.ts, days_from_civil(2024, 12, 1) * 86_400);
    }

    #[test]
    fn other_forms() {
        let c = Clock::new(NOW, 0);
        let l = parse_line(
            b"2024-11-30T13:59:43.123456+01:00 mail postfix/qmgr[9]: ABC123: removed",
            &c,
        )
        .unwrap();
        assert_eq!(
            (l.ts, l.program, l.message),
            (NOW - 17, &b"postfix/qmgr"[..], &b"ABC123: removed"[..])
        );
        let l = parse_line(b"<22>1 2024-11-30T12:59:43Z mail postfix/smtp 77 - [meta a=\"x]\\\"\"] \xEF\xBB\xBFhello", &c).unwrap();
        assert_eq!(
            (l.ts, l.host, l.program, l.pid, l.message),
            (
                NOW - 17,
                &b"mail"[..],
                &b"postfix/smtp"[..],
                Some(77),
                &b"hello"[..]
            )
        );
        let l = parse_line(b"Nov 30 12:57:24 imap-login: Info: Disconnected", &c).unwrap();
        assert_eq!(
            (l.host, l.program, l.message),
            (&b""[..], &b"imap-login"[..], &b"Info: Disconnected"[..])
        );
        let l = parse_line(
            b"postfix-1  | 2024-11-30T12:59:43.5Z Nov 30 12:59:43 mail postfix/smtpd[1]: hi",
            &c,
        )
        .unwrap();
        assert_eq!((l.ts, l.message), (NOW - 17, &b"hi"[..]));
    }

    #[test]
    fn junk_is_refused() {
        let c = Clock::new(NOW, 0);
        for junk in [
            &b""[..],
            b"Nov 30 12:0",
            b"\x00\x01\x02garbage",
            b"Nov 30 12:59:43 mail",
            b"Foo 30 12:59:43 a b: c",
            b"<999999>1 x",
            b"2024-13-01T00:00:00Z a b: c",
        ] {
            assert_eq!(
                parse_line(junk, &c),
                Err(Skip::Malformed),
                "{:?}",
                String::from_utf8_lossy(junk)
            );
        }
        assert_eq!(
            parse_line(b"Nov 30 12:59:43 mail postfix/smtpd[1]: \xff\xfe", &c),
            Err(Skip::NonUtf8)
        );
    }
}
