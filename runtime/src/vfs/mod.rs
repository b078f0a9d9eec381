//! The guest's file system: a mount table of host-backed file systems (the container root,
//! volumes, `/dev/shm`) and synthetic ones (`/proc`, `/dev`, `/sys`), path resolution inside
//! it, and the per-process fd table.
//!
//! Invariant: no guest path, `..`, or symlink resolves outside the mounted host directories.
//! The resolver ([`Vfs::resolve`]) walks one component at a time with host directory fds,
//! keeps `..` on its own stack of directories, and never passes a host path string to the
//! host. Every directory and result carries its canonical guest path. Errors are host
//! `io::Error`s; the syscall layer converts them to Linux errno values.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::compat::CompatLog;

pub mod fdtable;
pub mod host;
pub mod layer;
pub mod layered;
pub mod layers;
mod ops;
pub mod path;
mod procfs;
mod resolve;
pub mod synthetic;
#[cfg(test)]
mod tests;

pub use fdtable::{FdEntry, FdTable, FileKind, OpenFile};
pub use host::Stat;
pub use layered::{DirEntry, Entry, LayeredFs};
pub use layers::{Attrs, LayerIndex, MemoryLayerIndex, NoIndex};
pub use ops::OpenOptions;
pub use path::GuestPath;
pub use resolve::{Location, MountDir, Node, Resolved};
pub use synthetic::{Device, ProcessView, SynthKind, SynthNode};

/// Returns the `io::Error` for a host errno value.
pub(crate) fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// Host `mode_t` bits as `u32` (`mode_t` is `u16` on macOS and `u32` on Linux).
#[allow(clippy::unnecessary_cast)]
pub mod mode {
    pub const S_IFMT: u32 = libc::S_IFMT as u32;
    pub const S_IFREG: u32 = libc::S_IFREG as u32;
    pub const S_IFDIR: u32 = libc::S_IFDIR as u32;
    pub const S_IFLNK: u32 = libc::S_IFLNK as u32;
    pub const S_IFCHR: u32 = libc::S_IFCHR as u32;
    pub const S_IFBLK: u32 = libc::S_IFBLK as u32;
    pub const S_IFIFO: u32 = libc::S_IFIFO as u32;
    pub const S_IFSOCK: u32 = libc::S_IFSOCK as u32;
    pub const S_ISUID: u32 = libc::S_ISUID as u32;
    pub const S_ISGID: u32 = libc::S_ISGID as u32;
}

/// The type of a file, independent of host and guest encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileType {
    /// The type in the `S_IFMT` bits of a host mode (regular when unknown).
    pub fn from_mode(mode: u32) -> Self {
        match mode & mode::S_IFMT {
            bits if bits == mode::S_IFDIR => FileType::Directory,
            bits if bits == mode::S_IFLNK => FileType::Symlink,
            bits if bits == mode::S_IFCHR => FileType::CharDevice,
            bits if bits == mode::S_IFBLK => FileType::BlockDevice,
            bits if bits == mode::S_IFIFO => FileType::Fifo,
            bits if bits == mode::S_IFSOCK => FileType::Socket,
            _ => FileType::Regular,
        }
    }

    /// The type in a host `d_type`, or `None` for `DT_UNKNOWN`.
    pub fn from_dirent(d_type: u8) -> Option<Self> {
        Some(match d_type {
            libc::DT_REG => FileType::Regular,
            libc::DT_DIR => FileType::Directory,
            libc::DT_LNK => FileType::Symlink,
            libc::DT_CHR => FileType::CharDevice,
            libc::DT_BLK => FileType::BlockDevice,
            libc::DT_FIFO => FileType::Fifo,
            libc::DT_SOCK => FileType::Socket,
            _ => return None,
        })
    }
}

/// What is mounted at a mount point.
#[derive(Debug)]
pub enum Filesystem {
    Layered(LayeredFs),
    Synthetic(SynthKind),
}

/// One entry of the mount table.
#[derive(Debug)]
pub struct Mount {
    pub point: GuestPath,
    pub fs: Filesystem,
    /// The type shown in `/proc/self/mounts`.
    pub fstype: &'static str,
}

/// A host directory mounted into the guest tree (`-v HOST:GUEST[:ro]`).
#[derive(Clone, Debug)]
pub struct Volume {
    pub host: PathBuf,
    pub guest: GuestPath,
    pub read_only: bool,
}

/// How the root file system is made.
pub enum RootSpec {
    /// One host directory (`--rootfs DIR`).
    Directory(PathBuf),
    /// Image layers, bottom to top, under a writable upper directory.
    Layers {
        upper: PathBuf,
        lowers: Vec<(PathBuf, Arc<dyn LayerIndex>)>,
    },
}

/// The file state of one guest process: the mount table, the fd table, the working
/// directory and the umask, with the process-side hooks the synthetic files need. Threads
/// share it; a forked child gets a copy with its host memory.
pub struct Vfs {
    mounts: Vec<Mount>,
    process: Arc<dyn ProcessView>,
    compat: Arc<CompatLog>,
    fds: Mutex<FdTable>,
    cwd: Mutex<Location>,
    umask: AtomicU32,
}

