#!/usr/bin/env bash
# The official ISO 20022 pain.001.001.09 XSD for the payout tests, from a pinned PyPI
# package that ships it (sepaxml; the schema file is the ISO Standards Editor's, unrestricted),
# unpacked under the cargo target dir. Nothing downloaded is committed.
# Prints the path of the XSD. Needs python3 with pip (and network to PyPI on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
SEPAXML_VERSION=2.7.0
DIR=${CARGO_TARGET_DIR:-$PWD/target}/xsd/sepaxml-$SEPAXML_VERSION
XSD=$DIR/pain.001.001.09.xsd
if [ ! -s "$XSD" ]; then
  mkdir -p "$DIR"
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$TMP" "sepaxml==$SEPAXML_VERSION" >&2
  python3 - "$TMP"/sepaxml-*.whl "$DIR" <<'PY'
import sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    data = z.read("sepaxml/schemas/pain.001.001.09.xsd")
open(out + "/pain.001.001.09.xsd", "wb").write(data)
PY
fi
echo "$XSD"
