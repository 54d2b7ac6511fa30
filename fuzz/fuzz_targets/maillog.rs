//! Fuzz target over the mail log summary (`maillog`): any bytes as a log, fed in one read, in
//! two frames and on one and two threads; it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mssante_diag_core::maillog::exercise(data);
});
