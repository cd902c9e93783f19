#!/usr/bin/env bash
# bench/intake.sh: mail-intake benchmarks of the `vardval run` daemon against the local
# Dovecot + Postfix lab. `bash bench/intake.sh` reproduces every number in the "Mail intake"
# section of docs/performance.md (needs root, like tests/maillab/maillab.sh).
#
# What it does (release build, SQLite, IMAP over implicit TLS, SMTP submission with STARTTLS):
#   a. latency  - the daemon runs on IDLE; 50 sequential plan mails (docx and pdf alternating)
#                 go from bench-clinic-<n>@vc.test to the agent over the lab's plain SMTP port.
#                 Measured: Postfix's 250 to DATA -> the receipt in the clinic's INBOX, seen by
#                 polling UID SEARCH every 20 ms (BENCH_RUNS runs), plus one run observed with
#                 IMAP IDLE instead (adds Dovecot's 500 ms notification floor). Components per
#                 mail from the daemon's log (RUST_LOG adds sqlx statements for the fetch marker).
#   b. backlog  - 1,000 plans are APPENDed to the agent's INBOX while no daemon runs (not
#                 timed); then the daemon starts and the clock runs until all 1,000 are
#                 recorded (log) and every receipt is sent (log); then `vardval status --json`
#                 and the mailbox counts are checked (INBOX 0, Behandlat 2,000: the plans and the
#                 own copies of the receipts that confirm each send, backlog 0).
#                 CPU = utime+stime of the daemon from /proc/PID/stat. BENCH_RUNS runs.
#   c. idle RSS - VmRSS/VmHWM from /proc/PID/status: after the backlog (10 s idle in IDLE), and
#                 on a fresh start on an empty mailbox (10 s after start), BENCH_RUNS runs each.
#
# Environment (defaults in brackets):
#   BENCH_LAB_DIR [/tmp/lab-bench]    the lab's DIR; started with `maillab.sh up` if not running
#   MAILLAB_{IMAP,IMAPS,LMTP,SMTP,SUBMISSION}_PORT [14143 14993 14024 14025 14587]
#   BENCH_OUT [target/bench-intake]   configs, databases, daemon logs, TSVs, summary.txt
#   BENCH_RUNS [3]  BENCH_LATENCY_MAILS [50]  BENCH_BACKLOG_MAILS [1000]
#   BENCH_ONLY [latency,backlog,fresh]   which parts to run
#   BENCH_DOCS [fixtures/documents/m1-green-heading-styles.docx,…/m1-green-caps-headings.pdf]
#
# Identities: the watched mailbox, SMTP login and From is bench-agent@vc.test (the lab lets any
# *@vc.test log in with clinic-pass); the clinics bench-clinic-<n>@vc.test are registered in a
# generated clinics.csv. Each measurement starts from a fresh database and archive, and the
# agent's INBOX and Behandlat are emptied with doveadm while no daemon runs.
# Output: the summary is printed and written to $BENCH_OUT/summary.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
LAB=${BENCH_LAB_DIR:-/tmp/lab-bench}
export MAILLAB_IMAP_PORT=${MAILLAB_IMAP_PORT:-14143}
export MAILLAB_IMAPS_PORT=${MAILLAB_IMAPS_PORT:-14993}
export MAILLAB_LMTP_PORT=${MAILLAB_LMTP_PORT:-14024}
export MAILLAB_SMTP_PORT=${MAILLAB_SMTP_PORT:-14025}
export MAILLAB_SUBMISSION_PORT=${MAILLAB_SUBMISSION_PORT:-14587}
OUT=${BENCH_OUT:-$ROOT/target/bench-intake}
RUNS=${BENCH_RUNS:-3}
LAT_N=${BENCH_LATENCY_MAILS:-50}
BL_N=${BENCH_BACKLOG_MAILS:-1000}
ONLY=${BENCH_ONLY:-latency,backlog,fresh}
DOCS=${BENCH_DOCS:-$ROOT/fixtures/documents/m1-green-heading-styles.docx,$ROOT/fixtures/documents/m1-green-caps-headings.pdf}
AGENT=bench-agent@vc.test
export BENCH_AGENT_PASSWORD=clinic-pass
MAILLAB=$ROOT/tests/maillab/maillab.sh
[ -f "$MAILLAB" ] || MAILLAB=/work/main/tests/maillab/maillab.sh
BIN=$ROOT/target/release/vardval
HELPER=$ROOT/target/release/examples/bench_intake
CLK_TCK=$(getconf CLK_TCK)

