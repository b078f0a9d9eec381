//! File operations on guest paths, as the syscall handlers need them: open, stat, readlink,
//! directory listings, and the calls that change the tree. Each resolves its path with the
//! Linux rules for that call (whether the final symlink is followed, what a trailing slash
//! means) and then works on the mount that contains the result.

use std::io;
use std::os::fd::AsFd;
use std::sync::Mutex;

use super::fdtable::{DirCursor, FileKind, OpenFile};
use super::host::{self, Stat};
use super::layered::DirEntry;
use super::resolve::{Location, MountDir, Node, Resolved};
use super::synthetic::{self, Device, SynthKind, SynthNode};
use super::{errno, FileType, Filesystem, Vfs};

/// The request of an `open`, decoded from the guest's flags by the syscall layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenOptions {
    pub read: bool,
    pub write: bool,
    /// `O_CREAT`, with the mode (umask already applied).
    pub create: Option<u32>,
    pub exclusive: bool,
    pub truncate: bool,
    /// `O_DIRECTORY`.
    pub directory: bool,
    /// `O_NOFOLLOW`.
    pub nofollow: bool,
    /// `O_PATH`: the file is only named, not opened for I/O; a final symlink opens itself.
    pub path_only: bool,
    /// Host flags passed through to a host open (`O_APPEND`, `O_NONBLOCK`, `O_SYNC`, ...).
    pub host_flags: libc::c_int,
}

impl OpenOptions {
    fn host_access(&self) -> libc::c_int {
        match (self.read, self.write) {
            (_, false) => libc::O_RDONLY,
            (false, true) => libc::O_WRONLY,
            (true, true) => libc::O_RDWR,
        }
    }
}

impl Vfs {
    /// Opens `path` relative to `start`; `status` is stored on the description as the
    /// guest's status flags.
    pub fn open(
        &self,
        start: &Location,
        path: &[u8],
        options: OpenOptions,
        status: u32,
    ) -> io::Result<OpenFile> {
        let exclusive_create = options.create.is_some() && options.exclusive;
        let resolved = self.resolve(start, path, !options.nofollow && !exclusive_create)?;
        if options.create.is_some() && resolved.must_be_dir {
            return Err(errno(libc::EISDIR));
        }
        if !resolved.exists() {
            return self.create_file(resolved, options, status);
        }
        if exclusive_create {
            return Err(errno(libc::EEXIST));
        }
        let file_type = resolved.file_type().unwrap_or(FileType::Regular);
        if file_type == FileType::Symlink {
            if options.path_only {
                return self.open_symlink_path(&resolved, status);
            }
            return Err(errno(libc::ELOOP));
        }
        if options.directory && file_type != FileType::Directory {
            return Err(errno(libc::ENOTDIR));
        }
        if file_type == FileType::Directory {
            if options.write || options.create.is_some() {
                return Err(errno(libc::EISDIR));
            }
            return self.open_dir(&resolved, status);
        }

        let path = Some(resolved.path.clone());
        let (Some(name), Some(node)) = (resolved.name.clone(), resolved.node.clone()) else {
            return Err(errno(libc::ENOENT));
        };
        let mut parent = resolved.parent;
        match (node, &mut parent.dir) {
            (Node::Synthetic(SynthNode::File(data)), _) => {
                if options.write || options.truncate {
                    return Err(errno(libc::EACCES));
                }
                Ok(OpenFile::new(
                    FileKind::Snapshot {
                        data,
                        offset: Mutex::new(0),
                    },
                    path,
                    status,
                ))
            }
            (Node::Synthetic(SynthNode::OpenFd { fd, .. }), _) => self.reopen_fd(fd, status),
            (Node::Synthetic(SynthNode::Device(device)), _) => {
                open_device(device, &options, path, status)
            }
            (Node::Layered(entry), MountDir::Layered(dir)) => {
                if let Some(device) = image_device(&entry.stat()) {
                    return open_device(device, &options, path, status);
                }
                let mut flags = options.host_access() | options.host_flags;
                if options.truncate {
                    flags |= libc::O_TRUNC;
                }
                let fd = self
                    .layered(parent.mount)?
                    .open(dir, &name, &entry, flags)?;
                Ok(OpenFile::new(FileKind::Host(fd), path, status))
            }
            _ => Err(errno(libc::ENXIO)),
        }
    }

