//! Checks getrandom.
//! - It fills the requested length with no flags, GRND_NONBLOCK, GRND_RANDOM and
//!   GRND_INSECURE, including 1 MiB at once; a zero length returns 0.
//! - Unknown flags and GRND_INSECURE|GRND_RANDOM are EINVAL; a bad buffer is EFAULT.
//! - Two 32-byte reads differ.

use conformance_probes::{check, outcome, result, sys};

fn getrandom(buffer: &mut [u8], flags: u64) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: buffer is live for its length.
    unsafe {
        sys(
            libc::SYS_getrandom,
            &[buffer.as_mut_ptr() as u64, buffer.len() as u64, flags],
        )
    }
}

fn main() {
    let mut first = [0u8; 32];
    let mut second = [0u8; 32];
    result("default_32", getrandom(&mut first, 0));
    result(
        "nonblock_32",
        getrandom(&mut second, libc::GRND_NONBLOCK as u64),
    );
    check("reads_differ", first != second);
    let mut large = vec![0u8; 1 << 20];
    result("default_1mib", getrandom(&mut large, 0));
    result(
        "random_16",
        getrandom(&mut first[..16], libc::GRND_RANDOM as u64),
    );
    result("insecure_32", getrandom(&mut first, 0x4));
    result("zero_length", getrandom(&mut first[..0], 0));
    outcome("unknown_flag", getrandom(&mut first, 0x8));
    outcome(
        "insecure_and_random",
        getrandom(&mut first, 0x4 | libc::GRND_RANDOM as u64),
    );
    // SAFETY: the kernel must reject the bad pointer.
    outcome("bad_buffer", unsafe {
        sys(libc::SYS_getrandom, &[0x10, 16, 0])
    });
}
