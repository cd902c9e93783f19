//! Fuzz target: format sniffing on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vardval::extract::sniff::sniff(data);
});
