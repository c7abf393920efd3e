#!/usr/bin/env bash
# Prints the size of www/serverpush.js: as written, minified (terser) and minified and gzipped.
# Needs node and npm; terser goes into a temporary directory, removed afterwards. Not part of
# the tests: the client has no build step, and pages serve the file as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
npm install --silent --no-audit --no-fund --prefix "$tmp" terser >/dev/null
"$tmp/node_modules/.bin/terser" www/serverpush.js --compress --mangle --comments false > "$tmp/min.js"
printf 'www/serverpush.js: %s bytes, minified %s, minified and gzipped %s, gzipped as written %s\n' \
  "$(wc -c < www/serverpush.js)" "$(wc -c < "$tmp/min.js")" \
  "$(gzip -9c "$tmp/min.js" | wc -c)" "$(gzip -9c www/serverpush.js | wc -c)"
