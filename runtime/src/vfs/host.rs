//! Thin wrappers over the host's `*at` calls, relative to a directory fd and taking one path
//! component at a time, so the VFS never hands the host a path string that could leave the
//! container's root. They return `io::Error` with the host errno; the syscall layer maps it
//! to the Linux errno. Written against POSIX so they build on Linux and macOS.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::FileType;

/// Returns a NUL-terminated copy of one path component. A component read from a C string
/// cannot contain NUL, so the error is only reachable through a misuse of the VFS.
pub fn cname(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// Host file status, with the fields the VFS passes on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    /// File type and permission bits, in the POSIX encoding (`S_IFMT` and `0o7777`).
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    /// Seconds and nanoseconds of the last access, modification and status change.
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl Stat {
    pub fn file_type(&self) -> FileType {
        FileType::from_mode(self.mode)
    }

    // The casts widen or re-sign the host's field types, which differ between Linux and macOS.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn from_host(raw: &libc::stat) -> Self {
        Stat {
            dev: raw.st_dev as u64,
            ino: raw.st_ino as u64,
            mode: raw.st_mode as u32,
            nlink: raw.st_nlink as u64,
            uid: raw.st_uid,
            gid: raw.st_gid,
            rdev: raw.st_rdev as u64,
            size: raw.st_size as i64,
            blksize: raw.st_blksize as i64,
            blocks: raw.st_blocks as i64,
            atime: (raw.st_atime as i64, raw.st_atime_nsec as i64),
            mtime: (raw.st_mtime as i64, raw.st_mtime_nsec as i64),
            ctime: (raw.st_ctime as i64, raw.st_ctime_nsec as i64),
        }
    }
}

/// Opens `name` in `dir` with host `flags`; `O_CLOEXEC` is always added because guest
/// close-on-exec lives in the fd table, not on host fds.
pub fn open_at(
    dir: BorrowedFd<'_>,
    name: &[u8],
    flags: libc::c_int,
    mode: u32,
) -> io::Result<OwnedFd> {
    let name = cname(name)?;
    // SAFETY: `name` is NUL-terminated and `dir` is an open fd for the duration of the call.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: `openat` returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory `name` in `dir` without following a symlink there: a symlink that
/// replaced the directory since it was looked up fails with `ELOOP` or `ENOTDIR`.
pub fn open_dir_nofollow(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    open_at(
        dir,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
}

/// Opens a host directory by its host path (a layer, volume or rootfs given on the command
/// line, never a guest path).
pub fn open_host_dir(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let path = cname(path.as_os_str().as_bytes())?;
    // SAFETY: `path` is NUL-terminated.
    let fd = check(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `open` returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Stat> {
    let name = cname(name)?;
    let mut raw = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated and `raw` has room for one `struct stat`.
    check(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            raw.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: `fstatat` succeeded, so it filled `raw`.
    Ok(Stat::from_host(unsafe { raw.assume_init_ref() }))
}

/// Returns whether `name` exists in `dir` (as any file type, symlinks not followed).
pub fn exists_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<bool> {
    match lstat_at(dir, name) {
        Ok(_) => Ok(true),
        Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(error) => Err(error),
    }
}

/// `fstat(fd)`.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<Stat> {
    let mut raw = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `raw` has room for one `struct stat`.
    check(unsafe { libc::fstat(fd.as_raw_fd(), raw.as_mut_ptr()) })?;
    // SAFETY: `fstat` succeeded, so it filled `raw`.
    Ok(Stat::from_host(unsafe { raw.assume_init_ref() }))
}

/// Reads the target of the symlink `name` in `dir`.
pub fn readlink_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<u8>> {
    let name = cname(name)?;
    let mut buffer = vec![0u8; super::path::PATH_MAX];
    // SAFETY: `name` is NUL-terminated and `buffer` has `buffer.len()` writable bytes.
    let length = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
        )
    };
    if length < 0 {
        return Err(io::Error::last_os_error());
    }
    buffer.truncate(length as usize);
    Ok(buffer)
}

/// One host directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    /// The type from `d_type`, or `None` when the host file system did not report it.
    pub file_type: Option<FileType>,
}

/// Lists the directory open at `dir` (without `.` and `..`), from its start. Reads through a
/// duplicate so the caller's fd keeps its own state.
pub fn read_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<HostEntry>> {
    // The duplicate shares the file offset with `dir`; rewinddir below resets it.
    let copy = dir.try_clone_to_owned()?;
    // SAFETY: `copy` is a directory fd we own; fdopendir takes it over on success.
    let stream = unsafe { libc::fdopendir(copy.as_raw_fd()) };
    if stream.is_null() {
        return Err(io::Error::last_os_error());
    }
    std::mem::forget(copy);
    let mut entries = Vec::new();
    // SAFETY: `stream` is a valid DIR* until closedir below.
    unsafe { libc::rewinddir(stream) };
    loop {
        // SAFETY: `stream` is valid; readdir returns NULL at the end.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            break;
        }
        // SAFETY: a non-NULL readdir result points at a dirent with a NUL-terminated d_name,
        // valid until the next readdir on this stream.
        let (name, ino, d_type) = unsafe {
            let entry = &*entry;
            (
                CStr::from_ptr(entry.d_name.as_ptr()).to_bytes().to_vec(),
                entry.d_ino,
                entry.d_type,
            )
        };
        if name == b"." || name == b".." {
            continue;
        }
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        entries.push(HostEntry {
            name,
            ino: ino as u64,
            file_type: FileType::from_dirent(d_type),
        });
    }
    // SAFETY: `stream` is valid and not used after this.
    unsafe { libc::closedir(stream) };
    Ok(entries)
}

