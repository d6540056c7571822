//! Any bytes as a schools CSV: rows load or are rejected with a reason;
//! nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(import) = partnermatch_core::dataset::read_csv(data) {
        for school in import.schools() {
            assert!(school.validate().is_empty(), "loaded rows are valid");
        }
    }
});
