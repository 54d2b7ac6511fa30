//! Fuzz target over the platform's `.env` and the section defaults derived from it: any bytes; it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mssante_diag_core::config::EnvFile::exercise(data);
});
