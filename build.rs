//! Two things for a short `vardval check` process (docs/performance.md):
//! - link the binaries with packed relative relocations (DT_RELR, glibc ≥ 2.36, binutils ≥
//!   2.38): the dynamic loader then applies the executable's relocations from a table a
//!   fraction of the size. Only the final link changes, so dependencies are not rebuilt. Off
//!   with VARDVAL_NO_RELR=1 (for an older toolchain);
//! - write the embedded rulebook (`config/rulebook-2026.toml`) as JSON into `OUT_DIR`:
//!   `Rulebook::embedded` parses that, several times cheaper than the TOML parser. The TOML
//!   stays the only source; a test compares both loads.

use std::path::Path;

const RULEBOOK: &str = "config/rulebook-2026.toml";

fn main() {
    println!("cargo:rerun-if-env-changed=VARDVAL_NO_RELR");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={RULEBOOK}");
    embedded_rulebook_as_json();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux && std::env::var_os("VARDVAL_NO_RELR").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// The embedded rulebook's TOML as the same data in JSON. Its dates are strings in the TOML, so
/// every value has a JSON form; a TOML date-time would not, and fails the build here.
fn embedded_rulebook_as_json() {
    let text = std::fs::read_to_string(RULEBOOK).expect("read the embedded rulebook");
    let value: toml::Value = toml::from_str(&text).expect("the embedded rulebook is TOML");
    assert!(
        !has_datetime(&value),
        "{RULEBOOK}: write dates as strings (\"2026-02-15\"), not TOML dates"
    );
    let json = serde_json::to_string(&value).expect("JSON");
    let out = std::env::var_os("OUT_DIR").expect("OUT_DIR");
    std::fs::write(Path::new(&out).join("rulebook-2026.json"), json).expect("write JSON");
}

fn has_datetime(v: &toml::Value) -> bool {
    match v {
        toml::Value::Datetime(_) => true,
        toml::Value::Array(a) => a.iter().any(has_datetime),
        toml::Value::Table(t) => t.values().any(has_datetime),
        _ => false,
    }
}
