//! Checks ioctl on files that are not terminals.
//! - TCGETS on /dev/null, a pipe and a regular file is ENOTTY; TIOCGWINSZ likewise.
//! - FIONBIO sets and clears O_NONBLOCK; FIOCLEX and FIONCLEX set and clear FD_CLOEXEC.
//! - FIONREAD on a regular file returns the bytes left after the offset.
//! - A closed fd is EBADF; an unknown request on a pipe is ENOTTY.

use conformance_probes::{cstring, fail, outcome, report, sys, TempDir};
use std::os::unix::io::AsRawFd;

fn ioctl(fd: i32, request: u64, arg: u64) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: arg is zero or points at a live buffer large enough for the request.
    unsafe { sys(libc::SYS_ioctl, &[fd as u64, request, arg]) }
}

fn main() {
    let mut termios = [0u8; 64];
    let buf = termios.as_mut_ptr() as u64;
    let null = cstring("/dev/null");
    // SAFETY: null is NUL-terminated.
    let null_fd = unsafe { libc::open(null.as_ptr(), libc::O_RDWR) };
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two ints.
    unsafe { libc::pipe(fds.as_mut_ptr()) };
    let dir = TempDir::new("ioctl_errors").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"0123456789").unwrap_or_else(|e| fail("write", e));
    let file = std::fs::File::open(dir.join("file")).unwrap_or_else(|e| fail("open", e));

    outcome("tcgets_dev_null", ioctl(null_fd, libc::TCGETS, buf));
    outcome("tcgets_pipe", ioctl(fds[0], libc::TCGETS, buf));
    outcome("tcgets_file", ioctl(file.as_raw_fd(), libc::TCGETS, buf));
    outcome("tiocgwinsz_pipe", ioctl(fds[0], libc::TIOCGWINSZ, buf));
    outcome("tcgets_closed", ioctl(999, libc::TCGETS, buf));
    outcome("unknown_request_pipe", ioctl(fds[0], 0x1234_5678, 0));

    let on = 1i32;
    let off = 0i32;
    outcome(
        "fionbio_on",
        ioctl(fds[0], libc::FIONBIO, &on as *const i32 as u64),
    );
    // SAFETY: F_GETFL takes no pointers.
    report(
        "nonblock_after_fionbio_on",
        unsafe { libc::fcntl(fds[0], libc::F_GETFL) } & libc::O_NONBLOCK != 0,
    );
    outcome(
        "fionbio_off",
        ioctl(fds[0], libc::FIONBIO, &off as *const i32 as u64),
    );
    // SAFETY: as above.
    report(
        "nonblock_after_fionbio_off",
        unsafe { libc::fcntl(fds[0], libc::F_GETFL) } & libc::O_NONBLOCK != 0,
    );
    outcome("fioclex", ioctl(fds[0], libc::FIOCLEX, 0));
    // SAFETY: F_GETFD takes no pointers.
    report("getfd_after_fioclex", unsafe {
        libc::fcntl(fds[0], libc::F_GETFD)
    });
    outcome("fionclex", ioctl(fds[0], libc::FIONCLEX, 0));
    // SAFETY: as above.
    report("getfd_after_fionclex", unsafe {
        libc::fcntl(fds[0], libc::F_GETFD)
    });

    // SAFETY: lseek takes no pointers.
    unsafe { libc::lseek(file.as_raw_fd(), 3, libc::SEEK_SET) };
    let mut available = -1i32;
    outcome(
        "fionread_file",
        ioctl(
            file.as_raw_fd(),
            libc::FIONREAD,
            &mut available as *mut i32 as u64,
        ),
    );
    report("fionread_file_value", available);
}
