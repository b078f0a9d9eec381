# carrick's everyday commands. Each recipe calls a script under scripts/, so the commands
# also work without `just` (the README names the scripts directly).

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Install every system package and tool the build, tests and demos need (idempotent).
setup:
    scripts/setup.sh

# Build carrick (dev profile).
build:
    cargo build --workspace

# The full test command CI runs: setup, fmt, clippy, cargo-deny, tests, conformance gate.
test:
    scripts/test.sh

# Formatting and lints only.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Build a Debian bookworm arm64 image from Debian's archive and run programs from it.
demo:
    scripts/demo.sh

# Regenerate docs/syscalls.md from syscalls.toml.
syscalls-doc:
    cargo run -q -p carrick -- syscalls --markdown > docs/syscalls.md

# Conformance: probes recorded on a real arm64 kernel, compared with carrick.
# See docs/conformance.md.

# Run every conformance probe under carrick and compare with the recorded oracle output.
conformance *NAMES:
    scripts/conformance.sh {{NAMES}}

# Record expected probe output on a real arm64 kernel (all probes, or the named ones).
oracle *NAMES:
    scripts/oracle.sh {{NAMES}}

# Re-record every probe on the real kernel into a temp dir; fail if any output changed.
oracle-check:
    scripts/oracle-check.sh

# Benchmark carrick (release) against qemu-aarch64 with hyperfine; writes target/bench/results.md.
bench runs="5":
    scripts/bench.sh {{runs}}

# Real Debian arm64 programs, busybox and ruff under carrick vs the real kernel (check, record, oracle-check).
real-programs mode="check" *NAMES:
    scripts/real-programs.sh {{mode}} {{NAMES}}