say() { printf '[intake %s] %s\n' "$(date +%T)" "$*" >&2; }
SUMMARY=$OUT/summary.txt
note() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }

say "building (release)"
cargo build --release --quiet --bin vardval --example bench_intake

bash "$MAILLAB" status "$LAB" >/dev/null 2>&1 || bash "$MAILLAB" up "$LAB" </dev/null >/dev/null
mkdir -p "$OUT"
: >"$SUMMARY"
note "# vardval mail-intake benchmark, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
note "machine: nproc=$(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo), kernel $(uname -r)"

# Clinics: 1..BL_N for the backlog, then one block of LAT_N per latency run (+1 for IDLE).
NCLIN=$((BL_N + (RUNS + 1) * LAT_N))
{
  echo "id,name,emails,listed_inhabitants"
  for n in $(seq 1 "$NCLIN"); do echo "bench-clinic-$n,Vårdcentralen Bench $n,bench-clinic-$n@vc.test,5000"; done
} >"$OUT/clinics.csv"

# A fresh state directory with its config: $1 = name.
new_state() {
  local d=$OUT/$1
  rm -rf "$d"
  mkdir -p "$d"
  cat >"$d/vardval.toml" <<EOF
[mailbox]
kind = "imap"
host = "127.0.0.1"
port = $MAILLAB_IMAPS_PORT
tls = "tls"
ca_file = "$LAB/certs/ca.crt"
username = "$AGENT"
password_env = "BENCH_AGENT_PASSWORD"
folder = "INBOX"
processed_folder = "Behandlat"

[smtp]
kind = "smtp"
host = "127.0.0.1"
port = $MAILLAB_SUBMISSION_PORT
tls = "starttls"
ca_file = "$LAB/certs/ca.crt"
username = "$AGENT"
password_env = "BENCH_AGENT_PASSWORD"
from = "Vårdval bench <$AGENT>"

[web]
enabled = false
[database]
url = "sqlite://vardval.db"

[archive]
dir = "archive"

[cycle]
rulebook = "$ROOT/config/rulebook-2026.toml"

[clinics]
path = "$OUT/clinics.csv"

[replies]
max_per_recipient_per_hour = 1000000
max_per_recipient_per_day = 1000000
EOF
  echo "$d"
}

# Empty the agent's folders (no daemon may run).
reset_agent() {
  local f
  for f in INBOX Behandlat; do
    doveadm -c "$LAB/dovecot/dovecot.conf" expunge -u "$AGENT" mailbox "$f" all 2>/dev/null || true
  done
}

count() { "$HELPER" count --imap-port "$MAILLAB_IMAP_PORT" --user "$AGENT" --folder "$1"; }

DPID=
# start_daemon STATE_DIR LOG RUST_LOG
start_daemon() {
  NO_COLOR=1 RUST_LOG=$3 "$BIN" run --config "$1/vardval.toml" 2>"$2" &
  DPID=$!
}
stop_daemon() {
  [ -n "$DPID" ] || return 0
  kill -TERM "$DPID" 2>/dev/null || true
  wait "$DPID" 2>/dev/null || true
  DPID=
}
trap stop_daemon EXIT

wait_connected() { # until the daemon logged its first poll (status shows "connected")
  local i
  # `status` opens the same database: only after the daemon has created and migrated it.
  for i in $(seq 1 100); do grep -aq 'starting' "$2" && break; sleep 0.1; done
  for i in $(seq 1 100); do
    if "$BIN" status --config "$1/vardval.toml" --json 2>/dev/null | grep -q '"connection_state": "connected"'; then
      return 0
    fi
    sleep 0.1
  done
  echo "daemon did not connect; log:" >&2
  tail -20 "$2" >&2
  exit 1
}

