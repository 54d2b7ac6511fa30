//! The summary of a mail log ([`Summary`], public and serialisable) and the mergeable
//! accumulator it is built from ([`Acc`]: every table capped, so memory does not grow with
//! the size of the log).

use rustc_hash::FxHashMap;
use serde::Serialize;

/// Rows kept in each "top" list of the summary.
pub const TOP: usize = 10;
/// Distinct keys kept per table (reasons, domains, client addresses); the rest count under
/// [`OTHER`].
pub const MAX_KEYS: usize = 5_000;
/// Hours kept in the per-hour table (the most recent ones).
pub const MAX_HOURS: usize = 24 * 62;
/// The key under which the values beyond [`MAX_KEYS`] count.
pub const OTHER: &str = "(other)";

/// A string-keyed count table with a cap on distinct keys.
#[derive(Debug, Default, Clone)]
pub(crate) struct Table<V> {
    map: FxHashMap<Box<str>, V>,
}

impl<V: Default + Merge> Table<V> {
    /// The value of `key` (created when new; [`OTHER`]'s when the table is full).
    pub(crate) fn entry(&mut self, key: &str) -> &mut V {
        if !self.map.contains_key(key) {
            let key: &str = if self.map.len() >= MAX_KEYS {
                OTHER
            } else {
                key
            };
            return self.map.entry(key.into()).or_default();
        }
        self.map
            .get_mut(key)
            .unwrap_or_else(|| unreachable!("checked above"))
    }

    fn merge(&mut self, other: Self) {
        for (k, v) in other.map {
            self.entry(&k).merge(v);
        }
    }
}

/// Values that add up.
pub(crate) trait Merge {
    fn merge(&mut self, other: Self);
}

impl Merge for u64 {
    fn merge(&mut self, other: Self) {
        *self += other;
    }
}

impl<const N: usize> Merge for [u64; N] {
    fn merge(&mut self, other: Self) {
        for (a, b) in self.iter_mut().zip(other) {
            *a += b;
        }
    }
}

/// Counters per hour: received, delivered, deferred, bounced, rejected.
pub(crate) type HourRow = [u64; 5];

/// Everything counted so far; chunks of a log are counted apart and merged.
#[derive(Debug, Default, Clone)]
pub struct Acc {
    pub(crate) lines: u64,
    pub(crate) postfix_lines: u64,
    pub(crate) dovecot_lines: u64,
    pub(crate) outside_window: u64,
    pub(crate) skipped_malformed: u64,
    pub(crate) skipped_non_utf8: u64,
    pub(crate) skipped_too_long: u64,
    pub(crate) skipped_unknown_program: u64,
    pub(crate) first_ts: Option<i64>,
    pub(crate) last_ts: Option<i64>,
    pub(crate) connections: u64,
    pub(crate) received: u64,
    pub(crate) delivered: u64,
    pub(crate) forwarded: u64,
    pub(crate) deferred: u64,
    pub(crate) bounced: u64,
    pub(crate) expired: u64,
    pub(crate) rejected: u64,
    pub(crate) bounce_notifications: u64,
    pub(crate) deleted: u64,
    pub(crate) msg_delivered: u64,
    pub(crate) msg_delivered_after_deferral: u64,
    pub(crate) msg_bounced: u64,
    pub(crate) msg_removed_undelivered: u64,
    pub(crate) msg_deferred: u64,
    pub(crate) msg_still_queued: u64,
    pub(crate) msg_never_queued: u64,
    pub(crate) msg_unjoined: u64,
    pub(crate) sasl_failures: u64,
    pub(crate) dovecot_auth_failures: u64,
    pub(crate) dovecot_logins: u64,
    pub(crate) tls_failures: u64,
    pub(crate) tls_library_problems: u64,
    pub(crate) reject_codes: Table<u64>,
    pub(crate) reject_reasons: Table<u64>,
    pub(crate) deferral_reasons: Table<u64>,
    pub(crate) bounce_reasons: Table<u64>,
    /// Recipient domain: delivered, deferred, bounced.
    pub(crate) recipient_domains: Table<[u64; 3]>,
    /// Sender domain: messages, bytes.
    pub(crate) sender_domains: Table<[u64; 2]>,
    pub(crate) auth_clients: Table<u64>,
    pub(crate) tls_clients: Table<u64>,
    pub(crate) tls_reasons: Table<u64>,
    pub(crate) hours: FxHashMap<i64, HourRow>,
}

