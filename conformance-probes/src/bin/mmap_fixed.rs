//! Checks MAP_FIXED, MAP_FIXED_NOREPLACE and file mappings.
//! - MAP_FIXED over the middle of a mapping zeroes those pages and keeps the neighbours.
//! - MAP_FIXED_NOREPLACE over any existing page is EEXIST; on a free range it returns
//!   exactly the address.
//! - A private file mapping shows the file, keeps writes private, and reads zeros past EOF.
//! - MAP_SHARED writes reach the file; a shared writable mapping of a read-only fd is
//!   EACCES.

use conformance_probes::{check, fail, outcome, sys, TempDir};
use std::os::unix::io::AsRawFd;

fn mmap(
    addr: u64,
    len: u64,
    prot: i32,
    flags: i32,
    fd: i64,
) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: fixed mappings only target ranges this probe reserved.
    unsafe {
        sys(
            libc::SYS_mmap,
            &[addr, len, prot as u64, flags as u64, fd as u64, 0],
        )
    }
}

fn main() {
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let private = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    let area = mmap(0, 4 * 4096, rw, private, -1).unwrap_or_else(|e| fail("mmap", e));
    // SAFETY: the four pages are writable.
    unsafe { std::ptr::write_bytes(area as *mut u8, 0x5a, 4 * 4096) };

    let fixed = mmap(area + 4096, 2 * 4096, rw, private | libc::MAP_FIXED, -1);
    check("fixed_returns_address", fixed == Ok(area + 4096));
    // SAFETY: the four pages are still mapped.
    let bytes = unsafe { std::slice::from_raw_parts(area as *const u8, 4 * 4096) };
    check(
        "fixed_pages_zeroed",
        bytes[4096..3 * 4096].iter().all(|&b| b == 0),
    );
    check(
        "neighbours_kept",
        bytes[..4096]
            .iter()
            .chain(&bytes[3 * 4096..])
            .all(|&b| b == 0x5a),
    );

    let noreplace = private | libc::MAP_FIXED_NOREPLACE;
    outcome(
        "noreplace_over_existing",
        mmap(area, 4096, rw, noreplace, -1),
    );
    outcome(
        "noreplace_overlapping_end",
        mmap(area + 3 * 4096, 2 * 4096, rw, noreplace, -1),
    );
    // SAFETY: the last page belongs to this probe.
    unsafe { sys(libc::SYS_munmap, &[area + 3 * 4096, 4096]) }.ok();
    let placed = mmap(area + 3 * 4096, 4096, rw, noreplace, -1);
    check("noreplace_free_exact", placed == Ok(area + 3 * 4096));
    outcome(
        "noreplace_unaligned",
        mmap(area + 5, 4096, rw, noreplace, -1),
    );

    let dir = TempDir::new("mmap_fixed").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"file contents").unwrap_or_else(|e| fail("write", e));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("file"))
        .unwrap_or_else(|e| fail("open", e));
    let mapped = mmap(0, 4096, rw, libc::MAP_PRIVATE, file.as_raw_fd() as i64)
        .unwrap_or_else(|e| fail("mmap file", e));
    // SAFETY: the file mapping is one readable, writable page.
    let page = unsafe { std::slice::from_raw_parts_mut(mapped as *mut u8, 4096) };
    check("file_content_mapped", &page[..13] == b"file contents");
    check("past_eof_zero", page[13..].iter().all(|&b| b == 0));
    page[0] = b'F';
    let on_disk = std::fs::read(dir.join("file")).unwrap_or_default();
    check("private_write_not_in_file", on_disk.first() == Some(&b'f'));
    let read_only = std::fs::File::open(dir.join("file")).unwrap_or_else(|e| fail("open", e));
    outcome(
        "shared_write_on_rdonly_fd",
        mmap(0, 4096, rw, libc::MAP_SHARED, read_only.as_raw_fd() as i64),
    );
    let shared = mmap(0, 4096, rw, libc::MAP_SHARED, file.as_raw_fd() as i64)
        .unwrap_or_else(|e| fail("mmap shared", e));
    // SAFETY: the shared mapping is one writable page.
    unsafe { *(shared as *mut u8) = b'S' };
    let on_disk = std::fs::read(dir.join("file")).unwrap_or_default();
    check("shared_write_in_file", on_disk.first() == Some(&b'S'));
    check("file_size_unchanged", on_disk.len() == 13);
}
