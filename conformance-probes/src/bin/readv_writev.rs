//! Checks readv and writev.
//! - writev gathers the buffers in order and returns the total; zero-length entries are
//!   skipped.
//! - readv scatters in order and stops at EOF with a short count.
//! - iovcnt 0 returns 0; iovcnt above 1024 (UIO_MAXIOV) is EINVAL.
//! - A bad iovec array is EFAULT; a bad buffer in the first entry is EFAULT.
//! - preadv and pwritev use the given offset and leave the file offset alone.

use conformance_probes::{fail, outcome, report, result, sys, TempDir, BAD_POINTER};
use std::os::unix::io::AsRawFd;

fn iovec(buffer: &[u8]) -> libc::iovec {
    libc::iovec {
        iov_base: buffer.as_ptr() as *mut libc::c_void,
        iov_len: buffer.len(),
    }
}

fn main() {
    let dir = TempDir::new("readv_writev").unwrap_or_else(|e| fail("tempdir", e));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("file"))
        .unwrap_or_else(|e| fail("open", e));
    let fd = file.as_raw_fd() as u64;

    let parts: [&[u8]; 4] = [b"alpha ", b"", b"beta ", b"gamma"];
    let iovecs: Vec<libc::iovec> = parts.iter().map(|part| iovec(part)).collect();
    // SAFETY: the iovecs point at live buffers.
    let written = unsafe { sys(libc::SYS_writev, &[fd, iovecs.as_ptr() as u64, 4]) };
    result("writev", written);
    let content = std::fs::read(dir.join("file")).unwrap_or_default();
    report("content", String::from_utf8_lossy(&content));

    let mut first = [0u8; 3];
    let mut second = [0u8; 4];
    let mut third = [0u8; 100];
    let targets = [iovec(&first), iovec(&second), iovec(&third)];
    // SAFETY: the iovecs point at live, writable buffers.
    let read = unsafe { sys(libc::SYS_preadv, &[fd, targets.as_ptr() as u64, 3, 0]) };
    result("preadv_at_0", read);
    // SAFETY: the kernel wrote through the iovecs; reading the buffers back is sound.
    let (first, second) = unsafe {
        (
            std::ptr::read_volatile(&mut first as *mut [u8; 3]),
            std::ptr::read_volatile(&mut second as *mut [u8; 4]),
        )
    };
    report("first", String::from_utf8_lossy(&first));
    report("second", String::from_utf8_lossy(&second));
    // SAFETY: as above.
    let third = unsafe { std::ptr::read_volatile(&mut third as *mut [u8; 100]) };
    report("third", String::from_utf8_lossy(&third[..9]));
    // SAFETY: lseek has no memory effects.
    result("offset_after_writev", unsafe {
        sys(libc::SYS_lseek, &[fd, 0, libc::SEEK_CUR as u64])
    });

    let patch = [iovec(b"ALPHA")];
    // SAFETY: the iovec points at a live buffer.
    result("pwritev_at_0", unsafe {
        sys(libc::SYS_pwritev, &[fd, patch.as_ptr() as u64, 1, 0])
    });
    // SAFETY: lseek has no memory effects.
    result("offset_after_pwritev", unsafe {
        sys(libc::SYS_lseek, &[fd, 0, libc::SEEK_CUR as u64])
    });

    // SAFETY: lseek has no memory effects.
    unsafe { sys(libc::SYS_lseek, &[fd, 0, libc::SEEK_SET as u64]) }.ok();
    let mut all = [0u8; 64];
    let whole = [iovec(&all)];
    // SAFETY: the iovec points at a live, writable buffer.
    result("readv_to_eof", unsafe {
        sys(libc::SYS_readv, &[fd, whole.as_ptr() as u64, 1])
    });
    // SAFETY: the kernel wrote through the iovec.
    let all = unsafe { std::ptr::read_volatile(&mut all as *mut [u8; 64]) };
    report("readv_content", String::from_utf8_lossy(&all[..16]));

    // SAFETY: every call below is rejected or reads nothing.
    unsafe {
        outcome(
            "iovcnt_0",
            sys(libc::SYS_readv, &[fd, whole.as_ptr() as u64, 0]),
        );
        outcome(
            "iovcnt_1025",
            sys(libc::SYS_readv, &[fd, whole.as_ptr() as u64, 1025]),
        );
        outcome(
            "bad_iovec_array",
            sys(libc::SYS_writev, &[fd, BAD_POINTER, 1]),
        );
        let bad = [libc::iovec {
            iov_base: BAD_POINTER as *mut libc::c_void,
            iov_len: 8,
        }];
        outcome(
            "bad_buffer",
            sys(libc::SYS_writev, &[fd, bad.as_ptr() as u64, 1]),
        );
        outcome(
            "closed_fd",
            sys(libc::SYS_writev, &[999, whole.as_ptr() as u64, 1]),
        );
    }
}
