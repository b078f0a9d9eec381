//! Checks openat with directories.
//! - O_DIRECTORY on a regular file is ENOTDIR; on a directory or a symlink to one it opens.
//! - Opening a directory for writing or with O_CREAT is EISDIR; O_PATH opens it.
//! - A trailing slash on a regular file is ENOTDIR, and O_CREAT with one is EISDIR.
//! - O_CREAT|O_DIRECTORY is EINVAL.

use conformance_probes::{fail, outcome, ptr, sys, TempDir};

fn openat(path: &std::ffi::CStr, flags: i32) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: path is NUL-terminated; a returned fd is closed below.
    let ret = unsafe {
        sys(
            libc::SYS_openat,
            &[libc::AT_FDCWD as u64, ptr(path), flags as u64, 0o600],
        )
    };
    if let Ok(fd) = ret {
        // SAFETY: fd was just opened by this probe.
        unsafe { libc::close(fd as i32) };
    }
    ret
}

fn main() {
    let dir = TempDir::new("openat_directory").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"x").unwrap_or_else(|e| fail("write", e));
    std::fs::create_dir(dir.join("sub")).unwrap_or_else(|e| fail("mkdir", e));
    std::os::unix::fs::symlink("sub", dir.join("sublink")).unwrap_or_else(|e| fail("symlink", e));

    let file = dir.c_path("file");
    let sub = dir.c_path("sub");
    outcome(
        "directory_on_file",
        openat(&file, libc::O_RDONLY | libc::O_DIRECTORY),
    );
    outcome(
        "directory_on_dir",
        openat(&sub, libc::O_RDONLY | libc::O_DIRECTORY),
    );
    outcome(
        "directory_on_dir_symlink",
        openat(&dir.c_path("sublink"), libc::O_RDONLY | libc::O_DIRECTORY),
    );
    outcome("dir_rdonly", openat(&sub, libc::O_RDONLY));
    outcome("dir_wronly", openat(&sub, libc::O_WRONLY));
    outcome("dir_rdwr", openat(&sub, libc::O_RDWR));
    outcome("dir_creat", openat(&sub, libc::O_RDONLY | libc::O_CREAT));
    outcome("dir_path", openat(&sub, libc::O_PATH));
    outcome(
        "file_trailing_slash",
        openat(&dir.c_path("file/"), libc::O_RDONLY),
    );
    outcome(
        "dir_trailing_slash",
        openat(&dir.c_path("sub/"), libc::O_RDONLY),
    );
    outcome(
        "creat_trailing_slash",
        openat(&dir.c_path("new/"), libc::O_RDWR | libc::O_CREAT),
    );
    outcome(
        "directory_creat_new",
        openat(
            &dir.c_path("new2"),
            libc::O_RDWR | libc::O_CREAT | libc::O_DIRECTORY,
        ),
    );
    outcome(
        "dot_dot_from_sub",
        openat(&dir.c_path("sub/../file"), libc::O_RDONLY),
    );
}
