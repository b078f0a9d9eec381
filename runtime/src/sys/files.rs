//! Handlers for calls on open files: open and close, reading and writing, seeking, directory
//! listings, fd duplication, `fcntl`, terminal `ioctl`s and pipes. The files themselves live
//! in the process's [`Vfs`]; this module moves bytes between them and guest memory and
//! translates flags through the generated `linux` types.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;

use carrick_macros::syscall;

use super::{
    CStrPtr, DirFd, Fd, GuestAddr, SysResult, SyscallContext, UserArray, UserBuf, UserPtr,
};
use crate::linux::{
    self, CloseRangeFlags, Dup3Flags, Errno, FcntlCmd, FdFlags, Flock, FlockOp, Iovec, LockType,
    OpenFlags, Pipe2Flags, SeekWhence,
};
use crate::vfs::{host, FileKind, FileType, Location, OpenFile, OpenOptions, Vfs};

/// The largest chunk one host read or write moves; larger requests loop.
const CHUNK: usize = 1 << 20;

/// The process's file state; `ENOSYS` before the runtime set up a root file system.
pub(crate) fn vfs<'a>(cx: &SyscallContext<'a>) -> Result<&'a Vfs, Errno> {
    cx.process.vfs.get().ok_or(Errno::ENOSYS)
}

/// The process's file state with the fd table's limit set to the current `RLIMIT_NOFILE`
/// soft limit, for the calls that allocate fds.
fn vfs_for_new_fd<'a>(cx: &SyscallContext<'a>) -> Result<&'a Vfs, Errno> {
    let vfs = vfs(cx)?;
    let limit = cx
        .process
        .limits()
        .get(linux::RlimitResource::RLIMIT_NOFILE)?;
    let limit = limit.cur.min(crate::vfs::fdtable::MAX_FD_LIMIT);
    vfs.fds().set_limit(limit)?;
    Ok(vfs)
}

/// The directory a relative `path` of an `*at` call starts from. Linux ignores `dfd` for
/// an absolute path, even an invalid one.
pub(crate) fn start_dir(vfs: &Vfs, dfd: DirFd, path: &[u8]) -> Result<Location, Errno> {
    if path.starts_with(b"/") || dfd.is_cwd() {
        return Ok(vfs.cwd());
    }
    Ok(vfs.start(Some(dfd.0))?)
}

/// Checks that the file was opened for reading (or writing, with `write`); `EBADF` otherwise.
pub(super) fn check_access(file: &OpenFile, write: bool) -> Result<(), Errno> {
    let status = OpenFlags(file.status());
    let access = status.bits() & OpenFlags::O_ACCMODE.bits();
    let allowed = if write {
        access == OpenFlags::O_WRONLY.bits() || access == OpenFlags::O_RDWR.bits()
    } else {
        access == OpenFlags::O_RDONLY.bits() || access == OpenFlags::O_RDWR.bits()
    };
    if !allowed || status.contains(OpenFlags::O_PATH) {
        return Err(Errno::EBADF);
    }
    Ok(())
}

fn host_fd(file: &OpenFile) -> Result<BorrowedFd<'_>, Errno> {
    file.host_fd().ok_or(Errno::EINVAL)
}

