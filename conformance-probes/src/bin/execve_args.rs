//! Checks execve.
//! - The new image gets exactly the argv and envp passed, including an empty string and
//!   spaces.
//! - An O_CLOEXEC fd is closed across exec; a plain fd stays open at the same number.
//! - The pid stays the same; an ignored signal stays ignored and a handled one is reset to
//!   SIG_DFL; the signal mask is kept.
//! - A missing file is ENOENT, a directory EACCES, a file without execute permission
//!   EACCES, and an executable file that is neither ELF nor a script ENOEXEC.

use conformance_probes::{check, cstring, fail, outcome, report, sys, TempDir};
use std::os::unix::fs::PermissionsExt;

extern "C" fn on_usr1(_signo: i32) {}

fn execve(
    path: &std::ffi::CStr,
    args: &[&str],
    env: &[&str],
) -> Result<u64, conformance_probes::Errno> {
    let args: Vec<std::ffi::CString> = args.iter().map(|a| cstring(a)).collect();
    let env: Vec<std::ffi::CString> = env.iter().map(|e| cstring(e)).collect();
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: all strings and both arrays are NUL-terminated and live during the call.
    unsafe {
        sys(
            libc::SYS_execve,
            &[
                path.as_ptr() as u64,
                argv.as_ptr() as u64,
                envp.as_ptr() as u64,
            ],
        )
    }
}

fn handler_of(signo: i32) -> usize {
    // SAFETY: a zeroed sigaction is valid for the kernel to fill.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: querying into a live sigaction.
    unsafe { libc::sigaction(signo, std::ptr::null(), &mut action) };
    action.sa_sigaction
}

fn child(args: &[String]) {
    report("child_argc", args.len());
    // The last argument is the parent's pid, which varies and is only compared.
    for (index, arg) in args
        .iter()
        .enumerate()
        .take(args.len().saturating_sub(1))
        .skip(1)
    {
        report(&format!("child_argv[{index}]"), format!("{arg:?}"));
    }

    let mut env: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    env.sort();
    report("child_env", env.join(";"));

    let expected_pid: i32 = args.last().and_then(|pid| pid.parse().ok()).unwrap_or(-1);
    // SAFETY: getpid has no memory effects.
    check("child_same_pid", unsafe { libc::getpid() } == expected_pid);
    // SAFETY: F_GETFD has no memory effects.
    let (plain, cloexec) = unsafe {
        (
            libc::fcntl(20, libc::F_GETFD),
            libc::fcntl(21, libc::F_GETFD),
        )
    };
    report("child_plain_fd_open", plain >= 0);
    report("child_cloexec_fd_open", cloexec >= 0);

    report("child_ignored_sigusr2_handler", handler_of(libc::SIGUSR2));
    report("child_handled_sigusr1_handler", handler_of(libc::SIGUSR1));
    let mut mask = 0u64;
    // SAFETY: mask is a live sigset.
    unsafe {
        sys(
            libc::SYS_rt_sigprocmask,
            &[0, 0, &mut mask as *mut u64 as u64, 8],
        )
    }
    .ok();
    report(
        "child_mask_has_sigterm",
        mask & (1 << (libc::SIGTERM - 1)) != 0,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args);
        return;
    }

    let dir = TempDir::new("execve_args").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::create_dir(dir.join("sub")).unwrap_or_else(|e| fail("mkdir", e));
    std::fs::write(dir.join("garbage"), b"\x01\x02 not an executable\n")
        .unwrap_or_else(|e| fail("write", e));
    std::fs::set_permissions(dir.join("garbage"), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| fail("chmod", e));
    std::fs::write(dir.join("noexec"), b"#!/bin/sh\n").unwrap_or_else(|e| fail("write", e));
    std::fs::set_permissions(dir.join("noexec"), std::fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| fail("chmod", e));
    outcome("missing", execve(&dir.c_path("missing"), &["x"], &[]));
    outcome("directory", execve(&dir.c_path("sub"), &["x"], &[]));
    outcome("not_executable", execve(&dir.c_path("noexec"), &["x"], &[]));
    outcome("not_elf", execve(&dir.c_path("garbage"), &["x"], &[]));
    drop(dir);

    let null = cstring("/dev/null");
    // SAFETY: opening /dev/null and moving it to fixed fd numbers this probe owns.
    unsafe {
        let fd = libc::open(null.as_ptr(), libc::O_RDONLY);
        libc::dup3(fd, 20, 0);
        libc::dup3(fd, 21, libc::O_CLOEXEC);
        libc::close(fd);
        let mut ignore: libc::sigaction = std::mem::zeroed();
        ignore.sa_sigaction = libc::SIG_IGN;
        libc::sigaction(libc::SIGUSR2, &ignore, std::ptr::null_mut());
        let mut handle: libc::sigaction = std::mem::zeroed();
        handle.sa_sigaction = on_usr1 as *const () as usize;
        libc::sigaction(libc::SIGUSR1, &handle, std::ptr::null_mut());
        let block = 1u64 << (libc::SIGTERM - 1);
        sys(
            libc::SYS_rt_sigprocmask,
            &[libc::SIG_BLOCK as u64, &block as *const u64 as u64, 0, 8],
        )
        .ok();
    }
    // SAFETY: getpid has no memory effects.
    let pid = unsafe { libc::getpid() }.to_string();
    let self_path = cstring(args.first().map(String::as_str).unwrap_or(""));
    let argv0 = args.first().cloned().unwrap_or_default();
    let result = execve(
        &self_path,
        &[&argv0, "child", "", "two words", &pid],
        &["B=2", "A=1", "EMPTY="],
    );
    report(
        "execve_self_failed",
        result.map_or_else(|e| e.to_string(), |_| "returned".into()),
    );
}
