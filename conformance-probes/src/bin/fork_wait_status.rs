//! Checks fork and the wait status encoding.
//! - exit(3) is 0x300, death by SIGTERM is 0xf.
//! - A stop by SIGSTOP is 0x137f with WUNTRACED, a continue is 0xffff with WCONTINUED.
//! - WNOHANG on a running child returns 0.
//! - waitid reports CLD_EXITED with si_status.
//! - wait4 with no children is ECHILD (also with __WALL); an unknown option bit is EINVAL.
//! - The child's getppid is the parent's pid.

use conformance_probes::{outcome, report, result, sys};

fn fork() -> i32 {
    // SAFETY: each child only makes syscalls and leaves with _exit.
    unsafe { libc::fork() }
}

fn wait4(pid: i32, options: i32) -> (Result<u64, conformance_probes::Errno>, i32) {
    let mut status = 0i32;
    // SAFETY: status is a live int.
    let ret = unsafe {
        sys(
            libc::SYS_wait4,
            &[
                pid as u64,
                &mut status as *mut i32 as u64,
                options as u64,
                0,
            ],
        )
    };
    (ret, status)
}

fn main() {
    // SAFETY: getpid has no memory effects.
    let parent = unsafe { libc::getpid() };

    let child = fork();
    if child == 0 {
        // SAFETY: the child reports whether its parent is the forking process.
        unsafe { libc::_exit(if libc::getppid() == parent { 3 } else { 4 }) };
    }
    let (ret, status) = wait4(child, 0);
    report("exit_wait_returns_pid", ret == Ok(child as u64));
    report("exit_status", format!("{status:#x}"));
    report("exit_wifexited", libc::WIFEXITED(status));
    report("exit_code", libc::WEXITSTATUS(status));

    let child = fork();
    if child == 0 {
        loop {
            // SAFETY: pause has no memory effects.
            unsafe { libc::pause() };
        }
    }
    let (ret, status) = wait4(child, libc::WNOHANG);
    result("wnohang_running", ret);
    report("wnohang_status", status);
    // SAFETY: signalling the child created above.
    unsafe { libc::kill(child, libc::SIGSTOP) };
    let (_, status) = wait4(child, libc::WUNTRACED);
    report("stopped_status", format!("{status:#x}"));
    report("stopped_wstopsig", libc::WSTOPSIG(status));
    // SAFETY: as above.
    unsafe { libc::kill(child, libc::SIGCONT) };
    let (_, status) = wait4(child, libc::WCONTINUED);
    report("continued_status", format!("{status:#x}"));
    report("continued_wifcontinued", libc::WIFCONTINUED(status));
    // SAFETY: as above.
    unsafe { libc::kill(child, libc::SIGTERM) };
    let (_, status) = wait4(child, 0);
    report("sigterm_status", format!("{status:#x}"));
    report("sigterm_wifsignaled", libc::WIFSIGNALED(status));
    report("sigterm_wtermsig", libc::WTERMSIG(status));

    let child = fork();
    if child == 0 {
        // SAFETY: leaving the child.
        unsafe { libc::_exit(5) };
    }
    // SAFETY: a zeroed siginfo is valid for the kernel to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: info is a live siginfo.
    let ret = unsafe {
        sys(
            libc::SYS_waitid,
            &[
                libc::P_PID as u64,
                child as u64,
                &mut info as *mut libc::siginfo_t as u64,
                libc::WEXITED as u64,
                0,
            ],
        )
    };
    outcome("waitid", ret);
    report("waitid_si_signo", info.si_signo);
    report("waitid_si_code", info.si_code);
    // SAFETY: the kernel filled the SIGCHLD fields.
    report("waitid_si_status", unsafe { info.si_status() });
    // SAFETY: as above.
    report("waitid_si_pid_is_child", unsafe { info.si_pid() } == child);

    let (ret, _) = wait4(-1, 0);
    outcome("no_children", ret);
    let (ret, _) = wait4(-1, libc::WNOHANG);
    outcome("no_children_wnohang", ret);
    let (ret, _) = wait4(-1, 0x4000_0000);
    outcome("wall_no_children", ret);
    let (ret, _) = wait4(-1, 0x100);
    outcome("bad_options", ret);
}
