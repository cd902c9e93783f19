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

echo
echo "zip bomb ($(basename "$BOMB"), $(stat -c %s "$BOMB") bytes):"
/usr/bin/time -v target/release/examples/extract "$BOMB" 2>/tmp/vardval-bomb-time.txt
grep -E "Elapsed \(wall clock\)|Maximum resident set size" /tmp/vardval-bomb-time.txt
