//! Checks how the memory calls that take a range report holes and ranges carrick never maps.
//! - msync, mlock and munlock over an unmapped page give ENOMEM.
//! - munmap far above any mapping (2 TiB) succeeds, and at the end of the 48-bit address
//!   space gives EINVAL.
//! - mprotect over an unmapped range, far above any mapping or wrapping around, gives ENOMEM.

use conformance_probes::{fail, outcome, sys};

const PAGE: u64 = 4096;
const READ_WRITE: u64 = (libc::PROT_READ | libc::PROT_WRITE) as u64;
const TWO_TIB: u64 = 2 << 40;

fn main() {
    // Two pages, then the second unmapped: a mapped page followed by a hole.
    // SAFETY: a fresh anonymous mapping owned by this probe.
    let base = unsafe {
        sys(
            libc::SYS_mmap,
            &[
                0,
                2 * PAGE,
                READ_WRITE,
                (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
                u64::MAX,
                0,
            ],
        )
    }
    .unwrap_or_else(|e| fail("mmap", e));
    // SAFETY: unmaps this probe's own second page.
    unsafe { sys(libc::SYS_munmap, &[base + PAGE, PAGE]) }.unwrap_or_else(|e| fail("munmap", e));
    let hole = base + PAGE;

    // SAFETY: none of these calls changes memory this probe uses.
    unsafe {
        outcome(
            "msync_mapped",
            sys(libc::SYS_msync, &[base, PAGE, libc::MS_SYNC as u64]),
        );
        outcome(
            "msync_hole",
            sys(libc::SYS_msync, &[base, 2 * PAGE, libc::MS_SYNC as u64]),
        );
        outcome("mlock_hole", sys(libc::SYS_mlock, &[hole, PAGE]));
        outcome("mlock_mapped", sys(libc::SYS_mlock, &[base, PAGE]));
        outcome("munlock_mapped", sys(libc::SYS_munlock, &[base, PAGE]));
        outcome("munlock_hole", sys(libc::SYS_munlock, &[hole, PAGE]));
        outcome("munmap_two_tib", sys(libc::SYS_munmap, &[TWO_TIB, PAGE]));
        outcome(
            "munmap_end_of_space",
            sys(libc::SYS_munmap, &[1 << 48, PAGE]),
        );
        outcome(
            "mprotect_hole",
            sys(libc::SYS_mprotect, &[hole, PAGE, READ_WRITE]),
        );
        outcome(
            "mprotect_two_tib",
            sys(libc::SYS_mprotect, &[TWO_TIB, PAGE, READ_WRITE]),
        );
        outcome(
            "mprotect_wraps",
            sys(libc::SYS_mprotect, &[base, u64::MAX - PAGE, READ_WRITE]),
        );
    }
}