    fn create_file(
        &self,
        resolved: Resolved,
        options: OpenOptions,
        status: u32,
    ) -> io::Result<OpenFile> {
        let (Some(mode), Some(name)) = (options.create, resolved.name.as_ref()) else {
            return Err(errno(libc::ENOENT));
        };
        if resolved.must_be_dir {
            return Err(errno(libc::EISDIR));
        }
        let mut parent = resolved.parent;
        // Synthetic directories have no entries to create: their lookup fails first.
        let MountDir::Layered(dir) = &mut parent.dir else {
            return Err(errno(libc::ENOENT));
        };
        let mut flags = options.host_access() | options.host_flags;
        if options.truncate {
            flags |= libc::O_TRUNC;
        }
        let fd = self.layered(parent.mount)?.create(dir, name, flags, mode)?;
        Ok(OpenFile::new(
            FileKind::Host(fd),
            Some(resolved.path),
            status,
        ))
    }

    /// Opens a symlink itself for `O_PATH | O_NOFOLLOW` (Linux hosts only: others need
    /// `O_PATH`).
    fn open_symlink_path(&self, resolved: &Resolved, status: u32) -> io::Result<OpenFile> {
        let (Some(name), Some(Node::Layered(entry)), MountDir::Layered(dir)) =
            (&resolved.name, &resolved.node, &resolved.parent.dir)
        else {
            return Err(errno(libc::ELOOP));
        };
        let _ = entry;
        #[cfg(target_os = "linux")]
        {
            let fd = host::open_at(
                dir.top_fd_of(entry)?,
                name,
                libc::O_PATH | libc::O_NOFOLLOW,
                0,
            )?;
            Ok(OpenFile::new(
                FileKind::Host(fd),
                Some(resolved.path.clone()),
                status,
            ))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (name, dir, status);
            Err(errno(libc::ELOOP))
        }
    }

    fn open_dir(&self, resolved: &Resolved, status: u32) -> io::Result<OpenFile> {
        let location = self.enter_resolved(resolved)?;
        let fd = match &location.dir {
            MountDir::Layered(dir) => Some(dir.top_fd()?.try_clone_to_owned()?),
            MountDir::Synthetic(_) => None,
        };
        if let MountDir::Synthetic(_) = &location.dir {
            self.record_synthetic(&location.path);
        }
        let cursor = Mutex::new(DirCursor::default());
        Ok(OpenFile::new(
            FileKind::Directory {
                fd,
                location,
                cursor,
            },
            Some(resolved.path.clone()),
            status,
        ))
    }

    /// Returns the status of a resolved path (`ENOENT` when it does not exist).
    pub fn stat_resolved(&self, resolved: &Resolved) -> io::Result<Stat> {
        match (&resolved.name, &resolved.node) {
            (None, _) => self.stat_location(&resolved.parent),
            (Some(_), None) => Err(errno(libc::ENOENT)),
            (Some(_), Some(Node::Layered(entry))) => Ok(entry.stat()),
            (Some(_), Some(Node::Synthetic(SynthNode::OpenFd { fd, .. }))) => {
                let file = self.file(*fd).map_err(|_| errno(libc::ENOENT))?;
                self.fstat(&file)
            }
            (Some(name), Some(Node::Synthetic(node))) => {
                let MountDir::Synthetic(rel) = &resolved.parent.dir else {
                    return Err(errno(libc::EIO));
                };
                let mut rel = rel.clone();
                rel.push(name.clone());
                Ok(node.stat(
                    self.synth_kind(resolved.parent.mount)?,
                    &rel,
                    self.synthetic_owner(),
                ))
            }
        }
    }

