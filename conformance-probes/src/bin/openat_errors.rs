//! Checks openat path errors.
//! - ENOENT for a missing file, a missing parent or an empty path.
//! - ENOTDIR for a file used as a directory, in the path or as dirfd.
//! - ENAMETOOLONG for a 256-byte component and for a 4097-byte path.
//! - EFAULT for a bad path pointer.
//! - EBADF for a bad dirfd with a relative path, but not with an absolute one.
//! - Access mode 3 is accepted; O_CREAT in a missing directory or in /proc is ENOENT.

use conformance_probes::{cstring, fail, outcome, ptr, sys, TempDir, BAD_POINTER};

fn openat(dirfd: i32, path: u64, flags: i32) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: path is NUL-terminated or deliberately invalid.
    let ret = unsafe {
        sys(
            libc::SYS_openat,
            &[dirfd as i64 as u64, path, flags as u64, 0o600],
        )
    };
    if let Ok(fd) = ret {
        // SAFETY: fd was opened here.
        unsafe { libc::close(fd as i32) };
    }
    ret
}

fn main() {
    let dir = TempDir::new("openat_errors").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"x").unwrap_or_else(|e| fail("write", e));
    let cwd = libc::AT_FDCWD;
    let rd = libc::O_RDONLY;

    outcome("missing", openat(cwd, ptr(&dir.c_path("missing")), rd));
    outcome(
        "missing_parent",
        openat(cwd, ptr(&dir.c_path("nodir/file")), rd),
    );
    outcome("empty_path", openat(cwd, ptr(&cstring("")), rd));
    outcome("file_as_dir", openat(cwd, ptr(&dir.c_path("file/x")), rd));
    let long_name = dir.c_path(&"n".repeat(256));
    outcome("component_256", openat(cwd, ptr(&long_name), rd));
    let ok_name = dir.c_path(&"n".repeat(255));
    outcome("component_255_missing", openat(cwd, ptr(&ok_name), rd));
    let long_path = cstring(&format!("/{}", "a/".repeat(2048)));
    outcome("path_4096", openat(cwd, ptr(&long_path), rd));
    outcome("bad_pointer", openat(cwd, BAD_POINTER, rd));

    let relative = cstring("file");
    outcome("bad_dirfd_relative", openat(999, ptr(&relative), rd));
    outcome(
        "bad_dirfd_absolute",
        openat(999, ptr(&dir.c_path("file")), rd),
    );
    outcome("negative_dirfd_relative", openat(-5, ptr(&relative), rd));
    let file_fd = openat(cwd, ptr(&dir.c_path("file")), rd)
        .map(|_| ())
        .and_then(|_| {
            // SAFETY: path is NUL-terminated; this fd stays open for the next checks.
            unsafe {
                sys(
                    libc::SYS_openat,
                    &[cwd as i64 as u64, ptr(&dir.c_path("file")), rd as u64, 0],
                )
            }
        });
    if let Ok(fd) = file_fd {
        outcome("file_dirfd_relative", openat(fd as i32, ptr(&relative), rd));
    }
    let dir_fd = openat(cwd, ptr(&dir.c_path("")), rd).and_then(|_| {
        // SAFETY: as above, for the directory.
        unsafe {
            sys(
                libc::SYS_openat,
                &[cwd as i64 as u64, ptr(&dir.c_path("")), rd as u64, 0],
            )
        }
    });
    if let Ok(fd) = dir_fd {
        outcome("dir_dirfd_relative", openat(fd as i32, ptr(&relative), rd));
    }
    outcome("accmode_3", openat(cwd, ptr(&dir.c_path("file")), 3));
    outcome(
        "creat_in_missing_dir",
        openat(
            cwd,
            ptr(&dir.c_path("nodir/new")),
            libc::O_CREAT | libc::O_RDWR,
        ),
    );
    outcome(
        "creat_rdonly_dir",
        openat(
            cwd,
            ptr(&cstring("/proc/new")),
            libc::O_CREAT | libc::O_RDWR,
        ),
    );
}
