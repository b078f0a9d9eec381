//! Checks EBADF for bad file descriptors.
//! - A closed fd, -1 and a huge fd for read, write, close, fstat, lseek, dup, fcntl and
//!   getdents64.
//! - Writing an O_RDONLY fd, reading an O_WRONLY fd or an O_PATH fd, closing an fd twice.
//! - ftruncate on an O_RDONLY fd is EINVAL, not EBADF.

use conformance_probes::{fail, outcome, ptr, sys, TempDir};

fn main() {
    let dir = TempDir::new("bad_fd_errors").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"data").unwrap_or_else(|e| fail("write", e));
    let mut buffer = [0u8; 64];
    let buf = buffer.as_mut_ptr() as u64;

    for (label, fd) in [
        ("closed", 777u64),
        ("minus_one", u64::MAX),
        ("huge", 1 << 30),
    ] {
        // SAFETY: every call gets a bad fd and a valid buffer; nothing is written.
        unsafe {
            outcome(&format!("read_{label}"), sys(libc::SYS_read, &[fd, buf, 1]));
            outcome(
                &format!("write_{label}"),
                sys(libc::SYS_write, &[fd, buf, 1]),
            );
            outcome(&format!("close_{label}"), sys(libc::SYS_close, &[fd]));
            outcome(&format!("fstat_{label}"), sys(libc::SYS_fstat, &[fd, buf]));
            outcome(&format!("lseek_{label}"), sys(libc::SYS_lseek, &[fd, 0, 0]));
            outcome(&format!("dup_{label}"), sys(libc::SYS_dup, &[fd]));
            outcome(
                &format!("fcntl_getfl_{label}"),
                sys(libc::SYS_fcntl, &[fd, libc::F_GETFL as u64]),
            );
            outcome(
                &format!("getdents64_{label}"),
                sys(libc::SYS_getdents64, &[fd, buf, 64]),
            );
        }
    }

    let path = dir.c_path("file");
    let open = |flags: i32| {
        // SAFETY: path is NUL-terminated.
        unsafe {
            sys(
                libc::SYS_openat,
                &[libc::AT_FDCWD as u64, ptr(&path), flags as u64, 0],
            )
        }
        .unwrap_or_else(|e| fail("openat", e))
    };
    let read_only = open(libc::O_RDONLY);
    let write_only = open(libc::O_WRONLY);
    let path_only = open(libc::O_PATH);
    // SAFETY: valid fds and buffer.
    unsafe {
        outcome("write_rdonly", sys(libc::SYS_write, &[read_only, buf, 1]));
        outcome("read_wronly", sys(libc::SYS_read, &[write_only, buf, 1]));
        outcome("read_path_fd", sys(libc::SYS_read, &[path_only, buf, 1]));
        outcome("fstat_path_fd", sys(libc::SYS_fstat, &[path_only, buf]));
        outcome(
            "ftruncate_rdonly",
            sys(libc::SYS_ftruncate, &[read_only, 0]),
        );
        outcome("close_once", sys(libc::SYS_close, &[read_only]));
        outcome("close_twice", sys(libc::SYS_close, &[read_only]));
        outcome(
            "dup2_to_negative",
            sys(libc::SYS_dup3, &[write_only, u64::MAX, 0]),
        );
    }
}