load() { printf 'loadavg %s' "$(cut -d' ' -f1-3 /proc/loadavg)"; }
mem() { awk '/^VmRSS|^VmHWM/{printf "%s %.1f MB  ", $1, $2/1024}' "/proc/$1/status"; }
rss_mb() { awk -v k="$2:" '$1==k{printf "%.1f", $2/1024}' "/proc/$1/status"; }
cpu_s() { awk -v t="$CLK_TCK" '{printf "%.2f %.2f\n", $14/t, $15/t}' "/proc/$1/stat"; }
# Unix time of the last log line containing $2 in log $1.
last_log_time() {
  grep -a -- "$2" "$1" | tail -1 | awk '{print $1}' | xargs -r -I{} date -d {} +%s.%N
}

# ---------------------------------------------------------------------------------------------
# a. latency
if [[ ,$ONLY, == *,latency,* ]]; then
  note ""
  note "## a. latency: SMTP accept -> receipt in the clinic INBOX, $LAT_N sequential mails, daemon on IDLE"
  LOGS=() TSVS=()
  for r in $(seq 1 $((RUNS + 1))); do
    observe=poll
    [ "$r" -le "$RUNS" ] || observe=idle
    stop_daemon
    reset_agent
    st=$(new_state "latency-$r")
    start_daemon "$st" "$st/daemon.log" "warn,vardval=info,sqlx::query=debug"
    wait_connected "$st" "$st/daemon.log"
    sleep 1 # the daemon is in IDLE now
    first=$((BL_N + (r - 1) * LAT_N + 1))
    say "latency run $r ($observe observer): clinics $first..$((first + LAT_N - 1))"
    "$HELPER" latency --imap-port "$MAILLAB_IMAP_PORT" --smtp-port "$MAILLAB_SMTP_PORT" \
      --agent "$AGENT" --first "$first" --count "$LAT_N" --docs "$DOCS" \
      --tag "lat$r-$(date +%s)" --observe "$observe" --out "$st/latency.tsv" 2>"$st/helper.log" >/dev/null
    sleep 3
    note ""
    note "### run $r, observer: $observe $([ $observe = poll ] && echo '(UID SEARCH every 20 ms)' || echo '(IMAP IDLE, +500 ms floor)')"
    note "idle after the run: $(mem "$DPID"); $(load) (other work on this machine counts)"
    "$HELPER" stats --log "$st/daemon.log" "$st/latency.tsv" | tee -a "$SUMMARY"
    stop_daemon
    if [ "$observe" = poll ]; then LOGS+=("$st/daemon.log"); TSVS+=("$st/latency.tsv"); fi
  done
  note ""
  note "### all $RUNS polled runs together"
  "$HELPER" stats --log "$(IFS=,; echo "${LOGS[*]}")" "${TSVS[@]}" | tee -a "$SUMMARY"
fi