impl Acc {
    /// Adds `other`, counted on the lines after this one's.
    pub fn merge(&mut self, o: Acc) {
        macro_rules! add {
            ($($f:ident),*) => { $(self.$f += o.$f;)* };
        }
        add!(
            lines,
            postfix_lines,
            dovecot_lines,
            outside_window,
            skipped_malformed,
            skipped_non_utf8,
            skipped_too_long,
            skipped_unknown_program,
            connections,
            received,
            delivered,
            forwarded,
            deferred,
            bounced,
            expired,
            rejected,
            bounce_notifications,
            deleted,
            msg_delivered,
            msg_delivered_after_deferral,
            msg_bounced,
            msg_removed_undelivered,
            msg_deferred,
            msg_still_queued,
            msg_never_queued,
            msg_unjoined,
            sasl_failures,
            dovecot_auth_failures,
            dovecot_logins,
            tls_failures,
            tls_library_problems
        );
        self.first_ts = match (self.first_ts, o.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ts = self.last_ts.max(o.last_ts);
        self.reject_codes.merge(o.reject_codes);
        self.reject_reasons.merge(o.reject_reasons);
        self.deferral_reasons.merge(o.deferral_reasons);
        self.bounce_reasons.merge(o.bounce_reasons);
        self.recipient_domains.merge(o.recipient_domains);
        self.sender_domains.merge(o.sender_domains);
        self.auth_clients.merge(o.auth_clients);
        self.tls_clients.merge(o.tls_clients);
        self.tls_reasons.merge(o.tls_reasons);
        for (h, row) in o.hours {
            self.hours.entry(h).or_default().merge(row);
        }
        self.cap_hours();
    }

    /// The per-hour row of Unix time `ts`.
    pub(crate) fn hour(&mut self, ts: i64) -> &mut HourRow {
        let h = ts.div_euclid(3600);
        if self.hours.len() >= MAX_HOURS && !self.hours.contains_key(&h) {
            self.cap_hours();
        }
        self.hours.entry(h).or_default()
    }

    fn cap_hours(&mut self) {
        if self.hours.len() >= MAX_HOURS {
            let mut keys: Vec<i64> = self.hours.keys().copied().collect();
            keys.sort_unstable();
            for k in &keys[..keys.len() + 1 - MAX_HOURS] {
                self.hours.remove(k);
            }
        }
    }

    /// The summary: top lists of [`TOP`] rows; `mask` hides client addresses and e-mail
    /// addresses (see [`Summary::masked`]).
    #[must_use]
    pub fn summary(&self, window: Window, mask: bool) -> Summary {
        let mask_text = |s: &str| if mask { mask_reason(s) } else { s.to_owned() };
        let top = |t: &Table<u64>, f: &dyn Fn(&str) -> String| -> Vec<Counted> {
            let mut merged: FxHashMap<String, u64> = FxHashMap::default();
            for (k, v) in &t.map {
                *merged.entry(f(k)).or_default() += v;
            }
            let mut v: Vec<Counted> = merged
                .into_iter()
                .map(|(value, count)| Counted { value, count })
                .collect();
            v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            v.truncate(TOP);
            v
        };
        let mut recipients: Vec<RecipientDomain> = self
            .recipient_domains
            .map
            .iter()
            .map(|(d, [s, df, b])| RecipientDomain {
                domain: d.to_string(),
                delivered: *s,
                deferred: *df,
                bounced: *b,
            })
            .collect();
        recipients.sort_by(|a, b| {
            (b.delivered + b.deferred + b.bounced)
                .cmp(&(a.delivered + a.deferred + a.bounced))
                .then_with(|| a.domain.cmp(&b.domain))
        });
        recipients.truncate(TOP);
        let mut senders: Vec<SenderDomain> = self
            .sender_domains
            .map
            .iter()
            .map(|(d, [m, b])| SenderDomain {
                domain: d.to_string(),
                messages: *m,
                bytes: *b,
            })
            .collect();
        senders.sort_by(|a, b| {
            b.messages
                .cmp(&a.messages)
                .then_with(|| a.domain.cmp(&b.domain))
        });
        senders.truncate(TOP);
        let mut hours: Vec<(&i64, &HourRow)> = self.hours.iter().collect();
        hours.sort_unstable_by_key(|(h, _)| **h);
        let per_hour = hours
            .into_iter()
            .map(|(h, r)| HourStats {
                hour: rfc3339(h * 3600),
                received: r[0],
                delivered: r[1],
                deferred: r[2],
                bounced: r[3],
                rejected: r[4],
            })
            .collect();
        let attempts = self.delivered + self.deferred + self.bounced;
        #[allow(clippy::cast_precision_loss)]
        let rate = |n: u64| {
            if attempts == 0 {
                0.0
            } else {
                (n as f64 * 1000.0 / attempts as f64).round() / 10.0
            }
        };
        let ip = |s: &str| if mask { mask_client(s) } else { s.to_owned() };
        Summary {
            window,
            first: self.first_ts.map(rfc3339),
            last: self.last_ts.map(rfc3339),
            lines: LineCounts {
                total: self.lines,
                postfix: self.postfix_lines,
                dovecot: self.dovecot_lines,
                outside_window: self.outside_window,
                skipped: Skipped {
                    malformed: self.skipped_malformed,
                    non_utf8: self.skipped_non_utf8,
                    too_long: self.skipped_too_long,
                    unknown_program: self.skipped_unknown_program,
                },
            },
            connections: self.connections,
            received: self.received,
            delivered: self.delivered,
            forwarded: self.forwarded,
            deferred: self.deferred,
            bounced: self.bounced,
            expired: self.expired,
            rejected: self.rejected,
            bounce_notifications: self.bounce_notifications,
            deleted: self.deleted,
            deferral_rate_pct: rate(self.deferred),
            bounce_rate_pct: rate(self.bounced),
            messages: MessageOutcomes {
                delivered: self.msg_delivered,
                delivered_after_deferral: self.msg_delivered_after_deferral,
                bounced: self.msg_bounced,
                removed_undelivered: self.msg_removed_undelivered,
                deferred: self.msg_deferred,
                still_queued: self.msg_still_queued,
                never_queued: self.msg_never_queued,
                unjoined: self.msg_unjoined,
            },
            reject_codes: top(&self.reject_codes, &|s| s.to_owned()),
            top_reject_reasons: top(&self.reject_reasons, &mask_text),
            top_deferral_reasons: top(&self.deferral_reasons, &mask_text),
            top_bounce_reasons: top(&self.bounce_reasons, &mask_text),
            recipient_domains: recipients,
            sender_domains: senders,
            auth_failures: AuthFailures {
                total: self.sasl_failures + self.dovecot_auth_failures,
                smtp_sasl: self.sasl_failures,
                dovecot: self.dovecot_auth_failures,
                by_client: top(&self.auth_clients, &ip),
            },
            dovecot_logins: self.dovecot_logins,
            tls_failures: TlsFailures {
                handshakes: self.tls_failures,
                library_problems: self.tls_library_problems,
                by_client: top(&self.tls_clients, &ip),
                top_reasons: top(&self.tls_reasons, &mask_text),
            },
            per_hour,
            masked: mask,
        }
    }
}

/// RFC 3339 text of Unix seconds, in this machine's time zone.
#[must_use]
pub fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map_or_else(
        || ts.to_string(),
        |t| t.with_timezone(&chrono::Local).to_rfc3339(),
    )
}

