//! Shared infrastructure: Postfix and Dovecot mail logs summarised at grep speed
//! (`mssante-diag logs summarize`, the `postfix.log` check, the bindings).
//!
//! - [`parse`]: one syslog line (RFC 3164, RFC 3339, RFC 5424 timestamps, Docker prefixes,
//!   Dovecot's own log file) into timestamp, host, program, pid and message;
//! - `scan`: lines dispatched on their program and counted, reasons normalised (e-mail local
//!   parts and ids masked);
//! - `join`: lines of one queue id joined into a message outcome, memory bounded;
//! - [`Summary`]: received, delivered, deferred, bounced, rejected, per domain and per hour,
//!   top reasons, authentication and TLS failures;
//! - [`source`]: plain and gzip files, stdin, a container's log; chunks counted in parallel.
//!
//! Junk never stops it: binary garbage, truncated lines, lines over [`MAX_LINE`] bytes,
//! non-UTF-8 bytes and other programs' lines are skipped and counted.
//!
//! ```
//! use mssante_diag_core::maillog::{summarize_reader, Options};
//! let log = "Nov 30 12:00:01 mail postfix/smtp[7]: 4F2A81C0123: to=<a@peer.fr>, relay=mx.peer.fr[192.0.2.7]:25, delay=1, delays=0/0/0/1, dsn=4.4.1, status=deferred (connect to mx.peer.fr[192.0.2.7]:25: Connection timed out)\n";
//! let s = summarize_reader(log.as_bytes(), &Options::default()).unwrap();
//! assert_eq!(s.deferred, 1);
//! assert_eq!(s.top_deferral_reasons[0].value, "connect to mx.peer.fr[192.0.2.7]:25: Connection timed out");
//! ```

#[cfg(test)]
mod fuzz_corpus;
mod join;
pub mod parse;
mod scan;
pub mod source;
mod summary;

pub use join::MAX_OPEN;
pub use source::{open, summarize_docker, summarize_paths, summarize_reader, Options, Summarizer};
pub use summary::{
    mask_client, mask_reason, AuthFailures, Counted, HourStats, LineCounts, MessageOutcomes,
    RecipientDomain, SenderDomain, Skipped, Summary, TlsFailures, Window, MAX_KEYS, TOP,
};

use crate::{tr, Lang};

/// Longest line counted, bytes; longer ones are skipped as `too_long`.
pub const MAX_LINE: usize = 64 * 1024;

/// A time given as RFC 3339 (`2024-11-30T12:00:00+01:00`), a date (`2024-11-30`, local
/// midnight) or an age before `now` (`90s`, `30m`, `1h`, `2d`, `1w`): Unix seconds.
///
/// # Errors
/// What is wrong with the text.
pub fn parse_time(text: &str, now: i64) -> Result<i64, String> {
    let t = text.trim();
    if let Some((n, unit)) = t.find(|c: char| !c.is_ascii_digit()).map(|i| t.split_at(i)) {
        if !n.is_empty() {
            let secs = match unit {
                "s" => Some(1),
                "m" | "min" => Some(60),
                "h" => Some(3600),
                "d" | "j" => Some(86_400),
                "w" => Some(7 * 86_400),
                _ => None,
            };
            if let (Some(mul), Ok(n)) = (secs, n.parse::<i64>()) {
                return Ok(now - n.saturating_mul(mul));
            }
        }
    }
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(d.timestamp());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        use chrono::TimeZone;
        if let Some(t) = d
            .and_hms_opt(0, 0, 0)
            .and_then(|n| chrono::Local.from_local_datetime(&n).earliest())
        {
            return Ok(t.timestamp());
        }
    }
    Err(format!("`{t}`: expected RFC 3339 (2024-11-30T12:00:00+01:00), a date (2024-11-30) or an age (30m, 1h, 2d)"))
}

impl Options {
    /// Options from the texts of `--since` / `--until` ([`parse_time`], relative to now).
    ///
    /// # Errors
    /// [`crate::Error::Config`] naming the option.
    pub fn from_text(
        since: Option<&str>,
        until: Option<&str>,
        mask_addresses: bool,
    ) -> crate::Result<Self> {
        let now = chrono::Utc::now().timestamp();
        let parse = |flag: &str, v: Option<&str>| {
            v.map(|t| {
                parse_time(t, now).map_err(|reason| crate::Error::Config {
                    file: flag.into(),
                    key: flag.trim_start_matches('-').into(),
                    reason,
                })
            })
            .transpose()
        };
        Ok(Self {
            since: parse("--since", since)?,
            until: parse("--until", until)?,
            mask_addresses,
            ..Self::default()
        })
    }
}

