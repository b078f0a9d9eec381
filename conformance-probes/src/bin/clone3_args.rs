//! Checks clone3.
//! - A size below 64 bytes is EINVAL; above a page, E2BIG.
//! - Non-zero bytes past the known struct are E2BIG.
//! - Unknown flag bits, an invalid exit_signal and CLONE_THREAD without CLONE_SIGHAND are
//!   EINVAL; a bad pointer is EFAULT.
//! - With exit_signal = SIGCHLD and no flags it forks a child that the parent reaps.

use conformance_probes::{outcome, report, sys};

#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Args {
    words: [u64; 16],
}

const FLAGS: usize = 0;
const EXIT_SIGNAL: usize = 4;

fn clone3(args: &Args, size: u64) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: without CLONE_VM the child gets a copy of this address space and continues
    // here; it leaves through exit_group at once.
    unsafe { sys(libc::SYS_clone3, &[args as *const Args as u64, size]) }
}

fn main() {
    let mut args = Args { words: [0; 16] };
    args.words[EXIT_SIGNAL] = libc::SIGCHLD as u64;

    outcome("size_32", clone3(&args, 32));
    outcome("size_63", clone3(&args, 63));
    outcome("size_8192", clone3(&args, 8192));
    let mut trailing = args;
    trailing.words[15] = 1;
    outcome("trailing_nonzero_128", clone3(&trailing, 128));
    let mut bad_flags = args;
    bad_flags.words[FLAGS] = 1 << 40;
    outcome("unknown_flag", clone3(&bad_flags, 88));
    let mut bad_signal = args;
    bad_signal.words[EXIT_SIGNAL] = 100;
    outcome("exit_signal_100", clone3(&bad_signal, 88));
    let mut thread_only = args;
    thread_only.words[FLAGS] = libc::CLONE_THREAD as u64;
    thread_only.words[EXIT_SIGNAL] = 0;
    outcome("thread_without_sighand", clone3(&thread_only, 88));
    // SAFETY: the kernel must reject the bad pointer.
    outcome("bad_pointer", unsafe { sys(libc::SYS_clone3, &[0x10, 88]) });

    match clone3(&args, 64) {
        Ok(0) => {
            // SAFETY: leaving the child without returning into Rust code.
            unsafe { sys(libc::SYS_exit_group, &[7]) }.ok();
        }
        Ok(child) => {
            let mut status = 0i32;
            // SAFETY: status is a live int.
            let waited = unsafe {
                sys(
                    libc::SYS_wait4,
                    &[child, &mut status as *mut i32 as u64, 0, 0],
                )
            };
            report("fork_like_waited", waited == Ok(child));
            report("fork_like_status", format!("{status:#x}"));
        }
        Err(errno) => report("fork_like", errno),
    }
}
