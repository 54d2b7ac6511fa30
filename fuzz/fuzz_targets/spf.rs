//! Fuzz target over SPF TXT records (terms, CIDR suffixes, the verdict for an address): any bytes; it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mssante_diag_core::checks::dns::spf::exercise(data);
});
