//! Checks statx.
//! - STATX_BASIC_STATS comes back in stx_mask and the fields agree with stat.
//! - struct statx is 256 bytes, and nothing after it is touched.
//! - AT_EMPTY_PATH works on an fd and is required for an empty path.
//! - A reserved mask bit, an unknown flag or both sync flags are EINVAL; bad pointers are
//!   EFAULT; a missing file is ENOENT; a bad dirfd is EBADF; mask 0 succeeds.

use conformance_probes::{check, cstring, fail, outcome, ptr, report, sys, TempDir, BAD_POINTER};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;

const STATX_BASIC_STATS: u64 = 0x7ff;
const STATX_RESERVED: u64 = 0x8000_0000;

fn field<const N: usize>(buffer: &[u8], offset: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..N].copy_from_slice(&buffer[offset..offset + N]);
    u64::from_le_bytes(bytes)
}

fn statx(dirfd: i32, path: &std::ffi::CStr, flags: u64, mask: u64, buffer: &mut [u8]) -> bool {
    // SAFETY: path is NUL-terminated and buffer is at least 256 bytes.
    let ret = unsafe {
        sys(
            libc::SYS_statx,
            &[
                dirfd as u64,
                ptr(path),
                flags,
                mask,
                buffer.as_mut_ptr() as u64,
            ],
        )
    };
    ret.is_ok()
}

fn main() {
    let dir = TempDir::new("statx_fields").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), [1u8; 3000]).unwrap_or_else(|e| fail("write", e));
    let path = dir.c_path("file");
    let meta = std::fs::metadata(dir.join("file")).unwrap_or_else(|e| fail("stat", e));

    let mut buffer = [0xa5u8; 320];
    check(
        "statx_ok",
        statx(libc::AT_FDCWD, &path, 0, STATX_BASIC_STATS, &mut buffer),
    );
    check(
        "bytes_after_256_untouched",
        buffer[256..].iter().all(|&b| b == 0xa5),
    );
    let mask = field::<4>(&buffer, 0);
    check(
        "mask_has_basic_stats",
        mask & STATX_BASIC_STATS == STATX_BASIC_STATS,
    );
    check(
        "blksize_matches_stat",
        field::<4>(&buffer, 4) == meta.blksize(),
    );
    report("nlink", field::<4>(&buffer, 16));
    check(
        "uid_matches_stat",
        field::<4>(&buffer, 20) == u64::from(meta.uid()),
    );
    check(
        "gid_matches_stat",
        field::<4>(&buffer, 24) == u64::from(meta.gid()),
    );
    check(
        "mode_matches_stat",
        field::<2>(&buffer, 28) == u64::from(meta.mode()),
    );
    check("ino_matches_stat", field::<8>(&buffer, 32) == meta.ino());
    report("size", field::<8>(&buffer, 40));
    check(
        "blocks_matches_stat",
        field::<8>(&buffer, 48) == meta.blocks(),
    );
    check(
        "mtime_matches_stat",
        field::<8>(&buffer, 112) as i64 == meta.mtime(),
    );
    check(
        "mtime_nsec_matches_stat",
        field::<4>(&buffer, 120) as i64 == meta.mtime_nsec(),
    );
    let major = field::<4>(&buffer, 136);
    let minor = field::<4>(&buffer, 140);
    check(
        "dev_matches_stat",
        libc::makedev(major as u32, minor as u32) == meta.dev(),
    );

    let file = std::fs::File::open(dir.join("file")).unwrap_or_else(|e| fail("open", e));
    let empty = cstring("");
    let mut by_fd = [0u8; 256];
    let ok = statx(
        file.as_raw_fd(),
        &empty,
        libc::AT_EMPTY_PATH as u64,
        STATX_BASIC_STATS,
        &mut by_fd,
    );
    check("empty_path_ok", ok);
    check("empty_path_same_ino", field::<8>(&by_fd, 32) == meta.ino());
    check(
        "empty_path_needs_flag",
        !statx(file.as_raw_fd(), &empty, 0, STATX_BASIC_STATS, &mut by_fd),
    );

    let mut only_size = [0u8; 256];
    check(
        "size_only_ok",
        statx(libc::AT_FDCWD, &path, 0, 0x200, &mut only_size),
    );
    check("size_only_has_size", field::<4>(&only_size, 0) & 0x200 != 0);

    let mut scratch = [0u8; 256];
    let call = |dirfd: u64, path: u64, flags: u64, mask: u64, buf: u64| {
        // SAFETY: bad values are rejected by the kernel without memory corruption.
        unsafe { sys(libc::SYS_statx, &[dirfd, path, flags, mask, buf]) }
    };
    let at_fdcwd = libc::AT_FDCWD as u64;
    let buf = scratch.as_mut_ptr() as u64;
    outcome(
        "reserved_mask",
        call(at_fdcwd, ptr(&path), 0, STATX_RESERVED, buf),
    );
    outcome(
        "unknown_flag",
        call(at_fdcwd, ptr(&path), 0x8000_0000, STATX_BASIC_STATS, buf),
    );
    outcome(
        "sync_type_both",
        call(at_fdcwd, ptr(&path), 0x6000, STATX_BASIC_STATS, buf),
    );
    outcome(
        "bad_buffer",
        call(at_fdcwd, ptr(&path), 0, STATX_BASIC_STATS, BAD_POINTER),
    );
    outcome(
        "bad_path",
        call(at_fdcwd, BAD_POINTER, 0, STATX_BASIC_STATS, buf),
    );
    let missing = dir.c_path("missing");
    outcome(
        "missing",
        call(at_fdcwd, ptr(&missing), 0, STATX_BASIC_STATS, buf),
    );
    outcome(
        "bad_dirfd",
        call(999, ptr(&cstring("x")), 0, STATX_BASIC_STATS, buf),
    );
    outcome("zero_mask", call(at_fdcwd, ptr(&path), 0, 0, buf));
}