#[syscall]
pub fn openat(
    cx: &mut SyscallContext<'_>,
    dfd: DirFd,
    filename: CStrPtr,
    flags: OpenFlags,
    mode: u32,
) -> SysResult {
    let path = filename.read_path(cx.mem())?;
    let vfs = vfs_for_new_fd(cx)?;
    if flags.contains(OpenFlags::O_CREAT) && flags.contains(OpenFlags::O_DIRECTORY) {
        return Err(Errno::EINVAL);
    }
    let access = flags.bits() & OpenFlags::O_ACCMODE.bits();
    let path_only = flags.contains(OpenFlags::O_PATH);
    let create = flags.contains(OpenFlags::O_CREAT) && !path_only;
    let options = OpenOptions {
        read: !path_only
            && (access == OpenFlags::O_RDONLY.bits() || access == OpenFlags::O_RDWR.bits()),
        write: !path_only
            && (access == OpenFlags::O_WRONLY.bits() || access == OpenFlags::O_RDWR.bits()),
        create: create.then(|| mode & 0o7777 & !vfs.umask()),
        exclusive: flags.contains(OpenFlags::O_EXCL),
        truncate: flags.contains(OpenFlags::O_TRUNC) && !path_only,
        directory: flags.contains(OpenFlags::O_DIRECTORY),
        nofollow: flags.contains(OpenFlags::O_NOFOLLOW),
        path_only,
        host_flags: host_status_flags(flags),
    };
    let start = start_dir(vfs, dfd, &path)?;
    let cloexec = flags.contains(OpenFlags::O_CLOEXEC);
    // Like Linux, keep only the status flags, and set O_LARGEFILE as a 64-bit kernel does for
    // every open but an O_PATH one, which keeps O_PATH, O_DIRECTORY and O_NOFOLLOW alone.
    let status = if path_only {
        flags.bits()
            & (OpenFlags::O_PATH.bits()
                | OpenFlags::O_DIRECTORY.bits()
                | OpenFlags::O_NOFOLLOW.bits())
    } else {
        (flags.bits() | OpenFlags::O_LARGEFILE.bits())
            & !(OpenFlags::O_CREAT.bits() | OpenFlags::O_EXCL.bits())
            & !(OpenFlags::O_TRUNC.bits()
                | OpenFlags::O_CLOEXEC.bits()
                | OpenFlags::O_NOCTTY.bits())
    };
    let file = if flags.contains(OpenFlags::O_TMPFILE) {
        let options = OpenOptions {
            create: Some(mode & 0o7777 & !vfs.umask()),
            ..options
        };
        vfs.open_tmpfile(
            &start,
            &path,
            options,
            status & !OpenFlags::O_TMPFILE.bits(),
        )?
    } else {
        cx.blocking(|| vfs.open(&start, &path, options, status))?
    };
    let fd = vfs.fds().insert(Arc::new(file), cloexec)?;
    Ok(fd as u64)
}

/// The status flags a host open or `F_SETFL` takes from the guest's: append, non-blocking
/// and the synchronous-write flags.
fn host_status_flags(flags: OpenFlags) -> libc::c_int {
    let passed = OpenFlags::O_APPEND.bits()
        | OpenFlags::O_NONBLOCK.bits()
        | OpenFlags::O_DSYNC.bits()
        | OpenFlags::O_SYNC.bits();
    OpenFlags(flags.bits() & passed).to_host() as libc::c_int
}

#[syscall]
pub fn close(cx: &mut SyscallContext<'_>, fd: Fd) -> SysResult {
    let entry = vfs(cx)?.fds().close(fd.0)?;
    // The description (and its host fd) closes when its last guest fd does.
    drop(entry);
    Ok(0)
}

#[syscall]
pub fn close_range(
    cx: &mut SyscallContext<'_>,
    fd: u32,
    max_fd: u32,
    flags: CloseRangeFlags,
) -> SysResult {
    // NOTE: CLOSE_RANGE_UNSHARE is accepted without unsharing the table from sibling threads.
    let cloexec_only = flags.contains(CloseRangeFlags::CLOSE_RANGE_CLOEXEC);
    vfs(cx)?.fds().close_range(fd, max_fd, cloexec_only)?;
    Ok(0)
}

/// Reads up to `count` bytes at the file's offset into guest memory at `guest`. Host reads
/// loop over chunks until one comes back short, so a large read of a regular file returns
/// all of it.
fn read_into(
    cx: &mut SyscallContext<'_>,
    file: &OpenFile,
    guest: u64,
    count: usize,
) -> Result<usize, Errno> {
    check_access(file, false)?;
    if let FileKind::Directory { .. } = file.kind {
        return Err(Errno::EISDIR);
    }
    let mut buffer = vec![0u8; count.min(CHUNK)];
    let mut total = 0usize;
    while total < count {
        let want = (count - total).min(buffer.len());
        let got = match file.read_synthetic(&mut buffer[..want]) {
            Some(result) => result?,
            None => {
                let fd = host_fd(file)?;
                match cx.blocking(|| host::read(fd, &mut buffer[..want])) {
                    Ok(got) => got,
                    Err(_) if total > 0 => break,
                    Err(error) => return Err(error.into()),
                }
            }
        };
        let copied = copy_out(cx, guest + total as u64, &buffer[..got]);
        if copied < got {
            // Like Linux, a fault part-way returns what was copied, or EFAULT for nothing.
            // NOTE: bytes read from a pipe past the fault are lost; a seekable file is
            // moved back to the first byte not copied.
            if let Some(fd) = file.host_fd() {
                let unread = (got - copied) as libc::off_t;
                // SAFETY: lseek on an open fd has no memory effects.
                unsafe { libc::lseek(fd.as_raw_fd(), -unread, libc::SEEK_CUR) };
            }
            total += copied;
            return if total == 0 {
                Err(Errno::EFAULT)
            } else {
                Ok(total)
            };
        }
        total += got;
        if got < want {
            break;
        }
    }
    Ok(total)
}

