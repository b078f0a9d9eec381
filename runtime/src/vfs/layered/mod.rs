//! A host-backed file system: one host directory (`--rootfs DIR`, a volume), or the union of
//! read-only image layers under a writable upper directory, with overlayfs semantics.
//!
//! Lookups go top-down through the layers of a directory. Writes only ever change the upper
//! directory: an entry that lives in a lower layer is copied up first (with its parent
//! chain), and deleting a lower entry leaves a whiteout in the upper directory. The upper
//! directory keeps carrick's own records under names starting with [`RESERVED_PREFIX`]:
//! `.carrick.wh.NAME` (a whiteout), `.carrick.opaque` (the directory hides lower layers) and
//! `.carrick.meta.NAME` (owner and mode the host file cannot carry). Lookups and listings
//! leave these names out. Every host call is relative to a directory fd and one component.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use super::host::{self, Stat};
use super::layers::{Attrs, LayerIndex, NoIndex};
use super::{errno, mode, FileType};

mod write;

/// Names in an upper directory that start with this belong to carrick, not the guest.
pub const RESERVED_PREFIX: &[u8] = b".carrick.";
const WHITEOUT_PREFIX: &[u8] = b".carrick.wh.";
const META_PREFIX: &[u8] = b".carrick.meta.";
const TEMP_PREFIX: &[u8] = b".carrick.tmp.";
const OPAQUE_MARKER: &[u8] = b".carrick.opaque";

/// The layer of a [`LayeredFs`] that an entry comes from.
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
        // A layer's whiteout hides the layers below it, not the layer's own entry.
        for (layer, fd) in &dir.parts {
            let fd = fd.as_fd();
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
            if self.is_whiteout(dir, *layer, fd, name)? {
                return Ok(None);
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
            let whiteout = self.is_whiteout(dir, *layer, fd, name)?;
            if position > start {
                match host::lstat_at(fd, name) {
                    Ok(stat) if stat.file_type() == FileType::Directory => {}
                    Ok(_) => break,
                    Err(error) if error.raw_os_error() == Some(libc::ENOENT) && whiteout => break,
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
            // A whiteout next to the layer's own directory hides the lower ones, as opaque does.
            if opaque || whiteout {
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
        if self.union && dir.rel.is_empty() {
            // The upper root is carrick's own directory: show the image's root instead.
            if let Some(lower) = self.lowers.first() {
                let host = host::fstat(lower.fd.as_fd())?;
                return Ok(apply_attrs(host, lower.index.attrs(&rel_path(&[], None))));
            }
        }
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
