//! A host-backed file system: one host directory (`--rootfs DIR`, a volume), or the union of
//! read-only image layers under a writable upper directory, with overlayfs semantics.
//!
//! Lookups go top-down through the layers of a directory. Writes only ever change the upper
//! directory: an entry that lives in a lower layer is copied up first (with its parent
//! chain), and deleting a lower entry leaves a whiteout in the upper directory. The upper
//! directory keeps carrick's own records under names starting with [`RESERVED_PREFIX`]:
//! `.carrick.wh.NAME` (a whiteout), `.carrick.opaque` (the directory hides lower layers) and
//! `.carrick.meta.NAME` (owner and mode the host file cannot carry). The guest never sees
//! these names. Every host call is relative to a directory fd and one component.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use super::host::{self, Stat};
use super::layers::{Attrs, LayerIndex, NoIndex};
use super::{errno, mode, FileType};

/// Names in an upper directory that start with this belong to carrick, not the guest.
pub const RESERVED_PREFIX: &[u8] = b".carrick.";
const WHITEOUT_PREFIX: &[u8] = b".carrick.wh.";
const META_PREFIX: &[u8] = b".carrick.meta.";
const TEMP_PREFIX: &[u8] = b".carrick.tmp.";
const OPAQUE_MARKER: &[u8] = b".carrick.opaque";

/// Which layer of a [`LayeredFs`] an entry lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Upper,
    /// Index into the lower layers, 0 being the top-most lower layer.
    Lower(usize),
}

#[derive(Debug)]
struct Lower {
    fd: OwnedFd,
    index: Arc<dyn LayerIndex>,
}

/// One mounted host-backed file system.
#[derive(Debug)]
pub struct LayeredFs {
    upper: Option<OwnedFd>,
    lowers: Vec<Lower>,
    /// Whether carrick's records in the upper directory are in use (an image with layers).
    union: bool,
}

/// A directory of a [`LayeredFs`]: its path from the file system's root and the host
/// directories that make it up, top layer first. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Dir {
    rel: Vec<Vec<u8>>,
    parts: Vec<(Layer, Arc<OwnedFd>)>,
}

impl Dir {
    /// The components from the file system's root to this directory.
    pub fn rel(&self) -> &[Vec<u8>] {
        &self.rel
    }

    /// The host fd of the top-most layer of this directory.
    pub fn top_fd(&self) -> io::Result<BorrowedFd<'_>> {
        self.parts
            .first()
            .map(|(_, fd)| fd.as_fd())
            .ok_or_else(|| errno(libc::ENOENT))
    }

    fn upper_fd(&self) -> Option<&Arc<OwnedFd>> {
        self.parts
            .iter()
            .find(|(layer, _)| *layer == Layer::Upper)
            .map(|(_, fd)| fd)
    }

    fn part_fd(&self, layer: Layer) -> io::Result<BorrowedFd<'_>> {
        self.parts
            .iter()
            .find(|(part, _)| *part == layer)
            .map(|(_, fd)| fd.as_fd())
            .ok_or_else(|| errno(libc::ENOENT))
    }

    fn child_rel(&self, name: &[u8]) -> PathBuf {
        rel_path(&self.rel, Some(name))
    }
}

/// A name found in a directory, with the layer it came from.
#[derive(Clone, Debug)]
pub struct Entry {
    pub layer: Layer,
    /// The host file's status (symlinks not followed).
    pub host: Stat,
    /// Owner and mode the image or a guest chown/chmod gave it, shown instead of the host's.
    pub attrs: Option<Attrs>,
}

impl Entry {
    pub fn file_type(&self) -> FileType {
        match self.attrs {
            Some(attrs) if attrs.mode & mode::S_IFMT != 0 => FileType::from_mode(attrs.mode),
            _ => self.host.file_type(),
        }
    }

    /// The status shown to the guest: the host's, with the recorded owner, mode and device.
    pub fn stat(&self) -> Stat {
        apply_attrs(self.host, self.attrs)
    }
}

/// One entry of a merged directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub file_type: FileType,
}

fn apply_attrs(mut stat: Stat, attrs: Option<Attrs>) -> Stat {
    if let Some(attrs) = attrs {
        stat.uid = attrs.uid;
        stat.gid = attrs.gid;
        let type_bits = if attrs.mode & mode::S_IFMT != 0 {
            attrs.mode
        } else {
            stat.mode
        };
        stat.mode = (type_bits & mode::S_IFMT) | (attrs.mode & 0o7777);
        if matches!(
            FileType::from_mode(stat.mode),
            FileType::CharDevice | FileType::BlockDevice
        ) {
            stat.rdev = attrs.rdev;
        }
    }
    stat
}

