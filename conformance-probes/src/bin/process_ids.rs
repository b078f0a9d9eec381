//! Checks the process id calls.
//! - gettid equals getpid in the main thread; getppid is positive and differs.
//! - getpgid(0) and getsid(0) match getpgrp and getsid of the pid.
//! - A forked child has a new pid, its parent's pid as getppid, the parent's process
//!   group, and after setsid is a session and group leader (sid = pgid = pid); setsid
//!   again is EPERM.
//! - set_tid_address returns the caller's tid; getpgid and kill of an unknown pid are
//!   ESRCH; kill with signal 0 checks existence only.

use conformance_probes::{check, outcome, report, sys};

fn call(number: i64, args: &[u64]) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: the id calls below take no pointers, except set_tid_address, which gets a
    // live int.
    unsafe { sys(number, args) }
}

fn main() {
    let pid = call(libc::SYS_getpid, &[]).unwrap_or(0);
    let tid = call(libc::SYS_gettid, &[]).unwrap_or(1);
    let ppid = call(libc::SYS_getppid, &[]).unwrap_or(0);
    check("tid_is_pid", tid == pid);
    check("ppid_positive_and_different", ppid > 0 && ppid != pid);
    let pgid = call(libc::SYS_getpgid, &[0]).unwrap_or(0);
    check(
        "getpgid_0_matches_pid_form",
        call(libc::SYS_getpgid, &[pid]) == Ok(pgid),
    );
    let sid = call(libc::SYS_getsid, &[0]).unwrap_or(0);
    check(
        "getsid_0_matches_pid_form",
        call(libc::SYS_getsid, &[pid]) == Ok(sid),
    );
    let mut clear_word = 0i32;
    check(
        "set_tid_address_returns_tid",
        call(
            libc::SYS_set_tid_address,
            &[&mut clear_word as *mut i32 as u64],
        ) == Ok(tid),
    );
    outcome("getpgid_unknown", call(libc::SYS_getpgid, &[0x7fff_fff0]));
    outcome("kill_unknown", call(libc::SYS_kill, &[0x7fff_fff0, 0]));
    outcome("kill_self_signal_0", call(libc::SYS_kill, &[pid, 0]));
    outcome("kill_bad_signal", call(libc::SYS_kill, &[pid, 99]));

    // SAFETY: the child only makes syscalls and leaves with _exit.
    let child = unsafe { libc::fork() };
    if child == 0 {
        let mut bits = 0;
        let child_pid = call(libc::SYS_getpid, &[]).unwrap_or(0);
        if child_pid == pid {
            bits |= 1;
        }
        if call(libc::SYS_getppid, &[]) != Ok(pid) {
            bits |= 2;
        }
        if call(libc::SYS_getpgid, &[0]) != Ok(pgid) {
            bits |= 4;
        }
        if call(libc::SYS_setsid, &[]) != Ok(child_pid) {
            bits |= 8;
        }
        if call(libc::SYS_getsid, &[0]) != Ok(child_pid)
            || call(libc::SYS_getpgid, &[0]) != Ok(child_pid)
        {
            bits |= 16;
        }
        if call(libc::SYS_setsid, &[]) != Err(conformance_probes::Errno(libc::EPERM)) {
            bits |= 32;
        }
        // SAFETY: leaving the forked child.
        unsafe { libc::_exit(bits) };
    }
    let mut status = 0;
    // SAFETY: status is a live int.
    unsafe { libc::waitpid(child, &mut status, 0) };
    report("child_failed_check_bits", libc::WEXITSTATUS(status));
}
