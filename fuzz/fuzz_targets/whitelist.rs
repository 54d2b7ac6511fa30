//! Fuzz target over the MSSanté trust space list (`listeblanchemssante.xml`): any bytes; it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mssante_diag_core::checks::mssante::whitelist::exercise(data);
});