fn rel_path(rel: &[Vec<u8>], name: Option<&[u8]>) -> PathBuf {
    let mut joined: Vec<u8> = rel.join(&b'/');
    if let Some(name) = name {
        if !joined.is_empty() {
            joined.push(b'/');
        }
        joined.extend_from_slice(name);
    }
    PathBuf::from(OsStr::from_bytes(&joined))
}

fn prefixed(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    [prefix, name].concat()
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}

fn encode_attrs(attrs: Attrs) -> Vec<u8> {
    format!(
        "{} {} {} {}\n",
        attrs.uid, attrs.gid, attrs.mode, attrs.rdev
    )
    .into_bytes()
}

fn decode_attrs(data: &[u8]) -> Option<Attrs> {
    let text = std::str::from_utf8(data).ok()?;
    let mut fields = text.split_whitespace();
    Some(Attrs {
        uid: fields.next()?.parse().ok()?,
        gid: fields.next()?.parse().ok()?,
        mode: fields.next()?.parse().ok()?,
        rdev: fields.next()?.parse().ok()?,
    })
}

impl LayeredFs {
    /// One host directory, shown as it is: `--rootfs DIR` or a volume. `read_only` makes
    /// every write fail with `EROFS`.
    pub fn single(dir: &std::path::Path, read_only: bool) -> io::Result<Self> {
        let fd = host::open_host_dir(dir)?;
        if read_only {
            Ok(LayeredFs {
                upper: None,
                lowers: vec![Lower {
                    fd,
                    index: Arc::new(NoIndex),
                }],
                union: false,
            })
        } else {
            Ok(LayeredFs {
                upper: Some(fd),
                lowers: Vec::new(),
                union: false,
            })
        }
    }

    /// The union of image layers (`lowers` bottom to top, as an image lists them) under the
    /// writable directory `upper`, which starts empty for a new container.
    pub fn union(
        upper: &std::path::Path,
        lowers: Vec<(PathBuf, Arc<dyn LayerIndex>)>,
    ) -> io::Result<Self> {
        let upper = host::open_host_dir(upper)?;
        let mut opened = Vec::with_capacity(lowers.len());
        for (path, index) in lowers.into_iter().rev() {
            opened.push(Lower {
                fd: host::open_host_dir(&path)?,
                index,
            });
        }
        Ok(LayeredFs {
            upper: Some(upper),
            lowers: opened,
            union: true,
        })
    }

    pub fn is_read_only(&self) -> bool {
        self.upper.is_none()
    }

    /// The root directory of this file system.
    pub fn root(&self) -> io::Result<Dir> {
        let mut parts = Vec::new();
        if let Some(upper) = &self.upper {
            parts.push((Layer::Upper, Arc::new(upper.try_clone()?)));
            if self.union && host::exists_at(upper.as_fd(), OPAQUE_MARKER)? {
                return Ok(Dir {
                    rel: Vec::new(),
                    parts,
                });
            }
        }
        for (index, lower) in self.lowers.iter().enumerate() {
            parts.push((Layer::Lower(index), Arc::new(lower.fd.try_clone()?)));
            if lower.index.is_opaque(&rel_path(&[], None)) {
                break;
            }
        }
        Ok(Dir {
            rel: Vec::new(),
            parts,
        })
    }

    fn is_reserved(&self, name: &[u8]) -> bool {
        self.union && name.starts_with(RESERVED_PREFIX)
    }

    /// Rejects guest names that would collide with carrick's records (`EPERM`).
    fn check_guest_name(&self, name: &[u8]) -> io::Result<()> {
        if self.is_reserved(name) {
            // NOTE: a guest in a union root cannot create names starting with `.carrick.`.
            return Err(errno(libc::EPERM));
        }
        Ok(())
    }

    fn lower_index(&self, layer: Layer) -> Option<&dyn LayerIndex> {
        match layer {
            Layer::Upper => None,
            Layer::Lower(index) => self.lowers.get(index).map(|lower| &*lower.index),
        }
    }

