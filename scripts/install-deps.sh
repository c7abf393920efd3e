#!/usr/bin/env bash
# Installs the Debian packages serverpush's tests and demo need, when they are missing.
# Run as root on Debian 12 or later. Idempotent and quick when everything is present.
set -euo pipefail

packages=(
  apache2          # Apache httpd 2.4 (mpm_event, mod_cgid): the main deployment target
  apache2-suexec-pristine  # suEXEC: the shared-hosting test runs an account's programs as the account
  lighttpd         # lighttpd 1.4: the second deployment target
  lighttpd-mod-openssl  # lighttpd's TLS, for the HTTP/2-over-HTTPS tests
  nginx            # nginx: the third server; the tests start their own on loopback
  fcgiwrap         # runs CGI programs for nginx; the tests start their own on a private socket
  openssl          # makes the self-signed certificates of the HTTPS tests and demo
  chromium         # headless browser for the page tests
  chromium-driver  # WebDriver for it
  libcgi-pm-perl   # Perl CGI.pm, to check compat=cgipm byte for byte
  redis-server     # the Redis channel store; the tests start their own servers on private ports
  curl             # the tests' and `serverpush probe`'s HTTP client
  prometheus       # promtool, which checks the text `serverpush metrics` writes
  time             # /usr/bin/time, for the peak memory of a program in the tests
  strace           # kills a publisher at each step of a publish in the crash-safety tests
  passwd           # useradd: the root-publish test's throwaway spool owner
  ca-certificates
  dpkg-dev         # dpkg-shlibdeps, for the Debian package (scripts/build-deb.sh)
  iproute2         # `ip`, to bring up loopback in the package test's private network namespace
  php-cli          # runs the Symfony Mercure component against the hub
  php-symfony-mercure  # the Symfony Mercure component, a real Mercure publisher
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The packages must not start their system services: apache2 and lighttpd would both want
  # port 80, and the tests and the demo start their own servers on loopback ports.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 0755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -q
  apt-get install -y -q "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "cargo is missing: serverpush needs a Rust toolchain (1.89 or later, edition 2024)" >&2
  exit 1
fi
