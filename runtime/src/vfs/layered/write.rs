//! The calls of [`LayeredFs`] that change the tree: creating, removing, renaming and linking
//! entries, and changing their attributes. Each one copies what it touches into the upper
//! layer first and fails with `EROFS` on a read-only file system.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use super::{
    decode_attrs, encode_attrs, ignore_missing, prefixed, Dir, Entry, Layer, LayeredFs,
    META_PREFIX, OPAQUE_MARKER, RESERVED_PREFIX, TEMP_PREFIX, WHITEOUT_PREFIX,
};
use crate::vfs::host;
use crate::vfs::layers::Attrs;
use crate::vfs::{errno, mode, FileType};

impl LayeredFs {
    /// Creates and opens a regular file `name` in `dir`, which must not exist in the merged
    /// view. The file gets `O_CREAT | O_EXCL` on the host.
    pub fn create(
        &self,
        dir: &mut Dir,
        name: &[u8],
        flags: libc::c_int,
        mode: u32,
    ) -> io::Result<OwnedFd> {
        let (upper, _) = self.prepare_create(dir, name)?;
        host::open_at(
            upper.as_fd(),
            name,
            flags | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            mode,
        )
    }

    /// Creates a directory `name` in `dir`.
    pub fn mkdir(&self, dir: &mut Dir, name: &[u8], mode: u32) -> io::Result<()> {
        let (upper, over_whiteout) = self.prepare_create(dir, name)?;
        host::mkdir_at(upper.as_fd(), name, mode)?;
        if over_whiteout {
            // The new directory replaces a deleted lower one, whose children stay hidden.
            let child = host::open_dir_nofollow(upper.as_fd(), name)?;
            drop(host::open_at(
                child.as_fd(),
                OPAQUE_MARKER,
                libc::O_WRONLY | libc::O_CREAT,
                0o600,
            )?);
        }
        Ok(())
    }

    /// Creates a FIFO `name` in `dir`.
    pub fn mkfifo(&self, dir: &mut Dir, name: &[u8], mode: u32) -> io::Result<()> {
        let (upper, _) = self.prepare_create(dir, name)?;
        host::mkfifo_at(upper.as_fd(), name, mode)
    }

    /// Creates a symlink `name` in `dir` pointing at `target`.
    pub fn symlink(&self, target: &[u8], dir: &mut Dir, name: &[u8]) -> io::Result<()> {
        let (upper, _) = self.prepare_create(dir, name)?;
        host::symlink_at(target, upper.as_fd(), name)
    }

    /// Makes `new_name` in `new_dir` a hard link to `name` of `dir` (found as `entry`).
    pub fn link(
        &self,
        dir: &mut Dir,
        name: &[u8],
        entry: &Entry,
        new_dir: &mut Dir,
        new_name: &[u8],
    ) -> io::Result<()> {
        if entry.file_type() == FileType::Directory {
            return Err(errno(libc::EPERM));
        }
        self.copy_up(dir, name, entry)?;
        let from = self.copy_up_dir(dir)?;
        let (to, _) = self.prepare_create(new_dir, new_name)?;
        host::link_at(from.as_fd(), name, to.as_fd(), new_name)
    }

    /// Opens an unnamed file in `dir` (host `O_TMPFILE`, Linux hosts only).
    pub fn tmpfile(&self, dir: &mut Dir, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
        let upper = self.copy_up_dir(dir)?;
        #[cfg(target_os = "linux")]
        {
            host::open_at(upper.as_fd(), b".", flags | libc::O_TMPFILE, mode)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (upper, flags, mode);
            Err(errno(libc::EOPNOTSUPP))
        }
    }

    /// Names the open host file `file` as `name` in `dir`: an `O_TMPFILE` file becomes
    /// visible (`EXDEV` when it lives on another host file system).
    pub fn link_open_file(
        &self,
        file: BorrowedFd<'_>,
        dir: &mut Dir,
        name: &[u8],
    ) -> io::Result<()> {
        let (upper, _) = self.prepare_create(dir, name)?;
        #[cfg(target_os = "linux")]
        {
            // The host's own /proc link of carrick's fd: a host path the guest cannot choose.
            let link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
            let link = host::cname(link.as_bytes())?;
            let name = host::cname(name)?;
            // SAFETY: both paths are NUL-terminated.
            let result = unsafe {
                libc::linkat(
                    libc::AT_FDCWD,
                    link.as_ptr(),
                    std::os::fd::AsRawFd::as_raw_fd(&upper.as_fd()),
                    name.as_ptr(),
                    libc::AT_SYMLINK_FOLLOW,
                )
            };
            if result < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (file, upper, name);
            Err(errno(libc::EOPNOTSUPP))
        }
    }

