#!/usr/bin/env bash
# bench/big_batch.sh: peak memory of `vardval run --once` over a backlog of very large mails
# (issue 10, class 9: a batch of 50 mails of 39 MB once peaked at 2 GB). Needs root and a
# running mail lab (tests/maillab/maillab.sh); touches only one fresh mailbox in it.
#
# What it does:
#   1. builds the binary (BENCH_PROFILE=debug|release);
#   2. writes BENCH_MAILS mails of BENCH_MAIL_BYTES each (a registered clinic's plan, the DOCX
#      fixture, plus an incompressible attachment to reach the size) straight into the Maildir
#      `new/` of a fresh lab mailbox bigbatch-<time>@vc.test, owned by vmail (much faster than
#      SMTP; Dovecot picks them up like a delivery);
#   3. runs `/usr/bin/time -v vardval run --once` on it (IMAP over STARTTLS, SQLite, file
#      outbox) and reads "Maximum resident set size";
#   4. checks over IMAP that the INBOX is empty and every mail was filed in Behandlat or, when
#      larger than max_message_bytes (80 MiB by default; fetched by its header only), set
#      apart in Karantan, and fails when the peak RSS is not below BENCH_MEMORY_MAX (the
#      shipped unit's MemoryMax);
#   5. removes the mailbox and the work directory again (BENCH_KEEP=1 keeps them).
#
# Environment (defaults in brackets):
#   BENCH_LAB_DIR [$VARDVAL_MAILLAB_DIR or /tmp/vardval-maillab]   BENCH_PROFILE [debug]
#   BENCH_MAILS [50]  BENCH_MAIL_BYTES [39000000]  BENCH_BATCH_BYTES [unset: the default 64 MiB]
#   BENCH_MEMORY_MAX [1073741824: deploy/vardval.service MemoryMax=1G]
#   BENCH_BIN [target/<profile>/vardval]: another binary to measure (e.g. an older build)
#   BENCH_OUT [target/bench-big-batch]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
LAB=${BENCH_LAB_DIR:-${VARDVAL_MAILLAB_DIR:-/tmp/vardval-maillab}}
PROFILE=${BENCH_PROFILE:-debug}
MAILS=${BENCH_MAILS:-50}
BYTES=${BENCH_MAIL_BYTES:-39000000}
MEMORY_MAX=${BENCH_MEMORY_MAX:-1073741824}
OUT=${BENCH_OUT:-$ROOT/target/bench-big-batch}
say() { printf 'bench/big_batch.sh: %s\n' "$*" >&2; }

bash tests/maillab/maillab.sh status "$LAB" >/dev/null || { say "the lab in $LAB does not run"; exit 1; }
eval "$(bash tests/maillab/maillab.sh env "$LAB" | sed 's/^/export /')"

if [ -z "${BENCH_BIN:-}" ]; then
  if [ "$PROFILE" = release ]; then cargo build -q --release --bin vardval; else cargo build -q --bin vardval; fi
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/vardval
else
  BIN=$BENCH_BIN
fi

RUN=$(date +%s)
USER_ADDR=bigbatch-$RUN@vc.test
CLINIC=bigbatch-clinic-$RUN@vc.test
rm -rf "$OUT"; mkdir -p "$OUT"
printf 'id,name,emails,listed_inhabitants\nk001,Vårdcentralen Stor Bilaga,%s,5000\n' "$CLINIC" >"$OUT/clinics.csv"
cat >"$OUT/vardval.toml" <<TOML
[mailbox]
kind = "imap"
host = "127.0.0.1"
port = $MAILLAB_IMAP_PORT
tls = "starttls"
ca_file = "$MAILLAB_CA_FILE"
username = "$USER_ADDR"
password_command = "echo clinic-pass"
processed_folder = "Behandlat"

[smtp]
kind = "file"
from = "Vårdval bench <$USER_ADDR>"
dir = "outbox"

[web]
enabled = false
[database]
url = "sqlite://$OUT/ledger.db"

[archive]
dir = "archive"

[cycle]
rulebook = "$ROOT/config/rulebook-2026.toml"

[clinics]
path = "clinics.csv"
TOML
if [ -n "${BENCH_BATCH_BYTES:-}" ]; then printf '\n[limits]\nbatch_bytes = %s\n' "$BENCH_BATCH_BYTES" >>"$OUT/vardval.toml"; fi