/// Copies `data` to guest memory at `guest` page by page and returns how many bytes fit
/// before the first unmapped or read-only page.
pub(super) fn copy_out(cx: &SyscallContext<'_>, guest: u64, data: &[u8]) -> usize {
    if cx.mem().write(guest, data).is_ok() {
        return data.len();
    }
    let mut copied = 0usize;
    while copied < data.len() {
        let address = guest + copied as u64;
        let to_page_end = (crate::mem::PAGE_SIZE - address % crate::mem::PAGE_SIZE) as usize;
        let length = to_page_end.min(data.len() - copied);
        if cx
            .mem()
            .write(address, &data[copied..copied + length])
            .is_err()
        {
            break;
        }
        copied += length;
    }
    copied
}

/// Writes `count` bytes from guest memory at `guest` at the file's offset (or its end with
/// `O_APPEND`). Returns the count written, which is short only when the host wrote short.
fn write_from(
    cx: &mut SyscallContext<'_>,
    file: &OpenFile,
    guest: u64,
    count: usize,
) -> Result<usize, Errno> {
    check_access(file, true)?;
    let mut total = 0usize;
    while total < count {
        let want = (count - total).min(CHUNK);
        let mut data = vec![0u8; want];
        cx.mem().read(guest + total as u64, &mut data)?;
        let wrote = match file.write_synthetic(&data) {
            Some(result) => result?,
            None => {
                let fd = host_fd(file)?;
                match cx.blocking(|| host::write(fd, &data)) {
                    Ok(wrote) => wrote,
                    Err(_) if total > 0 => break,
                    Err(error) => return Err(error.into()),
                }
            }
        };
        total += wrote;
        if wrote < want {
            break;
        }
    }
    Ok(total)
}

#[syscall]
pub fn read(cx: &mut SyscallContext<'_>, fd: Fd, buf: UserBuf, count: u64) -> SysResult {
    let file = vfs(cx)?.file(fd.0)?;
    let count = usize::try_from(count).map_err(|_| Errno::EINVAL)?;
    Ok(read_into(cx, &file, buf.0 .0, count)? as u64)
}

#[syscall]
pub fn write(cx: &mut SyscallContext<'_>, fd: Fd, buf: UserBuf, count: u64) -> SysResult {
    let file = vfs(cx)?.file(fd.0)?;
    let count = usize::try_from(count).map_err(|_| Errno::EINVAL)?;
    Ok(write_from(cx, &file, buf.0 .0, count)? as u64)
}

/// Reads the iovec array of `readv`/`writev`; `EINVAL` for more than `UIO_MAXIOV` entries.
pub(super) fn iovecs(
    cx: &SyscallContext<'_>,
    vec: UserArray<Iovec>,
    vlen: u64,
) -> Result<Vec<Iovec>, Errno> {
    if vlen > linux::UIO_MAXIOV as u64 {
        return Err(Errno::EINVAL);
    }
    vec.read(cx.mem(), vlen as usize)
}

#[syscall]
pub fn readv(cx: &mut SyscallContext<'_>, fd: Fd, vec: UserArray<Iovec>, vlen: u64) -> SysResult {
    let file = vfs(cx)?.file(fd.0)?;
    let mut total = 0u64;
    for iovec in iovecs(cx, vec, vlen)? {
        let length = usize::try_from(iovec.iov_len).map_err(|_| Errno::EINVAL)?;
        let got = read_into(cx, &file, iovec.iov_base, length)?;
        total += got as u64;
        if got < length {
            break;
        }
    }
    Ok(total)
}

#[syscall]
pub fn writev(cx: &mut SyscallContext<'_>, fd: Fd, vec: UserArray<Iovec>, vlen: u64) -> SysResult {
    let file = vfs(cx)?.file(fd.0)?;
    let mut total = 0u64;
    for iovec in iovecs(cx, vec, vlen)? {
        let length = usize::try_from(iovec.iov_len).map_err(|_| Errno::EINVAL)?;
        let wrote = write_from(cx, &file, iovec.iov_base, length)?;
        total += wrote as u64;
        if wrote < length {
            break;
        }
    }
    Ok(total)
}

