//! Fuzz target: the full `extract` pipeline (size check, sniff, reader, no-text check).
//! The pipeline guards against panics; a guarded panic still aborts under libFuzzer's panic
//! hook, and the explicit check below makes the intent visible.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vardval::extract::{ExtractError, Limits, extract};

fuzz_target!(|data: &[u8]| {
    // No OCR subprocesses while fuzzing: they are outside the process and far too slow.
    let mut limits = Limits {
        max_millis: 2_000,
        ..Limits::default()
    };
    limits.ocr.enabled = false;
    if let Err(ExtractError::Corrupt(m)) = extract(data, &limits) {
        assert_ne!(m, "reader panicked");
    }
});
