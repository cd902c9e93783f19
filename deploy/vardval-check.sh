#!/bin/sh
# vardval-check.sh — Nagios/Icinga check for the vardval daemon. Kept for installations that
# call it; it only runs `vardval status --check`, which prints one line and exits
# 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Thresholds are [monitoring] keys in the config
# (docs/configuration.md); what is checked is described in docs/production.md, "Monitor".
# Run it as the vardval user (SQLite), e.g.
#   sudo -u vardval /usr/local/lib/vardval/vardval-check.sh
#
# Environment (defaults in brackets):
#   VARDVAL   the binary [/usr/bin/vardval]
#   CONFIG    the config file [/etc/vardval/vardval.toml]

VARDVAL="${VARDVAL:-/usr/bin/vardval}"
CONFIG="${CONFIG:-/etc/vardval/vardval.toml}"

NO_COLOR=1 RUST_LOG=error exec "$VARDVAL" status --check --config "$CONFIG"