    /// `stat`/`lstat` of a path.
    pub fn stat(&self, start: &Location, path: &[u8], follow: bool) -> io::Result<Stat> {
        self.stat_resolved(&self.resolve(start, path, follow)?)
    }

    /// Returns the status of a directory.
    pub fn stat_location(&self, location: &Location) -> io::Result<Stat> {
        match &location.dir {
            MountDir::Layered(dir) => self.layered(location.mount)?.stat_dir(dir),
            MountDir::Synthetic(rel) => Ok(SynthNode::Dir.stat(
                self.synth_kind(location.mount)?,
                rel,
                self.synthetic_owner(),
            )),
        }
    }

    fn synth_kind(&self, mount: usize) -> io::Result<synthetic::SynthKind> {
        match &self.mount(mount)?.fs {
            Filesystem::Synthetic(kind) => Ok(*kind),
            Filesystem::Layered(_) => Err(errno(libc::EIO)),
        }
    }

    /// Synthetic files belong to the process's effective user, as `/proc/self` does.
    fn synthetic_owner(&self) -> (u32, u32) {
        let (uids, gids) = self.process().ids();
        (uids[1], gids[1])
    }

    /// `readlink`: the target of the symlink at `path`; `EINVAL` when it is not one.
    pub fn readlink(&self, start: &Location, path: &[u8]) -> io::Result<Vec<u8>> {
        let resolved = self.resolve(start, path, false)?;
        resolved.require()?;
        match (&resolved.name, &resolved.node) {
            (Some(name), Some(node)) if node.file_type() == FileType::Symlink => {
                self.read_link(&resolved.parent, name, node)
            }
            _ => Err(errno(libc::EINVAL)),
        }
    }

    /// Lists a directory for `getdents`: `.` and `..` first, then the merged names.
    pub fn list(&self, location: &Location) -> io::Result<Vec<DirEntry>> {
        let own = self.stat_location(location)?;
        let mut parent_path = location.path.clone();
        parent_path.pop();
        let parent_ino = if location.path.is_root() {
            own.ino
        } else {
            self.locate_dir(&parent_path)
                .and_then(|parent| self.stat_location(&parent))
                .map_or(own.ino, |stat| stat.ino)
        };
        let mut entries = vec![
            DirEntry {
                name: b".".to_vec(),
                ino: own.ino,
                file_type: FileType::Directory,
            },
            DirEntry {
                name: b"..".to_vec(),
                ino: parent_ino,
                file_type: FileType::Directory,
            },
        ];
        match &location.dir {
            MountDir::Layered(dir) => entries.extend(self.layered(location.mount)?.read_dir(dir)?),
            MountDir::Synthetic(rel) => {
                let kind = self.synth_kind(location.mount)?;
                for (name, file_type) in synthetic::list(kind, &self.synth_context(), rel)? {
                    let mut child = rel.clone();
                    child.push(name.clone());
                    let ino = SynthNode::Dir.stat(kind, &child, (0, 0)).ino;
                    entries.push(DirEntry {
                        name,
                        ino,
                        file_type,
                    });
                }
            }
        }
        self.add_mount_points(location, &mut entries)?;
        Ok(entries)
    }

    /// Adds the mount points directly inside `location` that its own listing lacks (`/proc`
    /// on a root without that directory, `/dev/shm` in the synthetic `/dev`).
    fn add_mount_points(&self, location: &Location, entries: &mut Vec<DirEntry>) -> io::Result<()> {
        for (index, mount) in self.mounts().iter().enumerate().skip(1) {
            let mut parent = mount.point.clone();
            parent.pop();
            let Some(name) = mount.point.file_name() else {
                continue;
            };
            if parent != location.path || entries.iter().any(|entry| entry.name == name) {
                continue;
            }
            let root = self.mount_root(index, mount.point.clone())?;
            let ino = self.stat_location(&root)?.ino;
            entries.push(DirEntry {
                name: name.to_vec(),
                ino,
                file_type: FileType::Directory,
            });
        }
        Ok(())
    }

