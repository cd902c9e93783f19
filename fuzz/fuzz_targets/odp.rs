//! Fuzz target: the unguarded odp reader (any panic is a finding).
#![no_main]
use libfuzzer_sys::fuzz_target;
use vardval::extract::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_millis: 2_000,
        ..Limits::default()
    };
    let _ = vardval::extract::odp::extract(data, &limits);
});
