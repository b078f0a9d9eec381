//! Unpacks a layer blob (a tar, plain, gzip or zstd) into `layers/sha256/<hex>/`.
//!
//! Tar paths are hostile input. Every entry path is split into components, and absolute paths
//! and `..` are rejected. Each parent directory is checked with `lstat` to be a real directory
//! (not a symlink) before anything is created under it. The work happens in a
//! private directory under the store's `tmp/`, which no other process writes, and the result
//! is renamed into place only when complete. What the host copy cannot show (owners, modes,
//! device nodes, whiteouts) goes into the layer's `meta` file; see `carrick_runtime::vfs::layer`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use carrick_runtime::vfs::layer::{makedev, Attrs, LayerMeta, ROOT_DIR};
use tar::EntryType;

use super::store::{remove_tree, Digest, Store};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

const S_IFIFO: u32 = 0o010000;
const S_IFCHR: u32 = 0o020000;
const S_IFDIR: u32 = 0o040000;
const S_IFBLK: u32 = 0o060000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// Unpacks blob `digest` unless already unpacked, and returns the layer directory.
pub fn unpack_layer(store: &Store, digest: &Digest) -> Result<PathBuf> {
    let target = store.layer_dir(digest);
    if store.has_layer(digest) {
        return Ok(target);
    }

    let work = store.work_dir()?;
    let layer = work.path().join("layer");
    let root = layer.join(ROOT_DIR);
    fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;

    let blob = File::open(store.blob_path(digest))
        .with_context(|| format!("cannot open layer blob {digest}; pull the image again"))?;
    let mut meta = LayerMeta::default();
    let reader = decompress(BufReader::new(blob))?;
    extract(reader, &root, &mut meta).with_context(|| format!("cannot unpack layer {digest}"))?;
    meta.save(&layer)?;
    make_read_only(&root)?;

    // rename(2) of a directory onto a non-empty one fails, so a layer another process already
    // finished is never replaced while a container may be reading it.
    match fs::rename(&layer, &target) {
        Ok(()) => Ok(target),
        // Another process finished the same layer first, and its copy is identical.
        Err(_) if store.has_layer(digest) => Ok(target),
        Err(error) => {
            Err(error).with_context(|| format!("cannot move layer into {}", target.display()))
        }
    }
}

/// Clears the write bits of everything under `dir`, so that the unpacked layer stays as the
/// image has it even if a container process writes through a bug. `remove_tree` restores them
/// before deleting.
fn make_read_only(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            continue;
        }
        let path = entry.path();
        if kind.is_dir() {
            make_read_only(&path)?;
        }
        let mode = entry.metadata()?.permissions().mode() & !0o222;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set permissions on {}", path.display()))?;
    }
    let mode = fs::symlink_metadata(dir)?.permissions().mode() & !0o222;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set permissions on {}", dir.display()))
}

/// Wraps `reader` in a decompressor chosen by the stream's magic number, so docker-save
/// archives (plain tars) and registry blobs (gzip, zstd) go through one path.
fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> Result<Box<dyn Read + 'a>> {
    let head = reader.fill_buf().context("cannot read layer blob")?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = ruzstd::decoding::StreamingDecoder::new(reader)
            .map_err(|error| anyhow::anyhow!("invalid zstd layer: {error}"))?;
        return Ok(Box::new(decoder));
    }
    Ok(Box::new(reader))
}

/// Extracts every entry of the tar in `reader` under `root`, recording metadata in `meta`.
pub fn extract(reader: impl Read, root: &Path, meta: &mut LayerMeta) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().context("cannot read tar")? {
        let mut entry = entry.context("cannot read tar entry")?;
        let raw_path = entry.path_bytes().into_owned();
        let Some(relative) = clean_path(&raw_path)? else {
            // The root directory itself: only its attributes matter.
            if entry.header().entry_type() == EntryType::Directory {
                meta.set_attrs(Path::new(""), header_attrs(&mut entry, S_IFDIR)?);
            }
            continue;
        };
        extract_entry(&mut entry, root, &relative, meta)
            .with_context(|| format!("tar entry {:?}", String::from_utf8_lossy(&raw_path)))?;
    }
    Ok(())
}