/// A client address with its host part hidden: IPv4 `/24` (`192.0.2.x`), IPv6 `/48`.
#[must_use]
pub fn mask_client(addr: &str) -> String {
    if addr.contains(':') {
        let groups: Vec<&str> = addr.split(':').take(3).collect();
        format!("{}::x", groups.join(":"))
    } else if let Some((net, _)) = addr.rsplit_once('.') {
        format!("{net}.x")
    } else {
        "x".to_owned()
    }
}

/// A reason with every e-mail address (`*@domain` after normalisation) and every IPv4
/// address hidden.
#[must_use]
pub fn mask_reason(reason: &str) -> String {
    reason
        .split(' ')
        .map(|w| {
            if w.contains('@') {
                let lead = w
                    .chars()
                    .take_while(|c| matches!(c, '<' | '(' | '"'))
                    .collect::<String>();
                let trail = w
                    .chars()
                    .rev()
                    .take_while(|c| matches!(c, '>' | ')' | ':' | ',' | ';' | '"'))
                    .collect::<String>()
                    .chars()
                    .rev()
                    .collect::<String>();
                format!("{lead}address{trail}")
            } else {
                mask_ipv4_in(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn mask_ipv4_in(w: &str) -> String {
    let b = w.as_bytes();
    let mut out = String::with_capacity(w.len());
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let start = i;
            let mut dots = 0;
            let mut last_dot = 0;
            while i < b.len()
                && (b[i].is_ascii_digit()
                    || (b[i] == b'.' && i + 1 < b.len() && b[i + 1].is_ascii_digit()))
            {
                if b[i] == b'.' {
                    dots += 1;
                    last_dot = i;
                }
                i += 1;
            }
            if dots == 3 {
                out.push_str(&w[start..=last_dot]);
                out.push('x');
            } else {
                out.push_str(&w[start..i]);
            }
        } else {
            let ch = w[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8().max(1);
        }
    }
    out
}

/// A value and how often it occurs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counted {
    /// The reason, code or address.
    pub value: String,
    /// Occurrences.
    pub count: u64,
}

/// The time window lines were kept in (RFC 3339; open ends are `null`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Lines before this were left out.
    pub since: Option<String>,
    /// Lines after this were left out.
    pub until: Option<String>,
}

/// Lines read, and those skipped with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LineCounts {
    /// Every line read.
    pub total: u64,
    /// Postfix lines in the window.
    pub postfix: u64,
    /// Dovecot lines in the window.
    pub dovecot: u64,
    /// Lines outside the window.
    pub outside_window: u64,
    /// Lines that were not counted, by reason.
    pub skipped: Skipped,
}

/// Lines that were not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Not a syslog line (binary garbage, truncated line, unknown timestamp).
    pub malformed: u64,
    /// Bytes that are not UTF-8.
    pub non_utf8: u64,
    /// Longer than [`super::MAX_LINE`] bytes.
    pub too_long: u64,
    /// A program other than Postfix or Dovecot.
    pub unknown_program: u64,
}

