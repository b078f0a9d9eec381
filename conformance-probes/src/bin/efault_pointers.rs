//! Checks that bad user pointers make syscalls fail with EFAULT instead of crashing.
//! - read, write, pipe2, clock_gettime, getrandom, uname, rt_sigaction, getcwd and
//!   nanosleep, with an address that was never mapped and with an unmapped page.
//! - A zero-length write from a bad pointer succeeds.
//! - A file read whose buffer runs into an unmapped page returns the bytes that fit
//!   before it, while such a pipe write fails whole.

use conformance_probes::{
    check, fail, outcome, report, result, sys, unmapped_page, TempDir, BAD_POINTER,
};
use std::os::unix::io::AsRawFd;

fn main() {
    let dir = TempDir::new("efault_pointers").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), vec![b'x'; 8192]).unwrap_or_else(|e| fail("write", e));
    let file = std::fs::File::open(dir.join("file")).unwrap_or_else(|e| fail("open", e));
    let fd = file.as_raw_fd() as u64;
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two ints. Non-blocking, so that draining an empty pipe
    // returns EAGAIN instead of hanging.
    unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) };
    let (read_end, write_end) = (fds[0] as u64, fds[1] as u64);

    for (label, bad) in [("never_mapped", BAD_POINTER), ("unmapped", unmapped_page())] {
        // SAFETY: each call gets an invalid pointer that the kernel must reject.
        unsafe {
            outcome(
                &format!("read_{label}"),
                sys(libc::SYS_read, &[fd, bad, 16]),
            );
            outcome(
                &format!("write_pipe_{label}"),
                sys(libc::SYS_write, &[write_end, bad, 16]),
            );
            outcome(&format!("pipe2_{label}"), sys(libc::SYS_pipe2, &[bad, 0]));
            outcome(
                &format!("clock_gettime_{label}"),
                sys(libc::SYS_clock_gettime, &[1, bad]),
            );
            outcome(
                &format!("getrandom_{label}"),
                sys(libc::SYS_getrandom, &[bad, 16, 0]),
            );
            outcome(&format!("uname_{label}"), sys(libc::SYS_uname, &[bad]));
            outcome(
                &format!("rt_sigaction_{label}"),
                sys(libc::SYS_rt_sigaction, &[10, bad, 0, 8]),
            );
            outcome(
                &format!("getcwd_{label}"),
                sys(libc::SYS_getcwd, &[bad, 4096]),
            );
            outcome(
                &format!("nanosleep_{label}"),
                sys(libc::SYS_nanosleep, &[bad, 0]),
            );
        }
    }
    // SAFETY: writing nothing to the pipe from a bad pointer is a no-op.
    outcome("write_zero_len_bad_pointer", unsafe {
        sys(libc::SYS_write, &[write_end, BAD_POINTER, 0])
    });

    // A two-page mapping whose second page is then unmapped: the read stops at the hole.
    // SAFETY: a fresh anonymous mapping owned by this probe.
    let area = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if area == libc::MAP_FAILED {
        fail("mmap", std::io::Error::last_os_error());
    }
    // SAFETY: the second page belongs to the mapping just created.
    unsafe { libc::munmap(area.cast::<u8>().add(4096).cast(), 4096) };
    let start = area as u64 + 4096 - 100;
    // SAFETY: the first 100 bytes are writable; the rest is unmapped and must not fault us.
    let partial = unsafe { sys(libc::SYS_pread64, &[fd, start, 1000, 0]) };
    result("pread_into_partial_buffer", partial);
    // SAFETY: the first 100 bytes were written by the kernel or left zero.
    let copied = unsafe { std::slice::from_raw_parts(start as *const u8, 100) };
    check("partial_bytes_copied", copied.iter().all(|&b| b == b'x'));

    // SAFETY: the bytes after the first 100 are unmapped; the pipe gets what fits.
    let partial_write = unsafe { sys(libc::SYS_write, &[write_end, start, 1000]) };
    result("write_from_partial_buffer", partial_write);
    let mut sink = [0u8; 2000];
    // SAFETY: sink is writable.
    let drained = unsafe { sys(libc::SYS_read, &[read_end, sink.as_mut_ptr() as u64, 2000]) };
    result("pipe_bytes_after_partial_write", drained);
    report("process_still_running", true);
}
