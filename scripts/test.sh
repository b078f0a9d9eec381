#!/usr/bin/env bash
# The test command: installs what the tests need (scripts/setup.sh), then runs formatting and
# lint checks, the licence check, every Rust test (including the syscall-header, struct-layout
# and snapshot checks, and the image tests against a local registry), the conformance gate
# and the real-program tests, both against output recorded on a real arm64 kernel. CI runs
# exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

step() {
  printf '\n== %s\n' "$*"
}

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo deny (licences, sources)"
cargo deny --log-level error check licenses bans sources

step "cargo test"
CI=true cargo test --workspace --locked

step "oracle check: re-record every probe on the real arm64 kernel"
scripts/oracle-check.sh

# cargo test built target/debug/carrick for the CLI's integration tests; a separate
# `cargo build` would rebuild it with other dependency features and take minutes.
step "conformance gate"
scripts/conformance.sh

step "real programs: re-record on the real arm64 kernel"
scripts/real-programs.sh oracle-check

step "real programs under carrick, compared with the kernel's output"
scripts/real-programs.sh check
