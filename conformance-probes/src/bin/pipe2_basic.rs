//! Checks pipe2.
//! - O_CLOEXEC and O_NONBLOCK apply to both ends; unknown flags are EINVAL.
//! - Data goes through in order; an empty non-blocking read is EAGAIN.
//! - A read with no writer left returns 0.
//! - A write with no reader left is EPIPE. Rust's runtime ignores SIGPIPE, and so the
//!   signal does not end the probe.

use conformance_probes::{fail, outcome, report, result, sys};

fn pipe2(flags: i32) -> Result<[i32; 2], conformance_probes::Errno> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two ints.
    unsafe { sys(libc::SYS_pipe2, &[fds.as_mut_ptr() as u64, flags as u64]) }.map(|_| fds)
}

fn getfd(fd: i32) -> u64 {
    // SAFETY: F_GETFD has no memory effects.
    unsafe { sys(libc::SYS_fcntl, &[fd as u64, libc::F_GETFD as u64]) }.unwrap_or(9)
}

fn getfl(fd: i32) -> String {
    // SAFETY: F_GETFL has no memory effects.
    let flags = unsafe { sys(libc::SYS_fcntl, &[fd as u64, libc::F_GETFL as u64]) }.unwrap_or(0);
    format!("{flags:#o}")
}

fn main() {
    let plain = pipe2(0).unwrap_or_else(|e| fail("pipe2", e));
    report(
        "plain_getfd",
        format!("{},{}", getfd(plain[0]), getfd(plain[1])),
    );
    report(
        "plain_getfl",
        format!("{},{}", getfl(plain[0]), getfl(plain[1])),
    );
    let flagged = pipe2(libc::O_CLOEXEC | libc::O_NONBLOCK).unwrap_or_else(|e| fail("pipe2", e));
    report(
        "cloexec_getfd",
        format!("{},{}", getfd(flagged[0]), getfd(flagged[1])),
    );
    report(
        "nonblock_getfl",
        format!("{},{}", getfl(flagged[0]), getfl(flagged[1])),
    );
    outcome("bad_flags", pipe2(libc::O_APPEND));
    outcome("direct_flag", pipe2(libc::O_DIRECT));
    report("read_end_below_write_end", plain[0] < plain[1]);

    let io = |number: i64, fd: i32, buffer: &mut [u8]| {
        // SAFETY: buffer is live for its length.
        unsafe {
            sys(
                number,
                &[fd as u64, buffer.as_mut_ptr() as u64, buffer.len() as u64],
            )
        }
    };
    let mut message = *b"hello pipe";
    result("write", io(libc::SYS_write, plain[1], &mut message));
    let mut first = [0u8; 5];
    result("read_part", io(libc::SYS_read, plain[0], &mut first));
    report("read_part_data", String::from_utf8_lossy(&first));
    let mut rest = [0u8; 64];
    result("read_rest", io(libc::SYS_read, plain[0], &mut rest));
    outcome(
        "nonblock_empty_read",
        io(libc::SYS_read, flagged[0], &mut rest),
    );
    outcome(
        "write_to_read_end",
        io(libc::SYS_write, plain[0], &mut message),
    );
    outcome(
        "read_from_write_end",
        io(libc::SYS_read, plain[1], &mut rest),
    );

    // SAFETY: closing the write end owned here.
    unsafe { libc::close(plain[1]) };
    result(
        "read_without_writer",
        io(libc::SYS_read, plain[0], &mut rest),
    );
    // SAFETY: closing the read end owned here.
    unsafe { libc::close(flagged[0]) };
    outcome(
        "write_without_reader",
        io(libc::SYS_write, flagged[1], &mut message),
    );
}
