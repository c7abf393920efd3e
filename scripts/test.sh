#!/usr/bin/env bash
# Runs every check and test of serverpush: formatting, lints, docs, a smoke run of the
# benchmark, unit tests, the CGI harness, real Apache and lighttpd servers, and headless
# Chromium. Installs missing packages first.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# The programs are built as they are deployed (static-pie; see scripts/build-env.sh).
source scripts/build-env.sh
cargo fmt --all --check
cargo clippy --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked
# The benchmark, briefly, so it cannot rot (its figures are not checked; it installs its peers).
scripts/bench.sh --smoke
# The library's and the operator command's unit tests, then the integration crate (harness,
# servers, browser, the Debian package) last.
# A failing test's message, not a backtrace, is what a log's last lines should show.
RUST_BACKTRACE=0 cargo test --locked --lib --bin serverpush --test tests
