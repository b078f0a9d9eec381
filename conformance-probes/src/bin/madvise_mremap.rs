//! Checks madvise and mremap.
//! - MADV_DONTNEED zeroes private anonymous pages and reverts private file pages to the
//!   file's content; bad arguments are EINVAL or ENOMEM.
//! - mremap with MREMAP_MAYMOVE keeps the content and zero-fills the new pages.
//! - Growing in place into an occupied range is ENOMEM; shrinking keeps the address.
//! - MREMAP_FIXED moves to the requested address and unmaps the old one.

use conformance_probes::{check, fail, outcome, sys, TempDir};
use std::os::unix::io::AsRawFd;

const PAGE: u64 = 4096;

fn mmap(len: u64, flags: i32, fd: i64) -> u64 {
    // SAFETY: a new mapping chosen by the kernel.
    unsafe {
        sys(
            libc::SYS_mmap,
            &[
                0,
                len,
                (libc::PROT_READ | libc::PROT_WRITE) as u64,
                flags as u64,
                fd as u64,
                0,
            ],
        )
    }
    .unwrap_or_else(|e| fail("mmap", e))
}

fn madvise(addr: u64, len: u64, advice: i32) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: only ranges this probe mapped are advised.
    unsafe { sys(libc::SYS_madvise, &[addr, len, advice as u64]) }
}

fn mremap(
    old: u64,
    old_len: u64,
    new_len: u64,
    flags: i32,
    new_addr: u64,
) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: only mappings this probe owns are moved.
    unsafe {
        sys(
            libc::SYS_mremap,
            &[old, old_len, new_len, flags as u64, new_addr],
        )
    }
}

fn fill(addr: u64, len: u64, value: u8) {
    // SAFETY: addr..addr+len is a writable mapping owned by this probe.
    unsafe { std::ptr::write_bytes(addr as *mut u8, value, len as usize) };
}

fn all(addr: u64, len: u64, value: u8) -> bool {
    // SAFETY: addr..addr+len is a readable mapping owned by this probe.
    unsafe { std::slice::from_raw_parts(addr as *const u8, len as usize) }
        .iter()
        .all(|&b| b == value)
}

fn main() {
    let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    let area = mmap(2 * PAGE, anon, -1);
    fill(area, 2 * PAGE, 0x77);
    outcome("dontneed", madvise(area, PAGE, libc::MADV_DONTNEED));
    check("dontneed_zeroes", all(area, PAGE, 0));
    check("dontneed_keeps_rest", all(area + PAGE, PAGE, 0x77));
    outcome("unaligned", madvise(area + 1, PAGE, libc::MADV_DONTNEED));
    outcome("unknown_advice", madvise(area, PAGE, 9999));
    outcome("zero_length", madvise(area, 0, libc::MADV_DONTNEED));
    outcome(
        "unmapped_range",
        madvise(area + 64 * PAGE * 1024, PAGE, libc::MADV_DONTNEED),
    );
    outcome("willneed", madvise(area, PAGE, libc::MADV_WILLNEED));

    let dir = TempDir::new("madvise_mremap").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), vec![b'f'; PAGE as usize])
        .unwrap_or_else(|e| fail("write", e));
    let file = std::fs::File::open(dir.join("file")).unwrap_or_else(|e| fail("open", e));
    let mapped = mmap(PAGE, libc::MAP_PRIVATE, file.as_raw_fd() as i64);
    fill(mapped, PAGE, b'w');
    madvise(mapped, PAGE, libc::MADV_DONTNEED).ok();
    check("dontneed_file_reverts", all(mapped, PAGE, b'f'));

    let grow = mmap(2 * PAGE, anon, -1);
    fill(grow, 2 * PAGE, 0x31);
    let grown = mremap(grow, 2 * PAGE, 64 * PAGE, libc::MREMAP_MAYMOVE, 0);
    check("maymove_ok", grown.is_ok());
    let grown = grown.unwrap_or(0);
    check(
        "maymove_keeps_content",
        grown != 0 && all(grown, 2 * PAGE, 0x31),
    );
    check(
        "maymove_new_pages_zero",
        grown != 0 && all(grown + 2 * PAGE, 62 * PAGE, 0),
    );

    let pair = mmap(2 * PAGE, anon, -1);
    outcome("grow_in_place_blocked", mremap(pair, PAGE, 2 * PAGE, 0, 0));
    let shrunk = mremap(pair, 2 * PAGE, PAGE, 0, 0);
    check("shrink_same_address", shrunk == Ok(pair));
    outcome("unaligned_old", mremap(pair + 1, PAGE, PAGE, 0, 0));
    outcome("bad_flags", mremap(pair, PAGE, PAGE, 0x80, 0));
    outcome(
        "fixed_without_maymove",
        mremap(pair, PAGE, PAGE, libc::MREMAP_FIXED, grown),
    );
    outcome(
        "zero_new_length",
        mremap(pair, PAGE, 0, libc::MREMAP_MAYMOVE, 0),
    );

    fill(pair, PAGE, 0x44);
    let target = grown + 32 * PAGE;
    let moved = mremap(
        pair,
        PAGE,
        PAGE,
        libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
        target,
    );
    check("fixed_moves_to_target", moved == Ok(target));
    check("fixed_moved_content", all(target, PAGE, 0x44));
    let mut vec = [0u8; 1];
    // SAFETY: mincore only writes one byte into vec; the old range itself is not touched.
    let old_gone = unsafe { sys(libc::SYS_mincore, &[pair, PAGE, vec.as_mut_ptr() as u64]) };
    outcome("old_address_unmapped", old_gone);
}