impl Skipped {
    /// All skipped lines.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.malformed + self.non_utf8 + self.too_long + self.unknown_program
    }
}

/// What became of messages (per queue id, joined from `qmgr`, delivery agents and `removed`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageOutcomes {
    /// Removed from the queue with every recipient delivered.
    pub delivered: u64,
    /// Of those, delivered after at least one deferral.
    pub delivered_after_deferral: u64,
    /// Removed with at least one bounced recipient.
    pub bounced: u64,
    /// Removed with no delivery seen (deleted, discarded, or delivered before the window).
    pub removed_undelivered: u64,
    /// Deferred at least once (distinct messages).
    pub deferred: u64,
    /// Still in the queue at the end of the log (not `removed`).
    pub still_queued: u64,
    /// Received by smtpd but never queued: the client left before the end of DATA (address
    /// probes, lost connections). `received` counts them, as pflogsumm does.
    pub never_queued: u64,
    /// Dropped from the join table before their end (more open messages than it holds).
    pub unjoined: u64,
}

/// Traffic of one recipient domain (delivery attempts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientDomain {
    /// Domain (lower case).
    pub domain: String,
    /// Recipients delivered.
    pub delivered: u64,
    /// Deferrals.
    pub deferred: u64,
    /// Recipients bounced.
    pub bounced: u64,
}

/// Traffic of one sender domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SenderDomain {
    /// Domain (lower case; `<>` for the null sender of bounces).
    pub domain: String,
    /// Messages queued.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Failed logins (SMTP AUTH through Postfix, IMAP/POP3 through Dovecot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuthFailures {
    /// All failed attempts.
    pub total: u64,
    /// Postfix `SASL ... authentication failed`.
    pub smtp_sasl: u64,
    /// Dovecot `auth failed, N attempts`.
    pub dovecot: u64,
    /// Most frequent client addresses.
    pub by_client: Vec<Counted>,
}

