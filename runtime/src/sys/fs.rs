//! Handlers for calls on paths and file metadata: `stat` and friends, `readlink`, `access`,
//! creating, removing, renaming and linking names, owners, modes and times, `truncate`, and
//! the working directory. Paths resolve in the process's [`Vfs`].

use carrick_macros::syscall;

use super::files::{start_dir, vfs};
use super::{CStrPtr, DirFd, Fd, SysResult, SyscallContext, UserBuf, UserPtr};
use crate::linux::{self, AccessMode, AtFlags, Errno, FileMode, RenameFlags, StatxMask};
use crate::vfs::{
    FileKind, FileType, FsKind, FsStats, GuestPath, Location, OpenFile, Stat, SynthKind, Vfs,
};

/// The Linux `S_IFMT` bits of a file type.
pub(crate) fn linux_type_bits(file_type: FileType) -> u32 {
    match file_type {
        FileType::Regular => FileMode::S_IFREG.bits(),
        FileType::Directory => FileMode::S_IFDIR.bits(),
        FileType::Symlink => FileMode::S_IFLNK.bits(),
        FileType::CharDevice => FileMode::S_IFCHR.bits(),
        FileType::BlockDevice => FileMode::S_IFBLK.bits(),
        FileType::Fifo => FileMode::S_IFIFO.bits(),
        FileType::Socket => FileMode::S_IFSOCK.bits(),
    }
}

/// Splits a host device number into major and minor.
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn device_numbers(host: u64) -> (u32, u32) {
    (libc::major(host as _) as u32, libc::minor(host as _) as u32)
}