fn extract_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    root: &Path,
    relative: &Path,
    meta: &mut LayerMeta,
) -> Result<()> {
    let name = relative
        .file_name()
        .map(|name| name.as_bytes())
        .unwrap_or_default();
    let parent = relative.parent().unwrap_or(Path::new(""));

    if name == OPAQUE_MARKER.as_bytes() {
        ensure_parents(root, relative)?;
        meta.add_opaque(parent);
        return Ok(());
    }
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            bail!("whiteout {:?} names no entry", lossy(name));
        }
        ensure_parents(root, relative)?;
        // The OCI layer spec applies a whiteout to lower layers only, so an entry of the same
        // name in this layer stays.
        meta.add_whiteout(&parent.join(std::ffi::OsStr::from_bytes(hidden)));
        return Ok(());
    }

    ensure_parents(root, relative)?;
    let host_path = root.join(relative);
    let kind = entry.header().entry_type();

    if kind == EntryType::Directory {
        match fs::symlink_metadata(&host_path) {
            Ok(existing) if existing.is_dir() => {}
            Ok(_) => {
                remove_existing(&host_path)?;
                create_dir(&host_path)?;
            }
            Err(_) => create_dir(&host_path)?,
        }
        meta.set_attrs(relative, header_attrs(entry, S_IFDIR)?);
        return Ok(());
    }

    remove_existing(&host_path)?;
    meta.remove(relative);
    match kind {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            let attrs = header_attrs(entry, S_IFREG)?;
            let host_mode = if attrs.mode & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            let mut file = create_file(&host_path, host_mode)?;
            std::io::copy(entry, &mut file)
                .with_context(|| format!("cannot write {}", host_path.display()))?;
            set_mtime(&file, attrs.mtime);
            meta.set_attrs(relative, attrs);
        }
        EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .context("symlink without a target")?
                .into_owned();
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &host_path)
                .with_context(|| format!("cannot create symlink {}", host_path.display()))?;
            meta.set_attrs(relative, header_attrs(entry, S_IFLNK)?);
        }
        EntryType::Link => {
            let target = entry
                .link_name_bytes()
                .context("hard link without a target")?
                .into_owned();
            let Some(target) = clean_path(&target)? else {
                bail!("hard link to the layer root");
            };
            link_entry(root, relative, &target, meta)?;
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let file_type = match kind {
                EntryType::Char => S_IFCHR,
                EntryType::Block => S_IFBLK,
                _ => S_IFIFO,
            };
            let mut attrs = header_attrs(entry, file_type)?;
            if file_type != S_IFIFO {
                let major = entry.header().device_major()?.unwrap_or(0);
                let minor = entry.header().device_minor()?.unwrap_or(0);
                attrs.rdev = makedev(major, minor);
            }
            // An empty placeholder, which `meta` turns into the node for the guest. The host user
            // cannot create device nodes, and a host fifo would block readers.
            create_file(&host_path, 0o644)?;
            meta.set_attrs(relative, attrs);
        }
        other => {
            tracing::warn!(path = %relative.display(), kind = ?other, "skipping tar entry of unsupported type");
        }
    }
    Ok(())
}

/// Creates `relative` as a hard link to `target`: a host hard link when the target is in this
/// layer, otherwise a `link` record for the runtime to resolve through the lower layers.
fn link_entry(root: &Path, relative: &Path, target: &Path, meta: &mut LayerMeta) -> Result<()> {
    // A target reached through a symlink is left to the runtime, which resolves it inside
    // the container's root.
    if !check_parents(root, target)? {
        meta.add_link(relative, target);
        return Ok(());
    }
    let target_host = root.join(target);
    match fs::symlink_metadata(&target_host) {
        Ok(metadata) if !metadata.is_dir() => {
            // link(2) does not follow a symlink target, so this links the entry itself.
            fs::hard_link(&target_host, root.join(relative)).with_context(|| {
                format!("cannot link {} to {}", relative.display(), target.display())
            })?;
            if let Some(attrs) = meta.attrs(target) {
                meta.set_attrs(relative, attrs);
            }
        }
        Ok(_) => bail!("hard link to directory {}", target.display()),
        Err(_) => meta.add_link(relative, target),
    }
    Ok(())
}

