//! Fuzz target over the Postfix queue listing (`postqueue -j` JSON lines and `postqueue -p` text): any bytes; it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mssante_diag_core::mailqueue::exercise(data);
});