/// Failed TLS handshakes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsFailures {
    /// Handshakes that failed (`SSL_accept error`, `SSL_connect error`, Dovecot's `TLS handshaking` failures).
    pub handshakes: u64,
    /// `TLS library problem` warnings.
    pub library_problems: u64,
    /// Most frequent client addresses.
    pub by_client: Vec<Counted>,
    /// Most frequent TLS library errors.
    pub top_reasons: Vec<Counted>,
}

/// One hour of traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourStats {
    /// Start of the hour (RFC 3339, local time).
    pub hour: String,
    /// Messages received.
    pub received: u64,
    /// Recipients delivered.
    pub delivered: u64,
    /// Deferrals.
    pub deferred: u64,
    /// Recipients bounced.
    pub bounced: u64,
    /// Rejections.
    pub rejected: u64,
}

/// The summary of a Postfix and Dovecot log: what `mssante-diag logs summarize` prints and
/// `postfix.log` judges. Recipient counts are pflogsumm's: `delivered`, `deferred` and
/// `bounced` count delivery attempts per recipient (`status=` lines); `received` counts
/// messages entering the queue (`smtpd client=`, `pickup`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The window the lines were kept in.
    pub window: Window,
    /// Time of the first line counted (RFC 3339).
    pub first: Option<String>,
    /// Time of the last line counted.
    pub last: Option<String>,
    /// Lines read and skipped.
    pub lines: LineCounts,
    /// SMTP connections (`connect from`).
    pub connections: u64,
    /// Messages received (`smtpd ... client=`, `pickup ... uid=`).
    pub received: u64,
    /// Recipients delivered (`status=sent`, not forwarded).
    pub delivered: u64,
    /// Recipients forwarded (`status=sent ... forwarded as`).
    pub forwarded: u64,
    /// Deferrals (`status=deferred`; a message retried five times counts five).
    pub deferred: u64,
    /// Recipients bounced (`status=bounced`).
    pub bounced: u64,
    /// Messages expired and returned to sender.
    pub expired: u64,
    /// Rejections by smtpd (`NOQUEUE: reject`) and cleanup (header, body, milter checks).
    pub rejected: u64,
    /// Non-delivery notifications sent (`bounce`).
    pub bounce_notifications: u64,
    /// Messages deleted by an operator (`postsuper`).
    pub deleted: u64,
    /// Deferrals per delivery attempt (sent + deferred + bounced), percent.
    pub deferral_rate_pct: f64,
    /// Bounces per delivery attempt, percent.
    pub bounce_rate_pct: f64,
    /// Per message outcomes (joined by queue id).
    pub messages: MessageOutcomes,
    /// Rejections by SMTP reply code and enhanced status code.
    pub reject_codes: Vec<Counted>,
    /// Most frequent rejection reasons (addresses and ids masked).
    pub top_reject_reasons: Vec<Counted>,
    /// Most frequent deferral reasons (addresses and ids masked).
    pub top_deferral_reasons: Vec<Counted>,
    /// Most frequent bounce reasons (addresses and ids masked).
    pub top_bounce_reasons: Vec<Counted>,
    /// Busiest recipient domains.
    pub recipient_domains: Vec<RecipientDomain>,
    /// Busiest sender domains.
    pub sender_domains: Vec<SenderDomain>,
    /// Failed logins.
    pub auth_failures: AuthFailures,
    /// Successful Dovecot logins.
    pub dovecot_logins: u64,
    /// Failed TLS handshakes.
    pub tls_failures: TlsFailures,
    /// Traffic per hour (oldest first).
    pub per_hour: Vec<HourStats>,
    /// Client addresses and e-mail addresses are masked (`--mask-addresses`).
    pub masked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_client("203.0.113.7"), "203.0.113.x");
        assert_eq!(mask_client("2001:db8:1:2::5"), "2001:db8:1::x");
        assert_eq!(
            mask_reason("550 5.1.1 <*@peer.fr>: unknown (host 198.51.100.7 said)"),
            "550 5.1.1 <address>: unknown (host 198.51.100.x said)"
        );
    }

    #[test]
    fn tables_are_capped() {
        let mut t: Table<u64> = Table::default();
        for i in 0..MAX_KEYS + 10 {
            *t.entry(&i.to_string()) += 1;
        }
        assert_eq!(t.map.len(), MAX_KEYS + 1);
        assert_eq!(t.map.get(OTHER).copied(), Some(10));
    }
}