    /// Resolves `path` for a call that creates it: `EEXIST` when it exists, and the parent
    /// must be a host-backed directory.
    fn resolve_new(&self, start: &Location, path: &[u8]) -> io::Result<Resolved> {
        let resolved = self.resolve(start, path, false)?;
        if resolved.exists() {
            return Err(errno(libc::EEXIST));
        }
        if let MountDir::Synthetic(_) = resolved.parent.dir {
            return Err(errno(libc::ENOENT));
        }
        Ok(resolved)
    }

    /// Resolves an existing path on a host-backed mount for a call that changes it.
    fn resolve_existing(
        &self,
        start: &Location,
        path: &[u8],
        follow: bool,
    ) -> io::Result<Resolved> {
        let resolved = self.resolve(start, path, follow)?;
        resolved.require()?;
        if let MountDir::Synthetic(_) = resolved.parent.dir {
            return Err(errno(libc::EPERM));
        }
        Ok(resolved)
    }

    /// `mkdir`.
    pub fn mkdir(&self, start: &Location, path: &[u8], mode: u32) -> io::Result<()> {
        let mut resolved = self.resolve_new(start, path)?;
        let (MountDir::Layered(dir), Some(name)) = (&mut resolved.parent.dir, &resolved.name)
        else {
            return Err(errno(libc::EEXIST));
        };
        self.layered(resolved.parent.mount)?.mkdir(dir, name, mode)
    }

    /// `mknod` of a FIFO (other node types are the caller's to reject).
    pub fn mkfifo(&self, start: &Location, path: &[u8], mode: u32) -> io::Result<()> {
        let mut resolved = self.resolve_new(start, path)?;
        if resolved.must_be_dir {
            return Err(errno(libc::ENOENT));
        }
        let (MountDir::Layered(dir), Some(name)) = (&mut resolved.parent.dir, &resolved.name)
        else {
            return Err(errno(libc::EEXIST));
        };
        self.layered(resolved.parent.mount)?.mkfifo(dir, name, mode)
    }

    /// `symlink`: creates `path` pointing at `target`.
    pub fn symlink(&self, target: &[u8], start: &Location, path: &[u8]) -> io::Result<()> {
        if target.is_empty() {
            return Err(errno(libc::ENOENT));
        }
        let mut resolved = self.resolve_new(start, path)?;
        if resolved.must_be_dir {
            return Err(errno(libc::ENOENT));
        }
        let (MountDir::Layered(dir), Some(name)) = (&mut resolved.parent.dir, &resolved.name)
        else {
            return Err(errno(libc::EEXIST));
        };
        self.layered(resolved.parent.mount)?
            .symlink(target, dir, name)
    }

    /// `unlink` (`directory` false) or `rmdir` (`directory` true).
    pub fn remove(&self, start: &Location, path: &[u8], directory: bool) -> io::Result<()> {
        if directory && (path.ends_with(b"/.") || path == b".") {
            return Err(errno(libc::EINVAL));
        }
        if directory && (path.ends_with(b"/..") || path == b"..") {
            return Err(errno(libc::ENOTEMPTY));
        }
        let mut resolved = self.resolve_existing(start, path, false)?;
        let (MountDir::Layered(dir), Some(name), Some(Node::Layered(entry))) =
            (&mut resolved.parent.dir, &resolved.name, &resolved.node)
        else {
            // The root, a mount point, or a directory named by `.`.
            return Err(errno(if directory { libc::EBUSY } else { libc::EISDIR }));
        };
        self.layered(resolved.parent.mount)?
            .remove(dir, name, entry, directory)
    }

