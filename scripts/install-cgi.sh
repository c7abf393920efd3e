#!/usr/bin/env bash
# Builds the release binaries and installs them into a cgi-bin directory (default: cgi-bin/ in
# this repository). Usage: scripts/install-cgi.sh [DEST]
# Each CGI program is installed twice: as nph-NAME, which writes its own HTTP head (HTTP/1.x
# through Apache), and as NAME, a parsed-header CGI program that Apache frames itself (the
# shipped Apache configuration sends HTTP/2 requests there).
set -euo pipefail
# A relative DEST is relative to where the command was run, not to this repository.
dest="$(realpath -m "${1:-$(dirname "$0")/../cgi-bin}")"
cd "$(dirname "$0")/.."
source scripts/build-env.sh

cargo build --release --locked --bins
mkdir -p "$dest"
for program in nph-clock nph-webcam nph-longpoll nph-mercure serverpush; do
  install -m 0755 "$SERVERPUSH_RELEASE/$program" "$dest/$program"
done
for program in clock webcam longpoll mercure; do
  install -m 0755 "$SERVERPUSH_RELEASE/nph-$program" "$dest/$program"
done
# The names of earlier releases, for scripts and cron jobs that use them: `serverpush` called
# as serverpush-publish or serverpush-camsim is that subcommand.
for alias in serverpush-publish serverpush-camsim; do
  ln -sf serverpush "$dest/$alias"
done
echo "installed into $dest: $(cd "$dest" && ls nph-* clock webcam longpoll mercure serverpush* | tr '\n' ' ')"