pub fn mkdir_at(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<()> {
    let name = cname(name)?;
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) })?;
    Ok(())
}

pub fn mkfifo_at(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<()> {
    let name = cname(name)?;
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::mkfifoat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) })?;
    Ok(())
}

/// Removes a file, or a directory when `directory` is set.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &[u8], directory: bool) -> io::Result<()> {
    let name = cname(name)?;
    let flags = if directory { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) })?;
    Ok(())
}

pub fn rename_at(
    from_dir: BorrowedFd<'_>,
    from: &[u8],
    to_dir: BorrowedFd<'_>,
    to: &[u8],
) -> io::Result<()> {
    let from = cname(from)?;
    let to = cname(to)?;
    // SAFETY: both names are NUL-terminated.
    check(unsafe {
        libc::renameat(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
        )
    })?;
    Ok(())
}

pub fn symlink_at(target: &[u8], dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let target = cname(target)?;
    let name = cname(name)?;
    // SAFETY: both strings are NUL-terminated.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) })?;
    Ok(())
}

/// Makes a hard link; never follows a symlink at `from`.
pub fn link_at(
    from_dir: BorrowedFd<'_>,
    from: &[u8],
    to_dir: BorrowedFd<'_>,
    to: &[u8],
) -> io::Result<()> {
    let from = cname(from)?;
    let to = cname(to)?;
    // SAFETY: both names are NUL-terminated.
    check(unsafe {
        libc::linkat(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
            0,
        )
    })?;
    Ok(())
}

/// Changes permission bits; the entry must not be a symlink.
pub fn chmod_at(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<()> {
    let name = cname(name)?;
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t, 0) })?;
    Ok(())
}

/// Changes owners without following a symlink; `u32::MAX` leaves an id as it is.
pub fn chown_at(dir: BorrowedFd<'_>, name: &[u8], uid: u32, gid: u32) -> io::Result<()> {
    let name = cname(name)?;
    // SAFETY: `name` is NUL-terminated.
    check(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(())
}

/// Sets access and modification times without following a symlink; `None` leaves one as
/// it is, `Some(None)` sets it to now.
pub fn utimes_at(
    dir: BorrowedFd<'_>,
    name: &[u8],
    atime: Option<Option<(i64, i64)>>,
    mtime: Option<Option<(i64, i64)>>,
) -> io::Result<()> {
    let name = cname(name)?;
    let convert = |time: Option<Option<(i64, i64)>>| match time {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(None) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(Some((seconds, nanoseconds))) => libc::timespec {
            tv_sec: seconds as libc::time_t,
            tv_nsec: nanoseconds as _,
        },
    };
    let times = [convert(atime), convert(mtime)];
    // SAFETY: `name` is NUL-terminated and `times` holds two timespecs.
    check(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(())
}

/// Copies all bytes from `from` to `to`, both at their current offsets.
pub fn copy_contents(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<u64> {
    let mut buffer = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let count = read(from, &mut buffer)?;
        if count == 0 {
            return Ok(total);
        }
        let mut written = 0;
        while written < count {
            written += write(to, &buffer[written..count])?;
        }
        total += count as u64;
    }
}

/// `read(2)`, retried on `EINTR`.
pub fn read(fd: BorrowedFd<'_>, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buffer` has `buffer.len()` writable bytes.
        let count = unsafe { libc::read(fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
        if count >= 0 {
            return Ok(count as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// `write(2)`, retried on `EINTR`.
pub fn write(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `data` has `data.len()` readable bytes.
        let count = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        if count >= 0 {
            return Ok(count as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Writes all of `data` to the file `name` in `dir`, replacing it atomically through a
/// temporary name.
pub fn write_file_at(
    dir: BorrowedFd<'_>,
    name: &[u8],
    temporary: &[u8],
    data: &[u8],
) -> io::Result<()> {
    let fd = open_at(
        dir,
        temporary,
        libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW,
        0o600,
    )?;
    let mut written = 0;
    while written < data.len() {
        written += write(fd.as_fd(), &data[written..])?;
    }
    drop(fd);
    rename_at(dir, temporary, dir, name)
}

/// Reads a whole small file `name` in `dir`, without following a symlink.
pub fn read_file_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<u8>> {
    let fd = open_at(dir, name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?;
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let count = read(fd.as_fd(), &mut buffer)?;
        if count == 0 {
            return Ok(data);
        }
        data.extend_from_slice(&buffer[..count]);
    }
}

/// Makes a host pipe, both ends close-on-exec; returns the read end, then the write end.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut ends = [0 as RawFd; 2];
    // SAFETY: `ends` has room for the two fds pipe() writes.
    check(unsafe { libc::pipe(ends.as_mut_ptr()) })?;
    // SAFETY: pipe() returned two new fds that nothing else owns.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    for end in [&read_end, &write_end] {
        // SAFETY: F_SETFD on an open fd has no memory effects.
        check(unsafe { libc::fcntl(end.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    }
    Ok((read_end, write_end))
}

/// Duplicates a host fd (for the guest's initial stdio), close-on-exec.
pub fn dup_cloexec(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on any fd number is safe; an invalid one fails with EBADF.
    let copy = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `fcntl` returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// Fills `buffer` with random bytes from the host (`getentropy`, at most 256 bytes a call).
pub fn random_bytes(buffer: &mut [u8]) -> io::Result<()> {
    for chunk in buffer.chunks_mut(256) {
        // SAFETY: `chunk` has `chunk.len()` <= 256 writable bytes, getentropy's limit.
        check(unsafe { libc::getentropy(chunk.as_mut_ptr().cast(), chunk.len()) })?;
    }
    Ok(())
}