    /// `renameat2` without `RENAME_EXCHANGE` and `RENAME_WHITEOUT`; `noreplace` is
    /// `RENAME_NOREPLACE`.
    pub fn rename(
        &self,
        old_start: &Location,
        old_path: &[u8],
        new_start: &Location,
        new_path: &[u8],
        noreplace: bool,
    ) -> io::Result<()> {
        let mut old = self.resolve_existing(old_start, old_path, false)?;
        let mut new = self.resolve(new_start, new_path, false)?;
        if let MountDir::Synthetic(_) = new.parent.dir {
            return Err(errno(libc::EPERM));
        }
        if old.parent.mount != new.parent.mount {
            return Err(errno(libc::EXDEV));
        }
        let (Some(old_name), Some(Node::Layered(entry)), Some(new_name)) =
            (old.name.clone(), old.node.clone(), new.name.clone())
        else {
            return Err(errno(libc::EBUSY));
        };
        let replaced = match &new.node {
            Some(Node::Layered(replaced)) => Some(replaced.clone()),
            Some(Node::Synthetic(_)) => return Err(errno(libc::EPERM)),
            None => None,
        };
        if old.path == new.path {
            return Ok(());
        }
        if new.path.strip_prefix(&old.path).is_some() {
            return Err(errno(libc::EINVAL));
        }
        if old.path.strip_prefix(&new.path).is_some() {
            return Err(errno(libc::ENOTEMPTY));
        }
        let is_dir = entry.file_type() == FileType::Directory;
        if (old.must_be_dir || new.must_be_dir) && !is_dir {
            return Err(errno(libc::ENOTDIR));
        }
        if let Some(replaced) = &replaced {
            if noreplace {
                return Err(errno(libc::EEXIST));
            }
            if replaced.host.ino == entry.host.ino && replaced.host.dev == entry.host.dev {
                return Ok(());
            }
            match (is_dir, replaced.file_type() == FileType::Directory) {
                (true, false) => return Err(errno(libc::ENOTDIR)),
                (false, true) => return Err(errno(libc::EISDIR)),
                _ => {}
            }
        }
        let fs = self.layered(old.parent.mount)?;
        let (MountDir::Layered(old_dir), MountDir::Layered(new_dir)) =
            (&mut old.parent.dir, &mut new.parent.dir)
        else {
            return Err(errno(libc::EXDEV));
        };
        fs.rename(
            old_dir,
            &old_name,
            &entry,
            new_dir,
            &new_name,
            replaced.as_ref(),
        )
    }

    /// `linkat`: makes `new_path` another name for `old_path`.
    pub fn link(
        &self,
        old_start: &Location,
        old_path: &[u8],
        follow: bool,
        new_start: &Location,
        new_path: &[u8],
    ) -> io::Result<()> {
        let old = self.resolve(old_start, old_path, follow)?;
        old.require()?;
        if let Some(Node::Synthetic(SynthNode::OpenFd { fd, .. })) = &old.node {
            // `/proc/self/fd/N` with AT_SYMLINK_FOLLOW names the open file itself.
            let file = self.file(*fd).map_err(|_| errno(libc::ENOENT))?;
            return self.link_file(&file, new_start, new_path);
        }
        let mut old = self.resolve_existing(old_start, old_path, follow)?;
        let mut new = self.resolve_new(new_start, new_path)?;
        if old.parent.mount != new.parent.mount {
            return Err(errno(libc::EXDEV));
        }
        let (Some(old_name), Some(Node::Layered(entry)), Some(new_name)) =
            (old.name.clone(), old.node.clone(), new.name.clone())
        else {
            return Err(errno(libc::EPERM));
        };
        let fs = self.layered(old.parent.mount)?;
        let (MountDir::Layered(old_dir), MountDir::Layered(new_dir)) =
            (&mut old.parent.dir, &mut new.parent.dir)
        else {
            return Err(errno(libc::EXDEV));
        };
        fs.link(old_dir, &old_name, &entry, new_dir, &new_name)
    }

