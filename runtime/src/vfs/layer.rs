//! The on-disk format of an unpacked image layer, and its reader and writer.
//!
//! `carrick pull` unpacks each layer tar once into the image store as a directory:
//!
//! ```text
//! <layer dir>/root/   the layer's files, as far as the host user can create them
//! <layer dir>/meta    what the host files cannot show (this module's format)
//! ```
//!
//! The host copy under `root/` is only a carrier for file contents and symlink targets: every
//! directory is 0755, every regular file 0644 or 0755 and owned by the user that ran the pull.
//! Device nodes and fifos are empty placeholder files. Whiteouts (`.wh.NAME`) and opaque
//! markers (`.wh..wh..opq`) from the tar are never created as files. The `meta` file records,
//! keyed by the path relative to `root/`, the owner, mode (with file-type bits), device number
//! and mtime of every entry the tar contained, plus the whiteouts, the opaque directories and
//! the hard links whose target is in a lower layer.
//!
//! # The `meta` format, version 1
//!
//! A text file of `\n`-terminated lines. The first line is `carrick-layer 1`. Each later line
//! is one record, its fields separated by one space:
//!
//! ```text
//! attr MODE UID GID RDEV MTIME PATH   MODE in octal incl. S_IFMT bits, the rest decimal
//! whiteout PATH                       PATH is hidden in every lower layer (an entry at PATH
//!                                     in this layer itself stays visible)
//! opaque PATH                         the lower layers' entries below directory PATH are hidden
//! link PATH TARGET                    PATH is a hard link to TARGET, found in a lower layer
//! ```
//!
//! `PATH` is relative to the layer root with no leading or trailing `/` (the root itself is
//! the empty string, written as `.`). Bytes outside `!`..`~`, and `%` itself, are written as
//! `%XX` (two upper-case hex digits), so a path may contain spaces, newlines or invalid UTF-8.
//! `RDEV` uses glibc's 64-bit `makedev` encoding. Readers reject a file whose first line names
//! another version, and skip records of a kind they do not know.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// First line of a version-1 metadata file.
pub const META_HEADER: &str = "carrick-layer 1";

/// Name of the metadata file inside a layer directory.
pub const META_FILE: &str = "meta";

/// Name of the directory inside a layer directory that holds the layer's files.
pub const ROOT_DIR: &str = "root";

/// File-type bits of `st_mode`, as Linux defines them (`S_IFMT`).
pub const S_IFMT: u32 = 0o170000;

/// Errors from reading or writing a layer's metadata file.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The metadata file could not be read or written.
    #[error("layer metadata {path}: {source}")]
    Io {
        /// The metadata file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The first line is not [`META_HEADER`].
    #[error("layer metadata {path}: unsupported header {header:?}, expected {META_HEADER:?}; pull the image again with a matching carrick")]
    Version {
        /// The metadata file.
        path: PathBuf,
        /// The first line found.
        header: String,
    },
    /// A record could not be parsed.
    #[error("layer metadata {path}, line {line}: invalid record: {reason}")]
    Record {
        /// The metadata file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// What is wrong with the record.
        reason: String,
    },
}

/// Attributes of one entry as the image has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs {
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// `st_mode`: file-type bits (`S_IFREG`, `S_IFDIR`, `S_IFCHR`, ...) and permission bits
    /// including setuid, setgid and sticky.
    pub mode: u32,
    /// Device number of a character or block device (glibc `makedev` encoding), else 0.
    pub rdev: u64,
    /// Modification time in seconds since the epoch.
    pub mtime: i64,
}

impl Attrs {
    /// File-type bits of [`Attrs::mode`].
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }
}

/// Encodes a device number the way glibc's 64-bit `makedev` does.
pub fn makedev(major: u32, minor: u32) -> u64 {
    let major = u64::from(major);
    let minor = u64::from(minor);
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

/// The metadata of one unpacked layer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LayerMeta {
    attrs: HashMap<Vec<u8>, Attrs>,
    whiteouts: HashSet<Vec<u8>>,
    opaque: HashSet<Vec<u8>>,
    links: HashMap<Vec<u8>, Vec<u8>>,
}