# Log in once so Dovecot creates the Maildir, then write the mails into new/.
MAILDIR=$LAB/mail/vc.test/bigbatch-$RUN/Maildir
python3 - "$USER_ADDR" <<'PY'
import imaplib, os, sys
M = imaplib.IMAP4("127.0.0.1", int(os.environ["MAILLAB_IMAP_PORT"]))
M.login(sys.argv[1], "clinic-pass"); M.select("INBOX"); M.logout()
PY
t0=$SECONDS
python3 - "$MAILDIR" "$USER_ADDR" "$CLINIC" "$MAILS" "$BYTES" "$ROOT/fixtures/documents/m1-green-heading-styles.docx" <<'PY'
import base64, os, sys
maildir, to, frm, n, size, doc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
docb64 = base64.encodebytes(open(doc, "rb").read()).replace(b"\n", b"\r\n")
for i in range(n):
    head = (f"From: Vårdcentralen Stor Bilaga <{frm}>\r\nTo: {to}\r\n"
            f"Subject: Förbättringsplan {i + 1}\r\nMessage-ID: <bigbatch-{i}-{os.getpid()}@vc.test>\r\n"
            "Date: Mon, 2 Mar 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHej! Här är vår plan.\r\n"
            "--b\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document\r\n"
            "Content-Disposition: attachment; filename=\"plan.docx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode()
    mid = ("\r\n--b\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename=\"bilaga.jpg\"\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n").encode()
    tail = b"\r\n--b--\r\n"
    room = size - len(head) - len(docb64) - len(mid) - len(tail)
    raw_len = room * 57 // 78
    pad = base64.encodebytes(os.urandom(raw_len)).replace(b"\n", b"\r\n")[:room]
    pad = pad + b"A" * (room - len(pad))
    msg = head + docb64 + mid + pad + tail
    name = f"{1700000000 + i}.bigbatch{i}.bench"
    with open(os.path.join(maildir, "tmp", name), "wb") as f:
        f.write(msg)
    os.rename(os.path.join(maildir, "tmp", name), os.path.join(maildir, "new", name))
PY
chown -R vmail:vmail "$MAILDIR"
say "wrote $MAILS mails of $BYTES bytes in $((SECONDS - t0)) s"

cd "$OUT"
/usr/bin/time -v "$BIN" run --once --config "$OUT/vardval.toml" >"$OUT/run.log" 2>"$OUT/time.log" || {
  tail -n 30 "$OUT/run.log" "$OUT/time.log" >&2; exit 1; }
cd "$ROOT"
PEAK_KB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$OUT/time.log")
WALL=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$OUT/time.log")
COUNTS=$(python3 - "$USER_ADDR" <<'PY'
import imaplib, os, sys
M = imaplib.IMAP4("127.0.0.1", int(os.environ["MAILLAB_IMAP_PORT"]))
M.login(sys.argv[1], "clinic-pass")
def n(box):
    typ, d = M.status(box, "(MESSAGES)")
    return d[0].split()[-1].strip(b")").decode() if typ == "OK" else "missing"
print(n("INBOX"), n("Behandlat"), n("Karantan")); M.logout()
PY
)
read -r LEFT FILED QUARANTINED <<<"$COUNTS"
[ "$QUARANTINED" = missing ] && QUARANTINED=0
PEAK=$((PEAK_KB * 1024))
{
  echo "binary: $BIN"
  echo "mails: $MAILS x $BYTES bytes; batch_bytes: ${BENCH_BATCH_BYTES:-default (64 MiB)}"
  echo "peak RSS (VmHWM): $PEAK_KB kB = $((PEAK / 1048576)) MiB; MemoryMax $((MEMORY_MAX / 1048576)) MiB"
  echo "wall: $WALL; INBOX left: $LEFT; filed in Behandlat: $FILED; in Karantan: $QUARANTINED"
  echo "archive: $(find "$OUT/archive" -name '*.eml' | wc -l) messages, $(du -sb "$OUT/archive" | cut -f1) bytes; spool files left: $(find "$OUT/archive/.spool" -type f 2>/dev/null | wc -l)"
} | tee "$OUT/summary.txt"
if [ "${BENCH_KEEP:-}" != 1 ]; then
  doveadm -c "$LAB/dovecot/dovecot.conf" mailbox delete -u "$USER_ADDR" -s -r Behandlat >/dev/null 2>&1 || true
  doveadm -c "$LAB/dovecot/dovecot.conf" mailbox delete -u "$USER_ADDR" -s -r Karantan >/dev/null 2>&1 || true
  rm -rf "$LAB/mail/vc.test/bigbatch-$RUN" "$OUT/archive" "$OUT/outbox"
fi
[ "$LEFT" = 0 ] && [ $((FILED + QUARANTINED)) = "$MAILS" ] || { say "not every mail was processed"; exit 1; }
[ "$PEAK" -lt "$MEMORY_MAX" ] || { say "peak RSS $PEAK is not below MemoryMax $MEMORY_MAX"; exit 1; }
