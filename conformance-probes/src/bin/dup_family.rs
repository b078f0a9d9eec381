//! Checks dup, dup3 and F_DUPFD.
//! - dup returns the lowest free fd; dup3 onto an open fd closes it silently.
//! - dup3 with equal fds or flags other than O_CLOEXEC is EINVAL; libc's dup2 with equal
//!   fds returns the fd.
//! - F_DUPFD and F_DUPFD_CLOEXEC pick the lowest fd >= arg and reject an arg at or above
//!   RLIMIT_NOFILE.
//! - Duplicates share the offset and status flags, but not FD_CLOEXEC.

use conformance_probes::{fail, outcome, report, result, sys, TempDir};

fn main() {
    let dir = TempDir::new("dup_family").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"0123456789").unwrap_or_else(|e| fail("write", e));
    let path = dir.c_path("file");
    // SAFETY: path is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR) };
    let call = |number: i64, args: &[u64]| {
        // SAFETY: the fd syscalls below take no pointers.
        unsafe { sys(number, args) }
    };
    let fd64 = fd as u64;

    // Close 10..=12 so the lowest-free rule is visible.
    for n in 10..=12 {
        call(libc::SYS_close, &[n]).ok();
    }
    let first = call(libc::SYS_dup, &[fd64]).unwrap_or(0);
    let mut lowest = 0;
    while call(libc::SYS_fcntl, &[lowest, libc::F_GETFD as u64]).is_ok() && lowest < first {
        lowest += 1;
    }
    report("dup_returns_lowest_free", first == lowest);

    result("dup3_to_11", call(libc::SYS_dup3, &[fd64, 11, 0]));
    report(
        "dup3_no_cloexec_getfd",
        call(libc::SYS_fcntl, &[11, libc::F_GETFD as u64]).unwrap_or(9),
    );
    result(
        "dup3_cloexec_to_12",
        call(libc::SYS_dup3, &[fd64, 12, libc::O_CLOEXEC as u64]),
    );
    report(
        "dup3_cloexec_getfd",
        call(libc::SYS_fcntl, &[12, libc::F_GETFD as u64]).unwrap_or(9),
    );
    outcome("dup3_same_fd", call(libc::SYS_dup3, &[fd64, fd64, 0]));
    outcome(
        "dup3_bad_flags",
        call(libc::SYS_dup3, &[fd64, 13, libc::O_NONBLOCK as u64]),
    );
    result("dup3_over_open_fd", call(libc::SYS_dup3, &[fd64, 11, 0]));
    outcome("dup3_bad_oldfd", call(libc::SYS_dup3, &[500, 13, 0]));
    // SAFETY: dup2 has no memory effects.
    report("libc_dup2_same_fd", unsafe { libc::dup2(fd, fd) } == fd);

    result(
        "f_dupfd_100",
        call(libc::SYS_fcntl, &[fd64, libc::F_DUPFD as u64, 100]),
    );
    result(
        "f_dupfd_100_again",
        call(libc::SYS_fcntl, &[fd64, libc::F_DUPFD as u64, 100]),
    );
    report(
        "f_dupfd_getfd",
        call(libc::SYS_fcntl, &[100, libc::F_GETFD as u64]).unwrap_or(9),
    );
    result(
        "f_dupfd_cloexec_200",
        call(libc::SYS_fcntl, &[fd64, libc::F_DUPFD_CLOEXEC as u64, 200]),
    );
    report(
        "f_dupfd_cloexec_getfd",
        call(libc::SYS_fcntl, &[200, libc::F_GETFD as u64]).unwrap_or(9),
    );
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: limit is a valid rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    outcome(
        "f_dupfd_at_limit",
        call(
            libc::SYS_fcntl,
            &[fd64, libc::F_DUPFD as u64, limit.rlim_cur],
        ),
    );
    outcome(
        "f_dupfd_negative",
        call(libc::SYS_fcntl, &[fd64, libc::F_DUPFD as u64, u64::MAX]),
    );

    call(libc::SYS_lseek, &[fd64, 6, 0]).ok();
    result("dup_shares_offset", call(libc::SYS_lseek, &[100, 0, 1]));
    call(
        libc::SYS_fcntl,
        &[fd64, libc::F_SETFL as u64, libc::O_APPEND as u64],
    )
    .ok();
    let shared = call(libc::SYS_fcntl, &[200, libc::F_GETFL as u64]).unwrap_or(0);
    report(
        "dup_shares_status_flags",
        shared & libc::O_APPEND as u64 != 0,
    );
}
