//! Link the binaries with packed relative relocations (DT_RELR, glibc ≥ 2.36, binutils ≥ 2.38):
//! the dynamic loader then applies the executable's relocations from a table a fraction of the
//! size, which is a measurable part of a short `vardval check` process (docs/performance.md).
//! Only the final link changes, so dependencies are not rebuilt. Off with VARDVAL_NO_RELR=1
//! (for an older toolchain).

fn main() {
    println!("cargo:rerun-if-env-changed=VARDVAL_NO_RELR");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux && std::env::var_os("VARDVAL_NO_RELR").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
