//! Checks F_GETFL and F_SETFL.
//! - The access mode and status flags read back, and arm64 reports O_LARGEFILE for every
//!   open of a file (not for pipes).
//! - F_SETFL changes O_APPEND and O_NONBLOCK but not the access mode or creation flags.
//! - O_NONBLOCK makes an empty pipe read EAGAIN; an unknown command is EINVAL.

use conformance_probes::{fail, outcome, report, sys, TempDir};

fn getfl(fd: u64) -> String {
    // SAFETY: F_GETFL has no memory effects.
    match unsafe { sys(libc::SYS_fcntl, &[fd, libc::F_GETFL as u64]) } {
        Ok(flags) => format!("{flags:#o}"),
        Err(errno) => errno.to_string(),
    }
}

fn main() {
    let dir = TempDir::new("fcntl_flags").unwrap_or_else(|e| fail("tempdir", e));
    let path = dir.c_path("file");
    let open = |flags: i32| {
        // SAFETY: path is NUL-terminated.
        unsafe {
            sys(
                libc::SYS_openat,
                &[
                    libc::AT_FDCWD as u64,
                    conformance_probes::ptr(&path),
                    flags as u64,
                    0o600,
                ],
            )
        }
        .unwrap_or_else(|e| fail("openat", e))
    };
    let creat = open(libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC);
    report("getfl_creat_excl_trunc_rdwr", getfl(creat));
    report("getfl_rdonly", getfl(open(libc::O_RDONLY)));
    report(
        "getfl_wronly_append",
        getfl(open(libc::O_WRONLY | libc::O_APPEND)),
    );
    report(
        "getfl_rdwr_nonblock_cloexec",
        getfl(open(libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC)),
    );
    report("getfl_path", getfl(open(libc::O_PATH)));
    report("getfl_sync", getfl(open(libc::O_RDWR | libc::O_SYNC)));
    report("getfl_noctty", getfl(open(libc::O_RDONLY | libc::O_NOCTTY)));

    let fd = open(libc::O_RDONLY);
    let setfl = |flags: i32| {
        // SAFETY: F_SETFL has no memory effects.
        unsafe { sys(libc::SYS_fcntl, &[fd, libc::F_SETFL as u64, flags as u64]) }
    };
    outcome(
        "setfl_rdwr_append_nonblock",
        setfl(libc::O_RDWR | libc::O_APPEND | libc::O_NONBLOCK),
    );
    report("getfl_after_setfl", getfl(fd));
    outcome("setfl_creat_trunc", setfl(libc::O_CREAT | libc::O_TRUNC));
    report("getfl_after_setfl_creat", getfl(fd));

    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two ints.
    unsafe { libc::pipe(fds.as_mut_ptr()) };
    report("getfl_pipe_read", getfl(fds[0] as u64));
    report("getfl_pipe_write", getfl(fds[1] as u64));
    // SAFETY: F_SETFL on the pipe's read end.
    unsafe {
        sys(
            libc::SYS_fcntl,
            &[fds[0] as u64, libc::F_SETFL as u64, libc::O_NONBLOCK as u64],
        )
    }
    .ok();
    let mut byte = [0u8; 1];
    // SAFETY: reading into a live buffer.
    outcome("nonblock_empty_pipe_read", unsafe {
        sys(
            libc::SYS_read,
            &[fds[0] as u64, byte.as_mut_ptr() as u64, 1],
        )
    });
    // SAFETY: an unknown command takes no pointer.
    outcome("unknown_cmd", unsafe {
        sys(libc::SYS_fcntl, &[fd, 9999, 0])
    });
}
