//! Checks lseek.
//! - SEEK_SET, SEEK_CUR and SEEK_END results, and a 1 TiB offset.
//! - A negative result or an unknown whence is EINVAL and leaves the offset unchanged.
//! - Writing past the end leaves a zero-filled hole and extends the size.
//! - A pipe is ESPIPE; /dev/null accepts any offset and returns 0.
//! - Duplicated fds share the offset.

use conformance_probes::{fail, outcome, report, result, sys, TempDir};

fn main() {
    let dir = TempDir::new("lseek_basic").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"0123456789").unwrap_or_else(|e| fail("write", e));
    let path = dir.c_path("file");
    // SAFETY: path is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR) } as u64;
    let seek = |fd: u64, offset: i64, whence: u64| {
        // SAFETY: lseek has no memory effects.
        unsafe { sys(libc::SYS_lseek, &[fd, offset as u64, whence]) }
    };

    result("set_4", seek(fd, 4, 0));
    result("cur_plus_3", seek(fd, 3, 1));
    result("cur_minus_2", seek(fd, -2, 1));
    result("end_0", seek(fd, 0, 2));
    result("end_minus_4", seek(fd, -4, 2));
    outcome("set_negative", seek(fd, -1, 0));
    outcome("cur_before_start", seek(fd, -100, 1));
    outcome("whence_5", seek(fd, 0, 5));
    result("offset_unchanged_after_errors", seek(fd, 0, 1));
    result("end_plus_100", seek(fd, 100, 2));
    // SAFETY: write from a live buffer.
    result("write_past_end", unsafe {
        sys(libc::SYS_write, &[fd, b"Z".as_ptr() as u64, 1])
    });
    let content = std::fs::read(dir.join("file")).unwrap_or_else(|e| fail("read", e));
    report("size_after_hole", content.len());
    report("hole_is_zero", content[10..110].iter().all(|&b| b == 0));
    result("set_1tib", seek(fd, 1 << 40, 0));

    // SAFETY: dup has no memory effects.
    let copy = unsafe { libc::dup(fd as i32) } as u64;
    seek(fd, 7, 0).ok();
    result("dup_shares_offset", seek(copy, 0, 1));

    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two ints.
    unsafe { libc::pipe(fds.as_mut_ptr()) };
    outcome("pipe", seek(fds[0] as u64, 0, 1));
    outcome("closed_fd", seek(999, 0, 0));
    let null = conformance_probes::cstring("/dev/null");
    // SAFETY: null is NUL-terminated.
    let null_fd = unsafe { libc::open(null.as_ptr(), libc::O_RDWR) } as u64;
    result("dev_null_seek", seek(null_fd, 1234, 0));
}
