#!/usr/bin/env bash
# Installs the Debian packages the benchmark's peer systems need, only those that are missing.
# Run as root on Debian 12. Idempotent: quick and silent when everything is present.
# It never enables or starts a system service: while installing, a policy-rc.d that forbids
# service starts is put in place (unless one already exists), and if the nginx package still
# started its service on port 80, that service is stopped again.
set -euo pipefail

packages=(
  php-cgi             # php-cgi: the PHP peers (seeds 000, 003, 004) run as parsed-header CGI
  nginx               # nginx 1.22: host of the nchan peer
  libnginx-mod-nchan  # nchan pub/sub module for nginx
  libcgi-pm-perl      # Perl CGI.pm: the seed 002 clock and hello.pl
  wrk                 # HTTP load generator
  gcc                 # compiles hello.c into hello.cgi
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
  echo "install-peers.sh: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi

echo "installing: ${missing[*]}"
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\n# temporary, from benches/peers/install-peers.sh\nexit 101\n' > "$policy"
  chmod 0755 "$policy"
  own_policy=1
  trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

if ((own_policy)); then
  rm -f "$policy"
  trap - EXIT
fi

# The benchmark runs its own nginx with its own config; never leave the system one on port 80.
if [[ " ${missing[*]} " == *" nginx "* ]] || [[ " ${missing[*]} " == *" libnginx-mod-nchan "* ]]; then
  service nginx stop >/dev/null 2>&1 || true
fi
