//! Checks anonymous mmap and munmap.
//! - Results are page-aligned and zero-filled up to the rounded length.
//! - Length 0, missing MAP_PRIVATE/MAP_SHARED, an unaligned MAP_FIXED address or offset are
//!   EINVAL, a bad fd is EBADF, a huge length is ENOMEM.
//! - munmap of an unaligned address is EINVAL; munmap of an unmapped range succeeds.
//! - A free hint address is honoured; an occupied one is moved.
//! - MAP_SHARED anonymous memory is shared with a forked child; MAP_PRIVATE is not.

use conformance_probes::{check, outcome, report, sys};

fn mmap(
    addr: u64,
    len: u64,
    prot: i32,
    flags: i32,
    fd: i64,
    offset: u64,
) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: new mappings never overlap memory that Rust code uses, except MAP_FIXED at
    // addresses this probe reserved itself.
    unsafe {
        sys(
            libc::SYS_mmap,
            &[addr, len, prot as u64, flags as u64, fd as u64, offset],
        )
    }
}

fn munmap(addr: u64, len: u64) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: only ranges this probe mapped, or unmapped ones, are passed.
    unsafe { sys(libc::SYS_munmap, &[addr, len]) }
}

fn main() {
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let private = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    let area = mmap(0, 3 * 4096 + 1, rw, private, -1, 0).unwrap_or(0);
    check("page_aligned", area.is_multiple_of(4096) && area != 0);
    // SAFETY: the mapping is readable for its rounded-up length of four pages.
    let bytes = unsafe { std::slice::from_raw_parts(area as *const u8, 4 * 4096) };
    check("zero_filled_rounded_length", bytes.iter().all(|&b| b == 0));

    outcome("length_zero", mmap(0, 0, rw, private, -1, 0));
    outcome(
        "no_private_or_shared",
        mmap(0, 4096, rw, libc::MAP_ANONYMOUS, -1, 0),
    );
    outcome(
        "fixed_unaligned",
        mmap(area + 1, 4096, rw, private | libc::MAP_FIXED, -1, 0),
    );
    outcome("file_bad_fd", mmap(0, 4096, rw, libc::MAP_PRIVATE, 999, 0));
    outcome(
        "anonymous_unaligned_offset",
        mmap(0, 4096, rw, private, -1, 100),
    );
    outcome("huge_length", mmap(0, u64::MAX - 4096, rw, private, -1, 0));
    outcome("munmap_unaligned", munmap(area + 1, 4096));
    outcome("munmap_zero_length", munmap(area, 0));
    outcome("munmap_middle", munmap(area + 4096, 4096));
    outcome("munmap_already_unmapped", munmap(area + 4096, 4096));

    let hint = mmap(0, 8192, rw, private, -1, 0).unwrap_or(0);
    munmap(hint, 8192).ok();
    let placed = mmap(hint, 8192, rw, private, -1, 0).unwrap_or(0);
    check("free_hint_honoured", placed == hint);
    let occupied = mmap(hint, 4096, rw, private, -1, 0).unwrap_or(0);
    check("occupied_hint_moved", occupied != hint && occupied != 0);

    let shared = mmap(0, 4096, rw, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0).unwrap_or(0);
    let copied = mmap(0, 4096, rw, private, -1, 0).unwrap_or(0);
    // SAFETY: the child writes to its own mappings and leaves with _exit.
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: both mappings are writable.
        unsafe {
            *(shared as *mut u8) = 42;
            *(copied as *mut u8) = 42;
            libc::_exit(0);
        }
    }
    // SAFETY: waiting for the child created above.
    unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
    // SAFETY: both mappings are readable.
    let (shared_value, copied_value) = unsafe { (*(shared as *const u8), *(copied as *const u8)) };
    report("shared_seen_by_parent", shared_value);
    report("private_seen_by_parent", copied_value);
}
