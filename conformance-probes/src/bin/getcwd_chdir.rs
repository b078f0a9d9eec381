//! Checks getcwd, chdir and fchdir.
//! - After chdir into a fresh directory, getcwd returns its absolute path and the
//!   returned length counts the NUL.
//! - A buffer one byte too short is ERANGE; size 0 with a buffer is ERANGE.
//! - chdir to a file is ENOTDIR, to a missing path ENOENT; fchdir on a file fd is ENOTDIR
//!   and on a closed fd EBADF.
//! - fchdir and relative paths resolve against the new directory.

use conformance_probes::{check, cstring, fail, outcome, ptr, report, sys, TempDir};
use std::os::unix::io::AsRawFd;

fn getcwd(buffer: &mut [u8]) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: buffer is live and writable for its length.
    unsafe {
        sys(
            libc::SYS_getcwd,
            &[buffer.as_mut_ptr() as u64, buffer.len() as u64],
        )
    }
}

fn chdir(path: &std::ffi::CStr) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: path is NUL-terminated.
    unsafe { sys(libc::SYS_chdir, &[ptr(path)]) }
}

fn main() {
    let dir = TempDir::new("getcwd_chdir").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::create_dir(dir.join("sub")).unwrap_or_else(|e| fail("mkdir", e));
    std::fs::write(dir.join("file"), b"x").unwrap_or_else(|e| fail("write", e));
    std::fs::write(dir.join("sub/inner"), b"y").unwrap_or_else(|e| fail("write", e));
    let expected = dir.path().to_string_lossy().into_owned();

    outcome("chdir_dir", chdir(&dir.c_path("")));
    let mut buffer = [0u8; 4096];
    let length = getcwd(&mut buffer).unwrap_or(0) as usize;
    check("getcwd_length_counts_nul", length == expected.len() + 1);
    check(
        "getcwd_matches",
        buffer.get(..expected.len()) == Some(expected.as_bytes()),
    );
    check(
        "getcwd_nul_terminated",
        buffer.get(expected.len()) == Some(&0),
    );
    outcome("getcwd_one_short", getcwd(&mut buffer[..expected.len()]));
    outcome("getcwd_exact", getcwd(&mut buffer[..expected.len() + 1]));
    outcome("getcwd_size_0", getcwd(&mut buffer[..0]));

    outcome("chdir_relative_sub", chdir(&cstring("sub")));
    check(
        "relative_open_uses_cwd",
        std::fs::read("inner").is_ok_and(|data| data == b"y"),
    );
    outcome("chdir_dotdot", chdir(&cstring("..")));
    check(
        "dotdot_back",
        std::fs::read("file").is_ok_and(|data| data == b"x"),
    );
    outcome("chdir_file", chdir(&cstring("file")));
    outcome("chdir_missing", chdir(&cstring("missing")));
    outcome("chdir_empty", chdir(&cstring("")));

    let sub = std::fs::File::open(dir.join("sub")).unwrap_or_else(|e| fail("open", e));
    let file = std::fs::File::open(dir.join("file")).unwrap_or_else(|e| fail("open", e));
    // SAFETY: fchdir takes no pointers.
    unsafe {
        outcome(
            "fchdir_dir",
            sys(libc::SYS_fchdir, &[sub.as_raw_fd() as u64]),
        );
        report("fchdir_relative_read", std::fs::read("inner").is_ok());
        outcome(
            "fchdir_file",
            sys(libc::SYS_fchdir, &[file.as_raw_fd() as u64]),
        );
        outcome("fchdir_closed", sys(libc::SYS_fchdir, &[999]));
    }
    outcome("chdir_tmp", chdir(&cstring("/tmp")));
}
