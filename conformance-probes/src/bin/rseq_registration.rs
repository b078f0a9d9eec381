//! Checks rseq against glibc's own registration.
//! - glibc registers a 32-byte area at startup (__rseq_size). Registering it again is EBUSY,
//!   with a wrong signature EPERM, and registering another area EINVAL.
//! - After unregistering glibc's area, a new area registers and the kernel stores a valid
//!   cpu_id in it; unregistering resets cpu_id to -1.
//! - Misaligned, short, flagged or unmapped requests are EINVAL or EFAULT.

use conformance_probes::{check, outcome, report, sys};

// Defined by glibc 2.35 and later.
extern "C" {
    static __rseq_offset: isize;
    static __rseq_size: u32;
}

const RSEQ_SIG: u64 = 0xd428_bc00;
const UNREGISTER: u64 = 1;

#[repr(C, align(32))]
struct Rseq {
    cpu_id_start: u32,
    cpu_id: i32,
    rseq_cs: u64,
    flags: u32,
    node_id: u32,
    mm_cid: u32,
    padding: u32,
}

fn rseq(area: u64, len: u64, flags: u64, sig: u64) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: area is a live, suitably aligned rseq struct or deliberately invalid.
    unsafe { sys(libc::SYS_rseq, &[area, len, flags, sig]) }
}

fn main() {
    // SAFETY: reading glibc's exported constants.
    let (offset, size) = unsafe { (__rseq_offset, __rseq_size) };
    report("glibc_rseq_size", size);
    let thread_pointer: u64;
    // SAFETY: reading TPIDR_EL0 has no side effects.
    unsafe { std::arch::asm!("mrs {}, tpidr_el0", out(reg) thread_pointer) };
    let glibc_area = (thread_pointer as i64 + offset as i64) as u64;

    outcome("register_same_again", rseq(glibc_area, 32, 0, RSEQ_SIG));
    outcome("register_wrong_sig", rseq(glibc_area, 32, 0, RSEQ_SIG + 1));
    let mut own = Rseq {
        cpu_id_start: 0,
        cpu_id: -1,
        rseq_cs: 0,
        flags: 0,
        node_id: 0,
        mm_cid: 0,
        padding: 0,
    };
    let own_ptr = &mut own as *mut Rseq as u64;
    outcome("register_other_area", rseq(own_ptr, 32, 0, RSEQ_SIG));
    outcome(
        "unregister_wrong_sig",
        rseq(glibc_area, 32, UNREGISTER, RSEQ_SIG + 1),
    );
    outcome(
        "unregister_glibc",
        rseq(glibc_area, 32, UNREGISTER, RSEQ_SIG),
    );
    outcome(
        "unregister_again",
        rseq(glibc_area, 32, UNREGISTER, RSEQ_SIG),
    );

    outcome("register_misaligned", rseq(own_ptr + 4, 32, 0, RSEQ_SIG));
    outcome("register_short", rseq(own_ptr, 16, 0, RSEQ_SIG));
    outcome("register_bad_flags", rseq(own_ptr, 32, 2, RSEQ_SIG));
    outcome("register_bad_pointer", rseq(0x20, 32, 0, RSEQ_SIG));
    outcome("register_own", rseq(own_ptr, 32, 0, RSEQ_SIG));
    // SAFETY: getpid forces a return to user space, when the kernel updates cpu_id.
    unsafe { libc::getpid() };
    // SAFETY: the kernel writes these fields; volatile reads see its stores.
    let (cpu_id, cpu_id_start) = unsafe {
        (
            std::ptr::read_volatile(&own.cpu_id),
            std::ptr::read_volatile(&own.cpu_id_start),
        )
    };
    check("cpu_id_valid", (0..64).contains(&cpu_id));
    check("cpu_id_start_matches", cpu_id_start as i32 == cpu_id);
    outcome("unregister_own", rseq(own_ptr, 32, UNREGISTER, RSEQ_SIG));
    // SAFETY: as above.
    report("cpu_id_after_unregister", unsafe {
        std::ptr::read_volatile(&own.cpu_id)
    });
}
