//! One SMTP session as a probe: the shared dialogue up to TLS ([`crate::starttls`]: banner,
//! EHLO, STARTTLS, TLS handshake), then EHLO again over TLS, and QUIT.

use std::time::{Duration, Instant};

use tokio::io::BufReader;

use crate::checks::elapsed_ms;
use crate::probe::{Deadline, Phase};
use crate::starttls::{self, goodbye, Failure, Io, SmtpConn, SmtpSession, Stream};
use crate::Lang;

/// Connects, reads the banner, sends EHLO and, when offered, upgrades with STARTTLS and sends
/// EHLO again; returns the open session (TLS when it was offered) for further commands.
pub(super) async fn open(s: &mut SmtpSession, host: &str, port: u16, hello: &str, tls_name: &str, d: &Deadline, lang: Lang) -> Result<Io, Failure> {
    let tls = match starttls::smtp_starttls(s, (host, port), hello, tls_name, d, lang).await? {
        SmtpConn::Plain(tcp) => {
            let plain: Box<dyn Stream> = Box::new(tcp);
            return Ok(BufReader::new(plain));
        }
        SmtpConn::Tls(tls) => tls,
    };
    let mut io: Io = BufReader::new(tls);
    s.auth_after_tls = starttls::ehlo(&mut io, hello, Phase::EhloAfterTls, d, lang).await?.auth;
    Ok(io)
}

/// Connects, reads the banner, sends EHLO, and upgrades with STARTTLS when offered (then EHLO
/// again), all within `timeout`. Certificate trust is judged by `tls.endpoints`, not here.
///
/// # Errors
/// The failure of the step that failed (a step without answer in time included), with the
/// session gathered so far.
pub async fn probe_session(host: &str, port: u16, hello: &str, tls_name: &str, timeout: Duration, lang: Lang) -> Result<SmtpSession, (SmtpSession, Failure)> {
    let start = Instant::now();
    let deadline = Deadline::after(timeout);
    let mut s = SmtpSession::default();
    let r = match open(&mut s, host, port, hello, tls_name, &deadline, lang).await {
        Ok(mut io) => {
            goodbye(&mut io, &deadline, lang).await;
            Ok(())
        }
        Err(f) => Err(f),
    };
    s.latency_ms = elapsed_ms(start);
    match r {
        Ok(()) => Ok(s),
        Err(f) => Err((s, f)),
    }
}
