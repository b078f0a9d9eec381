#!/usr/bin/env bash
# Scaffolds a new conformance probe: conformance-probes/src/bin/NAME.rs with the header
# comment and reporting helpers in place.
#
#   scripts/new-probe.sh NAME
#
# NAME is lower_snake_case, usually the syscall or behaviour checked (e.g. openat_excl).
# Next: write the checks, run scripts/oracle.sh NAME, review and commit
# conformance-probes/expected/NAME.out, then scripts/run-probe.sh NAME.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/probe-common.sh"

if [ $# -ne 1 ]; then
  echo "usage: scripts/new-probe.sh NAME (lower_snake_case, e.g. openat_excl)" >&2
  exit 2
fi
name="$1"
if ! [[ "$name" =~ ^[a-z][a-z0-9_]*$ ]]; then
  echo "invalid probe name '$name': use lower_snake_case letters, digits and _" >&2
  exit 2
fi
file="$probes_dir/src/bin/$name.rs"
if [ -e "$file" ]; then
  echo "probe '$name' already exists: $file" >&2
  exit 1
fi

cat >"$file" <<PROBE
//! Checks TODO: the invariant this probe pins, in one or two sentences (what the real
//! kernel does, including the error cases). Print only deterministic lines: booleans,
//! counts, kernel-fixed constants and errno names; never addresses, pids, times or inode
//! numbers.

use conformance_probes::{check, fail, outcome, report, sys, TempDir};

fn main() {
    let dir = TempDir::new("$name").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"data").unwrap_or_else(|e| fail("write", e));

    let path = dir.c_path("file");
    // SAFETY: path is NUL-terminated; the fd is released when the process exits.
    let opened = unsafe {
        sys(libc::SYS_openat, &[libc::AT_FDCWD as u64, conformance_probes::ptr(&path), 0, 0])
    };
    outcome("openat", opened);
    check("opened_fd_nonnegative", opened.is_ok());
    report("example_count", 1);
}
PROBE
echo "created $file"
echo "next: edit it, then scripts/oracle.sh $name and scripts/run-probe.sh $name"
