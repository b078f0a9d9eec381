//! End-to-end test of the vDSO on the emu backend: `runtime/tests/guest/vdso.c` finds it
//! through getauxval(AT_SYSINFO_EHDR), resolves its exports from the dynamic section, calls
//! them and compares each result with the syscall's. The guest is cross-compiled with
//! `aarch64-linux-gnu-gcc -static` (installed by scripts/setup.sh) and run through carrick.

// The helpers below are test code too: a missing compiler or binary should fail loudly.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn compile_guest() -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/tests/guest/vdso.c");
    let binary = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vdso-guest");
    let status = Command::new("aarch64-linux-gnu-gcc")
        .args(["-O2", "-static", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("aarch64-linux-gnu-gcc not found: run scripts/setup.sh");
    assert!(status.success(), "compiling {} failed", source.display());
    binary
}

#[test]
fn vdso_calls_match_syscalls() {
    let binary = compile_guest();
    let output = Command::new(env!("CARGO_BIN_EXE_carrick"))
        .arg("run-elf")
        .arg(&binary)
        .output()
        .expect("run carrick");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "guest failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    for expected in [
        "at_sysinfo_ehdr_present=1",
        "version_index=2",
        "symbols_found=1",
        "realtime_gettime_result=0",
        "realtime_vdso_brackets_syscall=1",
        "realtime_getres_equal=1",
        "monotonic_gettime_result=0",
        "monotonic_vdso_brackets_syscall=1",
        "monotonic_getres_equal=1",
        "invalid_clock_vdso=-22",
        "invalid_clock_syscall=-22",
        "gettimeofday_result=0",
        "gettimeofday_ordered=1",
        "libc_clock_gettime_ordered=1",
    ] {
        assert!(
            lines.contains(&expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}
