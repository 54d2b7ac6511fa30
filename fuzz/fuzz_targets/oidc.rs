//! Fuzz target over OpenID discovery documents and JWKS key sets (Pro Santé Connect): any bytes; it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mssante_diag_core::checks::auth::psc::exercise(data);
});