    /// Whether the layer hides `name` in `dir` from the layers below it.
    fn is_whiteout(
        &self,
        dir: &Dir,
        layer: Layer,
        fd: BorrowedFd<'_>,
        name: &[u8],
    ) -> io::Result<bool> {
        match layer {
            Layer::Upper => {
                Ok(self.union && host::exists_at(fd, &prefixed(WHITEOUT_PREFIX, name))?)
            }
            Layer::Lower(_) => Ok(self
                .lower_index(layer)
                .is_some_and(|index| index.is_whiteout(&dir.child_rel(name)))),
        }
    }

    /// Whether a lower layer above position `position` of `dir` whites out `name`.
    fn hidden_above(&self, dir: &Dir, position: usize, name: &[u8]) -> bool {
        let rel = dir.child_rel(name);
        dir.parts[..position].iter().any(|(layer, _)| {
            self.lower_index(*layer)
                .is_some_and(|index| index.is_whiteout(&rel))
        })
    }

    /// The recorded attributes of `name` in `dir`, in `layer`.
    fn attrs_of(
        &self,
        dir: &Dir,
        layer: Layer,
        fd: BorrowedFd<'_>,
        name: &[u8],
    ) -> io::Result<Option<Attrs>> {
        match layer {
            Layer::Upper if self.union => {
                match host::read_file_at(fd, &prefixed(META_PREFIX, name)) {
                    Ok(data) => Ok(decode_attrs(&data)),
                    Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok(None),
                    Err(error) => Err(error),
                }
            }
            Layer::Upper => Ok(None),
            Layer::Lower(_) => Ok(self
                .lower_index(layer)
                .and_then(|index| index.attrs(&dir.child_rel(name)))),
        }
    }

