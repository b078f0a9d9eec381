//! What the VFS needs to know about an unpacked image layer beyond its host directory:
//! whiteouts, opaque directories and the owners, modes and device numbers that the host copy
//! cannot carry. The OCI unpacker implements [`LayerIndex`]; [`MemoryLayerIndex`] is a plain
//! in-memory implementation for tests and for layers built in place.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Owner, mode and device number of one file as the image has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attrs {
    pub uid: u32,
    pub gid: u32,
    /// File type and permission bits in the POSIX encoding (`S_IFMT | 0o7777`); a type of 0
    /// keeps the host file's type.
    pub mode: u32,
    /// Device number of a character or block device (`makedev` encoding of the host).
    pub rdev: u64,
}

/// Per-layer metadata. `rel` is a path relative to the layer's root without a leading `/`
/// (`usr/bin/su`); the empty path is the layer's root.
pub trait LayerIndex: Send + Sync + fmt::Debug {
    /// Whether the layer deletes `rel` from the layers below it.
    fn is_whiteout(&self, rel: &Path) -> bool;

    /// Whether the directory `rel` in this layer hides the contents of the same directory in
    /// the layers below.
    fn is_opaque(&self, rel: &Path) -> bool;

    /// The image's owner, mode and device number for `rel`, when they differ from what the
    /// host file shows.
    fn attrs(&self, rel: &Path) -> Option<Attrs>;
}

/// The metadata `carrick pull` writes next to each unpacked layer.
// NOTE: the layer's mtimes and its hard links into lower layers are not applied yet.
impl LayerIndex for super::layer::LayerMeta {
    fn is_whiteout(&self, rel: &Path) -> bool {
        super::layer::LayerMeta::is_whiteout(self, rel)
    }

    fn is_opaque(&self, rel: &Path) -> bool {
        super::layer::LayerMeta::is_opaque(self, rel)
    }

    fn attrs(&self, rel: &Path) -> Option<Attrs> {
        super::layer::LayerMeta::attrs(self, rel).map(|attrs| Attrs {
            uid: attrs.uid,
            gid: attrs.gid,
            mode: attrs.mode,
            rdev: attrs.rdev,
        })
    }
}

/// A layer without metadata: the host files are shown as they are.
#[derive(Debug, Default)]
pub struct NoIndex;

impl LayerIndex for NoIndex {
    fn is_whiteout(&self, _rel: &Path) -> bool {
        false
    }

    fn is_opaque(&self, _rel: &Path) -> bool {
        false
    }

    fn attrs(&self, _rel: &Path) -> Option<Attrs> {
        None
    }
}

/// Layer metadata held in memory.
#[derive(Debug, Default)]
pub struct MemoryLayerIndex {
    whiteouts: BTreeSet<PathBuf>,
    opaque: BTreeSet<PathBuf>,
    attrs: BTreeMap<PathBuf, Attrs>,
}

impl MemoryLayerIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the layer deletes `rel`.
    pub fn add_whiteout(&mut self, rel: impl Into<PathBuf>) -> &mut Self {
        self.whiteouts.insert(rel.into());
        self
    }

    /// Records that the directory `rel` is opaque in this layer.
    pub fn add_opaque(&mut self, rel: impl Into<PathBuf>) -> &mut Self {
        self.opaque.insert(rel.into());
        self
    }

    /// Records the image's attributes for `rel`.
    pub fn set_attrs(&mut self, rel: impl Into<PathBuf>, attrs: Attrs) -> &mut Self {
        self.attrs.insert(rel.into(), attrs);
        self
    }
}

impl LayerIndex for MemoryLayerIndex {
    fn is_whiteout(&self, rel: &Path) -> bool {
        self.whiteouts.contains(rel)
    }

    fn is_opaque(&self, rel: &Path) -> bool {
        self.opaque.contains(rel)
    }

    fn attrs(&self, rel: &Path) -> Option<Attrs> {
        self.attrs.get(rel).copied()
    }
}