impl LayerMeta {
    /// Reads `<layer_dir>/meta`.
    pub fn load(layer_dir: &Path) -> Result<LayerMeta, LayerError> {
        let path = layer_dir.join(META_FILE);
        let text = std::fs::read(&path).map_err(|source| LayerError::Io {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|error| error.with_path(path))
    }

    /// Returns the directory holding the files of the layer at `layer_dir`.
    pub fn root_dir(layer_dir: &Path) -> PathBuf {
        layer_dir.join(ROOT_DIR)
    }

    /// Parses the contents of a metadata file. Errors carry an empty path.
    pub fn parse(text: &[u8]) -> Result<LayerMeta, LayerError> {
        let mut lines = text.split(|&byte| byte == b'\n');
        let header = lines.next().unwrap_or_default();
        if header != META_HEADER.as_bytes() {
            return Err(LayerError::Version {
                path: PathBuf::new(),
                header: String::from_utf8_lossy(header).into_owned(),
            });
        }

        let mut meta = LayerMeta::default();
        for (index, line) in lines.enumerate() {
            if line.is_empty() {
                continue;
            }
            meta.parse_record(line)
                .map_err(|reason| LayerError::Record {
                    path: PathBuf::new(),
                    line: index + 2,
                    reason,
                })?;
        }
        Ok(meta)
    }

    fn parse_record(&mut self, line: &[u8]) -> Result<(), String> {
        let fields: Vec<&[u8]> = line.split(|&byte| byte == b' ').collect();
        match fields.as_slice() {
            [b"attr", mode, uid, gid, rdev, mtime, path] => {
                let attrs = Attrs {
                    mode: parse_number(mode, 8, "mode")?,
                    uid: parse_number(uid, 10, "uid")?,
                    gid: parse_number(gid, 10, "gid")?,
                    rdev: parse_number(rdev, 10, "rdev")?,
                    mtime: parse_number(mtime, 10, "mtime")?,
                };
                self.attrs.insert(decode_path(path)?, attrs);
            }
            [b"whiteout", path] => {
                self.whiteouts.insert(decode_path(path)?);
            }
            [b"opaque", path] => {
                self.opaque.insert(decode_path(path)?);
            }
            [b"link", path, target] => {
                self.links.insert(decode_path(path)?, decode_path(target)?);
            }
            [b"attr" | b"whiteout" | b"opaque" | b"link", ..] => {
                return Err(format!("wrong number of fields ({})", fields.len()));
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes `<layer_dir>/meta` through a temporary file and a rename, so a reader sees
    /// either no file or a complete one.
    pub fn save(&self, layer_dir: &Path) -> Result<(), LayerError> {
        let path = layer_dir.join(META_FILE);
        let temporary = layer_dir.join(format!("{META_FILE}.tmp"));
        let io_error = |source| LayerError::Io {
            path: path.clone(),
            source,
        };

        let mut file = std::fs::File::create(&temporary).map_err(io_error)?;
        file.write_all(&self.to_bytes()).map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
        drop(file);
        std::fs::rename(&temporary, &path).map_err(io_error)
    }

    /// Serializes the metadata; records are sorted so equal layers give equal files.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut records: Vec<Vec<u8>> = Vec::new();
        for (path, attrs) in &self.attrs {
            let mut record = format!(
                "attr {:o} {} {} {} {} ",
                attrs.mode, attrs.uid, attrs.gid, attrs.rdev, attrs.mtime
            )
            .into_bytes();
            record.extend(encode_path(path));
            records.push(record);
        }
        for path in &self.whiteouts {
            records.push([b"whiteout ".as_slice(), &encode_path(path)].concat());
        }
        for path in &self.opaque {
            records.push([b"opaque ".as_slice(), &encode_path(path)].concat());
        }
        for (path, target) in &self.links {
            let record = [
                b"link ".as_slice(),
                &encode_path(path),
                b" ",
                &encode_path(target),
            ]
            .concat();
            records.push(record);
        }
        records.sort();

        let mut out = Vec::new();
        out.extend_from_slice(META_HEADER.as_bytes());
        out.push(b'\n');
        for record in records {
            out.extend(record);
            out.push(b'\n');
        }
        out
    }

    /// Returns true if this layer hides `path` in the layers below it. The layer's own entry at
    /// `path`, if any, stays visible.
    pub fn is_whiteout(&self, path: &Path) -> bool {
        self.whiteouts.contains(normalize(path))
    }

    /// Returns true if directory `dir` hides all lower layers' entries below it. The layer's
    /// own entries below `dir` stay visible.
    pub fn is_opaque(&self, dir: &Path) -> bool {
        self.opaque.contains(normalize(dir))
    }

    /// Returns the attributes the image gives `path`, if the layer's tar contained it.
    pub fn attrs(&self, path: &Path) -> Option<Attrs> {
        self.attrs.get(normalize(path)).copied()
    }

    /// Returns the target of `path` if it is a hard link to a file in a lower layer. Hard links
    /// within one layer are host hard links under `root/` and are not listed here.
    pub fn hardlink_target(&self, path: &Path) -> Option<&Path> {
        let target = self.links.get(normalize(path))?;
        Some(Path::new(OsStr::from_bytes(target)))
    }

    /// Iterates over the whiteout paths.
    pub fn whiteouts(&self) -> impl Iterator<Item = &Path> {
        self.whiteouts
            .iter()
            .map(|path| Path::new(OsStr::from_bytes(path)))
    }

    /// Iterates over the opaque directories.
    pub fn opaque_dirs(&self) -> impl Iterator<Item = &Path> {
        self.opaque
            .iter()
            .map(|path| Path::new(OsStr::from_bytes(path)))
    }

    /// Records the attributes of `path`, replacing earlier ones.
    pub fn set_attrs(&mut self, path: &Path, attrs: Attrs) {
        self.attrs.insert(normalize(path).to_vec(), attrs);
    }

    /// Forgets the attributes and link target of `path` because a later tar entry replaced
    /// it. A whiteout of `path` stays, as it applies to the lower layers.
    pub fn remove(&mut self, path: &Path) {
        let key = normalize(path);
        self.attrs.remove(key);
        self.links.remove(key);
    }

    /// Records a whiteout of `path`.
    pub fn add_whiteout(&mut self, path: &Path) {
        self.whiteouts.insert(normalize(path).to_vec());
    }

    /// Records that directory `dir` is opaque.
    pub fn add_opaque(&mut self, dir: &Path) {
        self.opaque.insert(normalize(dir).to_vec());
    }

    /// Records a hard link from `path` to `target` in a lower layer.
    pub fn add_link(&mut self, path: &Path, target: &Path) {
        self.links
            .insert(normalize(path).to_vec(), normalize(target).to_vec());
    }
}

impl LayerError {
    fn with_path(self, path: PathBuf) -> LayerError {
        match self {
            LayerError::Io { source, .. } => LayerError::Io { path, source },
            LayerError::Version { header, .. } => LayerError::Version { path, header },
            LayerError::Record { line, reason, .. } => LayerError::Record { path, line, reason },
        }
    }
}

/// Strips a leading `/` or `./` and trailing `/`, so `/etc/`, `./etc` and `etc` name one key.
fn normalize(path: &Path) -> &[u8] {
    let mut bytes = path.as_os_str().as_bytes();
    loop {
        if let Some(rest) = bytes.strip_prefix(b"./") {
            bytes = rest;
        } else if let Some(rest) = bytes.strip_prefix(b"/") {
            bytes = rest;
        } else {
            break;
        }
    }
    while let Some(rest) = bytes.strip_suffix(b"/") {
        bytes = rest;
    }
    if bytes == b"." {
        return b"";
    }
    bytes
}

fn encode_path(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let mut out = Vec::with_capacity(path.len());
    for &byte in path {
        if (b'!'..=b'~').contains(&byte) && byte != b'%' {
            out.push(byte);
        } else {
            out.extend(format!("%{byte:02X}").into_bytes());
        }
    }
    out
}

fn decode_path(field: &[u8]) -> Result<Vec<u8>, String> {
    if field == b"." {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(field.len());
    let mut index = 0;
    while index < field.len() {
        if field[index] == b'%' {
            let hex = field
                .get(index + 1..index + 3)
                .and_then(|digits| std::str::from_utf8(digits).ok())
                .and_then(|digits| u8::from_str_radix(digits, 16).ok())
                .ok_or_else(|| format!("invalid %-escape in path {:?}", lossy(field)))?;
            out.push(hex);
            index += 3;
        } else {
            out.push(field[index]);
            index += 1;
        }
    }
    Ok(out)
}

fn parse_number<T: num_parse::FromRadix>(
    field: &[u8],
    radix: u32,
    name: &str,
) -> Result<T, String> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|text| T::from_radix(text, radix))
        .ok_or_else(|| format!("invalid {name} {:?}", lossy(field)))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

mod num_parse {
    /// Integer types the metadata reader parses.
    pub trait FromRadix: Sized {
        fn from_radix(text: &str, radix: u32) -> Option<Self>;
    }

    macro_rules! impl_from_radix {
        ($($type:ty),*) => {$(
            impl FromRadix for $type {
                fn from_radix(text: &str, radix: u32) -> Option<Self> {
                    <$type>::from_str_radix(text, radix).ok()
                }
            }
        )*};
    }

    impl_from_radix!(u32, u64, i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LayerMeta {
        let mut meta = LayerMeta::default();
        meta.set_attrs(
            Path::new("dev/null"),
            Attrs {
                uid: 0,
                gid: 0,
                mode: 0o020666,
                rdev: makedev(1, 3),
                mtime: 1_700_000_000,
            },
        );
        meta.set_attrs(
            Path::new("usr/bin/su"),
            Attrs {
                uid: 0,
                gid: 0,
                mode: 0o104755,
                rdev: 0,
                mtime: -5,
            },
        );
        meta.set_attrs(
            Path::new(""),
            Attrs {
                uid: 0,
                gid: 0,
                mode: 0o040755,
                rdev: 0,
                mtime: 0,
            },
        );
        meta.add_whiteout(Path::new("etc/old file\nwith newline"));
        meta.add_opaque(Path::new("var/cache/apt"));
        meta.add_link(Path::new("bin/b%"), Path::new("bin/a"));
        meta
    }

    #[test]
    fn round_trip_keeps_every_record() {
        let meta = sample();
        let parsed = LayerMeta::parse(&meta.to_bytes()).unwrap();
        assert_eq!(parsed, meta);
    }

    #[test]
    fn lookups_normalize_paths() {
        let meta = sample();
        assert!(meta.is_opaque(Path::new("/var/cache/apt/")));
        assert!(meta.is_opaque(Path::new("./var/cache/apt")));
        assert!(!meta.is_opaque(Path::new("var/cache")));
        assert!(meta.is_whiteout(Path::new("/etc/old file\nwith newline")));
        assert!(!meta.is_whiteout(Path::new("etc/old file")));

        let null = meta.attrs(Path::new("/dev/null")).unwrap();
        assert_eq!(null.file_type(), 0o020000);
        assert_eq!(null.rdev, 0x103);
        assert_eq!(meta.attrs(Path::new("/")).unwrap().mode, 0o040755);
        assert_eq!(meta.attrs(Path::new(".")).unwrap().mode, 0o040755);
        assert_eq!(
            meta.attrs(Path::new("usr/bin/su")).unwrap().mode & 0o7777,
            0o4755
        );
        assert!(meta.attrs(Path::new("usr/bin")).is_none());
        assert_eq!(
            meta.hardlink_target(Path::new("bin/b%")),
            Some(Path::new("bin/a"))
        );
    }

    #[test]
    fn encoded_paths_have_no_spaces() {
        let text = sample().to_bytes();
        let line = text
            .split(|&byte| byte == b'\n')
            .find(|line| line.starts_with(b"whiteout"))
            .unwrap();
        assert_eq!(line, b"whiteout etc/old%20file%0Awith%20newline");
    }

    #[test]
    fn parse_rejects_other_versions() {
        let error = LayerMeta::parse(b"carrick-layer 2\n").unwrap_err();
        assert!(matches!(error, LayerError::Version { .. }), "{error}");
    }

    #[test]
    fn parse_rejects_bad_records() {
        let bad = [
            "carrick-layer 1\nattr 0644 0 0 0 etc/x\n",
            "carrick-layer 1\nattr 09 0 0 0 0 etc/x\n",
            "carrick-layer 1\nwhiteout etc/%G1\n",
            "carrick-layer 1\nopaque a b\n",
        ];
        for text in bad {
            let error = LayerMeta::parse(text.as_bytes()).unwrap_err();
            assert!(
                matches!(error, LayerError::Record { line: 2, .. }),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn parse_skips_unknown_record_kinds() {
        let meta = LayerMeta::parse(b"carrick-layer 1\nxattr foo bar\nopaque tmp\n").unwrap();
        assert!(meta.is_opaque(Path::new("tmp")));
    }

    #[test]
    fn makedev_matches_glibc() {
        assert_eq!(makedev(1, 3), 0x103);
        assert_eq!(makedev(136, 0), 0x8800);
        assert_eq!(makedev(0x1234, 0x56789), 0x0000_1000_5672_3489);
    }
}