/// Splits a tar path into normal components. Returns `None` for the root itself.
fn clean_path(raw: &[u8]) -> Result<Option<PathBuf>> {
    if raw.starts_with(b"/") {
        bail!(
            "absolute path {:?} in layer tar; layer paths must be relative",
            lossy(raw)
        );
    }
    let mut clean = PathBuf::new();
    for component in raw.split(|&byte| byte == b'/') {
        match component {
            b"" | b"." => {}
            b".." => bail!(
                "path {:?} in layer tar escapes the layer root with ..",
                lossy(raw)
            ),
            name => clean.push(std::ffi::OsStr::from_bytes(name)),
        }
    }
    if clean.as_os_str().is_empty() {
        return Ok(None);
    }
    Ok(Some(clean))
}

/// Creates the missing parent directories of `relative`, failing if one is not a directory.
fn ensure_parents(root: &Path, relative: &Path) -> Result<()> {
    let mut current = root.to_path_buf();
    let Some(parent) = relative.parent() else {
        return Ok(());
    };
    for component in parent.components() {
        current.push(component);
        match fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(metadata) if metadata.file_type().is_symlink() => bail!(
                "path goes through symlink {}; layer entries must not be written through symlinks",
                current.strip_prefix(root).unwrap_or(&current).display()
            ),
            Ok(_) => bail!(
                "parent {} is not a directory",
                current.strip_prefix(root).unwrap_or(&current).display()
            ),
            Err(_) => create_dir(&current)?,
        }
    }
    Ok(())
}

/// Returns true if every parent of `relative` under `root` is a real directory.
fn check_parents(root: &Path, relative: &Path) -> Result<bool> {
    let mut current = root.to_path_buf();
    let Some(parent) = relative.parent() else {
        return Ok(true);
    };
    for component in parent.components() {
        current.push(component);
        match fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.is_dir() => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

fn create_dir(path: &Path) -> Result<()> {
    fs::create_dir(path).with_context(|| format!("cannot create directory {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot set permissions on {}", path.display()))
}

fn create_file(path: &Path, mode: u32) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn remove_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) => remove_tree(path),
        Err(_) => Ok(()),
    }
}

fn set_mtime(file: &File, mtime: i64) {
    let Ok(seconds) = u64::try_from(mtime) else {
        return;
    };
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    if let Err(error) = file.set_modified(time) {
        tracing::debug!(%error, "cannot set mtime");
    }
}

