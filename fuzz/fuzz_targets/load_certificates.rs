//! Fuzz target over the certificate and key loading code of the `tls.*` checks: any bytes as a
//! certificate file (PEM or DER) and as a key file; what loads is chained and ordered.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mssante_diag_core::checks::tls::load::exercise(data);
});
