//! Compile one regex pattern given on the command line (for instruction counts of regex
//! construction under `valgrind --tool=callgrind`; see docs/performance.md).
fn main() {
    let p = std::env::args().nth(1).expect("pattern");
    let r = regex::Regex::new(&p).expect("regex");
    println!("{}", r.is_match("12 dagar"));
}