/// Encodes a device number as glibc's `makedev` does for `st_dev` and `st_rdev`: minor bits
/// 0-7 and 20-39, major bits 8-19 and 44-63.
fn linux_dev(host: u64) -> u64 {
    let (major, minor) = device_numbers(host);
    let (major, minor) = (u64::from(major), u64::from(minor));
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

fn linux_mode(stat: &Stat) -> u32 {
    linux_type_bits(stat.file_type()) | FileMode::from_host(i64::from(stat.mode & 0o7777)).bits()
}

pub(crate) fn to_linux_stat(stat: &Stat) -> linux::Stat {
    let mut out = linux::Stat::ZERO;
    out.st_dev = linux_dev(stat.dev);
    out.st_ino = stat.ino;
    out.st_mode = linux_mode(stat);
    out.st_nlink = u32::try_from(stat.nlink).unwrap_or(u32::MAX);
    out.st_uid = stat.uid;
    out.st_gid = stat.gid;
    out.st_rdev = linux_dev(stat.rdev);
    out.st_size = stat.size;
    out.st_blksize = i32::try_from(stat.blksize).unwrap_or(i32::MAX);
    out.st_blocks = stat.blocks;
    out.st_atime = stat.atime.0;
    out.st_atime_nsec = stat.atime.1 as u64;
    out.st_mtime = stat.mtime.0;
    out.st_mtime_nsec = stat.mtime.1 as u64;
    out.st_ctime = stat.ctime.0;
    out.st_ctime_nsec = stat.ctime.1 as u64;
    out
}

/// Reads a path argument that may be empty with `AT_EMPTY_PATH`.
fn read_path_maybe_empty(
    cx: &SyscallContext<'_>,
    path: CStrPtr,
    flags: AtFlags,
) -> Result<Vec<u8>, Errno> {
    if flags.contains(AtFlags::AT_EMPTY_PATH) {
        path.read(cx.mem(), linux::PATH_MAX as usize)
    } else {
        path.read_path(cx.mem())
    }
}

/// The status of what `dfd` and `path` name, for the `stat` family. An empty path (allowed
/// by `AT_EMPTY_PATH`) names `dfd` itself.
fn stat_at(vfs: &Vfs, dfd: DirFd, path: &[u8], flags: AtFlags) -> Result<Stat, Errno> {
    if path.is_empty() {
        if dfd.is_cwd() {
            return Ok(vfs.stat_location(&vfs.cwd())?);
        }
        let file = vfs.file(dfd.0)?;
        return Ok(vfs.fstat(&file)?);
    }
    let start = start_dir(vfs, dfd, path)?;
    let follow = !flags.contains(AtFlags::AT_SYMLINK_NOFOLLOW);
    Ok(vfs.stat(&start, path, follow)?)
}

#[syscall]
pub fn newfstatat(
    cx: &mut SyscallContext<'_>,
    dfd: DirFd,
    filename: CStrPtr,
    statbuf: UserPtr<linux::Stat>,
    flag: AtFlags,
) -> SysResult {
    let path = read_path_maybe_empty(cx, filename, flag)?;
    let stat = stat_at(vfs(cx)?, dfd, &path, flag)?;
    statbuf.write(cx.mem(), &to_linux_stat(&stat))?;
    Ok(0)
}

#[syscall]
pub fn fstat(cx: &mut SyscallContext<'_>, fd: Fd, statbuf: UserPtr<linux::Stat>) -> SysResult {
    let vfs = vfs(cx)?;
    let file = vfs.file(fd.0)?;
    let stat = vfs.fstat(&file)?;
    statbuf.write(cx.mem(), &to_linux_stat(&stat))?;
    Ok(0)
}

fn statx_time(time: (i64, i64)) -> linux::StatxTimestamp {
    let mut out = linux::StatxTimestamp::ZERO;
    out.tv_sec = time.0;
    out.tv_nsec = time.1 as u32;
    out
}

#[syscall]
pub fn statx(
    cx: &mut SyscallContext<'_>,
    dfd: DirFd,
    filename: CStrPtr,
    flags: AtFlags,
    mask: StatxMask,
    buffer: UserPtr<linux::Statx>,
) -> SysResult {
    if mask.contains(StatxMask::STATX__RESERVED) {
        return Err(Errno::EINVAL);
    }
    let sync_type =
        AtFlags(AtFlags::AT_STATX_FORCE_SYNC.bits() | AtFlags::AT_STATX_DONT_SYNC.bits());
    if flags.contains(sync_type) {
        return Err(Errno::EINVAL);
    }
    let path = read_path_maybe_empty(cx, filename, flags)?;
    let stat = stat_at(vfs(cx)?, dfd, &path, flags)?;
    let (dev_major, dev_minor) = device_numbers(stat.dev);
    let (rdev_major, rdev_minor) = device_numbers(stat.rdev);
    let mut out = linux::Statx::ZERO;
    // Every basic field is filled whatever the request; there is no birth time.
    out.stx_mask = StatxMask::STATX_BASIC_STATS.bits();
    out.stx_blksize = u32::try_from(stat.blksize).unwrap_or(u32::MAX);
    out.stx_nlink = u32::try_from(stat.nlink).unwrap_or(u32::MAX);
    out.stx_uid = stat.uid;
    out.stx_gid = stat.gid;
    out.stx_mode = linux_mode(&stat) as u16;
    out.stx_ino = stat.ino;
    out.stx_size = stat.size as u64;
    out.stx_blocks = stat.blocks as u64;
    out.stx_atime = statx_time(stat.atime);
    out.stx_mtime = statx_time(stat.mtime);
    out.stx_ctime = statx_time(stat.ctime);
    out.stx_rdev_major = rdev_major;
    out.stx_rdev_minor = rdev_minor;
    out.stx_dev_major = dev_major;
    out.stx_dev_minor = dev_minor;
    buffer.write(cx.mem(), &out)?;
    Ok(0)
}

#[syscall]
pub fn readlinkat(
    cx: &mut SyscallContext<'_>,
    dfd: DirFd,
    pathname: CStrPtr,
    buf: UserBuf,
    bufsiz: i32,
) -> SysResult {
    if bufsiz <= 0 {
        return Err(Errno::EINVAL);
    }
    let path = pathname.read_path(cx.mem())?;
    let vfs = vfs(cx)?;
    let start = start_dir(vfs, dfd, &path)?;
    let target = vfs.readlink(&start, &path)?;
    let length = target.len().min(bufsiz as usize);
    buf.write(cx.mem(), &target[..length])?;
    Ok(length as u64)
}

/// Checks access the way `faccessat` does for the caller's real ids (or effective ids with
/// `AT_EACCESS`): root passes read and write checks, and execute when any execute bit is set.
fn access(
    cx: &mut SyscallContext<'_>,
    dfd: DirFd,
    filename: CStrPtr,
    mode: AccessMode,
    flags: AtFlags,
) -> SysResult {
    let path = read_path_maybe_empty(cx, filename, flags)?;
    let stat = stat_at(vfs(cx)?, dfd, &path, flags)?;
    let (uid, gid, groups) = {
        let creds = cx.process.creds();
        if flags.contains(AtFlags::AT_EACCESS) {
            (creds.euid, creds.egid, creds.groups.clone())
        } else {
            (creds.ruid, creds.rgid, creds.groups.clone())
        }
    };
    let wanted = [
        (AccessMode::R_OK, 0o4),
        (AccessMode::W_OK, 0o2),
        (AccessMode::X_OK, 0o1),
    ];
    for (bit, permission) in wanted {
        if !mode.contains(bit) || bit.bits() == 0 {
            continue;
        }
        let allowed = if uid == 0 {
            permission != 0o1 || stat.mode & 0o111 != 0 || stat.file_type() == FileType::Directory
        } else {
            let shift = if stat.uid == uid {
                6
            } else if stat.gid == gid || groups.contains(&stat.gid) {
                3
            } else {
                0
            };
            (stat.mode >> shift) & permission != 0
        };
        if !allowed {
            return Err(Errno::EACCES);
        }
    }
    // NOTE: W_OK on a read-only volume passes here; the write itself fails with EROFS.
    Ok(0)
}

#[syscall]
pub fn faccessat(
    cx: &mut SyscallContext<'_>,
    dfd: DirFd,
    filename: CStrPtr,
    mode: AccessMode,
) -> SysResult {
    access(cx, dfd, filename, mode, AtFlags(0))
}

#[syscall]
pub fn faccessat2(
    cx: &mut SyscallContext<'_>,
    dfd: DirFd,
    filename: CStrPtr,
    mode: AccessMode,
    flags: AtFlags,
) -> SysResult {
    access(cx, dfd, filename, mode, flags)
}

/// Resolves the start directory and reads the path of a call that takes `dfd` and `path`.
fn at_path(
    cx: &SyscallContext<'_>,
    dfd: DirFd,
    path: CStrPtr,
) -> Result<(Location, Vec<u8>), Errno> {
    let path = path.read_path(cx.mem())?;
    let start = start_dir(vfs(cx)?, dfd, &path)?;
    Ok((start, path))
}

#[syscall]
pub fn mkdirat(cx: &mut SyscallContext<'_>, dfd: DirFd, pathname: CStrPtr, mode: u32) -> SysResult {
    let (start, path) = at_path(cx, dfd, pathname)?;
    let vfs = vfs(cx)?;
    vfs.mkdir(&start, &path, mode & 0o7777 & !vfs.umask())?;
    Ok(0)
}

#[syscall]
pub fn mknodat(
    cx: &mut SyscallContext<'_>,
    dfd: DirFd,
    filename: CStrPtr,
    mode: u32,
    dev: u32,
) -> SysResult {
    let _ = dev;
    let (start, path) = at_path(cx, dfd, filename)?;
    let vfs = vfs(cx)?;
    let permissions = mode & 0o7777 & !vfs.umask();
    match mode & FileMode::S_IFMT.bits() {
        bits if bits == FileMode::S_IFIFO.bits() => vfs.mkfifo(&start, &path, permissions)?,
        bits if bits == 0 || bits == FileMode::S_IFREG.bits() => {
            let options = crate::vfs::OpenOptions {
                write: true,
                create: Some(permissions),
                exclusive: true,
                ..Default::default()
            };
            drop(vfs.open(&start, &path, options, 0)?);
        }
        // NOTE: device nodes and sockets cannot be made: a non-root host cannot create them.
        _ => return Err(Errno::EPERM),
    }
    Ok(0)
}

#[syscall]
pub fn unlinkat(
    cx: &mut SyscallContext<'_>,
    dfd: DirFd,
    pathname: CStrPtr,
    flag: AtFlags,
) -> SysResult {
    let (start, path) = at_path(cx, dfd, pathname)?;
    vfs(cx)?.remove(&start, &path, flag.contains(AtFlags::AT_REMOVEDIR))?;
    Ok(0)
}

#[syscall]
pub fn renameat2(
    cx: &mut SyscallContext<'_>,
    olddfd: DirFd,
    oldname: CStrPtr,
    newdfd: DirFd,
    newname: CStrPtr,
    flags: RenameFlags,
) -> SysResult {
    if flags.intersects(RenameFlags(
        RenameFlags::RENAME_EXCHANGE.bits() | RenameFlags::RENAME_WHITEOUT.bits(),
    )) {
        return Err(Errno::EINVAL);
    }
    let (old_start, old_path) = at_path(cx, olddfd, oldname)?;
    let (new_start, new_path) = at_path(cx, newdfd, newname)?;
    let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
    vfs(cx)?.rename(&old_start, &old_path, &new_start, &new_path, noreplace)?;
    Ok(0)
}

#[syscall]
pub fn symlinkat(
    cx: &mut SyscallContext<'_>,
    oldname: CStrPtr,
    newdfd: DirFd,
    newname: CStrPtr,
) -> SysResult {
    let target = oldname.read_path(cx.mem())?;
    let (start, path) = at_path(cx, newdfd, newname)?;
    vfs(cx)?.symlink(&target, &start, &path)?;
    Ok(0)
}

#[syscall]
pub fn linkat(
    cx: &mut SyscallContext<'_>,
    olddfd: DirFd,
    oldname: CStrPtr,
    newdfd: DirFd,
    newname: CStrPtr,
    flags: AtFlags,
) -> SysResult {
    if flags.contains(AtFlags::AT_EMPTY_PATH) {
        let old_path = oldname.read(cx.mem(), linux::PATH_MAX as usize)?;
        if old_path.is_empty() {
            let vfs = vfs(cx)?;
            let file = vfs.file(olddfd.0)?;
            let (new_start, new_path) = at_path(cx, newdfd, newname)?;
            vfs.link_file(&file, &new_start, &new_path)?;
            return Ok(0);
        }
    }
    let (old_start, old_path) = at_path(cx, olddfd, oldname)?;
    let (new_start, new_path) = at_path(cx, newdfd, newname)?;
    let follow = flags.contains(AtFlags::AT_SYMLINK_FOLLOW);
    vfs(cx)?.link(&old_start, &old_path, follow, &new_start, &new_path)?;
    Ok(0)
}

/// The canonical path of an open file, for the `f*` calls that change metadata by path.
fn file_path(file: &OpenFile) -> Result<GuestPath, Errno> {
    match &file.kind {
        FileKind::Directory { location, .. } => Ok(location.path.clone()),
        _ => file.path.clone().ok_or(Errno::EINVAL),
    }
}

#[syscall]
pub fn fchmodat(
    cx: &mut SyscallContext<'_>,
    dfd: DirFd,
    filename: CStrPtr,
    mode: u32,
) -> SysResult {
    let (start, path) = at_path(cx, dfd, filename)?;
    vfs(cx)?.chmod(&start, &path, mode & 0o7777, true)?;
    Ok(0)
}

#[syscall]
pub fn fchmod(cx: &mut SyscallContext<'_>, fd: Fd, mode: u32) -> SysResult {
    let vfs = vfs(cx)?;
    let path = file_path(&*vfs.file(fd.0)?)?;
    vfs.chmod(&vfs.root()?, path.as_bytes(), mode & 0o7777, false)?;
    Ok(0)
}

/// An owner argument: `-1` keeps the id.
fn owner(id: u32) -> Option<u32> {
    (id != u32::MAX).then_some(id)
}

#[syscall]
pub fn fchownat(
    cx: &mut SyscallContext<'_>,
    dfd: DirFd,
    filename: CStrPtr,
    user: u32,
    group: u32,
    flag: AtFlags,
) -> SysResult {
    let path = read_path_maybe_empty(cx, filename, flag)?;
    let vfs = vfs(cx)?;
    let follow = !flag.contains(AtFlags::AT_SYMLINK_NOFOLLOW);
    if path.is_empty() {
        let target = if dfd.is_cwd() {
            vfs.cwd().path
        } else {
            file_path(&*vfs.file(dfd.0)?)?
        };
        vfs.chown(
            &vfs.root()?,
            target.as_bytes(),
            owner(user),
            owner(group),
            false,
        )?;
        return Ok(0);
    }
    let start = start_dir(vfs, dfd, &path)?;
    vfs.chown(&start, &path, owner(user), owner(group), follow)?;
    Ok(0)
}

#[syscall]
pub fn fchown(cx: &mut SyscallContext<'_>, fd: Fd, user: u32, group: u32) -> SysResult {
    let vfs = vfs(cx)?;
    let path = file_path(&*vfs.file(fd.0)?)?;
    vfs.chown(
        &vfs.root()?,
        path.as_bytes(),
        owner(user),
        owner(group),
        false,
    )?;
    Ok(0)
}

/// One time of `utimensat`: `None` keeps it, `Some(None)` sets it to now.
fn utime(time: &linux::Timespec) -> Result<Option<Option<(i64, i64)>>, Errno> {
    match time.tv_nsec {
        nanoseconds if nanoseconds == linux::UTIME_OMIT => Ok(None),
        nanoseconds if nanoseconds == linux::UTIME_NOW => Ok(Some(None)),
        nanoseconds if (0..1_000_000_000).contains(&nanoseconds) => {
            Ok(Some(Some((time.tv_sec, nanoseconds))))
        }
        _ => Err(Errno::EINVAL),
    }
}

#[syscall]
pub fn utimensat(
    cx: &mut SyscallContext<'_>,
    dfd: DirFd,
    filename: CStrPtr,
    utimes: UserPtr<linux::TimespecPair>,
    flags: AtFlags,
) -> SysResult {
    let (atime, mtime) = match utimes.read_optional(cx.mem())? {
        Some(times) => (utime(&times.atime)?, utime(&times.mtime)?),
        None => (Some(None), Some(None)),
    };
    let vfs = vfs(cx)?;
    let follow = !flags.contains(AtFlags::AT_SYMLINK_NOFOLLOW);
    // A NULL path is `futimens`: the times of `dfd` itself.
    if filename.0.is_null() || flags.contains(AtFlags::AT_EMPTY_PATH) {
        let path = read_path_maybe_empty(cx, filename, flags).unwrap_or_default();
        if path.is_empty() {
            let target = file_path(&*vfs.file(dfd.0)?)?;
            vfs.utimes(&vfs.root()?, target.as_bytes(), atime, mtime, false)?;
            return Ok(0);
        }
    }
    let (start, path) = at_path(cx, dfd, filename)?;
    vfs.utimes(&start, &path, atime, mtime, follow)?;
    Ok(0)
}

#[syscall]
pub fn truncate(cx: &mut SyscallContext<'_>, path: CStrPtr, length: i64) -> SysResult {
    if length < 0 {
        return Err(Errno::EINVAL);
    }
    let (start, path) = at_path(cx, DirFd(linux::AT_FDCWD), path)?;
    vfs(cx)?.truncate(&start, &path, length)?;
    Ok(0)
}

#[syscall]
pub fn getcwd(cx: &mut SyscallContext<'_>, buf: UserBuf, size: u64) -> SysResult {
    let cwd = vfs(cx)?.cwd().path;
    let mut bytes = cwd.as_bytes().to_vec();
    bytes.push(0);
    if (bytes.len() as u64) > size {
        return Err(Errno::ERANGE);
    }
    buf.write(cx.mem(), &bytes)?;
    Ok(bytes.len() as u64)
}

#[syscall]
pub fn chdir(cx: &mut SyscallContext<'_>, filename: CStrPtr) -> SysResult {
    let (start, path) = at_path(cx, DirFd(linux::AT_FDCWD), filename)?;
    let vfs = vfs(cx)?;
    let resolved = vfs.resolve(&start, &path, true)?;
    let location = vfs.enter_resolved(&resolved)?;
    vfs.set_cwd(location);
    Ok(0)
}

#[syscall]
pub fn fchdir(cx: &mut SyscallContext<'_>, fd: Fd) -> SysResult {
    let vfs = vfs(cx)?;
    let location = vfs.file_location(&*vfs.file(fd.0)?)?;
    vfs.set_cwd(location);
    Ok(0)
}

#[syscall]
pub fn chroot(cx: &mut SyscallContext<'_>, filename: CStrPtr) -> SysResult {
    // The path is still checked, so a bad pointer gives EFAULT as on Linux.
    filename.read_path(cx.mem())?;
    Err(Errno::EPERM)
}

#[syscall]
pub fn umask(cx: &mut SyscallContext<'_>, mask: u32) -> SysResult {
    Ok(u64::from(vfs(cx)?.swap_umask(mask)))
}

#[syscall]
pub fn sync(cx: &mut SyscallContext<'_>) -> SysResult {
    // SAFETY: sync has no memory effects.
    cx.blocking(|| unsafe { libc::sync() });
    Ok(0)
}

fn to_linux_statfs(stats: &FsStats) -> linux::Statfs {
    let f_type = match stats.kind {
        FsKind::Overlay => linux::OVERLAYFS_SUPER_MAGIC,
        FsKind::Synthetic(SynthKind::Proc) => linux::PROC_SUPER_MAGIC,
        FsKind::Synthetic(SynthKind::Sys) => linux::SYSFS_MAGIC,
        FsKind::Synthetic(SynthKind::Dev) => linux::TMPFS_MAGIC,
        FsKind::Host(Some(host_type)) => host_type,
        // NOTE: a host without Linux file system types reports its directories as tmpfs.
        FsKind::Host(None) => linux::TMPFS_MAGIC,
    };
    let mut out = linux::Statfs::ZERO;
    out.f_type = f_type;
    out.f_bsize = stats.block_size as i64;
    out.f_frsize = stats.fragment_size as i64;
    out.f_blocks = stats.blocks as i64;
    out.f_bfree = stats.free_blocks as i64;
    out.f_bavail = stats.available_blocks as i64;
    out.f_files = stats.files as i64;
    out.f_ffree = stats.free_files as i64;
    out.f_namelen = stats.name_max as i64;
    out
}

#[syscall]
pub fn statfs(
    cx: &mut SyscallContext<'_>,
    pathname: CStrPtr,
    buf: UserPtr<linux::Statfs>,
) -> SysResult {
    let (start, path) = at_path(cx, DirFd(linux::AT_FDCWD), pathname)?;
    let vfs = vfs(cx)?;
    let resolved = vfs.resolve(&start, &path, true)?;
    resolved.require()?;
    // The file system of a non-directory is that of its directory.
    let location = vfs.enter_resolved(&resolved).unwrap_or(resolved.parent);
    buf.write(cx.mem(), &to_linux_statfs(&vfs.statfs(&location)?))?;
    Ok(0)
}

#[syscall]
pub fn fstatfs(cx: &mut SyscallContext<'_>, fd: Fd, buf: UserPtr<linux::Statfs>) -> SysResult {
    let vfs = vfs(cx)?;
    let file = vfs.file(fd.0)?;
    let location = match vfs.file_location(&file) {
        Ok(location) => location,
        Err(_) => {
            let path = file.path.clone().ok_or(Errno::EINVAL)?;
            let resolved = vfs.resolve(&vfs.root()?, path.as_bytes(), false)?;
            resolved.parent
        }
    };
    buf.write(cx.mem(), &to_linux_statfs(&vfs.statfs(&location)?))?;
    Ok(0)
}
