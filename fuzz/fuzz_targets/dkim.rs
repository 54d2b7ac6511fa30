//! Fuzz target over DKIM key records and local DKIM key files (PEM, OpenDKIM `.txt`): any bytes; it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mssante_diag_core::checks::dns::dkim::exercise(data);
});
