//! Checks SEEK_DATA and SEEK_HOLE on a sparse file with data at 0..4096 and at 1 MiB.
//! - SEEK_DATA from 0 is 0; the first hole lies within [4096, 1 MiB].
//! - SEEK_DATA from inside the hole lands at or before the second extent.
//! - The implicit hole at EOF equals the size.
//! - Offsets at or past EOF, a negative offset, and offset 0 in an empty file are ENXIO.
//!
//! Only relations are printed, because filesystems may report holes at coarser granularity.

use conformance_probes::{check, fail, outcome, result, sys, TempDir};

const MIB: i64 = 1 << 20;

fn main() {
    let dir = TempDir::new("lseek_data_hole").unwrap_or_else(|e| fail("tempdir", e));
    let path = dir.c_path("sparse");
    // SAFETY: path is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600) };
    let page = [b'd'; 4096];
    // SAFETY: writes from a live buffer.
    unsafe {
        libc::pwrite(fd, page.as_ptr().cast(), 4096, 0);
        libc::pwrite(fd, page.as_ptr().cast(), 4096, MIB);
    }
    let size = MIB + 4096;
    let fd = fd as u64;
    let seek = |offset: i64, whence: i32| {
        // SAFETY: lseek has no memory effects.
        unsafe { sys(libc::SYS_lseek, &[fd, offset as u64, whence as u64]) }.map(|v| v as i64)
    };

    result("data_from_0", seek(0, libc::SEEK_DATA));
    let hole = seek(0, libc::SEEK_HOLE).unwrap_or(-1);
    check("first_hole_in_range", (4096..=MIB).contains(&hole));
    let data = seek(8192, libc::SEEK_DATA).unwrap_or(-1);
    check("data_from_hole_in_range", (8192..=MIB).contains(&data));
    result("data_from_second_extent", seek(MIB, libc::SEEK_DATA));
    check(
        "hole_after_second_extent_is_size",
        seek(MIB, libc::SEEK_HOLE) == Ok(size),
    );
    check(
        "hole_at_last_byte_is_size",
        seek(size - 1, libc::SEEK_HOLE) == Ok(size),
    );
    outcome("data_at_eof", seek(size, libc::SEEK_DATA));
    outcome("hole_at_eof", seek(size, libc::SEEK_HOLE));
    outcome("data_past_eof", seek(size + 10, libc::SEEK_DATA));
    outcome("data_negative", seek(-1, libc::SEEK_DATA));
    check(
        "offset_is_last_result",
        seek(0, libc::SEEK_CUR) == Ok(size - 1) || seek(0, libc::SEEK_CUR) == Ok(size),
    );

    let empty = dir.c_path("empty");
    // SAFETY: path is NUL-terminated.
    let empty_fd =
        unsafe { libc::open(empty.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600) } as u64;
    // SAFETY: lseek has no memory effects.
    outcome("empty_data", unsafe {
        sys(libc::SYS_lseek, &[empty_fd, 0, libc::SEEK_DATA as u64])
    });
    // SAFETY: as above.
    outcome("empty_hole", unsafe {
        sys(libc::SYS_lseek, &[empty_fd, 0, libc::SEEK_HOLE as u64])
    });
}
