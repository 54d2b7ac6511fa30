//! `postfix.queue`: the mail queue through `postqueue -j` (Postfix >= 3.1), or `postqueue -p`
//! parsed for older ones: counts per queue, oldest message, top deferral reasons and
//! destination domains.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checks::{grade, Ctx, Outcome};
pub use crate::mailqueue::{parse_json, parse_text, QueueError, QueuedMessage};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// Reasons and domains listed.
const TOP: usize = 5;
/// Longest reason kept, characters.
const MAX_REASON: usize = 200;
/// The queues reported even when empty.
pub const QUEUES: [&str; 4] = ["active", "deferred", "hold", "incoming"];

/// A value and how often it occurs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counted {
    /// The reason or domain.
    pub value: String,
    /// Recipients concerned.
    pub count: u64,
}

/// What the queue holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueFacts {
    /// Messages per queue (`active`, `deferred`, `hold`, `incoming`, and any other seen).
    pub counts: BTreeMap<String, u64>,
    /// Messages in all queues.
    pub total: u64,
    /// Bytes in all queues.
    pub size_bytes: u64,
    /// Age of the oldest message, seconds.
    pub oldest_age_secs: Option<i64>,
    /// Its queue id.
    pub oldest_id: Option<String>,
    /// Most frequent reasons recipients wait, most frequent first.
    pub top_reasons: Vec<Counted>,
    /// Most frequent recipient domains of waiting mail (deferred and hold), most frequent first.
    pub top_domains: Vec<Counted>,
    /// `json` (`postqueue -j`) or `text` (`postqueue -p`).
    pub format: &'static str,
    /// Lines that could not be read (a newer or garbled format).
    pub unparsed_lines: usize,
    /// postqueue printed more than was read: the counts are lower bounds.
    pub truncated: bool,
    /// Where postqueue ran.
    pub ran_in: String,
    /// postqueue warned that the mail system is down and read the queue files directly (as
    /// root it can): Postfix is not running, nothing in the queue moves.
    pub mail_system_down: bool,
}

fn top(counts: BTreeMap<String, u64>) -> Vec<Counted> {
    let mut v: Vec<Counted> = counts.into_iter().map(|(value, count)| Counted { value, count }).collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    v.truncate(TOP);
    v
}

/// What [`summarize`] finds in a list of queued messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Messages per queue (the four of [`QUEUES`] always present).
    pub counts: BTreeMap<String, u64>,
    /// Bytes in all.
    pub size_bytes: u64,
    /// Age (seconds) and id of the oldest message.
    pub oldest: Option<(i64, String)>,
    /// Most frequent delay reasons.
    pub top_reasons: Vec<Counted>,
    /// Most frequent recipient domains of deferred and held mail.
    pub top_domains: Vec<Counted>,
}

/// Counts, oldest message, top reasons and domains of `messages` at time `now` (Unix seconds).
#[must_use]
pub fn summarize(messages: &[QueuedMessage], now: i64) -> Summary {
    let mut counts: BTreeMap<String, u64> = QUEUES.iter().map(|q| ((*q).to_owned(), 0)).collect();
    let mut reasons = BTreeMap::new();
    let mut domains = BTreeMap::new();
    let mut size = 0u64;
    let mut oldest: Option<(i64, String)> = None;
    for m in messages {
        *counts.entry(m.queue.clone()).or_default() += 1;
        size = size.saturating_add(m.size);
        let age = (now - m.arrival_time).max(0);
        if oldest.as_ref().is_none_or(|(a, _)| age > *a) {
            oldest = Some((age, m.id.clone()));
        }
        for (address, reason) in &m.recipients {
            if let Some(r) = reason {
                *reasons.entry(r.chars().take(MAX_REASON).collect::<String>()).or_default() += 1;
            }
            if matches!(m.queue.as_str(), "deferred" | "hold") {
                if let Some((_, d)) = address.rsplit_once('@') {
                    *domains.entry(d.to_ascii_lowercase()).or_default() += 1;
                }
            }
        }
    }
    Summary { counts, size_bytes: size, oldest, top_reasons: top(reasons), top_domains: top(domains) }
}

