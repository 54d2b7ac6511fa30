//! `system.clock`: whether the kernel clock is synchronised, and its estimated error (guide:
//! Auth P2, "timedatectl status": a clock that drifts makes tokens expire early or be issued
//! "in the future").
//!
//! Read with `adjtimex(2)` and no mode bit (a query: nothing is changed), as `timedatectl`,
//! `chronyc` and `ntptime` report it: `STA_UNSYNC` set means no NTP client disciplines the
//! clock; `maxerror` is the kernel's bound on the error, which grows by 0.5 ms every second
//! without an update.

use std::sync::Arc;

use serde::Serialize;

use crate::checks::{grade, step, Ctx, Outcome, Step};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// `STA_UNSYNC`: the clock is not synchronised.
const STA_UNSYNC: i32 = 0x0040;
/// `STA_NANO`: `offset` is in nanoseconds (else microseconds).
const STA_NANO: i32 = 0x2000;
/// `TIME_ERROR`: adjtimex's answer for an unsynchronised clock.
const TIME_ERROR: i32 = 5;

/// Generic remedy of `system.clock`.
pub(super) const CLOCK_STEPS: &[Step] = &[
    step!("See the clock's synchronisation state", "Voir l'état de synchronisation de l'horloge", guide = "Auth P2", cmd = "timedatectl status"),
    step!("Turn NTP synchronisation on", "Activer la synchronisation NTP", guide = "Auth P2", cmd = "timedatectl set-ntp true"),
    step!(
        "With chrony: see its sources and its estimate of the error",
        "Avec chrony : voir ses sources et son estimation de l'erreur",
        guide = "Auth P2",
        cmd = "chronyc tracking && chronyc sources -v"
    ),
    step!(
        "Restart the API once the clock is right (tokens are checked against it; interrupts it)",
        "Redémarrer l'API une fois l'heure juste (les jetons sont vérifiés avec elle ; l'interrompt)",
        guide = "Auth P2",
        cmd = "{docker.compose} restart api",
        destructive = true
    ),
];

/// The kernel's clock discipline state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClockState {
    /// Synchronised: `STA_UNSYNC` clear and adjtimex did not answer `TIME_ERROR`.
    pub synchronised: bool,
    /// `timex.status` bits.
    pub status_bits: i32,
    /// adjtimex's answer (`TIME_OK` 0 ... `TIME_ERROR` 5).
    pub time_state: i32,
    /// The kernel's maximum error, milliseconds.
    pub max_error_ms: f64,
    /// The estimated error the NTP client last set, milliseconds.
    pub est_error_ms: f64,
    /// The offset still being slewed by the kernel loop, milliseconds.
    pub offset_ms: f64,
}

/// Reads the kernel clock state (blocking, cheap).
///
/// # Errors
/// Why the kernel would not answer (a seccomp filter, a platform without adjtimex).
#[allow(clippy::cast_precision_loss)]
pub fn read_clock() -> Result<ClockState, String> {
    let mut tx = rtime_clock::adjtime::Timex::new();
    let time_state = rtime_clock::adjtime::adjtimex(&mut tx).map_err(|e| e.to_string())?;
    let t = &tx.0;
    let nano = t.status & STA_NANO != 0;
    Ok(ClockState {
        synchronised: t.status & STA_UNSYNC == 0 && time_state != TIME_ERROR,
        status_bits: t.status,
        time_state,
        max_error_ms: t.maxerror as f64 / 1000.0,
        est_error_ms: t.esterror as f64 / 1000.0,
        offset_ms: t.offset as f64 / if nano { 1e6 } else { 1e3 },
    })
}

/// Judges the clock: not synchronised is critical (nothing keeps it right: tokens' `exp`,
/// `nbf` and `iat` are judged against it); synchronised, the kernel's maximum error against
/// the thresholds (milliseconds).
#[must_use]
pub fn evaluate_clock(c: &ClockState, warn_ms: f64, crit_ms: f64, lang: Lang) -> Outcome {
    let err = c.max_error_ms;
    let metric = Metric::new("clock_max_error", err, "ms")
        .thresholds(warn_ms, crit_ms)
        .range(0.0, 16_000.0);
    let o = if !c.synchronised {
        Outcome::critical(tr!(
            lang,
            "the kernel clock is not synchronised (no NTP client disciplines it; error bound {err} ms): tokens may be judged expired or issued in the future",
            "l'horloge du noyau n'est pas synchronisée (aucun client NTP ne la discipline ; borne d'erreur {err} ms) : des jetons peuvent être jugés expirés ou émis dans le futur"
        ))
    } else {
        match grade(err, warn_ms, crit_ms) {
            Status::Ok => Outcome::ok(tr!(
                lang,
                "clock synchronised, error at most {err} ms (estimated {} ms)",
                "horloge synchronisée, erreur d'au plus {err} ms (estimée à {} ms)",
                c.est_error_ms
            )),
            s => Outcome::new(
                s,
                tr!(
                    lang,
                    "clock synchronised but its error may reach {err} ms (threshold {warn_ms} ms): the NTP source is far or not answering",
                    "horloge synchronisée mais son erreur peut atteindre {err} ms (seuil {warn_ms} ms) : la source NTP est lointaine ou ne répond plus"
                ),
            ),
        }
    };
    o.details(c).metric(metric)
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let lang = ctx.lang();
    let s = &ctx.config.system;
    match ctx
        .step_named("adjtimex", tokio::task::spawn_blocking(read_clock))
        .await
    {
        Ok(Ok(Ok(c))) => evaluate_clock(&c, s.clock_warn_ms, s.clock_crit_ms, lang),
        Ok(Ok(Err(e))) => Outcome::unknown(tr!(
            lang,
            "the kernel would not tell its clock state: {e}",
            "le noyau n'a pas donné l'état de son horloge : {e}"
        )),
        Ok(Err(e)) => Outcome::unknown(e.to_string()),
        Err(t) => ctx.timed_out("adjtimex", t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(synchronised: bool, max_error_ms: f64) -> ClockState {
        ClockState {
            synchronised,
            status_bits: 0,
            time_state: 0,
            max_error_ms,
            est_error_ms: 0.5,
            offset_ms: 0.0,
        }
    }

    #[test]
    fn unsynchronised_is_critical_and_error_graded() {
        let o = evaluate_clock(&state(false, 16_000.0), 100.0, 1000.0, Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("not synchronised"), "{}", o.summary);
        assert_eq!(
            evaluate_clock(&state(true, 3.0), 100.0, 1000.0, Lang::En).status,
            Status::Ok
        );
        assert_eq!(
            evaluate_clock(&state(true, 300.0), 100.0, 1000.0, Lang::Fr).status,
            Status::Warning
        );
        assert_eq!(
            evaluate_clock(&state(true, 3000.0), 100.0, 1000.0, Lang::En).status,
            Status::Critical
        );
    }

    #[test]
    fn the_kernel_answers() {
        let c = read_clock().expect("adjtimex with no mode bit is allowed to anyone");
        assert!(c.max_error_ms >= 0.0);
    }
}
