//! Checks O_NOFOLLOW and symlink resolution in openat.
//! - O_NOFOLLOW on a final symlink is ELOOP, also with O_CREAT; earlier components are
//!   still followed.
//! - O_PATH|O_NOFOLLOW opens the link itself: fstat shows S_IFLNK and read is EBADF.
//! - A symlink loop is ELOOP; a dangling link is ENOENT, and O_CREAT through it creates
//!   the target.

use conformance_probes::{check, fail, outcome, ptr, sys, TempDir};

fn openat(path: &std::ffi::CStr, flags: i32) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: path is NUL-terminated.
    unsafe {
        sys(
            libc::SYS_openat,
            &[libc::AT_FDCWD as u64, ptr(path), flags as u64, 0o600],
        )
    }
}

fn main() {
    let dir = TempDir::new("openat_nofollow").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"x").unwrap_or_else(|e| fail("write", e));
    std::fs::create_dir(dir.join("sub")).unwrap_or_else(|e| fail("mkdir", e));
    std::fs::write(dir.join("sub/inner"), b"y").unwrap_or_else(|e| fail("write", e));
    let link = |target: &str, name: &str| {
        std::os::unix::fs::symlink(target, dir.join(name)).unwrap_or_else(|e| fail("symlink", e));
    };
    link("file", "filelink");
    link("sub", "sublink");
    link("loop_b", "loop_a");
    link("loop_a", "loop_b");
    link("missing", "dangling");

    outcome(
        "nofollow_on_link",
        openat(&dir.c_path("filelink"), libc::O_RDONLY | libc::O_NOFOLLOW),
    );
    outcome(
        "nofollow_on_file",
        openat(&dir.c_path("file"), libc::O_RDONLY | libc::O_NOFOLLOW),
    );
    outcome(
        "nofollow_middle_link",
        openat(
            &dir.c_path("sublink/inner"),
            libc::O_RDONLY | libc::O_NOFOLLOW,
        ),
    );
    outcome("loop", openat(&dir.c_path("loop_a"), libc::O_RDONLY));
    outcome("dangling", openat(&dir.c_path("dangling"), libc::O_RDONLY));
    outcome(
        "dangling_nofollow",
        openat(&dir.c_path("dangling"), libc::O_RDONLY | libc::O_NOFOLLOW),
    );
    outcome(
        "nofollow_creat_on_link",
        openat(
            &dir.c_path("filelink"),
            libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW,
        ),
    );
    outcome(
        "creat_through_dangling",
        openat(&dir.c_path("dangling"), libc::O_RDWR | libc::O_CREAT),
    );
    check("dangling_target_created", dir.join("missing").exists());

    match openat(&dir.c_path("filelink"), libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => {
            // SAFETY: stat is plain data.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: fd is an O_PATH fd owned here and st is valid.
            let ret = unsafe { libc::fstat(fd as i32, &mut st) };
            check("path_nofollow_fstat_ok", ret == 0);
            check(
                "path_nofollow_is_link",
                st.st_mode & libc::S_IFMT == libc::S_IFLNK,
            );
            let mut byte = [0u8; 1];
            // SAFETY: reading into a 1-byte buffer.
            let read = unsafe { sys(libc::SYS_read, &[fd, byte.as_mut_ptr() as u64, 1]) };
            outcome("path_fd_read", read);
            // SAFETY: fd is owned here.
            unsafe { libc::close(fd as i32) };
        }
        Err(errno) => outcome("path_nofollow_open", Err::<(), _>(errno)),
    }
}
