#!/usr/bin/env bash
# Runs the end-to-end benchmark on the programs as they are deployed (static-pie; see
# scripts/build-env.sh); the crowd also runs them built without PIE. Arguments go to the
# benchmark: none for the full run (writes BENCHMARKS.md), --smoke, --crowd [N]
# [--crowd-under apache|lighttpd|nginx], --compare DIR.
#
# --compare-with REV builds the programs of an earlier commit REV (in target/compare/, with a
# target directory of their own) and runs this build beside them: fan-out and publish-to-delivery
# under Apache and lighttpd, in one run (writes benches/compare.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/build-env.sh
if [[ "${1:-}" == --compare-with ]]; then
  rev="$(git rev-parse --short "${2:?--compare-with needs a commit}")"
  shift 2
  src="target/compare/$rev"
  if [[ ! -f "$src/Cargo.toml" ]]; then
    mkdir -p "$src"
    git archive "$rev" | tar -x -C "$src"
  fi
  (cd "$src" && CARGO_TARGET_DIR="$PWD/../target" cargo build --release --locked --bins)
  old="$(realpath "target/compare/target/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release")"
  SERVERPUSH_COMPARE_REV="$rev" exec cargo bench --locked --bench e2e -- --compare "$old" "$@"
fi
# The crowd also runs the programs built without PIE under Apache (scripts/build-env.sh), built
# in a target directory of their own so the deployed build is kept.
if [[ " $* " == *" --crowd "* ]]; then
  (export SERVERPUSH_PIE=no && source scripts/build-env.sh &&
    CARGO_TARGET_DIR="$PWD/target/no-pie" cargo build --release --locked --bin nph-longpoll)
  SERVERPUSH_NO_PIE_PROGRAM="$(realpath "target/no-pie/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release/nph-longpoll")"
  export SERVERPUSH_NO_PIE_PROGRAM
fi
exec cargo bench --locked --bench e2e -- "$@"