    /// Copies up `dir` and clears a whiteout of `name` in it, for a new entry. Returns the
    /// upper directory and whether a whiteout was cleared.
    fn prepare_create(&self, dir: &mut Dir, name: &[u8]) -> io::Result<(Arc<OwnedFd>, bool)> {
        self.check_guest_name(name)?;
        let upper = self.copy_up_dir(dir)?;
        let mut over_whiteout = false;
        if self.union {
            match host::unlink_at(upper.as_fd(), &prefixed(WHITEOUT_PREFIX, name), false) {
                Ok(()) => over_whiteout = true,
                Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {}
                Err(error) => return Err(error),
            }
        }
        Ok((upper, over_whiteout))
    }

    /// Makes sure `dir` exists in the upper layer, copying up each missing directory of its
    /// chain, and returns the upper fd. `EROFS` on a read-only file system.
    pub fn copy_up_dir(&self, dir: &mut Dir) -> io::Result<Arc<OwnedFd>> {
        if let Some(upper) = dir.upper_fd() {
            return Ok(upper.clone());
        }
        let upper = self.upper.as_ref().ok_or_else(|| errno(libc::EROFS))?;
        let mut merged = self.root()?;
        let mut current = upper.try_clone()?;
        for name in dir.rel.clone() {
            let entry = self
                .lookup(&merged, &name)?
                .ok_or_else(|| errno(libc::ENOENT))?;
            if entry.file_type() != FileType::Directory {
                return Err(errno(libc::ENOTDIR));
            }
            if entry.layer != Layer::Upper {
                host::mkdir_at(current.as_fd(), &name, (entry.host.mode & 0o7777) | 0o700)?;
                self.record_copied_attrs(current.as_fd(), &name, &entry)?;
            }
            let next = host::open_dir_nofollow(current.as_fd(), &name)?;
            merged = self.child_dir(
                &merged,
                &name,
                &self
                    .lookup(&merged, &name)?
                    .ok_or_else(|| errno(libc::ENOENT))?,
            )?;
            current = next;
        }
        let current = Arc::new(current);
        dir.parts.insert(0, (Layer::Upper, current.clone()));
        Ok(current)
    }

    /// Keeps the owner and mode of an entry copied up from a lower layer, which the new host
    /// file (owned by carrick's user) does not have.
    fn record_copied_attrs(
        &self,
        upper_dir: BorrowedFd<'_>,
        name: &[u8],
        entry: &Entry,
    ) -> io::Result<()> {
        let stat = entry.stat();
        let attrs = Attrs {
            uid: stat.uid,
            gid: stat.gid,
            mode: stat.mode,
            rdev: stat.rdev,
        };
        self.write_attrs(upper_dir, name, attrs)
    }

    fn write_attrs(&self, upper_dir: BorrowedFd<'_>, name: &[u8], attrs: Attrs) -> io::Result<()> {
        host::write_file_at(
            upper_dir,
            &prefixed(META_PREFIX, name),
            &prefixed(TEMP_PREFIX, name),
            &encode_attrs(attrs),
        )
    }

