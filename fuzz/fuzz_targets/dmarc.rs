//! Fuzz target over DMARC TXT records (tag list, policy, report destinations, the verdict): any bytes; it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mssante_diag_core::checks::dns::dmarc::exercise(data);
});
