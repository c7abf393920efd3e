#!/usr/bin/env bash
# Makes the release archive for hosts without root (a hosting account):
#   DEST/serverpush-VERSION-ARCH-linux.tar.gz   (DEST: dist/ unless given)
# with the static programs under both names, the demo pages, the .htaccess files that enable
# them, an example config for a home folder, the operator's command and INSTALL (hosting/).
# Usage: scripts/build-tarball.sh [DEST]; prints the archive's path.
set -euo pipefail
dest="$(realpath -m "${1:-$(dirname "$0")/../dist}")"
cd "$(dirname "$0")/.."
source scripts/build-env.sh

cargo build --release --locked --bins >&2
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
arch="$(uname -m)"
name="serverpush-$version-$arch-linux"
# The oldest kernel the static C library inside the programs accepts (its ABI note).
notes="$(readelf -n "$SERVERPUSH_RELEASE/nph-clock")"
kernel="$(sed -n 's/.*OS: Linux, ABI: //p' <<<"$notes" | head -1)"
if [[ -z "$kernel" ]]; then
  echo "the programs carry no Linux ABI note (not a glibc build?): INSTALL could not say which" \
    "kernel they need" >&2
  exit 1
fi
# Static (static-pie has a dynamic section, but names no library to load).
dynamic="$(readelf -d "$SERVERPUSH_RELEASE/nph-clock")"
if grep -q NEEDED <<<"$dynamic"; then
  echo "the programs are not static (see scripts/build-env.sh): no archive for other hosts" >&2
  exit 1
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
top="$stage/$name"
cgi="$top/serverpush/cgi-bin"
mkdir -p "$cgi" "$top/bin"
for program in clock webcam longpoll mercure; do
  install -m 0755 "$SERVERPUSH_RELEASE/nph-$program" "$cgi/nph-$program"
  # The parsed-header name (HTTP/2) as a hard link: suEXEC refuses symbolic links, and the
  # archive stores the file once.
  ln "$cgi/nph-$program" "$cgi/$program"
done
install -m 0644 hosting/cgi-bin.htaccess "$cgi/.htaccess"
install -m 0755 "$SERVERPUSH_RELEASE/serverpush" "$top/bin/serverpush"
for page in www/*; do install -m 0644 "$page" "$top/serverpush/"; done
install -m 0644 hosting/pages.htaccess "$top/serverpush/.htaccess"
# An account's site has no /.well-known/mercure of its own: the Mercure page subscribes to the
# hub beside it, at a URL relative to the page like every other demo page's.
sed -i 's#params.get("hub") || "/.well-known/mercure"#params.get("hub") || "cgi-bin/nph-mercure"#' \
  "$top/serverpush/mercure.html"
grep -q '"cgi-bin/nph-mercure"' "$top/serverpush/mercure.html" || {
  echo "www/mercure.html no longer names its hub as this script expects" >&2
  exit 1
}
install -m 0600 hosting/serverpush.toml "$top/serverpush.toml"
install -m 0644 apache-conf/serverpush.toml "$top/serverpush.toml.example"
sed -e "s/@VERSION@/$version/g" -e "s/@ARCH@/$arch/g" -e "s/@KERNEL@/$kernel/g" \
  hosting/INSTALL.in > "$top/INSTALL"
chmod 0644 "$top/INSTALL"
chmod 0755 "$top" "$top/serverpush" "$cgi" "$top/bin"

mkdir -p "$dest"
# Owned by whoever unpacks it, in a stable order and time, so that a rebuild of the same tree
# is the same archive.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$(git log -1 --format=%ct 2>/dev/null || echo 0)" \
  -C "$stage" -czf "$dest/$name.tar.gz" "$name"
echo "$dest/$name.tar.gz"
