//! Checks eventfd2.
//! - Writes add to the counter; a read returns the sum and resets it to 0.
//! - With EFD_SEMAPHORE each read returns 1 and decrements.
//! - Reading 0 in non-blocking mode is EAGAIN; a read or write buffer under 8 bytes is
//!   EINVAL; writing 0xffffffffffffffff is EINVAL.
//! - A write that would overflow past 0xfffffffffffffffe is EAGAIN in non-blocking mode.
//! - The initial value comes from the first argument; an unknown flag bit is EINVAL.

use conformance_probes::{outcome, result, sys};

fn eventfd(initial: u64, flags: i32) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: eventfd2 takes no pointers.
    unsafe { sys(libc::SYS_eventfd2, &[initial, flags as u64]) }
}

fn write(fd: u64, value: u64, len: u64) -> Result<u64, conformance_probes::Errno> {
    let bytes = value.to_ne_bytes();
    // SAFETY: bytes is live for 8 bytes and len is at most 8.
    unsafe { sys(libc::SYS_write, &[fd, bytes.as_ptr() as u64, len]) }
}

fn read(fd: u64, len: u64) -> Result<u64, conformance_probes::Errno> {
    let mut bytes = [0u8; 8];
    // SAFETY: bytes is live for 8 bytes and len is at most 8.
    unsafe { sys(libc::SYS_read, &[fd, bytes.as_mut_ptr() as u64, len]) }
        .map(|_| u64::from_ne_bytes(bytes))
}

fn main() {
    let counter = eventfd(5, libc::EFD_NONBLOCK).unwrap_or(u64::MAX);
    result("write_3", write(counter, 3, 8));
    result("write_4", write(counter, 4, 8));
    result("read_sum", read(counter, 8));
    outcome("read_empty", read(counter, 8));
    outcome("read_short_buffer", read(counter, 4));
    outcome("write_short_buffer", write(counter, 1, 4));
    outcome("write_max", write(counter, u64::MAX, 8));
    result("write_max_minus_1", write(counter, u64::MAX - 1, 8));
    outcome("write_overflow", write(counter, 1, 8));
    result("read_max_minus_1", read(counter, 8));

    let semaphore = eventfd(0, libc::EFD_NONBLOCK | libc::EFD_SEMAPHORE).unwrap_or(u64::MAX);
    write(semaphore, 2, 8).ok();
    result("semaphore_read_1", read(semaphore, 8));
    result("semaphore_read_2", read(semaphore, 8));
    outcome("semaphore_read_3", read(semaphore, 8));
    outcome("unknown_flag", eventfd(0, 0x2));
}