    /// Looks `name` up in `dir`, top layer first. `None` when no layer has it or a whiteout
    /// hides it.
    pub fn lookup(&self, dir: &Dir, name: &[u8]) -> io::Result<Option<Entry>> {
        if self.is_reserved(name) {
            return Ok(None);
        }
        for (layer, fd) in &dir.parts {
            let fd = fd.as_fd();
            if self.is_whiteout(dir, *layer, fd, name)? {
                return Ok(None);
            }
            match host::lstat_at(fd, name) {
                Ok(host) => {
                    let attrs = self.attrs_of(dir, *layer, fd, name)?;
                    return Ok(Some(Entry {
                        layer: *layer,
                        host,
                        attrs,
                    }));
                }
                Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }

    /// Opens the directory `name` of `dir` (found as `entry`) with every layer that merges
    /// into it. A symlink swapped in since the lookup fails with `ELOOP` or `ENOTDIR`.
    pub fn child_dir(&self, dir: &Dir, name: &[u8], entry: &Entry) -> io::Result<Dir> {
        let mut rel = dir.rel.clone();
        rel.push(name.to_vec());
        let mut child = Dir {
            rel,
            parts: Vec::new(),
        };
        let start = dir
            .parts
            .iter()
            .position(|(layer, _)| *layer == entry.layer)
            .ok_or_else(|| errno(libc::ENOENT))?;

        for (position, (layer, fd)) in dir.parts.iter().enumerate().skip(start) {
            let fd = fd.as_fd();
            if position > start {
                if self.is_whiteout(dir, *layer, fd, name)? {
                    break;
                }
                match host::lstat_at(fd, name) {
                    Ok(stat) if stat.file_type() == FileType::Directory => {}
                    Ok(_) => break,
                    Err(error) if error.raw_os_error() == Some(libc::ENOENT) => continue,
                    Err(error) => return Err(error),
                }
            }
            let opened = host::open_dir_nofollow(fd, name)?;
            let opaque = match layer {
                Layer::Upper => self.union && host::exists_at(opened.as_fd(), OPAQUE_MARKER)?,
                Layer::Lower(_) => self
                    .lower_index(*layer)
                    .is_some_and(|index| index.is_opaque(&rel_path(&child.rel, None))),
            };
            child.parts.push((*layer, Arc::new(opened)));
            if opaque {
                break;
            }
        }
        Ok(child)
    }

    /// Picks up an upper directory created since `dir` was opened (a working directory kept
    /// across a copy-up by another call or process).
    pub fn refresh(&self, dir: &mut Dir) -> io::Result<()> {
        if !self.union || dir.upper_fd().is_some() {
            return Ok(());
        }
        let Some(upper) = &self.upper else {
            return Ok(());
        };
        let mut current = upper.try_clone()?;
        for name in &dir.rel {
            current = match host::open_dir_nofollow(current.as_fd(), name) {
                Ok(fd) => fd,
                Err(error)
                    if matches!(
                        error.raw_os_error(),
                        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                    ) =>
                {
                    return Ok(())
                }
                Err(error) => return Err(error),
            };
        }
        if host::exists_at(current.as_fd(), OPAQUE_MARKER)? {
            dir.parts.clear();
        }
        dir.parts.insert(0, (Layer::Upper, Arc::new(current)));
        Ok(())
    }

    /// The status of the directory itself.
    pub fn stat_dir(&self, dir: &Dir) -> io::Result<Stat> {
        let (layer, fd) = dir.parts.first().ok_or_else(|| errno(libc::ENOENT))?;
        let host = host::fstat(fd.as_fd())?;
        let attrs = match (layer, dir.rel.split_last()) {
            (Layer::Lower(_), _) => self
                .lower_index(*layer)
                .and_then(|index| index.attrs(&rel_path(&dir.rel, None))),
            (Layer::Upper, Some((name, parent))) if self.union => {
                let parent_dir = self.open_upper_chain(parent)?;
                match host::read_file_at(parent_dir.as_fd(), &prefixed(META_PREFIX, name)) {
                    Ok(data) => decode_attrs(&data),
                    Err(error) if error.raw_os_error() == Some(libc::ENOENT) => None,
                    Err(error) => return Err(error),
                }
            }
            (Layer::Upper, _) => None,
        };
        Ok(apply_attrs(host, attrs))
    }

    fn open_upper_chain(&self, rel: &[Vec<u8>]) -> io::Result<OwnedFd> {
        let upper = self.upper.as_ref().ok_or_else(|| errno(libc::EROFS))?;
        let mut current = upper.try_clone()?;
        for name in rel {
            current = host::open_dir_nofollow(current.as_fd(), name)?;
        }
        Ok(current)
    }

    /// Reads the symlink `name` of `dir`.
    pub fn readlink(&self, dir: &Dir, name: &[u8], entry: &Entry) -> io::Result<Vec<u8>> {
        host::readlink_at(dir.part_fd(entry.layer)?, name)
    }

    /// Opens `name` of `dir` on the host with `flags` (never following a symlink there).
    /// Writable opens and `O_TRUNC` copy the entry up first.
    pub fn open(
        &self,
        dir: &mut Dir,
        name: &[u8],
        entry: &Entry,
        flags: libc::c_int,
    ) -> io::Result<OwnedFd> {
        let writes = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        if writes && entry.layer != Layer::Upper {
            self.copy_up(dir, name, entry)?;
            let upper = self.copy_up_dir(dir)?;
            return host::open_at(upper.as_fd(), name, flags | libc::O_NOFOLLOW, 0);
        }
        if writes && self.upper.is_none() {
            return Err(errno(libc::EROFS));
        }
        host::open_at(dir.part_fd(entry.layer)?, name, flags | libc::O_NOFOLLOW, 0)
    }

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
            if self.is_whiteout(dir, *layer, fd, name)? {
                return Ok(false);
            }
            if host::exists_at(fd, name)? {
                return Ok(true);
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

    /// Lists the merged directory: each name once, from the top-most layer that has it,
    /// without whiteouts, hidden names or carrick's records. `.` and `..` are not included.
    pub fn read_dir(&self, dir: &Dir) -> io::Result<Vec<DirEntry>> {
        let mut seen = std::collections::HashSet::new();
        let mut entries = Vec::new();
        for (position, (layer, fd)) in dir.parts.iter().enumerate() {
            let fd = fd.as_fd();
            for entry in host::read_dir(fd)? {
                if !seen.insert(entry.name.clone()) {
                    continue;
                }
                if self.union && *layer == Layer::Upper {
                    if let Some(hidden) = entry.name.strip_prefix(WHITEOUT_PREFIX) {
                        seen.insert(hidden.to_vec());
                        continue;
                    }
                    if entry.name.starts_with(RESERVED_PREFIX) {
                        continue;
                    }
                }
                if self.hidden_above(dir, position, &entry.name) {
                    continue;
                }
                let attrs = self.attrs_of(dir, *layer, fd, &entry.name)?;
                let file_type = match (attrs, entry.file_type) {
                    (Some(attrs), _) if attrs.mode & mode::S_IFMT != 0 => {
                        FileType::from_mode(attrs.mode)
                    }
                    (_, Some(file_type)) => file_type,
                    (_, None) => host::lstat_at(fd, &entry.name)?.file_type(),
                };
                entries.push(DirEntry {
                    name: entry.name,
                    ino: entry.ino,
                    file_type,
                });
            }
        }
        Ok(entries)
    }
}
