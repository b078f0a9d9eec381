//! Checks close-on-exec bookkeeping.
//! - O_CLOEXEC and SOCK_CLOEXEC set FD_CLOEXEC; a plain open does not.
//! - F_SETFD sets and clears it and ignores other bits; F_SETFL does not touch it.
//! - dup never copies it.

use conformance_probes::{fail, report, TempDir};

fn getfd(fd: i32) -> i32 {
    // SAFETY: F_GETFD has no memory effects.
    unsafe { libc::fcntl(fd, libc::F_GETFD) }
}

fn main() {
    let dir = TempDir::new("openat_cloexec").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"x").unwrap_or_else(|e| fail("write", e));
    let path = dir.c_path("file");
    // SAFETY: path is NUL-terminated; the fds are closed at exit.
    let plain = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
    // SAFETY: as above.
    let cloexec = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    report("plain_getfd", getfd(plain));
    report("cloexec_getfd", getfd(cloexec));
    // SAFETY: dup has no memory effects.
    report("dup_of_cloexec_getfd", getfd(unsafe { libc::dup(cloexec) }));
    // SAFETY: F_SETFD has no memory effects.
    unsafe { libc::fcntl(plain, libc::F_SETFD, libc::FD_CLOEXEC) };
    report("after_setfd_getfd", getfd(plain));
    // SAFETY: as above; bits other than FD_CLOEXEC are ignored.
    unsafe { libc::fcntl(plain, libc::F_SETFD, 0xfe) };
    report("after_setfd_other_bits_getfd", getfd(plain));
    // SAFETY: F_SETFL has no memory effects.
    unsafe { libc::fcntl(cloexec, libc::F_SETFL, libc::O_NONBLOCK) };
    report("getfd_after_setfl", getfd(cloexec));
    // SAFETY: as above, for a closed fd.
    report("getfd_closed", getfd(555));
    // SAFETY: socket creation with SOCK_CLOEXEC has no memory effects.
    let socket = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    report("socket_cloexec_getfd", getfd(socket));
}
