//! Fuzz target: arbitrary XML as `word/document.xml` inside a valid (stored) zip, so mutations reach
//! the docx XML reader instead of failing the zip CRC check.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::{Cursor, Write};
use vardval::extract::Limits;

fuzz_target!(|data: &[u8]| {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("word/document.xml", opts).unwrap();
    w.write_all(data).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let limits = Limits {
        max_millis: 2_000,
        ..Limits::default()
    };
    let _ = vardval::extract::docx::extract(&bytes, &limits);
});
