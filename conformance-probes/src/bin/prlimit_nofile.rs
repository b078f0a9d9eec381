//! Checks prlimit64 and the RLIMIT_NOFILE limit it sets.
//! - Reading gives cur <= max, and getrlimit agrees.
//! - Lowering the soft limit to 16 reads back; new fds stay below it, then EMFILE, and
//!   F_DUPFD at the limit is EINVAL.
//! - cur above max and an unknown resource are EINVAL; an unknown pid is ESRCH; a bad
//!   pointer is EFAULT.

use conformance_probes::{check, outcome, report, sys};

fn prlimit(
    pid: u64,
    resource: u64,
    new: Option<&libc::rlimit64>,
    old: Option<&mut libc::rlimit64>,
) -> Result<u64, conformance_probes::Errno> {
    let new_ptr = new.map_or(0, |r| r as *const libc::rlimit64 as u64);
    let old_ptr = old.map_or(0, |r| r as *mut libc::rlimit64 as u64);
    // SAFETY: the pointers are null or point to live rlimit64 structs.
    unsafe { sys(libc::SYS_prlimit64, &[pid, resource, new_ptr, old_ptr]) }
}

fn main() {
    let nofile = libc::RLIMIT_NOFILE as u64;
    let mut original = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    outcome("get_nofile", prlimit(0, nofile, None, Some(&mut original)));
    check("cur_le_max", original.rlim_cur <= original.rlim_max);
    let mut via_getrlimit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: via_getrlimit is a live rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut via_getrlimit) };
    check(
        "getrlimit_agrees",
        via_getrlimit.rlim_cur == original.rlim_cur && via_getrlimit.rlim_max == original.rlim_max,
    );

    let lowered = libc::rlimit64 {
        rlim_cur: 16,
        rlim_max: original.rlim_max,
    };
    let mut previous = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    outcome(
        "set_cur_16",
        prlimit(0, nofile, Some(&lowered), Some(&mut previous)),
    );
    check(
        "set_returns_previous",
        previous.rlim_cur == original.rlim_cur,
    );
    let mut readback = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    prlimit(0, nofile, None, Some(&mut readback)).ok();
    report("readback_cur", readback.rlim_cur);

    let mut opened = Vec::new();
    let mut last_error = None;
    for _ in 0..32 {
        // SAFETY: dup of stdin has no memory effects.
        match unsafe { sys(libc::SYS_dup, &[0]) } {
            Ok(fd) => opened.push(fd),
            Err(errno) => {
                last_error = Some(errno);
                break;
            }
        }
    }
    check("all_fds_below_limit", opened.iter().all(|&fd| fd < 16));
    match last_error {
        Some(errno) => report("open_past_limit", errno),
        None => report("open_past_limit", "no error"),
    }
    // SAFETY: F_DUPFD above the soft limit is rejected.
    outcome("f_dupfd_at_limit", unsafe {
        sys(libc::SYS_fcntl, &[0, libc::F_DUPFD as u64, 16])
    });
    for fd in opened {
        // SAFETY: closing fds this probe opened.
        unsafe { libc::close(fd as i32) };
    }

    let inverted = libc::rlimit64 {
        rlim_cur: 100,
        rlim_max: 50,
    };
    outcome("cur_above_max", prlimit(0, nofile, Some(&inverted), None));
    outcome(
        "unknown_resource",
        prlimit(0, 99, None, Some(&mut readback)),
    );
    outcome(
        "bad_pid",
        prlimit(0x7fff_fff0, nofile, None, Some(&mut readback)),
    );
    // SAFETY: the kernel must reject the bad pointer.
    outcome("bad_old_pointer", unsafe {
        sys(libc::SYS_prlimit64, &[0, nofile, 0, 0x10])
    });
    outcome("restore", prlimit(0, nofile, Some(&original), None));
    let mut stack = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    prlimit(0, libc::RLIMIT_STACK as u64, None, Some(&mut stack)).ok();
    check("stack_cur_nonzero", stack.rlim_cur > 0);
}