fn header_attrs<R: Read>(entry: &mut tar::Entry<'_, R>, file_type: u32) -> Result<Attrs> {
    let header = entry.header();
    let mut attrs = Attrs {
        uid: u32::try_from(header.uid()?).context("uid does not fit in 32 bits")?,
        gid: u32::try_from(header.gid()?).context("gid does not fit in 32 bits")?,
        mode: file_type | (header.mode()? & 0o7777),
        rdev: 0,
        mtime: i64::try_from(header.mtime()?).unwrap_or(i64::MAX),
    };

    // PAX records carry values too large for the ustar fields and override them.
    // NOTE: `SCHILY.xattr.*` records (file capabilities, for example) are dropped, because the
    // metadata format has no record kind for extended attributes yet.
    let Some(extensions) = entry.pax_extensions()? else {
        return Ok(attrs);
    };
    for extension in extensions {
        let extension = extension?;
        let (Ok(key), Ok(value)) = (extension.key(), extension.value()) else {
            continue;
        };
        match key {
            "uid" => {
                attrs.uid = value
                    .parse()
                    .with_context(|| format!("invalid PAX uid {value:?}"))?
            }
            "gid" => {
                attrs.gid = value
                    .parse()
                    .with_context(|| format!("invalid PAX gid {value:?}"))?
            }
            "mtime" => {
                let seconds = value.split('.').next().unwrap_or_default();
                attrs.mtime = seconds
                    .parse()
                    .with_context(|| format!("invalid PAX mtime {value:?}"))?;
            }
            _ => {}
        }
    }
    Ok(attrs)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Item<'a> {
        File(&'a str, u32, &'a [u8]),
        Dir(&'a str, u32),
        Symlink(&'a str, &'a str),
        HardLink(&'a str, &'a str),
        Device(&'a str, EntryType, u32, u32),
    }

    fn build_tar(items: &[Item<'_>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for item in items {
            let mut header = tar::Header::new_gnu();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(1_600_000_000);
            let (path, data): (&str, &[u8]) = match item {
                Item::File(path, mode, data) => {
                    header.set_entry_type(EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_size(data.len() as u64);
                    (path, data)
                }
                Item::Dir(path, mode) => {
                    header.set_entry_type(EntryType::Directory);
                    header.set_mode(*mode);
                    header.set_size(0);
                    (path, &[])
                }
                Item::Symlink(path, target) | Item::HardLink(path, target) => {
                    let kind = match item {
                        Item::Symlink(..) => EntryType::Symlink,
                        _ => EntryType::Link,
                    };
                    header.set_entry_type(kind);
                    header.set_mode(0o777);
                    header.set_size(0);
                    header.set_link_name(target).unwrap();
                    (path, &[])
                }
                Item::Device(path, kind, major, minor) => {
                    header.set_entry_type(*kind);
                    header.set_mode(0o666);
                    header.set_size(0);
                    header.set_device_major(*major).unwrap();
                    header.set_device_minor(*minor).unwrap();
                    (path, &[])
                }
            };
            // Write the name bytes directly so hostile names survive unchanged.
            let name = &mut header.as_old_mut().name;
            name.fill(0);
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn extract_items(items: &[Item<'_>]) -> (tempfile::TempDir, Result<LayerMeta>) {
        let dir = tempfile::tempdir().unwrap();
        let mut meta = LayerMeta::default();
        let result = extract(build_tar(items).as_slice(), dir.path(), &mut meta).map(|()| meta);
        (dir, result)
    }

    #[test]
    fn records_owner_mode_and_devices() {
        let (dir, meta) = extract_items(&[
            Item::Dir("./", 0o755),
            Item::Dir("usr/bin/", 0o755),
            Item::File("usr/bin/su", 0o4755, b"su"),
            Item::File("tmp-marker", 0o1777, b""),
            Item::Device("dev/null", EntryType::Char, 1, 3),
            Item::Device("dev/sda", EntryType::Block, 8, 0),
            Item::Device("run/fifo", EntryType::Fifo, 0, 0),
        ]);
        let meta = meta.unwrap();

        let su = meta.attrs(Path::new("usr/bin/su")).unwrap();
        assert_eq!(su.mode, S_IFREG | 0o4755);
        let host = fs::metadata(dir.path().join("usr/bin/su")).unwrap();
        assert_eq!(host.permissions().mode() & 0o7777, 0o755);
        assert_eq!(fs::read(dir.path().join("usr/bin/su")).unwrap(), b"su");

        let null = meta.attrs(Path::new("dev/null")).unwrap();
        assert_eq!(null.mode, S_IFCHR | 0o666);
        assert_eq!(null.rdev, makedev(1, 3));
        assert!(dir.path().join("dev/null").is_file());
        assert_eq!(
            meta.attrs(Path::new("dev/sda")).unwrap().file_type(),
            S_IFBLK
        );
        assert_eq!(
            meta.attrs(Path::new("run/fifo")).unwrap().file_type(),
            S_IFIFO
        );
        assert_eq!(meta.attrs(Path::new("")).unwrap().mode, S_IFDIR | 0o755);
    }

    #[test]
    fn whiteouts_are_recorded_not_created() {
        let (dir, meta) = extract_items(&[
            Item::File("etc/.wh.passwd", 0o644, b""),
            Item::File("var/cache/.wh..wh..opq", 0o644, b""),
            Item::File("var/cache/new", 0o644, b"n"),
        ]);
        let meta = meta.unwrap();
        assert!(meta.is_whiteout(Path::new("etc/passwd")));
        assert!(meta.is_opaque(Path::new("var/cache")));
        assert!(!dir.path().join("etc/.wh.passwd").exists());
        assert!(!dir.path().join("var/cache/.wh..wh..opq").exists());
        assert!(dir.path().join("etc").is_dir());
        assert!(dir.path().join("var/cache/new").is_file());
    }

    #[test]
    fn whiteout_keeps_same_layer_entry() {
        let (dir, meta) = extract_items(&[
            Item::File("etc/.wh.motd", 0o644, b""),
            Item::File("etc/motd", 0o600, b"new"),
        ]);
        let meta = meta.unwrap();
        assert!(meta.is_whiteout(Path::new("etc/motd")));
        assert_eq!(fs::read(dir.path().join("etc/motd")).unwrap(), b"new");
        assert_eq!(
            meta.attrs(Path::new("etc/motd")).unwrap().mode,
            S_IFREG | 0o600
        );
    }

    #[test]
    fn whiteout_of_dot_dot_is_rejected() {
        let (_dir, result) = extract_items(&[Item::File("etc/.wh..", 0o644, b"")]);
        assert!(result.is_err());
    }

    #[test]
    fn escaping_paths_are_rejected() {
        for path in ["../evil", "a/../../evil", "/etc/evil"] {
            let (_dir, result) = extract_items(&[Item::File(path, 0o644, b"x")]);
            assert!(result.is_err(), "{path} was accepted");
        }
    }

    #[test]
    fn writes_through_symlinks_are_rejected() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().to_str().unwrap();
        let (_dir, result) = extract_items(&[
            Item::Symlink("escape", target),
            Item::File("escape/pwned", 0o644, b"x"),
        ]);
        let error = format!("{:#}", result.unwrap_err());
        assert!(error.contains("through symlink escape"), "{error}");
        assert!(!outside.path().join("pwned").exists());
    }

    #[test]
    fn hard_links_inside_and_outside_layer() {
        let (dir, meta) = extract_items(&[
            Item::File("bin/a", 0o755, b"aaa"),
            Item::HardLink("bin/b", "bin/a"),
            Item::HardLink("bin/c", "bin/from-lower"),
        ]);
        let meta = meta.unwrap();
        assert_eq!(fs::read(dir.path().join("bin/b")).unwrap(), b"aaa");
        assert_eq!(
            meta.attrs(Path::new("bin/b")),
            meta.attrs(Path::new("bin/a"))
        );
        assert_eq!(
            meta.hardlink_target(Path::new("bin/c")),
            Some(Path::new("bin/from-lower"))
        );
        assert!(!dir.path().join("bin/c").exists());
    }

    #[test]
    fn hard_link_through_symlink_is_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"s").unwrap();
        let target = outside.path().to_str().unwrap();
        let (dir, meta) = extract_items(&[
            Item::Symlink("out", target),
            Item::HardLink("stolen", "out/secret"),
        ]);
        let meta = meta.unwrap();
        assert!(!dir.path().join("stolen").exists());
        assert_eq!(
            meta.hardlink_target(Path::new("stolen")),
            Some(Path::new("out/secret"))
        );
    }

    fn pax_record(key: &str, value: &str) -> String {
        let body = format!(" {key}={value}\n");
        let mut length = body.len() + 1;
        while format!("{length}{body}").len() != length {
            length += 1;
        }
        format!("{length}{body}")
    }

    #[test]
    fn pax_records_override_ustar_fields() {
        let records = [
            pax_record("uid", "5000000"),
            pax_record("gid", "70000"),
            pax_record("mtime", "1700000123.5"),
        ]
        .concat();
        let mut builder = tar::Builder::new(Vec::new());
        let mut pax = tar::Header::new_ustar();
        pax.set_entry_type(EntryType::XHeader);
        pax.set_size(records.len() as u64);
        pax.set_path("PaxHeaders/big").unwrap();
        pax.set_cksum();
        builder.append(&pax, records.as_bytes()).unwrap();
        let mut file = tar::Header::new_ustar();
        file.set_entry_type(EntryType::Regular);
        file.set_mode(0o644);
        file.set_size(1);
        file.set_uid(1);
        file.set_gid(1);
        file.set_path("big").unwrap();
        file.set_cksum();
        builder.append(&file, &b"x"[..]).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let mut meta = LayerMeta::default();
        extract(
            builder.into_inner().unwrap().as_slice(),
            dir.path(),
            &mut meta,
        )
        .unwrap();
        let attrs = meta.attrs(Path::new("big")).unwrap();
        assert_eq!(attrs.uid, 5_000_000);
        assert_eq!(attrs.gid, 70_000);
        assert_eq!(attrs.mtime, 1_700_000_123);
    }

    #[test]
    fn later_entry_replaces_earlier_one() {
        let (dir, meta) = extract_items(&[
            Item::Symlink("x", "/etc/passwd"),
            Item::File("x", 0o600, b"file"),
        ]);
        let meta = meta.unwrap();
        assert_eq!(fs::read(dir.path().join("x")).unwrap(), b"file");
        assert_eq!(meta.attrs(Path::new("x")).unwrap().mode, S_IFREG | 0o600);
    }
}