/// What to summarise.
#[derive(Debug, Clone)]
pub enum Input {
    /// Files in this order (`-` or none: standard input).
    Files(Vec<std::path::PathBuf>),
    /// The Docker log of a compose service of the configured project.
    Docker {
        /// The configuration (Docker host, compose project).
        config: Box<crate::Config>,
        /// Compose service.
        service: String,
    },
}

/// Summarises files, stdin or a service's Docker log (blocking; `mssante-diag logs summarize`).
///
/// # Errors
/// [`crate::Error::Io`]: a file or the Docker log could not be read.
pub fn summarize(input: &Input, opts: &Options) -> crate::Result<Summary> {
    match input {
        Input::Files(paths) => summarize_paths(paths, opts),
        Input::Docker { config, service } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| crate::Error::Io {
                    path: "tokio runtime".into(),
                    source,
                })?;
            runtime.block_on(summarize_docker(config, service, opts))
        }
    }
}

/// Exercises the whole pipeline on arbitrary bytes (the fuzz target): never panics.
pub fn exercise(data: &[u8]) {
    for threads in [1, 2] {
        let opts = Options {
            now: Some(1_732_971_600),
            threads: Some(threads),
            mask_addresses: threads == 2,
            ..Options::default()
        };
        let mut s = Summarizer::new(&opts);
        let half = data.len() / 2;
        s.feed(&data[..half]);
        s.feed(&data[half..]);
        let _ = s.finish();
        let _ = summarize_reader(data, &opts);
    }
}

fn counted(list: &[Counted], indent: &str) -> String {
    list.iter()
        .map(|c| format!("{indent}{:>8}  {}\n", c.count, c.value))
        .collect()
}

