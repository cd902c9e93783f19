#!/usr/bin/env bash
# Compare vardval's document extraction with pdftotext and pandoc on the benchmark fixtures,
# and measure the zip-bomb rejection's wall time and peak RSS.
#
# Usage: bench/compare.sh [RUNS]      (default 20 process runs per tool and file)
#
# Uses `vardval check FILE --format json` when the CLI has it; until then the
# `extract` example (same library call, prints the document as JSON).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-20}"
DIR=fixtures/documents
DOCX="$DIR/bench-20-pages.docx"
PDF="$DIR/bench-20-pages.pdf"
BOMB="$DIR/hostile-zip-bomb.docx"

cargo build --release --quiet --example extract
cargo build --release --quiet --bin vardval 2>/dev/null || true
if target/release/vardval check --help 2>/dev/null | grep -q -- "--format"; then
    VARDVAL=(target/release/vardval check)
    VARDVAL_ARGS=(--format json)
    NAME="vardval check"
else
    VARDVAL=(target/release/examples/extract)
    VARDVAL_ARGS=()
    NAME="vardval (example)"
fi

# Mean wall time per process run, in ms.
time_ms() {
    local start end
    start=$(date +%s%N)
    for _ in $(seq "$RUNS"); do "$@" >/dev/null 2>&1 || true; done
    end=$(date +%s%N)
    echo "scale=1; ($end - $start) / 1000000 / $RUNS" | bc
}

words() { "$@" 2>/dev/null | wc -w; }

printf '%-22s %-22s %10s %8s\n' tool file "ms/run" words
printf '%-22s %-22s %10s %8s\n' ---- ---- ------ -----
for f in "$DOCX" "$PDF"; do
    b=$(basename "$f")
    printf '%-22s %-22s %10s %8s\n' "$NAME" "$b" \
        "$(time_ms "${VARDVAL[@]}" "$f" "${VARDVAL_ARGS[@]}")" "-"
    printf '%-22s %-22s %10s %8s\n' "in-process (x100)" "$b" \
        "$(target/release/examples/extract --summary --repeat 100 "$f" | awk -F'\t' '{print $NF}' | sed 's/ ms//')" \
        "$(target/release/examples/extract --summary "$f" | awk -F'\t' '{print $5}' | sed 's/ words//')"
    if [[ "$f" == *.docx ]]; then
        printf '%-22s %-22s %10s %8s\n' "pandoc -t plain" "$b" \
            "$(time_ms pandoc -t plain "$f")" "$(words pandoc -t plain "$f")"
    fi
done
printf '%-22s %-22s %10s %8s\n' "pdftotext" "$(basename "$PDF")" \
    "$(time_ms pdftotext "$PDF" -)" "$(words pdftotext "$PDF" -)"

# CPU time (user + sys, `perf stat` task-clock) per whole process, side by side in one run:
# what issue 11 compares (wall time on a shared machine mostly measures the neighbours).
if command -v perf >/dev/null; then
    echo
    printf '%-34s %-30s %12s\n' "process" file "CPU ms/run"
    cpu_ms() { perf stat -r "$RUNS" -x, -e task-clock "$@" 2>&1 >/dev/null | tail -n 1 | cut -d, -f1; }
    SMALL="$DIR/m1-green-heading-styles.docx"
    for f in "$SMALL" "$DOCX" "$PDF"; do
        printf '%-34s %-30s %12s\n' "vardval check --format json" "$(basename "$f")" \
            "$(cpu_ms target/release/vardval check "$f" --format json)"
    done
    printf '%-34s %-30s %12s\n' "pdftotext" "$(basename "$PDF")" "$(cpu_ms pdftotext "$PDF" /dev/null)"
    printf '%-34s %-30s %12s\n' "vardval --version (start-up floor)" "-" "$(cpu_ms target/release/vardval --version)"
fi

# Instructions per whole process (`valgrind --tool=callgrind`): stable under load, unlike
# CPU time, so a change shows up even on a busy machine. One run each.
if command -v valgrind >/dev/null; then
    echo
    printf '%-34s %-30s %14s\n' "process" file "instructions"
    ir() {
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
            sed -n 's/.*I *refs: *//p' | tr -d ,
    }
    for f in "$DIR/m1-green-heading-styles.docx" "$PDF"; do
        printf '%-34s %-30s %14s\n' "vardval check --format json" "$(basename "$f")" \
            "$(ir target/release/vardval check "$f" --format json)"
    done
    printf '%-34s %-30s %14s\n' "pdftotext" "$(basename "$PDF")" "$(ir pdftotext "$PDF" /dev/null)"
fi

echo
echo "zip bomb ($(basename "$BOMB"), $(stat -c %s "$BOMB") bytes):"
/usr/bin/time -v target/release/examples/extract "$BOMB" 2>/tmp/vardval-bomb-time.txt
grep -E "Elapsed \(wall clock\)|Maximum resident set size" /tmp/vardval-bomb-time.txt
