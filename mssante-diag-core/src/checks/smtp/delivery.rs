//! `smtp.delivery`: does the inbound port accept mail for a local mailbox? `MAIL FROM`,
//! `RCPT TO`, `RSET`, `QUIT`: never `DATA`, so no message is ever sent.

use std::time::{Duration, Instant};

use lettre::transport::smtp::commands::{Mail, Rcpt, Rset};
use serde::Serialize;

use super::session::open;
use crate::starttls::{command, goodbye, Failure, SmtpReply, SmtpSession};
use crate::checks::{elapsed_ms, Outcome};
use crate::model::{Metric, Status};
use crate::probe::{Deadline, Phase};
use crate::{tr, Lang};

/// Longest wait for the answer to `RSET` once the recipient is judged.
const RSET_GRACE: Duration = Duration::from_millis(500);

/// What a recipient probe revealed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RcptProbe {
    /// The session up to the envelope (banner, EHLO, STARTTLS).
    pub session: SmtpSession,
    /// Envelope sender (empty: the null sender `<>`).
    pub sender: String,
    /// Recipient probed.
    pub recipient: String,
    /// Answer to `MAIL FROM`.
    pub mail_from: Option<SmtpReply>,
    /// Answer to `RCPT TO` (none when `MAIL FROM` was refused).
    pub rcpt_to: Option<SmtpReply>,
}

/// Opens a session on `port` (upgraded with STARTTLS when offered, as a peer MTA does) and
/// asks whether `recipient` is accepted, within `timeout`. Never sends `DATA`.
///
/// # Errors
/// The failure of the step that failed, with what was gathered so far.
#[allow(clippy::too_many_arguments)]
pub async fn probe_rcpt(
    host: &str,
    port: u16,
    hello: &str,
    tls_name: &str,
    sender: &str,
    recipient: &str,
    timeout: Duration,
    lang: Lang,
) -> Result<RcptProbe, (RcptProbe, Failure)> {
    let d = Deadline::after(timeout);
    let mut p = RcptProbe { sender: sender.to_owned(), recipient: recipient.to_owned(), ..RcptProbe::default() };
    let start = Instant::now();
    let r = envelope(&mut p, host, port, hello, tls_name, &d, lang).await;
    p.session.latency_ms = elapsed_ms(start);
    match r {
        Ok(()) => Ok(p),
        Err(f) => Err((p, f)),
    }
}

async fn envelope(p: &mut RcptProbe, host: &str, port: u16, hello: &str, tls_name: &str, d: &Deadline, lang: Lang) -> Result<(), Failure> {
    let invalid = |what: &str| Failure::Protocol { step: Phase::MailFrom, cause: format!("invalid address `{what}`") };
    let sender = if p.sender.is_empty() { None } else { Some(p.sender.parse::<lettre::Address>().map_err(|_| invalid(&p.sender))?) };
    let recipient = p.recipient.parse::<lettre::Address>().map_err(|_| invalid(&p.recipient))?;
    let mut io = open(&mut p.session, host, port, hello, tls_name, d, lang).await?;
    let mail = Mail::new(sender, Vec::new()).to_string();
    let reply = d.step(Phase::MailFrom, command(&mut io, Some(&mail), Phase::MailFrom, lang)).await??;
    p.mail_from = Some(reply.shown());
    if reply.code == 250 {
        let rcpt = Rcpt::new(recipient, Vec::new()).to_string();
        let reply = d.step(Phase::RcptTo, command(&mut io, Some(&rcpt), Phase::RcptTo, lang)).await??;
        p.rcpt_to = Some(reply.shown());
        let rset = Rset.to_string();
        let _ = tokio::time::timeout(RSET_GRACE.min(d.remaining()), command(&mut io, Some(&rset), Phase::RcptTo, lang)).await;
    }
    goodbye(&mut io, d, lang).await;
    Ok(())
}

/// Whether a refusal says the mailbox does not exist (`550 5.1.1 ... User unknown`).
fn unknown_user(r: &SmtpReply) -> bool {
    let t = r.text.to_ascii_lowercase();
    r.enhanced.as_deref() == Some("5.1.1") || t.contains("user unknown") || t.contains("unknown user") || t.contains("no such user") || t.contains("does not exist")
}

/// Judges a recipient probe: accepted (`250`/`251`) is `ok`; `550 unknown user` and other
/// permanent refusals are `critical` (mail to that mailbox bounces); a `4xx` is a `warning`
/// (senders retry; persistent, it delays mail).
#[must_use]
pub fn evaluate_delivery(p: &RcptProbe, target: &str, lang: Lang) -> Outcome {
    let rcpt = &p.recipient;
    let sender = if p.sender.is_empty() { "<>" } else { p.sender.as_str() };
    let (status, summary) = match (&p.mail_from, &p.rcpt_to) {
        (_, Some(r)) if matches!(r.code, 250 | 251) => (Status::Ok, tr!(lang, "{target} accepts mail for {rcpt} ({r})", "{target} accepte le courrier pour {rcpt} ({r})")),
        (_, Some(r)) if r.code >= 500 && unknown_user(r) => (
            Status::Critical,
            tr!(lang, "{target} does not know the mailbox {rcpt}: mail to it bounces ({r})", "{target} ne connaît pas la boîte {rcpt} : le courrier qui lui est adressé est rejeté ({r})"),
        ),
        (_, Some(r)) if r.code >= 500 => {
            (Status::Critical, tr!(lang, "{target} refuses mail for {rcpt} ({r})", "{target} refuse le courrier pour {rcpt} ({r})"))
        }
        (_, Some(r)) => (
            Status::Warning,
            tr!(lang, "{target} temporarily refuses mail for {rcpt} ({r}): senders will retry", "{target} refuse temporairement le courrier pour {rcpt} ({r}) : les expéditeurs réessaieront"),
        ),
        (Some(r), None) => {
            (Status::Critical, tr!(lang, "{target} refuses the sender {sender} ({r})", "{target} refuse l'expéditeur {sender} ({r})"))
        }
        (None, None) => (Status::Unknown, tr!(lang, "{target}: the envelope was not sent", "{target} : l'enveloppe n'a pas été envoyée")),
    };
    Outcome::new(status, summary).metric(Metric::new("latency", p.session.latency_ms, "ms")).details(p)
}