/// The summary as an operator reads it (`logs summarize --format human`).
#[must_use]
pub fn render_human(s: &Summary, lang: Lang) -> String {
    let mut o = String::new();
    let span = match (&s.first, &s.last) {
        (Some(a), Some(b)) => tr!(lang, "from {a} to {b}", "du {a} au {b}"),
        _ => tr!(
            lang,
            "no Postfix or Dovecot line",
            "aucune ligne Postfix ou Dovecot"
        ),
    };
    o.push_str(&tr!(
        lang,
        "Mail log summary: {span}\n",
        "Résumé du journal de messagerie : {span}\n"
    ));
    if s.window.since.is_some() || s.window.until.is_some() {
        let (a, b) = (
            s.window.since.as_deref().unwrap_or("-"),
            s.window.until.as_deref().unwrap_or("-"),
        );
        o.push_str(&tr!(lang, "Window: {a} .. {b}\n", "Fenêtre : {a} .. {b}\n"));
    }
    let l = &s.lines;
    let sk = &l.skipped;
    o.push_str(&tr!(
        lang,
        "Lines: {} read, {} Postfix, {} Dovecot, {} outside the window, {} skipped (malformed {}, non-UTF-8 {}, too long {}, other programs {})\n\n",
        "Lignes : {} lues, {} Postfix, {} Dovecot, {} hors fenêtre, {} ignorées (mal formées {}, non UTF-8 {}, trop longues {}, autres programmes {})\n\n",
        l.total, l.postfix, l.dovecot, l.outside_window, sk.total(), sk.malformed, sk.non_utf8, sk.too_long, sk.unknown_program
    ));
    let rows: [(&str, &str, u64); 9] = [
        ("received", "reçus", s.received),
        ("delivered", "distribués", s.delivered),
        ("forwarded", "transférés", s.forwarded),
        ("deferred", "différés", s.deferred),
        ("bounced", "rejetés après acceptation (bounce)", s.bounced),
        ("expired", "expirés", s.expired),
        ("rejected", "refusés", s.rejected),
        (
            "bounce notifications",
            "avis de non-remise",
            s.bounce_notifications,
        ),
        (
            "deleted by an operator",
            "supprimés par un opérateur",
            s.deleted,
        ),
    ];
    o.push_str(&tr!(lang, "Messages\n", "Messages\n"));
    for (en, fr, v) in rows {
        o.push_str(&format!("  {v:>8}  {}\n", lang.pick(en, fr)));
    }
    o.push_str(&tr!(
        lang,
        "  deferral rate {} %, bounce rate {} % of delivery attempts\n",
        "  taux de report {} %, taux de rejet {} % des tentatives de distribution\n",
        s.deferral_rate_pct,
        s.bounce_rate_pct
    ));
    let m = &s.messages;
    o.push_str(&tr!(
        lang,
        "  per message: {} delivered ({} after a deferral), {} bounced, {} deferred at least once, {} still queued, {} removed undelivered, {} never queued (client left before the end of DATA)\n",
        "  par message : {} distribués ({} après un report), {} rejetés, {} différés au moins une fois, {} encore en file, {} retirés sans distribution, {} jamais mis en file (client parti avant la fin de DATA)\n",
        m.delivered,
        m.delivered_after_deferral,
        m.bounced,
        m.deferred,
        m.still_queued,
        m.removed_undelivered,
        m.never_queued
    ));
    let sections: [(&str, &str, &[Counted]); 4] = [
        (
            "Top deferral reasons",
            "Principales causes de report",
            &s.top_deferral_reasons,
        ),
        (
            "Top bounce reasons",
            "Principales causes de rejet",
            &s.top_bounce_reasons,
        ),
        (
            "Top rejection reasons",
            "Principales causes de refus",
            &s.top_reject_reasons,
        ),
        ("Rejections by code", "Refus par code", &s.reject_codes),
    ];
    for (en, fr, list) in sections {
        if !list.is_empty() {
            o.push_str(&format!("\n{}\n{}", lang.pick(en, fr), counted(list, "")));
        }
    }
    if !s.recipient_domains.is_empty() {
        o.push_str(&tr!(
            lang,
            "\nRecipient domains (delivered / deferred / bounced)\n",
            "\nDomaines destinataires (distribués / différés / rejetés)\n"
        ));
        for d in &s.recipient_domains {
            o.push_str(&format!(
                "  {:>8} {:>8} {:>8}  {}\n",
                d.delivered, d.deferred, d.bounced, d.domain
            ));
        }
    }
    if !s.sender_domains.is_empty() {
        o.push_str(&tr!(
            lang,
            "\nSender domains (messages, size)\n",
            "\nDomaines expéditeurs (messages, taille)\n"
        ));
        for d in &s.sender_domains {
            o.push_str(&format!(
                "  {:>8} {:>10}  {}\n",
                d.messages,
                crate::units::bytes(d.bytes, lang),
                d.domain
            ));
        }
    }
    let a = &s.auth_failures;
    o.push_str(&tr!(
        lang,
        "\nAuthentication failures: {} (SMTP SASL {}, Dovecot {}); Dovecot logins: {}\n",
        "\nÉchecs d'authentification : {} (SMTP SASL {}, Dovecot {}) ; connexions Dovecot : {}\n",
        a.total,
        a.smtp_sasl,
        a.dovecot,
        s.dovecot_logins
    ));
    o.push_str(&counted(&a.by_client, "  "));
    let t = &s.tls_failures;
    o.push_str(&tr!(
        lang,
        "TLS failures: {} handshakes, {} library problems\n",
        "Échecs TLS : {} négociations, {} problèmes de bibliothèque\n",
        t.handshakes,
        t.library_problems
    ));
    o.push_str(&counted(&t.by_client, "  "));
    o.push_str(&counted(&t.top_reasons, "  "));
    if !s.per_hour.is_empty() {
        o.push_str(&tr!(
            lang,
            "\nPer hour (received / delivered / deferred / bounced / rejected)\n",
            "\nPar heure (reçus / distribués / différés / rejetés / refusés)\n"
        ));
        let shown = &s.per_hour[s.per_hour.len().saturating_sub(48)..];
        for h in shown {
            o.push_str(&format!(
                "  {}  {:>7} {:>7} {:>7} {:>7} {:>7}\n",
                h.hour, h.received, h.delivered, h.deferred, h.bounced, h.rejected
            ));
        }
    }
    if s.masked {
        o.push_str(&tr!(
            lang,
            "\n(addresses masked)\n",
            "\n(adresses masquées)\n"
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-11-30 13:00:00 UTC.
    const NOW: i64 = 1_732_971_600;

    const LOG: &str = "\
Nov 30 12:00:00 mail postfix/smtpd[10]: connect from peer.fr[192.0.2.7]
Nov 30 12:00:01 mail postfix/smtpd[10]: 4F2A81C0123: client=peer.fr[192.0.2.7]
Nov 30 12:00:01 mail postfix/cleanup[11]: 4F2A81C0123: message-id=<1@peer.fr>
Nov 30 12:00:01 mail postfix/qmgr[12]: 4F2A81C0123: from=<Alice@Peer.FR>, size=2000, nrcpt=2 (queue active)
Nov 30 12:00:02 mail postfix/lmtp[13]: 4F2A81C0123: to=<bob@mssante.test>, relay=dovecot[172.18.0.5]:24, delay=0.2, delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <bob@mssante.test> Ok: saved)
Nov 30 12:00:02 mail postfix/smtp[14]: 4F2A81C0123: to=<carol@clinique.fr>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.clinique.fr[198.51.100.9]:25: Connection timed out)
Nov 30 12:10:02 mail postfix/qmgr[12]: 4F2A81C0123: from=<Alice@Peer.FR>, size=2000, nrcpt=2 (queue active)
Nov 30 12:10:03 mail postfix/smtp[14]: 4F2A81C0123: to=<carol@clinique.fr>, relay=mx.clinique.fr[198.51.100.9]:25, delay=600, delays=0/0/1/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9ABCDEF0123)
Nov 30 12:10:03 mail postfix/qmgr[12]: 4F2A81C0123: removed
Nov 30 12:20:00 mail postfix/smtpd[10]: NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <x@elsewhere.org>: Relay access denied; from=<spam@bad.example> to=<x@elsewhere.org> proto=ESMTP helo=<bad>
Nov 30 12:20:01 mail postfix/submission/smtpd[15]: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6
Nov 30 12:20:02 mail dovecot: imap-login: Disconnected (auth failed, 3 attempts in 9 secs): user=<bob@mssante.test>, method=PLAIN, rip=203.0.113.9, lip=172.18.0.5, TLS, session=<abc>
Nov 30 12:20:03 mail postfix/smtpd[10]: SSL_accept error from unknown[203.0.113.10]: -1
Nov 30 12:20:03 mail postfix/smtpd[10]: warning: TLS library problem: error:0A000076:SSL routines::no suitable signature algorithm:../ssl/statem/statem_srvr.c:2234:
Nov 30 12:20:04 mail cron[99]: (root) CMD (run-parts /etc/cron.hourly)
\u{0}\u{1}binary
Nov 30 12:2
";

    #[test]
    fn a_small_log() {
        let opts = Options {
            now: Some(NOW),
            threads: Some(1),
            ..Options::default()
        };
        let s = summarize_reader(LOG.as_bytes(), &opts).unwrap();
        assert_eq!(
            (
                s.received,
                s.delivered,
                s.deferred,
                s.bounced,
                s.rejected,
                s.connections
            ),
            (1, 2, 1, 0, 1, 1)
        );
        assert_eq!(
            (
                s.messages.delivered,
                s.messages.delivered_after_deferral,
                s.messages.deferred,
                s.messages.still_queued
            ),
            (1, 1, 1, 0)
        );
        assert_eq!(
            s.sender_domains[0],
            SenderDomain {
                domain: "peer.fr".into(),
                messages: 1,
                bytes: 2000
            }
        );
        assert_eq!(
            s.top_reject_reasons[0].value,
            "554 5.7.1 Relay access denied"
        );
        assert_eq!(s.reject_codes[0].value, "554 5.7.1");
        assert_eq!(
            (
                s.auth_failures.total,
                s.auth_failures.smtp_sasl,
                s.auth_failures.dovecot
            ),
            (4, 1, 3)
        );
        assert_eq!(
            s.auth_failures.by_client[0],
            Counted {
                value: "203.0.113.9".into(),
                count: 4
            }
        );
        assert_eq!(
            (s.tls_failures.handshakes, s.tls_failures.library_problems),
            (1, 1)
        );
        assert_eq!(
            s.tls_failures.top_reasons[0].value,
            "no suitable signature algorithm"
        );
        assert_eq!(
            (
                s.lines.total,
                s.lines.skipped.unknown_program,
                s.lines.skipped.malformed
            ),
            (17, 1, 2)
        );
        assert!(
            (s.deferral_rate_pct - 33.3).abs() < 0.01,
            "{}",
            s.deferral_rate_pct
        );
        let fr = render_human(&s, Lang::Fr);
        assert!(
            fr.contains("Principales causes de report") && fr.contains("Connection timed out"),
            "{fr}"
        );
        let masked = summarize_reader(
            LOG.as_bytes(),
            &Options {
                mask_addresses: true,
                ..opts
            },
        )
        .unwrap();
        assert_eq!(masked.auth_failures.by_client[0].value, "203.0.113.x");
        assert_eq!(
            masked.top_deferral_reasons[0].value,
            "connect to mx.clinique.fr[198.51.100.x]:25: Connection timed out"
        );
    }

    #[test]
    fn window_and_threads_agree() {
        let since = parse_time("2024-11-30T12:05:00Z", NOW).unwrap();
        let one = summarize_reader(
            LOG.as_bytes(),
            &Options {
                now: Some(NOW),
                since: Some(since),
                threads: Some(1),
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(
            (
                one.received,
                one.delivered,
                one.deferred,
                one.lines.outside_window
            ),
            (0, 1, 0, 6)
        );
        // The message started before the window: its end is still joined.
        assert_eq!(one.messages.delivered, 1);
        // Tiny chunks on several threads: the same summary as one pass.
        let mut s = Summarizer::new(&Options {
            now: Some(NOW),
            threads: Some(1),
            ..Options::default()
        });
        for b in LOG.as_bytes().chunks(7) {
            s.feed(b);
        }
        assert_eq!(
            s.finish(),
            summarize_reader(
                LOG.as_bytes(),
                &Options {
                    now: Some(NOW),
                    threads: Some(3),
                    ..Options::default()
                }
            )
            .unwrap()
        );
    }

    #[test]
    fn a_file_read_by_position_counts_as_one_pass() {
        // Over three chunks: the log repeated, lines too long (one over a whole chunk, one over
        // MAX_LINE across a chunk border) and a long-but-kept line across another border, the
        // last line without its `\n`.
        let mut log = Vec::new();
        let mut border = 1;
        while log.len() < 3 * source::CHUNK + source::CHUNK / 2 {
            log.extend_from_slice(LOG.as_bytes());
            if log.len() > border * source::CHUNK - 40_000 && border <= 3 {
                let (len, byte) = match border {
                    1 => (MAX_LINE + 30_000, b'y'),
                    2 => (MAX_LINE - 100, b'z'),
                    _ => (source::CHUNK + 10, b'w'),
                };
                log.extend(std::iter::repeat_n(byte, len));
                log.push(b'\n');
                border += 1;
            }
        }
        log.extend_from_slice(b"Nov 30 12:00:01 mail postfix/qmgr[12]: 4F2A81C0123: removed");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &log).unwrap();
        let one = summarize_reader(
            &log[..],
            &Options {
                now: Some(NOW),
                threads: Some(1),
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(one.lines.skipped.too_long, 2, "{:?}", one.lines);
        for threads in [2, 3, 5] {
            let opts = Options {
                now: Some(NOW),
                threads: Some(threads),
                ..Options::default()
            };
            assert_eq!(
                summarize_paths(&[file.path()], &opts).unwrap(),
                one,
                "threads {threads}"
            );
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1h", NOW), Ok(NOW - 3600));
        assert_eq!(parse_time("30m", NOW), Ok(NOW - 1800));
        assert_eq!(parse_time("2d", NOW), Ok(NOW - 2 * 86_400));
        assert_eq!(parse_time("2024-11-30T13:00:00Z", 0), Ok(NOW));
        assert!(parse_time("yesterday", NOW).is_err());
    }

    #[test]
    fn junk_never_panics() {
        let mut junk = vec![b'x'; 3 * source::CHUNK / 2];
        junk.extend_from_slice(
            b"\nNov 30 12:00:01 mail postfix/qmgr[12]: 4F2A81C0123: removed\n\xff\xfe\x00\n",
        );
        for t in [1, 2] {
            let s = summarize_reader(
                &junk[..],
                &Options {
                    now: Some(NOW),
                    threads: Some(t),
                    ..Options::default()
                },
            )
            .unwrap();
            assert_eq!(
                (
                    s.lines.skipped.too_long,
                    s.lines.skipped.non_utf8,
                    s.lines.postfix
                ),
                (1, 1, 1),
                "threads {t}"
            );
        }
        exercise(&junk[..1000]);
        exercise(b"Nov 30 12:00:01 mail postfix/bounce[1]: ABCDEF: sender non-delivery notification: \n<1>1 2024-11-30T12:00:00Z h a p m [x");
    }
}