    /// Gives an open file (an `O_TMPFILE` one, say) the name `new_path`, as `linkat` with
    /// `AT_EMPTY_PATH` or through `/proc/self/fd/N` does.
    pub fn link_file(
        &self,
        file: &OpenFile,
        new_start: &Location,
        new_path: &[u8],
    ) -> io::Result<()> {
        let FileKind::Host(fd) = &file.kind else {
            return Err(errno(libc::EXDEV));
        };
        let mut new = self.resolve_new(new_start, new_path)?;
        let (MountDir::Layered(new_dir), Some(new_name)) = (&mut new.parent.dir, &new.name) else {
            return Err(errno(libc::EEXIST));
        };
        self.layered(new.parent.mount)?
            .link_open_file(fd.as_fd(), new_dir, new_name)
    }

    /// Opens an unnamed regular file in the directory `path` names (`O_TMPFILE`).
    pub fn open_tmpfile(
        &self,
        start: &Location,
        path: &[u8],
        options: OpenOptions,
        status: u32,
    ) -> io::Result<OpenFile> {
        if !options.write {
            return Err(errno(libc::EINVAL));
        }
        let resolved = self.resolve(start, path, true)?;
        resolved.require()?;
        let mut location = self.enter_resolved(&resolved)?;
        let MountDir::Layered(dir) = &mut location.dir else {
            return Err(errno(libc::EOPNOTSUPP));
        };
        let mut flags = options.host_access() | options.host_flags;
        if options.exclusive {
            // An O_EXCL temporary file can never be linked into the tree.
            flags |= libc::O_EXCL;
        }
        let mode = options.create.unwrap_or(0);
        let fd = self.layered(location.mount)?.tmpfile(dir, flags, mode)?;
        Ok(OpenFile::new(FileKind::Host(fd), None, status))
    }

    /// Runs `change` on the entry `path` names, for chmod, chown, utimes and truncate.
    fn change<T>(
        &self,
        start: &Location,
        path: &[u8],
        follow: bool,
        change: impl FnOnce(
            &super::LayeredFs,
            &mut super::layered::Dir,
            &[u8],
            &super::Entry,
        ) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut resolved = self.resolve_existing(start, path, follow)?;
        match (&mut resolved.parent.dir, &resolved.name, &resolved.node) {
            (MountDir::Layered(dir), Some(name), Some(Node::Layered(entry))) => {
                change(self.layered(resolved.parent.mount)?, dir, name, entry)
            }
            // NOTE: the root directory and mount points themselves cannot be changed yet.
            _ => Err(errno(libc::EPERM)),
        }
    }

    /// `chmod` (permission bits only).
    pub fn chmod(&self, start: &Location, path: &[u8], mode: u32, follow: bool) -> io::Result<()> {
        self.change(start, path, follow, |fs, dir, name, entry| {
            fs.chmod(dir, name, entry, mode)
        })
    }

    /// `chown`; `None` keeps an id.
    pub fn chown(
        &self,
        start: &Location,
        path: &[u8],
        uid: Option<u32>,
        gid: Option<u32>,
        follow: bool,
    ) -> io::Result<()> {
        self.change(start, path, follow, |fs, dir, name, entry| {
            fs.chown(dir, name, entry, uid, gid)
        })
    }

    /// `utimensat`: `None` keeps a time, `Some(None)` sets it to now.
    pub fn utimes(
        &self,
        start: &Location,
        path: &[u8],
        atime: Option<Option<(i64, i64)>>,
        mtime: Option<Option<(i64, i64)>>,
        follow: bool,
    ) -> io::Result<()> {
        self.change(start, path, follow, |fs, dir, name, entry| {
            fs.utimes(dir, name, entry, atime, mtime)
        })
    }