# ---------------------------------------------------------------------------------------------
# b. backlog (+ c. idle RSS after it)
if [[ ,$ONLY, == *,backlog,* ]]; then
  note ""
  note "## b. backlog: $BL_N mails waiting in INBOX, daemon start -> all recorded, moved, receipts sent"
  for r in $(seq 1 "$RUNS"); do
    stop_daemon
    reset_agent
    st=$(new_state "backlog-$r")
    say "backlog run $r: injecting $BL_N mails"
    "$HELPER" inject --imap-port "$MAILLAB_IMAP_PORT" --agent "$AGENT" --first 1 --count "$BL_N" \
      --docs "$DOCS" --tag "bl$r-$(date +%s)" 2>>"$st/helper.log"
    [ "$(count INBOX)" = "$BL_N" ] || { echo "INBOX does not hold $BL_N mails" >&2; exit 1; }
    sync
    sleep 2
    log=$st/daemon.log
    t0=$(date +%s.%N)
    start_daemon "$st" "$log" "warn,vardval=info"
    say "backlog run $r: daemon $DPID started"
    # Every receipt also goes, as an envelope copy, to the agent's own mailbox (copy_to_self,
    # the default): the copy comes back through the intake and confirms the send. Done means:
    # the N plans recorded, N receipts sent, and the N copies recorded too (2 N messages).
    while :; do
      rec=$(grep -ac ' recorded ' "$log" || true)
      plans=$(grep -a ' recorded ' "$log" | grep -ac 'class=submission' || true)
      snt=$(grep -ac ' sent ' "$log" || true)
      [ "$plans" -ge "$BL_N" ] && [ "$snt" -ge "$BL_N" ] && [ "$rec" -ge $((2 * BL_N)) ] && break
      kill -0 "$DPID" 2>/dev/null || { echo "daemon died" >&2; tail "$log" >&2; exit 1; }
      if awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{exit !(a - b > 900)}'; then echo "backlog timed out ($rec recorded, $snt sent)" >&2; exit 1; fi
      sleep 0.2
    done
    read -r ut stt < <(cpu_s "$DPID")
    hwm_busy=$(rss_mb "$DPID" VmHWM)
    t_rec=$(last_log_time "$log" ' recorded ')
    t_plans=$(grep -a ' recorded ' "$log" | grep -a 'class=submission' | tail -n1 | awk '{print $1}' | xargs -I{} date -d {} +%s.%N)
    t_snt=$(last_log_time "$log" ' sent ')
    t_first=$(grep -a -m1 ' recorded ' "$log" | awk '{print $1}' | xargs -I{} date -d {} +%s.%N)
    sleep 1
    inbox=$(count INBOX)
    done_n=$(count Behandlat)
    status=$("$BIN" status --config "$st/vardval.toml" --json)
    backlog=$(printf '%s' "$status" | sed -n 's/.*"outbox_backlog": \([0-9]*\).*/\1/p')
    awk -v t0="$t0" -v tr="$t_rec" -v tp="$t_plans" -v ts="$t_snt" -v tf="$t_first" -v n="$BL_N" -v u="$ut" -v s="$stt" \
      -v inbox="$inbox" -v moved="$done_n" -v bl="$backlog" -v hwm="$hwm_busy" -v r="$r" 'BEGIN{
        e = (tr > ts ? tr : ts) - t0
        printf "run %d: %.1f s (all %d plans recorded after %.1f s, all receipts sent after %.1f s, all own copies confirmed after %.1f s; first recorded %.2f s after start) = %.1f mails/s; CPU user %.2f s + sys %.2f s = %.2f s (%.1f ms/mail); VmHWM %.1f MB; INBOX %d, Behandlat %d (plans + own copies), outbox_backlog %s\n",
          r, e, n, tp - t0, ts - t0, tr - t0, tf - t0, n / e, u, s, u + s, 1000 * (u + s) / n, hwm, inbox, moved, bl }' | tee -a "$SUMMARY"
    note "  $(load) at the end of run $r"
    printf '%s\n' "$status" >"$st/status.json"
    [ "$inbox" = 0 ] && [ "$done_n" = $((2 * BL_N)) ] && [ "$backlog" = 0 ] || { echo "backlog run $r did not finish cleanly" >&2; exit 1; }
    sleep 10
    note "  idle 10 s after the backlog: $(mem "$DPID")"
    stop_daemon
  done
fi

# ---------------------------------------------------------------------------------------------
# c. idle RSS on a fresh start
if [[ ,$ONLY, == *,fresh,* ]]; then
  note ""
  note "## c. idle RSS, fresh start on an empty mailbox (10 s after start, in IDLE)"
  for r in $(seq 1 "$RUNS"); do
    stop_daemon
    reset_agent
    st=$(new_state "fresh-$r")
    start_daemon "$st" "$st/daemon.log" "warn,vardval=info"
    wait_connected "$st" "$st/daemon.log"
    sleep 10
    note "run $r: $(mem "$DPID")"
    stop_daemon
  done
fi
say "done: $SUMMARY"
