//! Checks the arm64 struct stat layout as the kernel writes it.
//! - 128 bytes, and nothing after them is touched.
//! - st_ino at 8, st_mode at 16 (u32), st_nlink at 20 (u32), st_uid at 24, st_gid at 28,
//!   st_size at 48, st_blksize at 56, st_blocks at 64.
//! - The timestamps are (sec, nsec) pairs at 72, 88 and 104.
//! - A bad buffer or path is EFAULT; an unknown flag is EINVAL.

use conformance_probes::{check, cstring, fail, outcome, ptr, report, sys, TempDir, BAD_POINTER};

fn u32_at(buffer: &[u8], offset: usize) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&buffer[offset..offset + 4]);
    u32::from_le_bytes(bytes)
}

fn i64_at(buffer: &[u8], offset: usize) -> i64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&buffer[offset..offset + 8]);
    i64::from_le_bytes(bytes)
}

fn main() {
    let dir = TempDir::new("stat_layout").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), [7u8; 1234]).unwrap_or_else(|e| fail("write", e));
    let path = dir.c_path("file");

    let mut buffer = [0xa5u8; 192];
    // SAFETY: path is NUL-terminated and buffer has room for struct stat.
    let ret = unsafe {
        sys(
            libc::SYS_newfstatat,
            &[
                libc::AT_FDCWD as u64,
                ptr(&path),
                buffer.as_mut_ptr() as u64,
                0,
            ],
        )
    };
    outcome("newfstatat", ret);

    // SAFETY: for comparison, the libc view of the same file.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path and st are valid.
    unsafe { libc::stat(path.as_ptr(), &mut st) };

    report("sizeof_libc_stat", std::mem::size_of::<libc::stat>());
    check(
        "bytes_after_128_untouched",
        buffer[128..].iter().all(|&b| b == 0xa5),
    );
    check("ino_at_8", i64_at(&buffer, 8) as u64 == st.st_ino);
    report(
        "mode_at_16_type",
        format!("{:o}", u32_at(&buffer, 16) & libc::S_IFMT),
    );
    check("mode_at_16", u32_at(&buffer, 16) == st.st_mode);
    report("nlink_at_20", u32_at(&buffer, 20));
    check("uid_at_24", u32_at(&buffer, 24) == st.st_uid);
    check("gid_at_28", u32_at(&buffer, 28) == st.st_gid);
    report("size_at_48", i64_at(&buffer, 48));
    check(
        "blksize_at_56",
        u32_at(&buffer, 56) as i64 == st.st_blksize as i64,
    );
    check("blocks_at_64", i64_at(&buffer, 64) == st.st_blocks);
    check("atime_at_72", i64_at(&buffer, 72) == st.st_atime);
    check("mtime_at_88", i64_at(&buffer, 88) == st.st_mtime);
    check("mtime_nsec_at_96", i64_at(&buffer, 96) == st.st_mtime_nsec);
    check("ctime_at_104", i64_at(&buffer, 104) == st.st_ctime);
    check("padding_after_rdev_zero", u32_at(&buffer, 40) == 0);
    check(
        "unused_tail_zero",
        u32_at(&buffer, 120) == 0 && u32_at(&buffer, 124) == 0,
    );

    // SAFETY: the kernel must fault cleanly on the bad buffer.
    let ret = unsafe {
        sys(
            libc::SYS_newfstatat,
            &[libc::AT_FDCWD as u64, ptr(&path), BAD_POINTER, 0],
        )
    };
    outcome("newfstatat_bad_buffer", ret);
    let mut scratch = [0u8; 128];
    // SAFETY: as above, for the path pointer.
    let ret = unsafe {
        sys(
            libc::SYS_newfstatat,
            &[
                libc::AT_FDCWD as u64,
                BAD_POINTER,
                scratch.as_mut_ptr() as u64,
                0,
            ],
        )
    };
    outcome("newfstatat_bad_path", ret);
    // SAFETY: as above, for fstat.
    let ret = unsafe { sys(libc::SYS_fstat, &[0, BAD_POINTER]) };
    outcome("fstat_bad_buffer", ret);
    let bad_flags = cstring("/");
    // SAFETY: scratch is large enough; the flag word is invalid.
    let ret = unsafe {
        sys(
            libc::SYS_newfstatat,
            &[
                libc::AT_FDCWD as u64,
                ptr(&bad_flags),
                scratch.as_mut_ptr() as u64,
                0x1,
            ],
        )
    };
    outcome("newfstatat_invalid_flag", ret);
}