    /// `truncate` of a path (copying a lower file up first).
    pub fn truncate(&self, start: &Location, path: &[u8], length: i64) -> io::Result<()> {
        self.change(start, path, true, |fs, dir, name, entry| {
            if entry.file_type() == FileType::Directory {
                return Err(errno(libc::EISDIR));
            }
            let fd = fs.open(dir, name, entry, libc::O_WRONLY)?;
            // SAFETY: `fd` is an open host fd for the duration of the call.
            if unsafe {
                libc::ftruncate(std::os::fd::AsRawFd::as_raw_fd(&fd), length as libc::off_t)
            } < 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Maps an image's character device node to the carrick device with its numbers.
fn image_device(stat: &Stat) -> Option<Device> {
    if stat.file_type() != FileType::CharDevice {
        return None;
    }
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let numbers = (
        libc::major(stat.rdev as _) as u32,
        libc::minor(stat.rdev as _) as u32,
    );
    [
        Device::Null,
        Device::Zero,
        Device::Full,
        Device::Random,
        Device::Urandom,
        Device::Tty,
    ]
    .into_iter()
    .find(|device| device.numbers() == numbers)
}

fn open_device(
    device: Device,
    options: &OpenOptions,
    path: Option<super::GuestPath>,
    status: u32,
) -> io::Result<OpenFile> {
    if device == Device::Tty {
        // The controlling terminal is the host's: opening it fails with ENXIO without one.
        let dev =
            host::open_host_dir(std::path::Path::new("/dev")).map_err(|_| errno(libc::ENXIO))?;
        let fd = host::open_at(
            dev.as_fd(),
            b"tty",
            options.host_access() | options.host_flags | libc::O_NOCTTY,
            0,
        )?;
        return Ok(OpenFile::new(FileKind::Host(fd), path, status));
    }
    Ok(OpenFile::new(FileKind::Device(device), path, status))
}

impl Vfs {
    /// `fstat` of an open file. A host-backed file shows the owner and mode its layer or a
    /// guest chown recorded, found again through its path when it still names the same file.
    pub fn fstat(&self, file: &OpenFile) -> io::Result<Stat> {
        match &file.kind {
            FileKind::Directory { location, .. } => self.stat_location(location),
            FileKind::Host(fd) => {
                let own = host::fstat(fd.as_fd())?;
                let Some(path) = &file.path else {
                    return Ok(own);
                };
                let recorded = self
                    .resolve(&self.root()?, path.as_bytes(), false)
                    .ok()
                    .and_then(|resolved| match resolved.node {
                        Some(Node::Layered(entry))
                            if entry.host.ino == own.ino && entry.host.dev == own.dev =>
                        {
                            Some(entry.stat())
                        }
                        _ => None,
                    });
                // Size and times come from the open file, which may have changed since.
                Ok(recorded.map_or(own, |stat| Stat {
                    size: own.size,
                    blocks: own.blocks,
                    atime: own.atime,
                    mtime: own.mtime,
                    ctime: own.ctime,
                    ..stat
                }))
            }
            FileKind::Snapshot { .. } | FileKind::Device(_) => {
                let path = file.path.as_ref().ok_or_else(|| errno(libc::EBADF))?;
                self.stat(&self.root()?, path.as_bytes(), false)
            }
        }
    }

    /// Opens guest fd `fd` again through its `/proc/self/fd` link: a new description of the
    /// same host file (sharing the host offset, unlike Linux for a regular file).
    fn reopen_fd(&self, fd: i32, status: u32) -> io::Result<OpenFile> {
        let file = self.file(fd).map_err(|_| errno(libc::ENOENT))?;
        let kind = match &file.kind {
            FileKind::Host(host) => FileKind::Host(host.try_clone()?),
            FileKind::Device(device) => FileKind::Device(*device),
            FileKind::Snapshot { data, .. } => FileKind::Snapshot {
                data: data.clone(),
                offset: Mutex::new(0),
            },
            FileKind::Directory { .. } => return Err(errno(libc::EISDIR)),
        };
        Ok(OpenFile::new(kind, file.path.clone(), status))
    }

    /// Returns the directory an open file is, for `fchdir` and as the start of `*at` calls;
    /// `ENOTDIR` for other files.
    pub fn file_location(&self, file: &OpenFile) -> io::Result<Location> {
        match &file.kind {
            FileKind::Directory { location, .. } => Ok(location.clone()),
            _ => Err(errno(libc::ENOTDIR)),
        }
    }

    /// Locks the `getdents` cursor of an open directory and takes the listing on first use
    /// (after a rewind to 0, the listing is taken again). `ENOTDIR` for other files.
    pub fn dir_cursor<'a>(
        &self,
        file: &'a OpenFile,
    ) -> io::Result<std::sync::MutexGuard<'a, DirCursor>> {
        let FileKind::Directory {
            location, cursor, ..
        } = &file.kind
        else {
            return Err(errno(libc::ENOTDIR));
        };
        let mut cursor = cursor.lock().map_err(|_| errno(libc::EIO))?;
        if cursor.entries.is_none() {
            cursor.entries = Some(self.list(location)?);
        }
        Ok(cursor)
    }
}

/// The kind of file system behind a path, for `statfs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsKind {
    /// The union of image layers.
    Overlay,
    /// A host directory; the value is the host's `f_type` where the host has one (Linux).
    Host(Option<i64>),
    Synthetic(SynthKind),
}

/// File system statistics for `statfs`, in host-neutral form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsStats {
    pub kind: FsKind,
    pub block_size: u64,
    pub fragment_size: u64,
    pub blocks: u64,
    pub free_blocks: u64,
    pub available_blocks: u64,
    pub files: u64,
    pub free_files: u64,
    pub name_max: u64,
}

