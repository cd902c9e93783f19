#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls it).
#
# Starts what the tests need, on this machine, then runs every test:
#   1. a real Dovecot (IMAP, IDLE, LMTP) + Postfix (SMTP, submission) on 127.0.0.1 high ports,
#      installed from Debian packages when missing (tests/maillab/maillab.sh; needs root), and
#      a second one with the inbox-prefix profile (INBOX. namespace, no MOVE) on 11xxx ports;
#   2. PostgreSQL on 127.0.0.1:5432 (started, or installed, when not running); every store test
#      runs against both SQLite and PostgreSQL;
#   3. Tesseract with the Swedish model and pdftoppm (OCR of scans), from Debian packages;
#      xmllint (libxml2-utils) and the pain.001.001.09 XSD (tests/fetch-xsd.sh) for payouts;
#   4. cargo nextest (or cargo test) over the whole workspace, then the `check` JSON contract
#      over the document corpus.
# Environment: VARDVAL_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres; tests create and drop their own databases there),
#              VARDVAL_SKIP_MAIL=1 / VARDVAL_SKIP_PG=1 to skip what this machine cannot run
#              (the skipped tests then say so; CI sets neither).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { printf 'tests/run.sh: %s\n' "$*" >&2; }

export VARDVAL_TEST_PG_URL=${VARDVAL_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

ensure_postgres() {
  [ "${VARDVAL_SKIP_PG:-}" = 1 ] && { say "VARDVAL_SKIP_PG=1: PostgreSQL tests will be skipped"; return; }
  if pg_up; then return; fi
  if [ "$(id -u)" != 0 ]; then say "PostgreSQL is not running on 127.0.0.1:5432 and I am not root"; exit 1; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    say "installing PostgreSQL from Debian packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql >/dev/null
    local hba; hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n1)
    # Tests connect as postgres over TCP without a password, like the project's machines.
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 50); do pg_up && return; sleep 0.2; done
  say "PostgreSQL did not come up"; exit 1
}

# OCR of scanned plans (tests/extract_scanned.rs, the corpus' scanned PDF): Tesseract with the
# Swedish model, and Poppler's pdftoppm for page images.
ensure_ocr() {
  if command -v tesseract >/dev/null && command -v pdftoppm >/dev/null \
     && tesseract --list-langs 2>/dev/null | grep -qx swe; then return; fi
  if [ "$(id -u)" != 0 ]; then say "tesseract-ocr, tesseract-ocr-swe and poppler-utils are missing and I am not root"; exit 1; fi
  say "installing Tesseract (Swedish) and poppler-utils from Debian packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    tesseract-ocr tesseract-ocr-swe poppler-utils >/dev/null
}

# The payout tests validate pain.001 files with xmllint (Debian libxml2-utils) against the
# official XSD, fetched from a pinned PyPI package by tests/fetch-xsd.sh (never committed).
ensure_xsd() {
  if ! command -v xmllint >/dev/null; then
    if [ "$(id -u)" != 0 ]; then say "libxml2-utils (xmllint) is missing and I am not root"; exit 1; fi
    say "installing libxml2-utils from Debian packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends libxml2-utils >/dev/null
  fi
  if ! python3 -m pip --version >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then say "python3-pip is missing and I am not root"; exit 1; fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends python3-pip >/dev/null
  fi
  VARDVAL_PAIN001_XSD=$(bash tests/fetch-xsd.sh)
  export VARDVAL_PAIN001_XSD
}

LAB=""
LAB2=""
cleanup() {
  [ -n "$LAB" ] && bash tests/maillab/maillab.sh down "$LAB" >/dev/null 2>&1 || true
  [ -n "$LAB2" ] && bash tests/maillab/maillab.sh down "$LAB2" >/dev/null 2>&1 || true
}
trap cleanup EXIT

