//! One IMAP session as a probe: the shared dialogue up to TLS ([`crate::starttls`]: greeting,
//! CAPABILITY, STARTTLS, TLS handshake), then CAPABILITY again over TLS. [`open`] hands the
//! upgraded connection to the login checks.

use std::time::{Duration, Instant};

use crate::checks::elapsed_ms;
use crate::probe::{Bounded, Deadline, READ_BUDGET};
use crate::starttls::{self, logout, Failure, ImapClient, ImapSession, Tls};
use crate::Lang;

/// A client over TLS, after STARTTLS.
pub(super) type TlsClient = ImapClient<Tls>;

/// Connects, reads the greeting, asks CAPABILITY and, when STARTTLS is offered, upgrades and
/// asks CAPABILITY again. Returns the TLS client, or `None` (after LOGOUT) without STARTTLS.
pub(super) async fn open(s: &mut ImapSession, host: &str, port: u16, tls_name: &str, d: &Deadline, lang: Lang) -> Result<Option<TlsClient>, Failure> {
    let Some(tls) = starttls::imap_starttls(s, (host, port), tls_name, d, lang).await? else { return Ok(None) };
    let mut client = async_imap::Client::new(Bounded::new(tls, READ_BUDGET));
    s.capabilities_after_tls = starttls::imap_capabilities(&mut client, d, lang).await?;
    Ok(Some(client))
}

/// Connects, reads the greeting, asks CAPABILITY, and upgrades with STARTTLS when offered,
/// every step named and all of them within `timeout`.
///
/// # Errors
/// The failure of the step that failed (a step without answer in time included), with the
/// session gathered so far.
pub async fn probe_session(host: &str, port: u16, tls_name: &str, lang: Lang, timeout: Duration) -> Result<ImapSession, (ImapSession, Failure)> {
    let start = Instant::now();
    let d = Deadline::after(timeout);
    let mut s = ImapSession::default();
    match open(&mut s, host, port, tls_name, &d, lang).await {
        Ok(Some(mut client)) => logout(&mut client, &d).await,
        Ok(None) => {}
        Err(f) => return Err((s, f)),
    }
    s.latency_ms = elapsed_ms(start);
    Ok(s)
}