    /// Copies the entry `name` of `dir` into the upper layer unless it is there already.
    pub fn copy_up(&self, dir: &mut Dir, name: &[u8], entry: &Entry) -> io::Result<()> {
        if entry.layer == Layer::Upper {
            return Ok(());
        }
        let upper = self.copy_up_dir(dir)?;
        let lower = dir.part_fd(entry.layer)?;
        let temporary = prefixed(TEMP_PREFIX, name);
        let permissions = (entry.host.mode & 0o7777) | 0o600;

        match entry.host.file_type() {
            FileType::Directory => {
                host::mkdir_at(upper.as_fd(), name, permissions | 0o700)?;
                return self.record_copied_attrs(upper.as_fd(), name, entry);
            }
            FileType::Symlink => {
                let target = host::readlink_at(lower, name)?;
                host::symlink_at(&target, upper.as_fd(), &temporary)?;
            }
            FileType::Fifo => host::mkfifo_at(upper.as_fd(), &temporary, permissions)?,
            FileType::Regular => {
                let source = host::open_at(lower, name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?;
                let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW;
                let target = host::open_at(upper.as_fd(), &temporary, flags, permissions)?;
                host::copy_contents(source.as_fd(), target.as_fd())?;
            }
            // Device nodes and sockets in a layer are stand-ins; the image's type comes from
            // the layer's attributes, which are recorded below.
            _ => drop(host::open_at(
                upper.as_fd(),
                &temporary,
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                permissions,
            )?),
        }
        if entry.host.file_type() != FileType::Symlink {
            host::utimes_at(
                upper.as_fd(),
                &temporary,
                Some(Some(entry.host.atime)),
                Some(Some(entry.host.mtime)),
            )?;
        }
        host::rename_at(upper.as_fd(), &temporary, upper.as_fd(), name)?;
        self.record_copied_attrs(upper.as_fd(), name, entry)
    }

    /// Removes `name` of `dir`: a directory when `directory` is set (`ENOTEMPTY` unless the
    /// merged directory is empty), otherwise a non-directory. Lower copies are hidden by a
    /// whiteout.
    pub fn remove(
        &self,
        dir: &mut Dir,
        name: &[u8],
        entry: &Entry,
        directory: bool,
    ) -> io::Result<()> {
        let is_dir = entry.file_type() == FileType::Directory;
        if directory && !is_dir {
            return Err(errno(libc::ENOTDIR));
        }
        if !directory && is_dir {
            return Err(errno(libc::EISDIR));
        }
        if directory {
            let child = self.child_dir(dir, name, entry)?;
            if !self.read_dir(&child)?.is_empty() {
                return Err(errno(libc::ENOTEMPTY));
            }
        }
        let upper = self.copy_up_dir(dir)?;
        if entry.layer == Layer::Upper {
            if directory && self.union {
                self.clear_records(upper.as_fd(), name)?;
            }
            host::unlink_at(upper.as_fd(), name, directory)?;
            if self.union {
                ignore_missing(host::unlink_at(
                    upper.as_fd(),
                    &prefixed(META_PREFIX, name),
                    false,
                ))?;
            }
        }
        if self.exists_below(dir, name, Layer::Upper)? {
            drop(host::open_at(
                upper.as_fd(),
                &prefixed(WHITEOUT_PREFIX, name),
                libc::O_WRONLY | libc::O_CREAT,
                0o600,
            )?);
        }
        Ok(())
    }

    /// Deletes carrick's records inside the upper directory `name`, so it can be removed.
    fn clear_records(&self, upper: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
        let child = host::open_dir_nofollow(upper, name)?;
        for entry in host::read_dir(child.as_fd())? {
            if entry.name.starts_with(RESERVED_PREFIX) {
                host::unlink_at(child.as_fd(), &entry.name, false)?;
            }
        }
        Ok(())
    }

    /// Whether a layer below `above` still shows `name` in `dir`.
    fn exists_below(&self, dir: &Dir, name: &[u8], above: Layer) -> io::Result<bool> {
        let start = dir
            .parts
            .iter()
            .position(|(layer, _)| *layer == above)
            .map_or(0, |position| position + 1);
        for (layer, fd) in dir.parts.iter().skip(start) {
            let fd = fd.as_fd();
            if host::exists_at(fd, name)? {
                return Ok(true);
            }
            if self.is_whiteout(dir, *layer, fd, name)? {
                return Ok(false);
            }
        }
        Ok(false)
    }

    /// Renames `name` of `dir` (found as `entry`) to `new_name` of `new_dir`, replacing
    /// `replaced` if that exists. A directory that has lower-layer parts cannot move:
    /// `EXDEV`, as overlayfs without `redirect_dir` gives, and `mv` then copies.
    pub fn rename(
        &self,
        dir: &mut Dir,
        name: &[u8],
        entry: &Entry,
        new_dir: &mut Dir,
        new_name: &[u8],
        replaced: Option<&Entry>,
    ) -> io::Result<()> {
        self.check_guest_name(new_name)?;
        let moves_lower_dir = entry.file_type() == FileType::Directory
            && (entry.layer != Layer::Upper || self.exists_below(dir, name, Layer::Upper)?);
        let replaces_lower_dir = replaced.is_some_and(|replaced| {
            replaced.file_type() == FileType::Directory && replaced.layer != Layer::Upper
        });
        if self.union && (moves_lower_dir || replaces_lower_dir) {
            return Err(errno(libc::EXDEV));
        }
        self.copy_up(dir, name, entry)?;
        let from = self.copy_up_dir(dir)?;
        let (to, _) = self.prepare_create(new_dir, new_name)?;
        if let Some(replaced) = replaced {
            if replaced.file_type() == FileType::Directory
                && replaced.layer == Layer::Upper
                && self.union
            {
                let child = self.child_dir(new_dir, new_name, replaced)?;
                if !self.read_dir(&child)?.is_empty() {
                    return Err(errno(libc::ENOTEMPTY));
                }
                self.clear_records(to.as_fd(), new_name)?;
            }
        }
        let leaves_lower_copy = self.exists_below(dir, name, Layer::Upper)?;
        host::rename_at(from.as_fd(), name, to.as_fd(), new_name)?;

        if self.union {
            let old_meta = prefixed(META_PREFIX, name);
            let new_meta = prefixed(META_PREFIX, new_name);
            match host::rename_at(from.as_fd(), &old_meta, to.as_fd(), &new_meta) {
                Ok(()) => {}
                Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {
                    ignore_missing(host::unlink_at(to.as_fd(), &new_meta, false))?
                }
                Err(error) => return Err(error),
            }
            if leaves_lower_copy {
                drop(host::open_at(
                    from.as_fd(),
                    &prefixed(WHITEOUT_PREFIX, name),
                    libc::O_WRONLY | libc::O_CREAT,
                    0o600,
                )?);
            }
        }
        Ok(())
    }

    /// Changes the owner (`None` keeps an id) of `name` of `dir`. In a union, owners go to
    /// carrick's record, because an unprivileged host cannot give files away.
    pub fn chown(
        &self,
        dir: &mut Dir,
        name: &[u8],
        entry: &Entry,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> io::Result<()> {
        self.copy_up(dir, name, entry)?;
        let upper = self.copy_up_dir(dir)?;
        if !self.union {
            return host::chown_at(
                upper.as_fd(),
                name,
                uid.unwrap_or(u32::MAX),
                gid.unwrap_or(u32::MAX),
            );
        }
        let mut attrs = self.current_attrs(upper.as_fd(), name)?;
        attrs.uid = uid.unwrap_or(attrs.uid);
        attrs.gid = gid.unwrap_or(attrs.gid);
        // Like Linux, a change of owner clears set-user-ID and set-group-ID on files.
        if FileType::from_mode(attrs.mode) != FileType::Directory {
            attrs.mode &= !(mode::S_ISUID | mode::S_ISGID);
        }
        self.write_attrs(upper.as_fd(), name, attrs)
    }

    /// Changes the permission bits of `name` of `dir`. In a union the host file keeps owner
    /// read and write access so carrick can still use it, and the guest's mode is recorded.
    pub fn chmod(&self, dir: &mut Dir, name: &[u8], entry: &Entry, mode: u32) -> io::Result<()> {
        if entry.file_type() == FileType::Symlink {
            return Err(errno(libc::EOPNOTSUPP));
        }
        self.copy_up(dir, name, entry)?;
        let upper = self.copy_up_dir(dir)?;
        if !self.union {
            return host::chmod_at(upper.as_fd(), name, mode & 0o7777);
        }
        let mut attrs = self.current_attrs(upper.as_fd(), name)?;
        attrs.mode = (attrs.mode & mode::S_IFMT) | (mode & 0o7777);
        let host_mode = (mode & 0o777)
            | if FileType::from_mode(attrs.mode) == FileType::Directory {
                0o700
            } else {
                0o600
            };
        host::chmod_at(upper.as_fd(), name, host_mode)?;
        self.write_attrs(upper.as_fd(), name, attrs)
    }

    fn current_attrs(&self, upper: BorrowedFd<'_>, name: &[u8]) -> io::Result<Attrs> {
        let host = host::lstat_at(upper, name)?;
        let recorded = match host::read_file_at(upper, &prefixed(META_PREFIX, name)) {
            Ok(data) => decode_attrs(&data),
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => None,
            Err(error) => return Err(error),
        };
        Ok(recorded.unwrap_or(Attrs {
            uid: host.uid,
            gid: host.gid,
            mode: host.mode,
            rdev: host.rdev,
        }))
    }

    /// Sets access and modification times of `name` of `dir` (see [`host::utimes_at`]).
    pub fn utimes(
        &self,
        dir: &mut Dir,
        name: &[u8],
        entry: &Entry,
        atime: Option<Option<(i64, i64)>>,
        mtime: Option<Option<(i64, i64)>>,
    ) -> io::Result<()> {
        self.copy_up(dir, name, entry)?;
        let upper = self.copy_up_dir(dir)?;
        host::utimes_at(upper.as_fd(), name, atime, mtime)
    }
}