ensure_mail_lab() {
  [ "${VARDVAL_SKIP_MAIL:-}" = 1 ] && { say "VARDVAL_SKIP_MAIL=1: mail-server tests will be skipped"; return; }
  LAB=${VARDVAL_MAILLAB_DIR:-/tmp/vardval-maillab}
  bash tests/maillab/maillab.sh up "$LAB" </dev/null
  export VARDVAL_MAILLAB_DIR=$LAB
  # The second Dovecot profile (personal folders under "INBOX.", "." separator, no MOVE),
  # beside the first on its own ports; the IMAP tests run on both.
  LAB2=${VARDVAL_MAILLAB_PREFIX_DIR:-/tmp/vardval-maillab-prefix}
  MAILLAB_PROFILE=inbox-prefix MAILLAB_IMAP_PORT=11143 MAILLAB_IMAPS_PORT=11993 \
    MAILLAB_LMTP_PORT=11024 MAILLAB_SMTP_PORT=11025 MAILLAB_SUBMISSION_PORT=11587 \
    bash tests/maillab/maillab.sh up "$LAB2" </dev/null
  export VARDVAL_MAILLAB_PREFIX_DIR=$LAB2
}

# The desk's browser tests (tests/desk_browser.rs): Debian's chromium and chromium-driver,
# and axe-core from npm, pinned, under tests/web/node_modules.
AXE_VERSION=4.10.3
ensure_browser() {
  [ "${VARDVAL_SKIP_BROWSER:-}" = 1 ] && { say "VARDVAL_SKIP_BROWSER=1: browser tests will be skipped"; return; }
  # npm only when there is none: a Node.js from NodeSource (as on the project's machines)
  # brings its own npm and conflicts with Debian's npm package.
  local pkgs=()
  command -v chromium >/dev/null || pkgs+=(chromium)
  command -v chromedriver >/dev/null || pkgs+=(chromium-driver)
  command -v npm >/dev/null || pkgs+=(npm)
  if [ ${#pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then say "${pkgs[*]} missing and I am not root"; exit 1; fi
    say "installing ${pkgs[*]} from Debian packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
      "${pkgs[@]}" >/dev/null
  fi
  if ! grep -qs "\"version\": \"$AXE_VERSION\"" tests/web/node_modules/axe-core/package.json; then
    say "installing axe-core $AXE_VERSION from npm into tests/web/node_modules"
    mkdir -p tests/web
    npm install --no-save --no-audit --no-fund --silent --prefix tests/web "axe-core@$AXE_VERSION" >/dev/null
  fi
}

# The desk's OpenID Connect sign-in tests (tests/oidc_signin.rs): a real OpenID provider,
# the npm package oidc-provider at the version pinned in tests/oidc/package-lock.json.
ensure_oidc() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" != 0 ]; then say "node/npm missing and I am not root"; exit 1; fi
    say "installing nodejs and npm from Debian packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
      nodejs npm >/dev/null
  fi
  local want
  want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dependencies"]["oidc-provider"])' tests/oidc/package.json)
  if ! grep -qs "\"version\": \"$want\"" tests/oidc/node_modules/oidc-provider/package.json; then
    say "installing oidc-provider $want from npm into tests/oidc/node_modules"
    npm ci --no-audit --no-fund --silent --prefix tests/oidc >/dev/null
  fi
}

ensure_postgres
ensure_ocr
ensure_xsd
ensure_mail_lab
ensure_browser
ensure_oidc

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

# The `check --format json` contract over every document (shape only), when the shared
# contract checker is beside the checkout.
CHECKER=$ROOT/../shared/tools/check-contract.py
if [ -f "$CHECKER" ]; then
  cargo build -q --bin vardval
  mapfile -t DOCS < <(find fixtures/documents -maxdepth 2 -type f ! -name '*.json' ! -name '*.py' ! -name '*.md' | sort)
  if ! python3 "$CHECKER" target/debug/vardval "${DOCS[@]}" > target/check-contract.log; then
    cat target/check-contract.log; say "the check JSON contract is broken"; exit 1
  fi
  tail -n 1 target/check-contract.log
fi
