#!/usr/bin/env bash
# Desk benchmarks (issue 8): the board and a submission page over a ledger holding 40 clinics
# × 5 cycle years of submissions (examples/seed_desk.rs), and 50 reviewers clicking through
# board, submission pages and the payout page at once for a minute.
#
# Usage: bench/desk.sh [SECONDS]    (default 60 for the concurrent run)
# Needs: wrk (Debian package `wrk`), curl. Uses a release build on 127.0.0.1:18080.
# Latencies are wrk's, end to end over loopback: an upper bound of the server's time.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
PORT=18080
command -v wrk >/dev/null || { echo "bench/desk.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bin vardval --example seed_desk
D=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$D"' EXIT
SUB=$(target/release/examples/seed_desk "$D" "$PORT")
CFG=$D/vardval.toml
export BENCH_PW=bench-password-$$
target/release/vardval users add --config "$CFG" --username granskare --role reviewer --password-env BENCH_PW >/dev/null
RUST_LOG=error target/release/vardval run --config "$CFG" >"$D/daemon.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/logga-in" && break; sleep 0.1; done
JAR=$D/jar
TOKEN=$(curl -s -c "$JAR" -b "$JAR" "http://127.0.0.1:$PORT/logga-in" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -n1)
curl -s -o /dev/null -c "$JAR" -b "$JAR" --data-urlencode "csrf=$TOKEN" --data-urlencode "next=/tavla" \
  --data-urlencode "username=granskare" --data-urlencode "password=$BENCH_PW" "http://127.0.0.1:$PORT/logga-in"
# HttpOnly cookies are written as "#HttpOnly_host"; other '#' lines are comments.
COOKIE=$(sed 's/^#HttpOnly_//' "$JAR" | awk '!/^#/ && NF>=7 {printf "%s%s=%s", sep, $6, $7; sep="; "}')
for path in /tavla "/tavla?ar=2023" "/inlamning/$SUB" /utbetalningar; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT$path")
  [ "$code" = 200 ] || { echo "bench/desk.sh: $path answered $code (sign-in failed?)" >&2; exit 1; }
done
echo "== page sizes: board $(curl -s -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT/tavla" | wc -c) bytes, submission $(curl -s -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT/inlamning/$SUB" | wc -c) bytes"
one() { wrk -t1 -c1 -d10s --latency -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT$1" | grep -E "Latency|50%|99%|Requests/sec|Non-2xx"; }
echo "== board (/tavla), one reviewer"; one /tavla
echo "== board of an older cycle year (/tavla?ar=2023), one reviewer"; one "/tavla?ar=2023"
echo "== submission page (/inlamning/$SUB), one reviewer"; one "/inlamning/$SUB"
cat > "$D/mix.lua" <<LUA
local paths = {"/tavla", "/inlamning/$SUB", "/tavla?sort=grade", "/inlamning/$((SUB + 1))", "/utbetalningar"}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], {["Cookie"] = "$COOKIE"})
end
LUA
sed 's/^request = /request_ = /' "$D/mix.lua" > "$D/think.lua"
cat >> "$D/think.lua" <<'LUA'
request = request_
-- A reviewer reads a page before the next click: 0.5–1.5 s.
delay = function() return math.random(500, 1500) end
LUA
echo "== 50 reviewers for ${SECS}s, no pause between clicks (board, submissions, payouts)"
wrk -t2 -c50 -d"${SECS}s" --latency -s "$D/mix.lua" "http://127.0.0.1:$PORT" | grep -E "Latency|50%|90%|99%|Requests/sec|requests in|Non-2xx"
echo "== 50 reviewers for ${SECS}s, 0.5–1.5 s reading each page"
wrk -t2 -c50 -d"${SECS}s" --latency -s "$D/think.lua" "http://127.0.0.1:$PORT" | grep -E "Latency|50%|90%|99%|Requests/sec|requests in|Non-2xx"
