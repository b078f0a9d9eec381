//! Checks the struct stat fields for a regular file, a directory, a symlink (lstat) and
//! a FIFO.
//! - File type and permission bits, size, link count, owner equal to the caller's ids.
//! - fstat agrees with stat by path; a hard link shares the inode.
//!
//! Block size, inode and device numbers are compared, never printed.

use conformance_probes::{check, fail, report, TempDir};
use std::os::unix::fs::{symlink, MetadataExt, OpenOptionsExt};

fn stat(path: &std::ffi::CStr, flags: i32) -> libc::stat {
    // SAFETY: stat is plain data; the kernel fills it or the call fails.
    let mut buf: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated and buf is a valid struct stat.
    let ret = unsafe { libc::fstatat(libc::AT_FDCWD, path.as_ptr(), &mut buf, flags) };
    if ret != 0 {
        fail("fstatat", std::io::Error::last_os_error());
    }
    buf
}

fn main() {
    let dir = TempDir::new("stat_fields").unwrap_or_else(|e| fail("tempdir", e));
    // SAFETY: umask has no memory effects.
    unsafe { libc::umask(0) };

    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o640)
        .open(dir.join("file"))
        .unwrap_or_else(|e| fail("create", e));
    std::io::Write::write_all(&mut &file, b"hello").unwrap_or_else(|e| fail("write", e));

    let st = stat(&dir.c_path("file"), 0);
    check("file_is_reg", st.st_mode & libc::S_IFMT == libc::S_IFREG);
    report("file_perm", format!("{:o}", st.st_mode & 0o7777));
    report("file_size", st.st_size);
    report("file_nlink", st.st_nlink);
    // SAFETY: the id getters have no memory effects.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    check("file_uid_is_caller", st.st_uid == uid);
    check("file_gid_is_caller", st.st_gid == gid);
    check("file_blksize_positive", st.st_blksize > 0);
    check("file_blocks_cover_size", st.st_blocks * 512 >= st.st_size);
    check("file_rdev_zero", st.st_rdev == 0);
    check(
        "file_mtime_nsec_in_range",
        (0..1_000_000_000).contains(&st.st_mtime_nsec),
    );

    let meta = file.metadata().unwrap_or_else(|e| fail("fstat", e));
    check("fstat_ino_matches_stat", meta.ino() == st.st_ino);
    check("fstat_dev_matches_stat", meta.dev() == st.st_dev);
    check("fstat_mode_matches_stat", meta.mode() == st.st_mode);
    check("fstat_size_matches_stat", meta.size() as i64 == st.st_size);

    std::fs::hard_link(dir.join("file"), dir.join("link")).unwrap_or_else(|e| fail("link", e));
    report(
        "nlink_after_hard_link",
        stat(&dir.c_path("file"), 0).st_nlink,
    );
    check(
        "hard_link_same_ino",
        stat(&dir.c_path("link"), 0).st_ino == st.st_ino,
    );

    std::fs::create_dir(dir.join("sub")).unwrap_or_else(|e| fail("mkdir", e));
    let st_dir = stat(&dir.c_path("sub"), 0);
    check("dir_is_dir", st_dir.st_mode & libc::S_IFMT == libc::S_IFDIR);
    report("dir_perm", format!("{:o}", st_dir.st_mode & 0o7777));
    report("dir_nlink", st_dir.st_nlink);
    std::fs::create_dir(dir.join("sub/inner")).unwrap_or_else(|e| fail("mkdir", e));
    report(
        "dir_nlink_with_subdir",
        stat(&dir.c_path("sub"), 0).st_nlink,
    );

    symlink("file", dir.join("sym")).unwrap_or_else(|e| fail("symlink", e));
    let st_link = stat(&dir.c_path("sym"), libc::AT_SYMLINK_NOFOLLOW);
    check(
        "lstat_is_link",
        st_link.st_mode & libc::S_IFMT == libc::S_IFLNK,
    );
    report("lstat_link_size", st_link.st_size);
    report("lstat_link_perm", format!("{:o}", st_link.st_mode & 0o7777));
    check(
        "stat_follows_link",
        stat(&dir.c_path("sym"), 0).st_ino == st.st_ino,
    );

    let fifo = dir.c_path("fifo");
    // SAFETY: fifo is NUL-terminated.
    if unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) } != 0 {
        fail("mkfifo", std::io::Error::last_os_error());
    }
    let st_fifo = stat(&fifo, 0);
    check(
        "fifo_is_fifo",
        st_fifo.st_mode & libc::S_IFMT == libc::S_IFIFO,
    );
    report("fifo_size", st_fifo.st_size);
}