#[syscall]
pub fn pread64(
    cx: &mut SyscallContext<'_>,
    fd: Fd,
    buf: UserBuf,
    count: u64,
    pos: i64,
) -> SysResult {
    let file = vfs(cx)?.file(fd.0)?;
    check_access(&file, false)?;
    if pos < 0 {
        return Err(Errno::EINVAL);
    }
    let mut buffer = vec![
        0u8;
        usize::try_from(count)
            .map_err(|_| Errno::EINVAL)?
            .min(CHUNK)
    ];
    let got = match &file.kind {
        FileKind::Snapshot { .. } => file.read_snapshot_at(&mut buffer, pos as u64).unwrap_or(0),
        FileKind::Device(device) => device.read(&mut buffer)?,
        FileKind::Directory { .. } => return Err(Errno::EISDIR),
        FileKind::Host(fd) => {
            let fd = fd.as_raw_fd();
            // SAFETY: `buffer` has `buffer.len()` writable bytes.
            let got = cx.blocking(|| unsafe {
                libc::pread(
                    fd,
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    pos as libc::off_t,
                )
            });
            usize::try_from(got).map_err(|_| Errno::from(std::io::Error::last_os_error()))?
        }
    };
    let copied = copy_out(cx, buf.0 .0, &buffer[..got]);
    if copied == 0 && got > 0 {
        return Err(Errno::EFAULT);
    }
    let got = copied;
    Ok(got as u64)
}

#[syscall]
pub fn pwrite64(
    cx: &mut SyscallContext<'_>,
    fd: Fd,
    buf: UserBuf,
    count: u64,
    pos: i64,
) -> SysResult {
    let file = vfs(cx)?.file(fd.0)?;
    check_access(&file, true)?;
    if pos < 0 {
        return Err(Errno::EINVAL);
    }
    let data = buf.read(
        cx.mem(),
        usize::try_from(count)
            .map_err(|_| Errno::EINVAL)?
            .min(CHUNK),
    )?;
    let wrote = match &file.kind {
        FileKind::Host(fd) => {
            let fd = fd.as_raw_fd();
            // SAFETY: `data` has `data.len()` readable bytes.
            let wrote = cx.blocking(|| unsafe {
                libc::pwrite(fd, data.as_ptr().cast(), data.len(), pos as libc::off_t)
            });
            usize::try_from(wrote).map_err(|_| Errno::from(std::io::Error::last_os_error()))?
        }
        _ => file.write_synthetic(&data).ok_or(Errno::EINVAL)??,
    };
    Ok(wrote as u64)
}

#[syscall]
pub fn lseek(cx: &mut SyscallContext<'_>, fd: Fd, offset: i64, whence: SeekWhence) -> SysResult {
    let vfs = vfs(cx)?;
    let file = vfs.file(fd.0)?;
    match &file.kind {
        FileKind::Host(fd) => {
            let host_whence = match whence {
                SeekWhence::SEEK_SET => libc::SEEK_SET,
                SeekWhence::SEEK_CUR => libc::SEEK_CUR,
                SeekWhence::SEEK_END => libc::SEEK_END,
                SeekWhence::SEEK_DATA => libc::SEEK_DATA,
                SeekWhence::SEEK_HOLE => libc::SEEK_HOLE,
                _ => return Err(Errno::EINVAL),
            };
            // SAFETY: lseek on an open fd has no memory effects.
            let position =
                unsafe { libc::lseek(fd.as_raw_fd(), offset as libc::off_t, host_whence) };
            u64::try_from(position).map_err(|_| Errno::from(std::io::Error::last_os_error()))
        }
        FileKind::Snapshot {
            data,
            offset: position,
        } => {
            let mut position = position.lock().map_err(|_| Errno::EIO)?;
            let base = match whence {
                SeekWhence::SEEK_SET => 0,
                SeekWhence::SEEK_CUR => *position as i64,
                SeekWhence::SEEK_END => data.len() as i64,
                _ => return Err(Errno::EINVAL),
            };
            let target = base
                .checked_add(offset)
                .filter(|target| *target >= 0)
                .ok_or(Errno::EINVAL)?;
            *position = target as u64;
            Ok(target as u64)
        }
        FileKind::Directory { .. } => {
            let mut cursor = vfs.dir_cursor(&file)?;
            let target = match whence {
                SeekWhence::SEEK_SET => offset,
                SeekWhence::SEEK_CUR => (cursor.position as i64)
                    .checked_add(offset)
                    .ok_or(Errno::EINVAL)?,
                _ => return Err(Errno::EINVAL),
            };
            let target = usize::try_from(target).map_err(|_| Errno::EINVAL)?;
            cursor.seek(target);
            Ok(target as u64)
        }
        // Seeking a character device succeeds and changes nothing, as for /dev/null.
        FileKind::Device(_) => Ok(0),
    }
}