impl Vfs {
    /// Returns the statistics of the file system that holds the directory `location`.
    pub fn statfs(&self, location: &Location) -> io::Result<FsStats> {
        let fs = match &self.mount(location.mount)?.fs {
            Filesystem::Synthetic(kind) => {
                return Ok(FsStats {
                    kind: FsKind::Synthetic(*kind),
                    block_size: 4096,
                    fragment_size: 4096,
                    blocks: 0,
                    free_blocks: 0,
                    available_blocks: 0,
                    files: 0,
                    free_files: 0,
                    name_max: 255,
                })
            }
            Filesystem::Layered(fs) => fs,
        };
        let MountDir::Layered(dir) = &location.dir else {
            return Err(errno(libc::EIO));
        };
        let fd = dir.top_fd()?;
        let mut raw = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `raw` has room for one `struct statvfs`.
        if unsafe { libc::fstatvfs(std::os::fd::AsRawFd::as_raw_fd(&fd), raw.as_mut_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstatvfs succeeded, so it filled `raw`.
        let raw = unsafe { raw.assume_init() };
        let kind = if fs.is_union() {
            FsKind::Overlay
        } else {
            FsKind::Host(host_fs_type(fd))
        };
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        Ok(FsStats {
            kind,
            block_size: raw.f_bsize as u64,
            fragment_size: raw.f_frsize as u64,
            blocks: raw.f_blocks as u64,
            free_blocks: raw.f_bfree as u64,
            available_blocks: raw.f_bavail as u64,
            files: raw.f_files as u64,
            free_files: raw.f_ffree as u64,
            name_max: raw.f_namemax as u64,
        })
    }
}

/// The host's `f_type` for the file system of `fd` (Linux only).
#[cfg(target_os = "linux")]
fn host_fs_type(fd: std::os::fd::BorrowedFd<'_>) -> Option<i64> {
    let mut raw = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `raw` has room for one `struct statfs`.
    if unsafe { libc::fstatfs(std::os::fd::AsRawFd::as_raw_fd(&fd), raw.as_mut_ptr()) } < 0 {
        return None;
    }
    // SAFETY: fstatfs succeeded, so it filled `raw`.
    #[allow(clippy::unnecessary_cast)]
    Some(unsafe { raw.assume_init() }.f_type as i64)
}

#[cfg(not(target_os = "linux"))]
fn host_fs_type(_fd: std::os::fd::BorrowedFd<'_>) -> Option<i64> {
    None
}
