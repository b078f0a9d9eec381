//! Checks rt_sigaction with the arm64 kernel struct (handler, flags, restorer, mask;
//! 32 bytes).
//! - The initial SIGUSR1 action is SIG_DFL.
//! - An installed action reads back with its flags and mask, minus SIGKILL and SIGSTOP.
//! - Unknown flag bits (0x400) are cleared; restoring the old action works.
//! - SIGKILL, SIGSTOP, signal 0 and 65, and a sigset size other than 8 are EINVAL.
//! - Rust's runtime has set SIGPIPE to SIG_IGN before main.

use conformance_probes::{outcome, report, sys};

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct KernelSigaction {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}

extern "C" fn handler(_signo: i32) {}

fn sigaction(
    signo: u64,
    new: Option<&KernelSigaction>,
    old: Option<&mut KernelSigaction>,
    size: u64,
) -> Result<u64, conformance_probes::Errno> {
    let new_ptr = new.map_or(0, |a| a as *const KernelSigaction as u64);
    let old_ptr = old.map_or(0, |a| a as *mut KernelSigaction as u64);
    // SAFETY: both pointers are null or point to a live KernelSigaction.
    unsafe { sys(libc::SYS_rt_sigaction, &[signo, new_ptr, old_ptr, size]) }
}

fn bit(signo: i32) -> u64 {
    1 << (signo - 1)
}

fn main() {
    let usr1 = libc::SIGUSR1 as u64;
    let mut initial = KernelSigaction::default();
    outcome("query_usr1", sigaction(usr1, None, Some(&mut initial), 8));
    report("initial_handler", initial.handler);
    report("initial_flags", format!("{:#x}", initial.flags));
    report("initial_mask", format!("{:#x}", initial.mask));

    let installed = KernelSigaction {
        handler: handler as *const () as u64,
        flags: (libc::SA_RESTART | libc::SA_NODEFER) as u64,
        restorer: 0,
        mask: bit(libc::SIGUSR2) | bit(libc::SIGKILL) | bit(libc::SIGSTOP),
    };
    let mut old = KernelSigaction::default();
    outcome(
        "install",
        sigaction(usr1, Some(&installed), Some(&mut old), 8),
    );
    report(
        "old_is_initial",
        old.handler == initial.handler && old.flags == initial.flags,
    );
    let mut readback = KernelSigaction::default();
    sigaction(usr1, None, Some(&mut readback), 8).ok();
    report(
        "readback_handler_matches",
        readback.handler == installed.handler,
    );
    report("readback_flags", format!("{:#x}", readback.flags));
    report("readback_mask", format!("{:#x}", readback.mask));

    let unknown_flags = KernelSigaction {
        flags: installed.flags | 0x400,
        ..installed
    };
    outcome(
        "install_unknown_flag",
        sigaction(usr1, Some(&unknown_flags), None, 8),
    );
    sigaction(usr1, None, Some(&mut readback), 8).ok();
    report("unknown_flag_readback", format!("{:#x}", readback.flags));

    outcome("restore", sigaction(usr1, Some(&initial), None, 8));
    sigaction(usr1, None, Some(&mut readback), 8).ok();
    report("restored_handler", readback.handler);

    let ignore = KernelSigaction {
        handler: 1,
        ..KernelSigaction::default()
    };
    outcome(
        "sigkill",
        sigaction(libc::SIGKILL as u64, Some(&ignore), None, 8),
    );
    outcome(
        "sigstop",
        sigaction(libc::SIGSTOP as u64, Some(&ignore), None, 8),
    );
    outcome(
        "query_sigkill",
        sigaction(libc::SIGKILL as u64, None, Some(&mut readback), 8),
    );
    outcome("signal_0", sigaction(0, None, Some(&mut readback), 8));
    outcome("signal_64", sigaction(64, None, Some(&mut readback), 8));
    outcome("signal_65", sigaction(65, None, Some(&mut readback), 8));
    outcome(
        "sigset_size_4",
        sigaction(usr1, None, Some(&mut readback), 4),
    );
    outcome(
        "sigset_size_16",
        sigaction(usr1, None, Some(&mut readback), 16),
    );

    let mut pipe_action = KernelSigaction::default();
    sigaction(libc::SIGPIPE as u64, None, Some(&mut pipe_action), 8).ok();
    report("sigpipe_handler_set_by_rust_runtime", pipe_action.handler);
}
