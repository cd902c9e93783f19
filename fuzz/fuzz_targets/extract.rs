//! Fuzz target: the full `extract` pipeline (size check, sniff, reader, no-text check).
//! The pipeline guards against panics; a guarded panic still aborts under libFuzzer's panic
//! hook, and the explicit check below makes the intent visible.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vardval::extract::{ExtractError, Limits, extract};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_millis: 2_000,
        ..Limits::default()
    };
    if let Err(ExtractError::Corrupt(m)) = extract(data, &limits) {
        assert_ne!(m, "reader panicked");
    }
});