/// Returns the bytes of a generated struct, which has no padding bytes.
fn struct_bytes<T: crate::mem::Pod>(value: &T) -> &[u8] {
    // SAFETY: `T: Pod` covers every byte with a field, so all bytes are initialised.
    unsafe {
        std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>())
    }
}

/// The Linux `d_type` of a file type: the `S_IFMT` value shifted down, as the kernel's
/// `fs_umode_to_dtype` does.
pub(crate) fn linux_dtype(file_type: FileType) -> u8 {
    (crate::sys::fs::linux_type_bits(file_type) >> 12) as u8
}

#[syscall]
pub fn getdents64(cx: &mut SyscallContext<'_>, fd: Fd, dirent: UserBuf, count: u32) -> SysResult {
    let vfs = vfs(cx)?;
    let file = vfs.file(fd.0)?;
    let mut cursor = vfs.dir_cursor(&file)?;
    let name_offset = std::mem::offset_of!(linux::LinuxDirent64, d_name);
    let align = std::mem::align_of::<linux::LinuxDirent64>();
    let mut out = Vec::new();
    let mut consumed = 0;
    for (entry, next) in cursor.remaining() {
        let length = (name_offset + entry.name.len() + 1).div_ceil(align) * align;
        if out.len() + length > count as usize {
            break;
        }
        let header = linux::LinuxDirent64 {
            d_ino: entry.ino,
            d_off: next as i64,
            d_reclen: length as u16,
            d_type: linux_dtype(entry.file_type),
            d_name: [0; 5],
        };
        let start = out.len();
        out.extend_from_slice(&struct_bytes(&header)[..name_offset]);
        out.extend_from_slice(&entry.name);
        out.resize(start + length, 0);
        consumed += 1;
    }
    if consumed == 0 && cursor.remaining().next().is_some() {
        return Err(Errno::EINVAL);
    }
    dirent.write(cx.mem(), &out)?;
    cursor.advance(consumed);
    Ok(out.len() as u64)
}

#[syscall]
pub fn dup(cx: &mut SyscallContext<'_>, fildes: Fd) -> SysResult {
    Ok(vfs_for_new_fd(cx)?.fds().dup(fildes.0)? as u64)
}

#[syscall]
pub fn dup3(cx: &mut SyscallContext<'_>, oldfd: Fd, newfd: u32, flags: Dup3Flags) -> SysResult {
    let newfd = i32::try_from(newfd).map_err(|_| Errno::EBADF)?;
    let cloexec = flags.contains(Dup3Flags::O_CLOEXEC);
    let replaced = {
        let vfs = vfs_for_new_fd(cx)?;
        let mut fds = vfs.fds();
        let file = fds.file(oldfd.0)?;
        if oldfd.0 == newfd {
            return Err(Errno::EINVAL);
        }
        fds.insert_at(newfd, file, cloexec)?
    };
    // Closing the replaced description happens after the table lock is released.
    drop(replaced);
    Ok(newfd as u64)
}

/// The status flags `F_SETFL` may change; the access mode and creation flags stay.
fn settable_status() -> u32 {
    OpenFlags::O_APPEND.bits()
        | OpenFlags::O_NONBLOCK.bits()
        | OpenFlags::FASYNC.bits()
        | OpenFlags::O_DIRECT.bits()
        | OpenFlags::O_NOATIME.bits()
}