/// Reads the queue where `[postfix]` says ([`crate::mailqueue::list`]).
///
/// # Errors
/// [`QueueError`]: postqueue did not run, or failed.
pub async fn read_queue(ctx: &Ctx) -> Result<QueueFacts, QueueError> {
    let c = &ctx.config.postfix;
    let listing = crate::mailqueue::list(ctx, &c.place, c.config_dir.as_deref()).await?;
    let Summary { counts, size_bytes, oldest, top_reasons, top_domains } = summarize(&listing.messages, chrono::Local::now().timestamp());
    Ok(QueueFacts {
        total: counts.values().sum(),
        counts,
        size_bytes,
        oldest_age_secs: oldest.as_ref().map(|o| o.0),
        oldest_id: oldest.map(|o| o.1),
        top_reasons,
        top_domains,
        format: listing.format,
        unparsed_lines: listing.unparsed_lines,
        truncated: listing.truncated,
        ran_in: listing.ran_in,
        mail_system_down: listing.mail_system_down,
    })
}

/// "2 h 05 min", "3 min", "40 s".
fn age_text(secs: i64) -> String {
    match secs {
        s if s >= 86_400 => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
        s if s >= 3600 => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Judges the queue: its size against `queue_warn` / `queue_crit`, the oldest message's age
/// against `age_warn_minutes` / `age_crit_minutes`, and `critical` when Postfix is down; the
/// summary names the counts, the oldest age, the top deferral reason and destination domains.
#[must_use]
pub fn evaluate_queue(q: &QueueFacts, c: &super::Settings, lang: Lang) -> Outcome {
    #[allow(clippy::cast_precision_loss)]
    let (total, age_min) = (q.total as f64, q.oldest_age_secs.map_or(0.0, |s| s as f64 / 60.0));
    let by_size = grade(total, c.queue_warn as f64, c.queue_crit as f64);
    let by_age = grade(age_min, c.age_warn_minutes, c.age_crit_minutes);
    let status = if q.mail_system_down { Status::Critical } else { by_size.worst(by_age) };
    let n = q.total;
    let per = QUEUES.iter().map(|k| format!("{k} {}", q.counts.get(*k).copied().unwrap_or(0))).collect::<Vec<_>>().join(", ");
    let mut summary = if n == 0 {
        tr!(lang, "mail queue empty", "file d'attente vide")
    } else {
        let age = age_text(q.oldest_age_secs.unwrap_or(0));
        tr!(lang, "{n} message(s) queued ({per}), oldest {age}", "{n} message(s) en file ({per}), le plus ancien depuis {age}")
    };
    if q.mail_system_down {
        summary = tr!(lang, "Postfix is down (queue read directly, nothing is delivered): {summary}", "Postfix est arrêté (file lue directement, rien n'est distribué) : {summary}");
    }
    if let Some(r) = q.top_reasons.first() {
        let (v, k) = (&r.value, r.count);
        summary.push_str(&tr!(lang, "; top deferral reason: {v} ({k})", "; principale cause de report : {v} ({k})"));
    }
    if !q.top_domains.is_empty() {
        let d = q.top_domains.iter().map(|d| format!("{} ({})", d.value, d.count)).collect::<Vec<_>>().join(", ");
        summary.push_str(&tr!(lang, "; waiting for: {d}", "; en attente pour : {d}"));
    }
    if q.truncated {
        summary.push_str(&tr!(lang, " (output truncated: counts are lower bounds)", " (sortie tronquée : les nombres sont des minima)"));
    }
    let mut o = Outcome::new(status, summary)
        .metric(Metric::new("queued", total, "").thresholds(c.queue_warn as f64, c.queue_crit as f64))
        .metric(Metric::new("oldest_age", age_min * 60.0, "s").thresholds(c.age_warn_minutes * 60.0, c.age_crit_minutes * 60.0));
    #[allow(clippy::cast_precision_loss)]
    for (k, v) in &q.counts {
        o = o.metric(Metric::new("messages", *v as f64, "").label("queue", k.clone()));
    }
    #[allow(clippy::cast_precision_loss)]
    let size = q.size_bytes as f64;
    o.metric(Metric::new("size", size, "B")).details(q)
}

/// The outcome when the queue could not be read: Postfix down (`critical`), postqueue out of
/// reach or failing otherwise (`unknown`, naming the keys to set).
#[must_use]
pub fn explain_error(e: &QueueError, lang: Lang) -> Outcome {
    match e {
        QueueError::Failed { stderr, .. } if stderr.contains("mail system is down") => {
            Outcome::critical(tr!(lang, "Postfix is down: {stderr}", "Postfix est arrêté : {stderr}")).details(serde_json::json!({ "stderr": stderr }))
        }
        QueueError::Failed { exit_code, stderr } => {
            let code = exit_code.map_or_else(|| "?".to_owned(), |c| c.to_string());
            Outcome::new(Status::Unknown, tr!(lang, "postqueue failed (exit {code}): {stderr}", "échec de postqueue (code {code}) : {stderr}"))
                .details(serde_json::json!({ "exit_code": exit_code, "stderr": stderr }))
        }
        QueueError::Exec(e) => Outcome::unknown(tr!(
            lang,
            "cannot read the mail queue: {}; set postfix.place (\"host\" or \"service:NAME\") and postfix.config_dir",
            "impossible de lire la file d'attente : {} ; renseigner postfix.place (\"host\" ou \"service:NOM\") et postfix.config_dir",
            e.describe(lang)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_parse_and_garbage_is_counted() {
        let text = r#"{"queue_name": "deferred", "queue_id": "6362A98C026", "arrival_time": 1000, "message_size": 272, "forced_expire": false, "sender": "a@b", "recipients": [{"address": "x@Unreachable.test", "delay_reason": "connect to 127.0.0.1[127.0.0.1]:9: Connection refused"}]}
{"queue_name": "active", "queue_id": "AB", "arrival_time": 1500, "message_size": 10, "sender": "", "recipients": [{"address": "y@mssante.test"}]}
not json
{"truncated": "#;
        let (m, bad) = parse_json(text);
        assert_eq!((m.len(), bad), (2, 2));
        let s = summarize(&m, 4600);
        assert_eq!((s.counts["deferred"], s.counts["active"], s.counts["hold"], s.size_bytes), (1, 1, 0, 282));
        assert_eq!(s.oldest, Some((3600, "6362A98C026".to_owned())));
        assert_eq!(s.top_reasons[0].value, "connect to 127.0.0.1[127.0.0.1]:9: Connection refused");
        assert_eq!(s.top_domains, vec![Counted { value: "unreachable.test".into(), count: 1 }]);
    }

    #[test]
    fn text_queue_parses_markers_reasons_and_years() {
        use chrono::TimeZone;
        let now = chrono::Local.with_ymd_and_hms(2026, 1, 2, 12, 0, 0).single().expect("date");
        let text = "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n\
                    6362A98C026     272 Wed Dec 31 11:06:24  probe@mssante.test\n\
                    \x20                      (connect to 127.0.0.1[127.0.0.1]:9: Connection refused)\n\
                    \x20                                        someone@unreachable.test\n\
                    \n\
                    7A1B2C3D4E*     300 Fri Jan  2 11:59:00  MAILER-DAEMON\n\
                    \x20                                        test@mssante.test\n\
                    \n\
                    8B!     1 Fri Jan  2 11:00:00  x@y\n\
                    ??? garbage\n\
                    -- 1 Kbytes in 3 Requests.\n";
        let (m, bad) = parse_text(text, now);
        assert_eq!(bad, 1);
        assert_eq!(m.iter().map(|m| m.queue.as_str()).collect::<Vec<_>>(), ["deferred", "active", "hold"]);
        assert_eq!(m[0].recipients, vec![("someone@unreachable.test".to_owned(), Some("connect to 127.0.0.1[127.0.0.1]:9: Connection refused".to_owned()))]);
        // December 31 is last year's, two days before "now".
        assert_eq!(now.timestamp() - m[0].arrival_time, 2 * 86_400 + 53 * 60 + 36);
        assert!(parse_text("Mail queue is empty\n", now).0.is_empty());
    }
}
