//! Checks that syscall numbers arm64 does not define fail with ENOSYS.
//! - The unused arch-specific slot 244, numbers past the table (500, 1000, 0x7fffffff),
//!   the deprecated asm-generic numbers arm64 never enabled (1024 open, 1079 fork), and -1.
//! - The number is read as a 32-bit int, so 2^32 + 172 runs getpid.

use conformance_probes::{check, outcome, report, sys};

fn main() {
    for (name, number) in [
        ("nr_244_arch_specific_unused", 244i64),
        ("nr_500", 500),
        ("nr_1000", 1000),
        ("nr_1024_legacy_open", 1024),
        ("nr_1079_legacy_fork", 1079),
        ("nr_0x7fffffff", 0x7fff_ffff),
        ("nr_minus_1", -1),
    ] {
        // SAFETY: an undefined syscall has no effects.
        outcome(name, unsafe { sys(number, &[1, 2, 3, 4, 5, 6]) });
    }
    // SAFETY: getpid has no memory effects.
    let pid = unsafe { libc::getpid() } as u64;
    // SAFETY: if the kernel truncates the number this is getpid; otherwise it fails.
    let truncated = unsafe { sys((1i64 << 32) + libc::SYS_getpid, &[]) };
    match truncated {
        Ok(value) => check("nr_2pow32_plus_getpid_is_getpid", value == pid),
        Err(errno) => report("nr_2pow32_plus_getpid_is_getpid", errno),
    }
    check("still_running", true);
}
