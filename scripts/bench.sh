#!/usr/bin/env bash
# Runs the end-to-end benchmark on the programs as they are deployed (static-pie; see
# scripts/build-env.sh). Arguments go to the benchmark: none for the full run (writes
# BENCHMARKS.md), --smoke, --crowd [N] [--crowd-under apache|lighttpd].
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/build-env.sh
exec cargo bench --locked --bench e2e -- "$@"
