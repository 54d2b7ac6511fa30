//! Fuzz target over Annuaire Santé FHIR answers (`/metadata`, search Bundles and their BALs): any bytes; it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mssante_diag_core::annuaire::exercise(data);
});