/// Sets the guest status flags of `file` and the matching host flags on its host fd.
fn set_status(file: &OpenFile, status: u32) -> Result<(), Errno> {
    if let Some(fd) = file.host_fd() {
        // SAFETY: F_GETFL/F_SETFL on an open fd have no memory effects.
        let current = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        if current < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let managed = libc::O_APPEND | libc::O_NONBLOCK;
        let wanted = (current & !managed) | (host_status_flags(OpenFlags(status)) & managed);
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, wanted) } < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
    }
    file.set_status(status);
    Ok(())
}

#[syscall]
pub fn fcntl(cx: &mut SyscallContext<'_>, fd: Fd, cmd: FcntlCmd, arg: GuestAddr) -> SysResult {
    let vfs = vfs_for_new_fd(cx)?;
    let raw = arg.0;
    match cmd {
        FcntlCmd::F_DUPFD | FcntlCmd::F_DUPFD_CLOEXEC => {
            let cloexec = cmd == FcntlCmd::F_DUPFD_CLOEXEC;
            // The argument is a C `int`: its low 32 bits.
            let min = raw as u32 as i32;
            Ok(vfs.fds().dup_from(fd.0, min, cloexec)? as u64)
        }
        FcntlCmd::F_GETFD => {
            let cloexec = vfs.fds().cloexec(fd.0)?;
            Ok(if cloexec {
                u64::from(FdFlags::FD_CLOEXEC.bits())
            } else {
                0
            })
        }
        FcntlCmd::F_SETFD => {
            let cloexec = raw as u32 & FdFlags::FD_CLOEXEC.bits() != 0;
            vfs.fds().set_cloexec(fd.0, cloexec)?;
            Ok(0)
        }
        FcntlCmd::F_GETFL => Ok(u64::from(vfs.file(fd.0)?.status())),
        FcntlCmd::F_SETFL => {
            let file = vfs.file(fd.0)?;
            let status = (file.status() & !settable_status()) | (raw as u32 & settable_status());
            set_status(&file, status)?;
            Ok(0)
        }
        FcntlCmd::F_GETPIPE_SZ | FcntlCmd::F_SETPIPE_SZ => {
            let file = vfs.file(fd.0)?;
            if vfs.fstat(&file)?.file_type() != FileType::Fifo {
                return Err(Errno::EBADF);
            }
            pipe_size(&file, cmd == FcntlCmd::F_SETPIPE_SZ, raw)
        }
        FcntlCmd::F_GETLK
        | FcntlCmd::F_SETLK
        | FcntlCmd::F_SETLKW
        | FcntlCmd::F_OFD_GETLK
        | FcntlCmd::F_OFD_SETLK
        | FcntlCmd::F_OFD_SETLKW => {
            let file = vfs.file(fd.0)?;
            record_lock(cx, &file, cmd, UserPtr::<Flock>::new(raw))
        }
        _ => Err(Errno::EINVAL),
    }
}

/// fcntl's record locks, which the host kernel keeps on the file's host descriptor. A guest
/// process is a host process, so the host's lock owners, conflicts and release on close are
/// the guest's too.
fn record_lock(
    cx: &mut SyscallContext<'_>,
    file: &OpenFile,
    cmd: FcntlCmd,
    arg: UserPtr<Flock>,
) -> SysResult {
    let lock = arg.read(cx.mem())?;
    let kind = LockType::from_arg(i64::from(lock.l_type) as u64)?;
    let whence = SeekWhence::from_arg(i64::from(lock.l_whence) as u64)?;
    if !matches!(
        whence,
        SeekWhence::SEEK_SET | SeekWhence::SEEK_CUR | SeekWhence::SEEK_END
    ) {
        return Err(Errno::EINVAL);
    }
    let ofd = matches!(
        cmd,
        FcntlCmd::F_OFD_GETLK | FcntlCmd::F_OFD_SETLK | FcntlCmd::F_OFD_SETLKW
    );
    if ofd && lock.l_pid != 0 {
        return Err(Errno::EINVAL);
    }
    let query = matches!(cmd, FcntlCmd::F_GETLK | FcntlCmd::F_OFD_GETLK);
    if !query {
        match kind {
            LockType::F_RDLCK => check_access(file, false)?,
            LockType::F_WRLCK => check_access(file, true)?,
            _ => {}
        }
    }
    let Some(host) = file.host_fd() else {
        return Err(Errno::ENOLCK);
    };
    let host_cmd = host_lock_command(cmd).ok_or(Errno::EINVAL)?;

    // SAFETY: libc::flock is plain integers, for which all zeroes is a valid value.
    let mut host_lock: libc::flock = unsafe { std::mem::zeroed() };
    host_lock.l_type = kind.to_host().ok_or(Errno::EINVAL)? as libc::c_short;
    host_lock.l_whence = whence.to_host().ok_or(Errno::EINVAL)? as libc::c_short;
    host_lock.l_start = lock.l_start;
    host_lock.l_len = lock.l_len;
    let raw_fd = host.as_raw_fd();
    let mut call = || {
        // SAFETY: these commands read and write one struct flock, which host_lock is.
        let status = unsafe { libc::fcntl(raw_fd, host_cmd, &mut host_lock) };
        if status < 0 {
            Err(Errno::from_io(&std::io::Error::last_os_error()))
        } else {
            Ok(())
        }
    };
    if matches!(cmd, FcntlCmd::F_SETLKW | FcntlCmd::F_OFD_SETLKW) {
        cx.blocking(call)?;
    } else {
        call()?;
    }

    if query {
        let kind = LockType::from_host(i64::from(host_lock.l_type)).ok_or(Errno::EINVAL)?;
        let whence = SeekWhence::from_host(i64::from(host_lock.l_whence)).ok_or(Errno::EINVAL)?;
        let result = Flock {
            l_type: kind.value() as i16,
            l_whence: whence.value() as i16,
            l_start: host_lock.l_start,
            l_len: host_lock.l_len,
            l_pid: host_lock.l_pid,
            ..lock
        };
        arg.write(cx.mem(), &result)?;
    }
    Ok(0)
}

