//! Checks O_TRUNC and O_APPEND.
//! - O_TRUNC empties a file, even with O_RDONLY.
//! - O_APPEND writes land at the end whatever the offset, and lseek then reports the end.
//! - pwrite on an O_APPEND fd also appends (a documented Linux quirk).
//! - Clearing O_APPEND with F_SETFL makes writes use the offset again.

use conformance_probes::{fail, report, TempDir};
use std::os::unix::io::AsRawFd;

fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(u64::MAX)
}

fn main() {
    let dir = TempDir::new("openat_trunc_append").unwrap_or_else(|e| fail("tempdir", e));
    let path = dir.join("file");
    let c_path = dir.c_path("file");

    std::fs::write(&path, b"0123456789").unwrap_or_else(|e| fail("write", e));
    // SAFETY: c_path is NUL-terminated.
    let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_WRONLY | libc::O_TRUNC) };
    report("trunc_wronly_size", size(&path));
    // SAFETY: fd was opened here.
    unsafe { libc::close(fd) };

    std::fs::write(&path, b"0123456789").unwrap_or_else(|e| fail("write", e));
    // SAFETY: as above.
    let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_TRUNC) };
    report("trunc_rdonly_opened", fd >= 0);
    report("trunc_rdonly_size", size(&path));
    // SAFETY: as above.
    unsafe { libc::close(fd) };

    std::fs::write(&path, b"0123456789").unwrap_or_else(|e| fail("write", e));
    let file = std::fs::OpenOptions::new()
        .append(true)
        .read(true)
        .open(&path)
        .unwrap_or_else(|e| fail("open append", e));
    let fd = file.as_raw_fd();
    // SAFETY: lseek and write with a live buffer.
    unsafe {
        libc::lseek(fd, 0, libc::SEEK_SET);
        report("append_write", libc::write(fd, b"ab".as_ptr().cast(), 2));
        report("offset_after_append", libc::lseek(fd, 0, libc::SEEK_CUR));
        report(
            "pwrite_at_zero",
            libc::pwrite(fd, b"cd".as_ptr().cast(), 2, 0),
        );
        report("offset_after_pwrite", libc::lseek(fd, 0, libc::SEEK_CUR));
    }
    let content = std::fs::read(&path).unwrap_or_else(|e| fail("read", e));
    report("content", String::from_utf8_lossy(&content));

    // SAFETY: F_GETFL/F_SETFL have no memory effects.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        report("getfl_has_append", flags & libc::O_APPEND != 0);
        libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_APPEND);
        libc::lseek(fd, 0, libc::SEEK_SET);
        libc::write(fd, b"Z".as_ptr().cast(), 1);
    }
    let content = std::fs::read(&path).unwrap_or_else(|e| fail("read", e));
    report(
        "content_after_clearing_append",
        String::from_utf8_lossy(&content),
    );
}
