//! Checks O_TMPFILE.
//! - O_RDONLY is EINVAL; a regular file is ENOTDIR; a missing directory is ENOENT.
//! - The unnamed file has nlink 0, mode 0600 as requested, and no directory entry.
//! - linkat through /proc/self/fd with AT_SYMLINK_FOLLOW names it (nlink 1).
//! - With O_EXCL that linkat is ENOENT.

use conformance_probes::{check, cstring, fail, outcome, ptr, report, sys, TempDir};

fn main() {
    let dir = TempDir::new("openat_tmpfile").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"x").unwrap_or_else(|e| fail("write", e));
    let dir_path = dir.c_path("");
    let open = |path: &std::ffi::CStr, flags: i32| {
        // SAFETY: path is NUL-terminated.
        unsafe {
            sys(
                libc::SYS_openat,
                &[libc::AT_FDCWD as u64, ptr(path), flags as u64, 0o600],
            )
        }
    };

    outcome(
        "tmpfile_rdonly",
        open(&dir_path, libc::O_TMPFILE | libc::O_RDONLY),
    );
    outcome(
        "tmpfile_on_file",
        open(&dir.c_path("file"), libc::O_TMPFILE | libc::O_RDWR),
    );
    outcome(
        "tmpfile_missing_dir",
        open(&dir.c_path("missing"), libc::O_TMPFILE | libc::O_RDWR),
    );

    let fd = match open(&dir_path, libc::O_TMPFILE | libc::O_RDWR) {
        Ok(fd) => fd as i32,
        Err(errno) => fail("O_TMPFILE", errno),
    };
    // SAFETY: stat is plain data and fd is open.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::fstat(fd, &mut st) };
    report("tmpfile_nlink", st.st_nlink);
    check("tmpfile_is_reg", st.st_mode & libc::S_IFMT == libc::S_IFREG);
    report("tmpfile_perm", format!("{:o}", st.st_mode & 0o777));
    // SAFETY: write from a live buffer.
    report("tmpfile_write", unsafe {
        libc::write(fd, b"data".as_ptr().cast(), 4)
    });
    let listed = std::fs::read_dir(dir.path())
        .map(|d| d.count())
        .unwrap_or(usize::MAX);
    report("dir_entries_before_link", listed);

    let proc_path = cstring(&format!("/proc/self/fd/{fd}"));
    let target = dir.c_path("named");
    // SAFETY: both paths are NUL-terminated.
    let linked = unsafe {
        sys(
            libc::SYS_linkat,
            &[
                libc::AT_FDCWD as u64,
                ptr(&proc_path),
                libc::AT_FDCWD as u64,
                ptr(&target),
                libc::AT_SYMLINK_FOLLOW as u64,
            ],
        )
    };
    outcome("linkat_proc_fd", linked);
    // SAFETY: as above.
    unsafe { libc::fstat(fd, &mut st) };
    report("nlink_after_link", st.st_nlink);
    report(
        "named_content",
        String::from_utf8_lossy(&std::fs::read(dir.join("named")).unwrap_or_default()),
    );

    let excl = match open(&dir_path, libc::O_TMPFILE | libc::O_RDWR | libc::O_EXCL) {
        Ok(fd) => fd,
        Err(errno) => fail("O_TMPFILE|O_EXCL", errno),
    };
    let proc_path = cstring(&format!("/proc/self/fd/{excl}"));
    let target = dir.c_path("named_excl");
    // SAFETY: both paths are NUL-terminated.
    let linked = unsafe {
        sys(
            libc::SYS_linkat,
            &[
                libc::AT_FDCWD as u64,
                ptr(&proc_path),
                libc::AT_FDCWD as u64,
                ptr(&target),
                libc::AT_SYMLINK_FOLLOW as u64,
            ],
        )
    };
    outcome("linkat_excl_tmpfile", linked);
}