/// Returns the host's fcntl command for a record-lock command, if the host has one.
fn host_lock_command(cmd: FcntlCmd) -> Option<libc::c_int> {
    match cmd {
        FcntlCmd::F_GETLK => Some(libc::F_GETLK),
        FcntlCmd::F_SETLK => Some(libc::F_SETLK),
        FcntlCmd::F_SETLKW => Some(libc::F_SETLKW),
        #[cfg(target_os = "linux")]
        FcntlCmd::F_OFD_GETLK => Some(libc::F_OFD_GETLK),
        #[cfg(target_os = "linux")]
        FcntlCmd::F_OFD_SETLK => Some(libc::F_OFD_SETLK),
        #[cfg(target_os = "linux")]
        FcntlCmd::F_OFD_SETLKW => Some(libc::F_OFD_SETLKW),
        // NOTE: open-file-description locks need a host that has them (Linux); elsewhere
        // the OFD commands get EINVAL.
        _ => None,
    }
}

/// `F_GETPIPE_SZ` and `F_SETPIPE_SZ` on a host pipe.
#[cfg(target_os = "linux")]
fn pipe_size(file: &OpenFile, set: bool, size: u64) -> SysResult {
    let fd = host_fd(file)?.as_raw_fd();
    // SAFETY: these fcntl commands take an int and have no memory effects.
    let result = unsafe {
        if set {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, size as u32 as libc::c_int)
        } else {
            libc::fcntl(fd, libc::F_GETPIPE_SZ)
        }
    };
    u64::try_from(result).map_err(|_| std::io::Error::last_os_error().into())
}

// NOTE: hosts without pipe resizing report Linux's default capacity and refuse changes.
#[cfg(not(target_os = "linux"))]
fn pipe_size(_file: &OpenFile, set: bool, _size: u64) -> SysResult {
    if set {
        return Err(Errno::EINVAL);
    }
    // Linux's default pipe capacity: 16 pages of 4 KiB.
    Ok(16 * 4096)
}

#[syscall]
pub fn flock(cx: &mut SyscallContext<'_>, fd: Fd, cmd: FlockOp) -> SysResult {
    let file = vfs(cx)?.file(fd.0)?;
    let Some(host) = file.host_fd() else {
        return Ok(0);
    };
    let mut operation = 0;
    if cmd.contains(FlockOp::LOCK_SH) {
        operation |= libc::LOCK_SH;
    }
    if cmd.contains(FlockOp::LOCK_EX) {
        operation |= libc::LOCK_EX;
    }
    if cmd.contains(FlockOp::LOCK_UN) {
        operation |= libc::LOCK_UN;
    }
    if cmd.contains(FlockOp::LOCK_NB) {
        operation |= libc::LOCK_NB;
    }
    let raw = host.as_raw_fd();
    // SAFETY: flock on an open fd has no memory effects.
    let result = cx.blocking(|| unsafe { libc::flock(raw, operation) });
    if result < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(0)
}

