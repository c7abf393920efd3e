#!/usr/bin/env bash
# Builds the Debian package: target/debian/serverpush_VERSION_ARCH.deb (under CARGO_TARGET_DIR
# when set). Needs dpkg-dev (dpkg-shlibdeps); scripts/install-deps.sh installs it.
#
# The package is assembled from a staging tree with dpkg-deb, the tool every Debian package is
# built with in the end: the release binaries, the configuration rendered from apache-conf/
# with the package's paths, the maintainer scripts and snippets of debian/, man pages made by
# `serverpush man`, and the control file with the library dependencies dpkg-shlibdeps finds.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
target="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
source scripts/build-env.sh

cargo build --release --locked --bins
release="$SERVERPUSH_RELEASE"

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)-1"
arch="$(dpkg --print-architecture)"
out="$target/debian"
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"

cgi=/usr/lib/cgi-bin/serverpush
config=/etc/serverpush/serverpush.toml

# The programs under both names: nph-NAME writes its own HTTP head (HTTP/1.x), NAME is the same
# program as a parsed-header CGI one (what Apache needs for HTTP/2).
for program in clock webcam longpoll mercure; do
  install -D -m 0755 "$release/nph-$program" "$stage$cgi/nph-$program"
  install -D -m 0755 "$release/nph-$program" "$stage$cgi/$program"
done
install -D -m 0755 "$release/serverpush" "$stage/usr/bin/serverpush"

# The documented example is the package's config: its paths (the spool) are the package's.
# It may come to hold secrets (publish_token, jwt_secret, a Redis password): not readable by
# other users. dpkg-deb makes it root's; postinst gives its group to the web server's user.
install -D -m 0640 apache-conf/serverpush.toml "$stage$config"

# Apache: the source's snippet with the package's paths, under /serverpush/ so it neither
# collides with Debian's /cgi-bin/ (serve-cgi-bin.conf) nor needs the admin to edit anything.
apache_conf="$stage/etc/apache2/conf-available/serverpush.conf"
mkdir -p "$(dirname "$apache_conf")"
{
  cat debian/apache2-head.conf
  sed -e "s#@CGI_BIN@#$cgi#g" -e "s#@CONFIG@#$config#g" \
      -e 's#^\([[:space:]]*\(ScriptAlias\|RewriteBase\)[[:space:]]\+\)/cgi-bin/#\1/serverpush/cgi-bin/#' \
      apache-conf/serverpush.conf.in
  cat debian/apache2-demo.conf
} > "$apache_conf"
if ! grep -q "^ScriptAlias /serverpush/cgi-bin/ \"$cgi/\"" "$apache_conf" \
   || grep -q '@[A-Z_]*@' "$apache_conf"; then
  echo "build-deb: apache-conf/serverpush.conf.in did not render as expected" >&2
  exit 1
fi
install -D -m 0644 debian/lighttpd-50-serverpush.conf \
  "$stage/etc/lighttpd/conf-available/50-serverpush.conf"
# nginx: the source's snippets with the package's paths, under /serverpush/ as for Apache, for a
# server {} block to include (`include snippets/serverpush.conf;`), and fcgiwrap's workers sized
# for streams.
snippets="$stage/etc/nginx/snippets"
mkdir -p "$snippets"
render_nginx() {
  sed -e "s#@CGI_BIN@#$cgi#g" -e "s#@CONFIG@#$config#g" \
      -e "s#@FCGIWRAP@#/run/fcgiwrap.socket#g" -e "s#@SNIPPETS@#/etc/nginx/snippets#g" \
      -e 's#\^/cgi-bin/#^/serverpush/cgi-bin/#' \
      -e 's#SCRIPT_NAME /cgi-bin/#SCRIPT_NAME /serverpush/cgi-bin/#' "$1"
}
{
  render_nginx apache-conf/serverpush-nginx.conf.in
  cat debian/nginx-demo.conf
} > "$snippets/serverpush.conf"
render_nginx apache-conf/serverpush-fastcgi.conf.in > "$snippets/serverpush-fastcgi.conf"
if grep -q '@[A-Z_]*@' "$snippets"/serverpush*.conf \
   || ! grep -q '/serverpush/cgi-bin/' "$snippets/serverpush.conf"; then
  echo "build-deb: the nginx snippets did not render as expected" >&2
  exit 1
fi
chmod 0644 "$snippets"/serverpush*.conf
install -D -m 0644 debian/fcgiwrap-serverpush.conf \
  "$stage/usr/lib/systemd/system/fcgiwrap.service.d/serverpush.conf"
install -D -m 0644 debian/sysctl-50-serverpush.conf "$stage/usr/lib/sysctl.d/50-serverpush.conf"

# The demo pages.
mkdir -p "$stage/usr/share/serverpush"
cp -r www "$stage/usr/share/serverpush/www"
find "$stage/usr/share/serverpush" -type d -exec chmod 0755 {} +
find "$stage/usr/share/serverpush" -type f -exec chmod 0644 {} +

# Man pages, from the same definitions as the command's parser.
man="$stage/usr/share/man/man1"
"$release/serverpush" man --dir "$man"
gzip -9n "$man"/*.1
chmod 0644 "$man"/*

doc="$stage/usr/share/doc/serverpush"
install -D -m 0644 debian/copyright "$doc/copyright"
install -m 0644 README.md "$doc/README.md"
gzip -9n "$doc/README.md"

# Control files. dpkg-shlibdeps wants a debian/control of a source package to read; a minimal one
# in a scratch directory keeps the repository free of one it does not use.
scratch="$out/shlibdeps"
rm -rf "$scratch"
mkdir -p "$scratch/debian"
printf 'Source: serverpush\n\nPackage: serverpush\nArchitecture: any\n' > "$scratch/debian/control"
depends="$(cd "$scratch" && dpkg-shlibdeps -O -e "$stage$cgi/nph-clock" -e "$stage$cgi/nph-webcam" \
  -e "$stage$cgi/nph-longpoll" -e "$stage$cgi/nph-mercure" -e "$stage/usr/bin/serverpush" 2>/dev/null \
  | sed -n 's/^shlibs:Depends=//p')"
rm -rf "$scratch"

installed_size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
# Static programs depend on no shared library: then the package has no Depends line at all.
sed -e "s#@VERSION@#$version#" -e "s#@ARCH@#$arch#" -e "s#@DEPENDS@#$depends#" -e '/^Depends: $/d' \
    -e "s#@SIZE@#$installed_size#" \
    -e "s#@MAINTAINER@#${DEBFULLNAME:-serverpush maintainers} <${DEBEMAIL:-root@localhost}>#" \
    debian/control.in > "$stage/DEBIAN/control"
# The Apache modules the snippet needs, for postinst to enable.
modules=cgid
if grep -q '^[[:space:]]*RewriteEngine[[:space:]]\+On' "$apache_conf"; then modules="$modules rewrite"; fi
sed -e "s#@APACHE_MODULES@#$modules#" debian/postinst > "$stage/DEBIAN/postinst"
install -m 0755 debian/postrm "$stage/DEBIAN/"
chmod 0755 "$stage/DEBIAN/postinst"
(cd "$stage" && find etc -type f | sed 's#^#/#' | sort) > "$stage/DEBIAN/conffiles"
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

deb="$out/serverpush_${version}_${arch}.deb"
rm -f "$out"/serverpush_*.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$stage"
echo "$deb"
