#!/bin/sh
# vardval-check.sh — health check from `vardval status --json`, with Nagios/Icinga-style exit
# codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. One line of output.
# Needs jq and GNU date. Run it as the vardval user (or root with PostgreSQL), e.g.
#   sudo -u vardval /usr/local/lib/vardval/vardval-check.sh
#
# Environment (defaults in brackets):
#   VARDVAL        the binary [/usr/bin/vardval]
#   CONFIG         the config file [/etc/vardval/vardval.toml]
#   MAX_POLL_AGE   seconds since last_poll_at before CRITICAL [2100]. With IMAP IDLE a quiet
#                  mailbox is looked at again every idle_refresh_secs (default 1500), so keep
#                  this above that; with polling, above poll_interval_secs.
#   MAX_UNSENT_AGE seconds the oldest unsent reply may wait before WARNING [3600]
#   MAX_BACKLOG    unsent replies before WARNING [50]
# The daemon does not clear last_error after recovering; it is reported only while
# connection_state is not "connected".

VARDVAL="${VARDVAL:-/usr/bin/vardval}"
CONFIG="${CONFIG:-/etc/vardval/vardval.toml}"
MAX_POLL_AGE="${MAX_POLL_AGE:-2100}"
MAX_UNSENT_AGE="${MAX_UNSENT_AGE:-3600}"
MAX_BACKLOG="${MAX_BACKLOG:-50}"

json="$(NO_COLOR=1 RUST_LOG=error "$VARDVAL" status --config "$CONFIG" --json 2>&1)" || {
    echo "UNKNOWN - vardval status failed: $(printf '%s' "$json" | tail -n 1)"
    exit 3
}
field() { printf '%s' "$json" | jq -r "$1 // empty"; }
age() { echo $(( $(date +%s) - $(date -d "$1" +%s) )); }

state="$(field .connection_state)"
last_poll="$(field .last_poll_at)"
last_error="$(field .last_error)"
backlog="$(field .outbox_backlog)"
oldest="$(field .oldest_unsent)"
triage="$(field .triage_open)"

code=0
msg=""
add() { # level text
    [ "$1" -gt "$code" ] && code="$1"
    msg="${msg:+$msg; }$2"
}

if [ -z "$last_poll" ]; then
    add 2 "never polled the mailbox"
else
    poll_age="$(age "$last_poll")"
    [ "$poll_age" -gt "$MAX_POLL_AGE" ] && add 2 "last poll ${poll_age}s ago"
fi
if [ -n "$state" ] && [ "$state" != "connected" ]; then
    add 2 "mailbox $state: ${last_error:-no error recorded}"
fi
if [ -n "$oldest" ]; then
    unsent_age="$(age "$oldest")"
    [ "$unsent_age" -gt "$MAX_UNSENT_AGE" ] && add 1 "oldest unsent reply waits ${unsent_age}s"
fi
[ "${backlog:-0}" -gt "$MAX_BACKLOG" ] && add 1 "$backlog unsent replies"

summary="state=${state:-none} backlog=${backlog:-?} triage_open=${triage:-?}"
case "$code" in
    0) echo "OK - $summary" ;;
    1) echo "WARNING - $msg ($summary)" ;;
    *) echo "CRITICAL - $msg ($summary)" ;;
esac
exit "$code"