#[syscall]
pub fn pipe2(
    cx: &mut SyscallContext<'_>,
    fildes: UserPtr<linux::FdPair>,
    flags: Pipe2Flags,
) -> SysResult {
    let vfs = vfs_for_new_fd(cx)?;
    let (read_end, write_end) = host::pipe()?;
    let nonblock = flags.contains(Pipe2Flags::O_NONBLOCK);
    let cloexec = flags.contains(Pipe2Flags::O_CLOEXEC);
    let extra = if nonblock {
        OpenFlags::O_NONBLOCK.bits()
    } else {
        0
    };
    let read_file = Arc::new(OpenFile::new(
        FileKind::Host(read_end),
        None,
        OpenFlags::O_RDONLY.bits() | extra,
    ));
    let write_file = Arc::new(OpenFile::new(
        FileKind::Host(write_end),
        None,
        OpenFlags::O_WRONLY.bits() | extra,
    ));
    if nonblock {
        set_status(&read_file, read_file.status())?;
        set_status(&write_file, write_file.status())?;
    }
    let (fd0, fd1) = {
        let mut fds = vfs.fds();
        let fd0 = fds.insert(read_file, cloexec)?;
        match fds.insert(write_file, cloexec) {
            Ok(fd1) => (fd0, fd1),
            Err(error) => {
                let _ = fds.close(fd0);
                return Err(error.into());
            }
        }
    };
    if let Err(errno) = fildes.write(cx.mem(), &linux::FdPair { fd0, fd1 }) {
        let mut fds = vfs.fds();
        let _ = fds.close(fd0);
        let _ = fds.close(fd1);
        return Err(errno);
    }
    Ok(0)
}

#[syscall]
pub fn ftruncate(cx: &mut SyscallContext<'_>, fd: Fd, length: i64) -> SysResult {
    let file = vfs(cx)?.file(fd.0)?;
    if length < 0 {
        return Err(Errno::EINVAL);
    }
    check_access(&file, true).map_err(|_| Errno::EINVAL)?;
    let FileKind::Host(host) = &file.kind else {
        return Err(Errno::EINVAL);
    };
    // SAFETY: ftruncate on an open fd has no memory effects.
    if unsafe { libc::ftruncate(host.as_raw_fd(), length as libc::off_t) } < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(0)
}

fn sync_file(cx: &mut SyscallContext<'_>, fd: Fd) -> SysResult {
    let file = vfs(cx)?.file(fd.0)?;
    match &file.kind {
        FileKind::Host(host) => {
            let raw = host.as_raw_fd();
            // SAFETY: fsync on an open fd has no memory effects.
            if cx.blocking(|| unsafe { libc::fsync(raw) }) < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            Ok(0)
        }
        FileKind::Directory { .. } => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

#[syscall]
pub fn fsync(cx: &mut SyscallContext<'_>, fd: Fd) -> SysResult {
    sync_file(cx, fd)
}

#[syscall]
pub fn fdatasync(cx: &mut SyscallContext<'_>, fd: Fd) -> SysResult {
    sync_file(cx, fd)
}

#[syscall]
pub fn ioctl(cx: &mut SyscallContext<'_>, fd: Fd, cmd: u32, arg: GuestAddr) -> SysResult {
    let vfs = vfs(cx)?;
    let file = vfs.file(fd.0)?;
    let request = linux::IoctlRequest(cmd);
    match request {
        linux::IoctlRequest::FIOCLEX | linux::IoctlRequest::FIONCLEX => {
            vfs.fds()
                .set_cloexec(fd.0, request == linux::IoctlRequest::FIOCLEX)?;
            return Ok(0);
        }
        linux::IoctlRequest::FIONBIO => {
            let on: i32 = UserPtr::<i32>::new(arg.0).read(cx.mem())?;
            let status = if on != 0 {
                file.status() | OpenFlags::O_NONBLOCK.bits()
            } else {
                file.status() & !OpenFlags::O_NONBLOCK.bits()
            };
            set_status(&file, status)?;
            return Ok(0);
        }
        _ => {}
    }
    let Some(host) = file.host_fd() else {
        return Err(Errno::ENOTTY);
    };
    super::terminal::ioctl(cx, host, request, arg)
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
