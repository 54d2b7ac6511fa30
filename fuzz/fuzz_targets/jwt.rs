//! Fuzz target over JWTs (decoding, signature check, claims and their verdict): any bytes; it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mssante_diag_core::checks::auth::jwt::exercise(data);
});
