//! Checks pipe capacity.
//! - F_GETPIPE_SZ is 65536 by default.
//! - A non-blocking writer of 1000-byte chunks fits 64000 bytes before EAGAIN, because four
//!   chunks share each of the 16 page buffers and a fifth does not fit in the rest.
//! - FIONREAD counts the queued bytes.
//! - F_SETPIPE_SZ rounds up to a power-of-two number of pages and rejects shrinking below
//!   the queued data with EBUSY.
//! - A write of at most PIPE_BUF bytes into a pipe with less room is EAGAIN, not partial.

use conformance_probes::{outcome, report, result, sys};

fn main() {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two ints.
    unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) };
    let (read_end, write_end) = (fds[0] as u64, fds[1] as u64);
    let fcntl = |fd: u64, cmd: i32, arg: u64| {
        // SAFETY: the pipe-size commands take no pointers.
        unsafe { sys(libc::SYS_fcntl, &[fd, cmd as u64, arg]) }
    };

    result("default_size", fcntl(write_end, libc::F_GETPIPE_SZ, 0));
    let chunk = [7u8; 1000];
    let mut total = 0u64;
    loop {
        // SAFETY: writing from a live buffer.
        match unsafe {
            sys(
                libc::SYS_write,
                &[write_end, chunk.as_ptr() as u64, chunk.len() as u64],
            )
        } {
            Ok(n) => total += n,
            Err(errno) => {
                report("full_write_error", errno);
                break;
            }
        }
    }
    report("bytes_until_full", total);
    let mut queued = 0i32;
    // SAFETY: FIONREAD writes one int.
    unsafe { libc::ioctl(fds[0], libc::FIONREAD, &mut queued) };
    report("fionread_full", queued);
    outcome(
        "shrink_below_content",
        fcntl(write_end, libc::F_SETPIPE_SZ, 4096),
    );

    let mut sink = vec![0u8; 70000];
    // SAFETY: reading into a live buffer.
    result("drain", unsafe {
        sys(
            libc::SYS_read,
            &[read_end, sink.as_mut_ptr() as u64, sink.len() as u64],
        )
    });
    result("set_4096", fcntl(write_end, libc::F_SETPIPE_SZ, 4096));
    result(
        "set_5000_rounds",
        fcntl(write_end, libc::F_SETPIPE_SZ, 5000),
    );
    result("set_1_rounds", fcntl(read_end, libc::F_SETPIPE_SZ, 1));
    result("get_after_set", fcntl(read_end, libc::F_GETPIPE_SZ, 0));

    // With a 4096-byte pipe holding 4000 bytes, a 200-byte write (<= PIPE_BUF) must not
    // be split, and a 1000-byte write may be partial only above PIPE_BUF.
    let data = [1u8; 4000];
    // SAFETY: writing from live buffers.
    unsafe {
        result(
            "fill_4000",
            sys(libc::SYS_write, &[write_end, data.as_ptr() as u64, 4000]),
        );
        outcome(
            "atomic_200_into_96",
            sys(libc::SYS_write, &[write_end, data.as_ptr() as u64, 200]),
        );
        result(
            "write_96",
            sys(libc::SYS_write, &[write_end, data.as_ptr() as u64, 96]),
        );
    }
    report("pipe_buf", libc::PIPE_BUF);
}
