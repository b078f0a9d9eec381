//! Checks O_EXCL.
//! - With O_CREAT it is EEXIST on an existing file, on a symlink to one, and on a dangling
//!   symlink, whose target is not created.
//! - It creates a new file exactly once; on a directory it is EISDIR.
//! - Without O_CREAT it is ignored for regular files.

use conformance_probes::{check, fail, outcome, ptr, sys, TempDir};

fn openat(path: &std::ffi::CStr, flags: i32) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: path is NUL-terminated.
    let ret = unsafe {
        sys(
            libc::SYS_openat,
            &[libc::AT_FDCWD as u64, ptr(path), flags as u64, 0o600],
        )
    };
    if let Ok(fd) = ret {
        // SAFETY: fd was opened here.
        unsafe { libc::close(fd as i32) };
    }
    ret
}

fn main() {
    let dir = TempDir::new("openat_excl").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"x").unwrap_or_else(|e| fail("write", e));
    std::os::unix::fs::symlink("missing", dir.join("dangling"))
        .unwrap_or_else(|e| fail("symlink", e));
    std::os::unix::fs::symlink("file", dir.join("filelink")).unwrap_or_else(|e| fail("symlink", e));
    let excl = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;

    outcome("excl_existing", openat(&dir.c_path("file"), excl));
    outcome("excl_new", openat(&dir.c_path("new"), excl));
    outcome("excl_new_again", openat(&dir.c_path("new"), excl));
    outcome("excl_dangling_link", openat(&dir.c_path("dangling"), excl));
    check("dangling_target_not_created", !dir.join("missing").exists());
    outcome("excl_link_to_file", openat(&dir.c_path("filelink"), excl));
    outcome(
        "excl_without_creat",
        openat(&dir.c_path("file"), libc::O_RDWR | libc::O_EXCL),
    );
    outcome("excl_dir", openat(&dir.c_path(""), excl));
    outcome(
        "creat_missing_parent",
        openat(&dir.c_path("nodir/new"), excl),
    );
}
