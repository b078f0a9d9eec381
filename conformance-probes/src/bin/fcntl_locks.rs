//! Checks POSIX record locks and OFD locks.
//! - struct flock is 32 bytes with l_start at 8 and l_pid at 24.
//! - A process never conflicts with its own POSIX locks.
//! - A forked child reads the parent's lock through F_GETLK (l_pid = parent) and its F_SETLK
//!   fails with EAGAIN, while a disjoint range locks fine.
//! - Two OFD locks on separate open file descriptions conflict inside one process.
//! - A bad l_type or l_whence is EINVAL; a write lock on a read-only fd is EBADF.

use conformance_probes::{check, fail, outcome, report, sys, TempDir};
use std::os::unix::io::AsRawFd;

fn flock(kind: i16, start: i64, len: i64) -> libc::flock {
    libc::flock {
        l_type: kind,
        l_whence: libc::SEEK_SET as i16,
        l_start: start,
        l_len: len,
        l_pid: 0,
    }
}

fn fcntl_lock(fd: i32, cmd: i32, lock: &mut libc::flock) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: lock points to a valid struct flock.
    unsafe {
        sys(
            libc::SYS_fcntl,
            &[fd as u64, cmd as u64, lock as *mut libc::flock as u64],
        )
    }
}

fn main() {
    let dir = TempDir::new("fcntl_locks").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), [0u8; 100]).unwrap_or_else(|e| fail("write", e));
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join("file"))
            .unwrap_or_else(|e| fail("open", e))
    };
    let file = open();
    let fd = file.as_raw_fd();

    report("sizeof_flock", std::mem::size_of::<libc::flock>());
    let probe = flock(0, 0, 0);
    let base = &probe as *const libc::flock as usize;
    report(
        "offset_l_start",
        &probe.l_start as *const i64 as usize - base,
    );
    report("offset_l_pid", &probe.l_pid as *const i32 as usize - base);

    outcome(
        "setlk_write",
        fcntl_lock(fd, libc::F_SETLK, &mut flock(libc::F_WRLCK as i16, 10, 20)),
    );
    let mut query = flock(libc::F_WRLCK as i16, 0, 0);
    outcome("getlk_own", fcntl_lock(fd, libc::F_GETLK, &mut query));
    check("getlk_own_unlocked", query.l_type == libc::F_UNLCK as i16);

    // SAFETY: getpid has no memory effects.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the child only makes syscalls and leaves with _exit.
    let child = unsafe { libc::fork() };
    if child == 0 {
        let other = open();
        let ofd = other.as_raw_fd();
        let mut query = flock(libc::F_WRLCK as i16, 0, 0);
        let mut code = 0;
        if fcntl_lock(ofd, libc::F_GETLK, &mut query).is_err() {
            code |= 1;
        }
        if query.l_type != libc::F_WRLCK as i16 || query.l_start != 10 || query.l_len != 20 {
            code |= 2;
        }
        if query.l_pid != parent {
            code |= 4;
        }
        if fcntl_lock(ofd, libc::F_SETLK, &mut flock(libc::F_RDLCK as i16, 15, 1))
            != Err(conformance_probes::Errno(libc::EAGAIN))
        {
            code |= 8;
        }
        if fcntl_lock(ofd, libc::F_SETLK, &mut flock(libc::F_WRLCK as i16, 30, 5)).is_err() {
            code |= 16;
        }
        // SAFETY: leaving the forked child without running Rust destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: status is a valid int.
    unsafe { libc::waitpid(child, &mut status, 0) };
    report("child_checks_failed_bits", libc::WEXITSTATUS(status));

    let second = open();
    outcome(
        "ofd_setlk_first",
        fcntl_lock(
            fd,
            libc::F_OFD_SETLK,
            &mut flock(libc::F_WRLCK as i16, 50, 10),
        ),
    );
    outcome(
        "ofd_setlk_conflict",
        fcntl_lock(
            second.as_raw_fd(),
            libc::F_OFD_SETLK,
            &mut flock(libc::F_WRLCK as i16, 55, 1),
        ),
    );
    let mut ofd_query = flock(libc::F_WRLCK as i16, 50, 1);
    outcome(
        "ofd_getlk",
        fcntl_lock(second.as_raw_fd(), libc::F_OFD_GETLK, &mut ofd_query),
    );
    report("ofd_getlk_pid", ofd_query.l_pid);
    let mut with_pid = flock(libc::F_WRLCK as i16, 60, 1);
    with_pid.l_pid = 1;
    outcome(
        "ofd_setlk_nonzero_pid",
        fcntl_lock(fd, libc::F_OFD_SETLK, &mut with_pid),
    );
    outcome(
        "setlk_bad_type",
        fcntl_lock(fd, libc::F_SETLK, &mut flock(7, 0, 1)),
    );
    let mut bad_whence = flock(libc::F_RDLCK as i16, 0, 1);
    bad_whence.l_whence = 9;
    outcome(
        "setlk_bad_whence",
        fcntl_lock(fd, libc::F_SETLK, &mut bad_whence),
    );
    let read_only = std::fs::File::open(dir.join("file")).unwrap_or_else(|e| fail("open", e));
    outcome(
        "setlk_write_on_rdonly",
        fcntl_lock(
            read_only.as_raw_fd(),
            libc::F_SETLK,
            &mut flock(libc::F_WRLCK as i16, 0, 1),
        ),
    );
    outcome(
        "unlock",
        fcntl_lock(fd, libc::F_SETLK, &mut flock(libc::F_UNLCK as i16, 0, 0)),
    );
}
