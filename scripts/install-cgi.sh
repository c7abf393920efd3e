#!/usr/bin/env bash
# Builds the release binaries and installs them into a cgi-bin directory (default: cgi-bin/ in
# this repository). Usage: scripts/install-cgi.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-cgi-bin}"

cargo build --release --locked --bins
mkdir -p "$dest"
for program in nph-clock nph-webcam serverpush-camsim; do
  install -m 0755 "target/release/$program" "$dest/$program"
done
echo "installed into $dest: $(cd "$dest" && ls nph-* serverpush-* | tr '\n' ' ')"
