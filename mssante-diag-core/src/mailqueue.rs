//! The Postfix mail queue as a list of messages: `postqueue -j` (Postfix >= 3.1), or
//! `postqueue -p` parsed for older ones, run where a section says (host or compose service,
//! through [`crate::exec`]). `postfix.queue` summarises it; `mssante.whitelist` reads the
//! domains of deferred mail from it.

use serde::{Deserialize, Serialize};

use crate::checks::Ctx;
use crate::exec::{self, ExecError, Place};

/// One queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedMessage {
    /// Queue (`active`, `deferred`, `hold`, `incoming`, `maildrop`).
    pub queue: String,
    /// Queue id.
    pub id: String,
    /// Arrival, Unix seconds.
    pub arrival_time: i64,
    /// Size, bytes.
    pub size: u64,
    /// Recipients and why each waits (when Postfix says).
    pub recipients: Vec<(String, Option<String>)>,
}

#[derive(Deserialize)]
struct JsonMessage {
    queue_name: String,
    queue_id: String,
    #[serde(default)]
    arrival_time: i64,
    #[serde(default)]
    message_size: u64,
    #[serde(default)]
    recipients: Vec<JsonRecipient>,
}

#[derive(Deserialize)]
struct JsonRecipient {
    address: String,
    #[serde(default)]
    delay_reason: Option<String>,
}

/// Parses `postqueue -j`: one JSON object per line. Returns the messages and the number of
/// lines that were not such an object.
#[must_use]
pub fn parse_json(text: &str) -> (Vec<QueuedMessage>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<JsonMessage>(line) {
            Ok(m) => out.push(QueuedMessage {
                queue: m.queue_name,
                id: m.queue_id,
                arrival_time: m.arrival_time,
                size: m.message_size,
                recipients: m
                    .recipients
                    .into_iter()
                    .map(|r| (r.address, r.delay_reason))
                    .collect(),
            }),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

/// Parses `postqueue -p` (every Postfix): `ID[*!] SIZE Www Mmm dd hh:mm:ss SENDER`, then
/// `(reason)` and recipient lines. `*` is the active queue, `!` hold, none deferred (or
/// incoming: the text form does not tell them apart). Arrival times carry no year: the most
/// recent such date not after `now` (local time) is taken.
#[must_use]
pub fn parse_text(text: &str, now: chrono::DateTime<chrono::Local>) -> (Vec<QueuedMessage>, usize) {
    let mut out: Vec<QueuedMessage> = Vec::new();
    let mut bad = 0;
    let mut reason: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty()
            || t.starts_with("-Queue ID-")
            || t.starts_with("-- ")
            || t == "Mail queue is empty"
        {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            reason = None;
            match parse_header(t, now) {
                Some(m) => out.push(m),
                None => bad += 1,
            }
        } else if let Some(r) = t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
            reason = Some(r.to_owned());
        } else if let Some(m) = out.last_mut() {
            m.recipients.push((t.to_owned(), reason.clone()));
        } else {
            bad += 1;
        }
    }
    (out, bad)
}

/// Parses `data` as `postqueue -j` and as `postqueue -p` output (the `mailqueue` fuzz target):
/// whatever the bytes, it returns.
#[doc(hidden)]
pub fn exercise(data: &[u8]) {
    use chrono::TimeZone;
    let text = String::from_utf8_lossy(data);
    let _ = parse_json(&text);
    if let chrono::LocalResult::Single(now) = chrono::Local.timestamp_opt(1_732_971_600, 0) {
        let _ = parse_text(&text, now);
    }
}

fn parse_header(line: &str, now: chrono::DateTime<chrono::Local>) -> Option<QueuedMessage> {
    use chrono::TimeZone;
    let w: Vec<&str> = line.split_whitespace().collect();
    let (raw_id, size) = (*w.first()?, w.get(1)?.parse::<u64>().ok()?);
    let (queue, id) = match raw_id.chars().last()? {
        '*' => ("active", &raw_id[..raw_id.len() - 1]),
        '!' => ("hold", &raw_id[..raw_id.len() - 1]),
        '#' => ("deferred", &raw_id[..raw_id.len() - 1]),
        c if c.is_ascii_alphanumeric() => ("deferred", raw_id),
        _ => return None,
    };
    let date = w.get(3..6)?.join(" ");
    let year = chrono::Datelike::year(&now);
    let arrival = [year, year - 1].into_iter().find_map(|y| {
        let naive =
            chrono::NaiveDateTime::parse_from_str(&format!("{y} {date}"), "%Y %b %d %H:%M:%S")
                .ok()?;
        let t = chrono::Local.from_local_datetime(&naive).earliest()?;
        (t <= now + chrono::Duration::minutes(5)).then_some(t)
    })?;
    Some(QueuedMessage {
        queue: queue.to_owned(),
        id: id.to_owned(),
        arrival_time: arrival.timestamp(),
        size,
        recipients: Vec::new(),
    })
}

/// Why the queue could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueError {
    /// postqueue could not run (not installed, no container, Docker unusable, timed out).
    Exec(ExecError),
    /// It ran and failed: typically "Queue report unavailable - mail system is down".
    Failed {
        /// Exit code.
        exit_code: Option<i64>,
        /// First line of its errors.
        stderr: String,
    },
}

fn first_error(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// The queue as postqueue listed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// The messages read.
    pub messages: Vec<QueuedMessage>,
    /// `json` (`postqueue -j`) or `text` (`postqueue -p`).
    pub format: &'static str,
    /// Lines that could not be read (a newer or garbled format).
    pub unparsed_lines: usize,
    /// postqueue printed more than was read: the list is incomplete.
    pub truncated: bool,
    /// Where postqueue ran.
    pub ran_in: String,
    /// postqueue warned that the mail system is down (it read the queue files directly).
    pub mail_system_down: bool,
}

/// Lists the queue with postqueue run at `place` (`-c config_dir` when given): `postqueue -j`,
/// or `postqueue -p` when this Postfix does not know `-j`.
///
/// # Errors
/// [`QueueError`]: postqueue did not run, or failed.
pub async fn list(
    ctx: &Ctx,
    place: &Place,
    config_dir: Option<&std::path::Path>,
) -> Result<Listing, QueueError> {
    let dir = config_dir.map(|d| d.to_string_lossy().into_owned());
    let argv = |flag: &'static str| {
        let mut a = vec!["postqueue"];
        if let Some(d) = &dir {
            a.extend(["-c", d.as_str()]);
        }
        a.push(flag);
        a
    };
    let mut out = exec::run(ctx, place, &argv("-j"))
        .await
        .map_err(QueueError::Exec)?;
    let mut format = "json";
    let unknown_flag = |s: &str| {
        s.contains("invalid option") || s.contains("illegal option") || s.contains("usage:")
    };
    if !out.success() && unknown_flag(&out.stderr) {
        out = exec::run(ctx, place, &argv("-p"))
            .await
            .map_err(QueueError::Exec)?;
        format = "text";
    }
    if !out.success() {
        return Err(QueueError::Failed {
            exit_code: out.exit_code,
            stderr: first_error(&out.stderr),
        });
    }
    let (messages, unparsed_lines) = if format == "json" {
        parse_json(&out.stdout)
    } else {
        parse_text(&out.stdout, chrono::Local::now())
    };
    Ok(Listing {
        messages,
        format,
        unparsed_lines,
        truncated: out.truncated,
        ran_in: out.ran_in,
        mail_system_down: out
            .stderr
            .to_ascii_lowercase()
            .contains("mail system is down"),
    })
}