impl std::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vfs")
            .field("mounts", &self.mounts)
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, recovering the data if a panicking handler poisoned it: the fd table and
/// the working directory are valid after any partial update.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Vfs {
    /// Mounts the root, then `/proc`, `/dev`, `/sys`, `/dev/shm` (a host directory when
    /// `shm` is given) and the volumes, in that order; a later mount hides what is below it.
    pub fn new(
        root: RootSpec,
        volumes: &[Volume],
        shm: Option<PathBuf>,
        process: Arc<dyn ProcessView>,
        compat: Arc<CompatLog>,
        fds: FdTable,
    ) -> io::Result<Self> {
        let (root_fs, root_type) = match root {
            RootSpec::Directory(dir) => (LayeredFs::single(&dir, false)?, "rootfs"),
            RootSpec::Layers { upper, lowers } => (LayeredFs::union(&upper, lowers)?, "overlay"),
        };
        let root = Location {
            path: GuestPath::root(),
            mount: 0,
            dir: MountDir::Layered(root_fs.root()?),
        };
        let mut mounts = vec![Mount {
            point: GuestPath::root(),
            fs: Filesystem::Layered(root_fs),
            fstype: root_type,
        }];
        for kind in [SynthKind::Proc, SynthKind::Dev, SynthKind::Sys] {
            let point = match kind {
                SynthKind::Proc => GuestPath::normalize(b"/proc"),
                SynthKind::Dev => GuestPath::normalize(b"/dev"),
                SynthKind::Sys => GuestPath::normalize(b"/sys"),
            };
            mounts.push(Mount {
                point,
                fs: Filesystem::Synthetic(kind),
                fstype: kind.fstype(),
            });
        }
        if let Some(shm) = shm {
            let fs = LayeredFs::single(&shm, false)?;
            mounts.push(Mount {
                point: GuestPath::normalize(b"/dev/shm"),
                fs: Filesystem::Layered(fs),
                fstype: "tmpfs",
            });
        }
        for volume in volumes {
            let fs = LayeredFs::single(&volume.host, volume.read_only)?;
            mounts.push(Mount {
                point: volume.guest.clone(),
                fs: Filesystem::Layered(fs),
                fstype: "bind",
            });
        }
        Ok(Vfs {
            mounts,
            process,
            compat,
            fds: Mutex::new(fds),
            cwd: Mutex::new(root),
            // Linux's default umask for the first process.
            umask: AtomicU32::new(0o022),
        })
    }

    /// Locks the fd table. Do not hold the guard while resolving a path: lookups in
    /// `/proc/self/fd` lock it too.
    pub fn fds(&self) -> MutexGuard<'_, FdTable> {
        lock(&self.fds)
    }

    /// The open file description of guest fd `fd` (`EBADF` when it is not open).
    pub fn file(&self, fd: i32) -> io::Result<Arc<OpenFile>> {
        self.fds().file(fd)
    }

    pub fn cwd(&self) -> Location {
        lock(&self.cwd).clone()
    }

    pub fn set_cwd(&self, location: Location) {
        *lock(&self.cwd) = location;
    }

    pub fn umask(&self) -> u32 {
        self.umask.load(Ordering::Relaxed)
    }

    /// Sets the umask and returns the previous one.
    pub fn swap_umask(&self, umask: u32) -> u32 {
        self.umask.swap(umask & 0o777, Ordering::Relaxed)
    }

    /// The directory a relative path of an `*at` call starts from: the working directory
    /// for `None` (`AT_FDCWD`), else the directory open at guest fd `dirfd` (`EBADF`,
    /// `ENOTDIR`).
    pub fn start(&self, dirfd: Option<i32>) -> io::Result<Location> {
        match dirfd {
            None => Ok(self.cwd()),
            Some(fd) => {
                let file = self.file(fd)?;
                self.file_location(&file)
            }
        }
    }

    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    pub fn process(&self) -> &dyn ProcessView {
        &*self.process
    }

    /// Records a read of a synthetic path for `carrick compat-report`.
    pub(crate) fn record_synthetic(&self, path: &GuestPath) {
        self.compat.record_synthetic(path.as_bytes());
    }

    /// The mount whose point is `path` exactly (the last one wins).
    fn mount_at(&self, path: &GuestPath) -> Option<usize> {
        self.mounts.iter().rposition(|mount| mount.point == *path)
    }

    pub(crate) fn mount(&self, index: usize) -> io::Result<&Mount> {
        self.mounts.get(index).ok_or_else(|| errno(libc::ENOENT))
    }

    pub(crate) fn layered(&self, index: usize) -> io::Result<&LayeredFs> {
        match &self.mount(index)?.fs {
            Filesystem::Layered(fs) => Ok(fs),
            Filesystem::Synthetic(_) => Err(errno(libc::EROFS)),
        }
    }

    pub(crate) fn synth_context(&self) -> synthetic::SynthContext<'_> {
        let mounts = self
            .mounts
            .iter()
            .map(|mount| {
                let read_only = matches!(&mount.fs, Filesystem::Layered(fs) if fs.is_read_only());
                (mount.point.to_string(), mount.fstype, read_only)
            })
            .collect();
        synthetic::SynthContext {
            view: &*self.process,
            mounts,
            fds: &self.fds,
            cwd: lock(&self.cwd).path.as_bytes().to_vec(),
        }
    }
}
