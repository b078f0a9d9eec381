//! The content-addressed image store under `$CARRICK_HOME`.
//!
//! ```text
//! blobs/sha256/<hex>          manifests, configs and layer blobs, named by their digest
//! layers/sha256/<hex>/        a layer blob unpacked: root/ and meta (runtime::vfs::layer)
//! containers/<id>/            container.json and the writable upper/ directory
//! images.json                 image names and the digests they resolve to
//! auth.json                   registry credentials from `carrick login`, mode 0600
//! tmp/<random>/               work directories of running pulls, each with a .lock file
//! store.lock, images.lock     flock(2) locks
//! ```
//!
//! Several carrick processes may use one store at once. Nothing appears under `blobs/` or
//! `layers/` except through a rename from `tmp/` after the content was verified, so an
//! interrupted pull leaves at most a stale work directory, which the next pull or prune
//! removes. Pulls hold `store.lock` shared, and prune holds it exclusive while it deletes.
//! `images.json` is rewritten through a rename while `images.lock` is held exclusive.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Environment variable that overrides the store location.
pub const HOME_ENV: &str = "CARRICK_HOME";

/// A validated `sha256:<64 hex digits>` content digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:<hex>`; other algorithms are rejected.
    pub fn parse(text: &str) -> Result<Digest> {
        let Some(hex) = text.strip_prefix("sha256:") else {
            bail!("unsupported digest {text:?}: carrick only handles sha256 digests");
        };
        let valid = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if !valid {
            bail!("invalid digest {text:?}: expected sha256: and 64 lower-case hex digits");
        }
        Ok(Digest(text.to_string()))
    }

    /// Returns the digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// Returns the hex digits after `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// Returns the first 12 hex digits, the short image id that `docker images` prints.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    /// Returns the full `sha256:<hex>` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl TryFrom<String> for Digest {
    type Error = anyhow::Error;

    fn try_from(text: String) -> Result<Digest> {
        Digest::parse(&text)
    }
}

impl From<Digest> for String {
    fn from(digest: Digest) -> String {
        digest.0
    }
}

/// One image known to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Canonical name (`docker.io/library/debian:bookworm`), or `None` for an untagged image.
    pub name: Option<String>,
    /// The image manifest for the selected platform.
    pub manifest: Digest,
    /// The image index or manifest list the manifest was chosen from, if any.
    pub index: Option<Digest>,
    /// The image config; its short form is the image id.
    pub config: Digest,
    /// Layer blobs, bottom to top.
    pub layers: Vec<Digest>,
    /// Sum of the layer blob sizes in bytes.
    pub size: u64,
    /// When the record was written, in seconds since the epoch.
    pub created: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ImagesFile {
    version: u32,
    images: Vec<ImageRecord>,
}

const IMAGES_VERSION: u32 = 1;

/// An open image store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the store at `$CARRICK_HOME`, or the user's data directory, creating it.
    pub fn open_default() -> Result<Store> {
        Store::open(&default_root()?)
    }

    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store> {
        for sub in ["blobs/sha256", "layers/sha256", "containers", "tmp"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).with_context(|| {
                format!("cannot create image store directory {}; set {HOME_ENV} to a writable directory", dir.display())
            })?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// Path of the blob named `digest` (it may not exist).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Returns true if the blob is in the store.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a whole blob (for manifests and configs).
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        fs::read(&path).with_context(|| format!("cannot read blob {digest} from the image store"))
    }

    /// Stores `bytes` as a blob after checking them against `digest`.
    pub fn write_blob(&self, work: &WorkDir, digest: &Digest, bytes: &[u8]) -> Result<()> {
        if self.has_blob(digest) {
            return Ok(());
        }
        let mut writer = work.blob_writer()?;
        writer.write_all(bytes)?;
        writer.commit(self, digest, Some(bytes.len() as u64))
    }

    /// Directory of the unpacked layer for blob `digest` (it may not exist).
    pub fn layer_dir(&self, digest: &Digest) -> PathBuf {
        self.root.join("layers/sha256").join(digest.hex())
    }

    /// Returns true if the layer has been unpacked completely.
    pub fn has_layer(&self, digest: &Digest) -> bool {
        self.layer_dir(digest)
            .join(carrick_runtime::vfs::layer::META_FILE)
            .is_file()
    }

    /// Directory holding the containers' state.
    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// Path of the credentials file.
    pub fn auth_path(&self) -> PathBuf {
        self.root.join("auth.json")
    }

    /// Takes `store.lock` shared: held by pulls, loads and container set-up.
    pub fn lock_shared(&self) -> Result<FileLock> {
        FileLock::acquire(&self.root.join("store.lock"), libc::LOCK_SH)
    }

    /// Takes `store.lock` exclusive: held by garbage collection.
    pub fn lock_exclusive(&self) -> Result<FileLock> {
        FileLock::acquire(&self.root.join("store.lock"), libc::LOCK_EX)
    }

    /// Creates a private work directory under `tmp/`, removed when the value is dropped.
    pub fn work_dir(&self) -> Result<WorkDir> {
        let name = random_hex(8)?;
        let path = self.root.join("tmp").join(&name);
        let lock = FileLock::acquire(
            &self.root.join("tmp").join(format!("{name}.lock")),
            libc::LOCK_EX,
        )?;
        fs::create_dir(&path)
            .with_context(|| format!("cannot create work directory {}", path.display()))?;
        Ok(WorkDir {
            path,
            lock: Some(lock),
        })
    }

    /// Removes work directories whose owner is gone (their lock file is not held).
    pub fn remove_stale_work_dirs(&self) -> Result<usize> {
        let tmp = self.root.join("tmp");
        let mut removed = 0;
        for entry in fs::read_dir(&tmp).with_context(|| format!("cannot list {}", tmp.display()))? {
            let path = entry?.path();
            if path.extension().is_none_or(|extension| extension != "lock") {
                continue;
            }
            let Some(lock) = FileLock::try_acquire(&path)? else {
                continue;
            };
            let dir = path.with_extension("");
            if dir.exists() {
                remove_tree(&dir)?;
            }
            fs::remove_file(&path).ok();
            drop(lock);
            removed += 1;
        }
        Ok(removed)
    }

    /// Reads the image list.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let path = self.root.join("images.json");
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()))
            }
        };
        let file: ImagesFile = serde_json::from_slice(&text).with_context(|| {
            format!(
                "invalid image list {}; remove it and pull the images again",
                path.display()
            )
        })?;
        if file.version != IMAGES_VERSION {
            bail!(
                "image list {} has version {}, expected {IMAGES_VERSION}; use a matching carrick",
                path.display(),
                file.version
            );
        }
        Ok(file.images)
    }

    /// Applies `change` to the image list under `images.lock` and writes it back atomically.
    pub fn update_images<T>(&self, change: impl FnOnce(&mut Vec<ImageRecord>) -> T) -> Result<T> {
        let _lock = FileLock::acquire(&self.root.join("images.lock"), libc::LOCK_EX)?;
        let mut images = self.images()?;
        let result = change(&mut images);

        let file = ImagesFile {
            version: IMAGES_VERSION,
            images,
        };
        let text = serde_json::to_vec_pretty(&file)?;
        write_atomic(&self.root.join("images.json"), &text, 0o644)?;
        Ok(result)
    }

    /// Adds `record`, taking its name away from any image that had it.
    pub fn add_image(&self, record: ImageRecord) -> Result<()> {
        self.update_images(|images| {
            images.retain(|image| {
                let same_name = record.name.is_some() && image.name == record.name;
                let same_untagged = image.name.is_none() && image.manifest == record.manifest;
                !same_name && !same_untagged
            });
            images.push(record);
        })
    }

    /// Deletes blobs, unpacked layers and work directories that no image or container uses.
    /// Returns the number of blobs and layers removed and the bytes freed.
    pub fn collect_garbage(&self) -> Result<(usize, u64)> {
        let _lock = self.lock_exclusive()?;
        self.remove_stale_work_dirs()?;

        let mut live: BTreeSet<String> = BTreeSet::new();
        for image in self.images()? {
            live.insert(image.manifest.hex().to_string());
            live.insert(image.config.hex().to_string());
            if let Some(index) = &image.index {
                live.insert(index.hex().to_string());
            }
            live.extend(image.layers.iter().map(|layer| layer.hex().to_string()));
        }
        for layers in super::container::layers_in_use(self)? {
            live.extend(layers.iter().map(|layer| layer.hex().to_string()));
        }

        let mut removed = 0;
        let mut freed = 0;
        for dir in [
            self.root.join("blobs/sha256"),
            self.root.join("layers/sha256"),
        ] {
            for entry in
                fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
            {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if live.contains(&name) {
                    continue;
                }
                let path = entry.path();
                freed += disk_usage(&path);
                remove_tree(&path)?;
                removed += 1;
            }
        }
        Ok((removed, freed))
    }
}

/// Describes a failed blob write, which is most often a full disk.
pub fn write_failure(digest: &Digest) -> String {
    format!("cannot write blob {digest} to the image store (free disk space, or set {HOME_ENV} to a store on another disk)")
}

/// Returns `$CARRICK_HOME`, or `<data dir>/carrick` (`~/.local/share/carrick` on Linux).
pub fn default_root() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os(HOME_ENV).filter(|home| !home.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    match data_dir() {
        Some(data) => Ok(data.join("carrick")),
        None => bail!("cannot find the user's data directory; set {HOME_ENV} to a directory for the image store"),
    }
}

/// The user's data directory: `$XDG_DATA_HOME` or `~/.local/share` (the XDG base directory
/// rules), and `~/Library/Application Support` on macOS.
fn data_dir() -> Option<PathBuf> {
    let non_empty = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    let home = non_empty("HOME");
    if cfg!(target_os = "macos") {
        return home.map(|home| home.join("Library/Application Support"));
    }
    non_empty("XDG_DATA_HOME")
        .filter(|path| path.is_absolute())
        .or_else(|| home.map(|home| home.join(".local/share")))
}

/// A private directory under the store's `tmp/`, locked by this process while it exists.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    lock: Option<FileLock>,
}

impl WorkDir {
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens a new temporary file for a blob in this directory.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let path = self.path.join(format!("blob-{}", random_hex(8)?));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(BlobWriter {
            file,
            path,
            hasher: Sha256::new(),
            written: 0,
        })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(error) = remove_tree(&self.path) {
            tracing::warn!(dir = %self.path.display(), %error, "cannot remove work directory");
        }
        let lock_path = self.path.with_extension("lock");
        fs::remove_file(&lock_path).ok();
        self.lock.take();
    }
}

/// A blob being written: hashes the bytes as they pass and moves the file into `blobs/` only
/// if the digest (and size, when known) match.
#[derive(Debug)]
pub struct BlobWriter {
    file: File,
    path: PathBuf,
    hasher: Sha256,
    written: u64,
}

impl BlobWriter {
    /// Number of bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verifies the content against `digest` and `size`, then renames it into the store.
    pub fn commit(self, store: &Store, digest: &Digest, size: Option<u64>) -> Result<()> {
        let BlobWriter {
            file,
            path,
            hasher,
            written,
        } = self;
        if let Some(size) = size {
            if size != written {
                fs::remove_file(&path).ok();
                bail!("blob {digest} has {written} bytes, expected {size}; the source is corrupt, so pull from an intact copy");
            }
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != digest.as_str() {
            fs::remove_file(&path).ok();
            bail!("blob {digest} failed verification (its content hashes to {actual}); the source is corrupt, so pull from an intact copy");
        }
        file.sync_all()
            .with_context(|| format!("cannot write {}", path.display()))?;
        drop(file);
        let target = store.blob_path(digest);
        fs::rename(&path, &target)
            .with_context(|| format!("cannot move blob into {}", target.display()))
    }
}

impl BlobWriter {
    /// Moves the content into the store under the digest it hashes to, for sources (such as
    /// `docker save` archives) that do not give digests up front.
    pub fn commit_computed(self, store: &Store) -> Result<Digest> {
        let digest = Digest(format!(
            "sha256:{}",
            hex::encode(self.hasher.clone().finalize())
        ));
        self.commit(store, &digest, None)?;
        Ok(digest)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let count = self.file.write(bytes)?;
        self.hasher.update(&bytes[..count]);
        self.written += count as u64;
        Ok(count)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// An flock(2) lock, released when dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Blocks until the lock is granted. `operation` is `LOCK_SH` or `LOCK_EX`.
    fn acquire(path: &Path, operation: libc::c_int) -> Result<FileLock> {
        let file = open_lock_file(path)?;
        loop {
            // SAFETY: flock only reads the descriptor, which `file` keeps open.
            let status = unsafe { libc::flock(file.as_raw_fd(), operation) };
            if status == 0 {
                return Ok(FileLock { file });
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(error).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }

    /// Takes an exclusive lock without waiting; `None` if another process holds it.
    fn try_acquire(path: &Path) -> Result<Option<FileLock>> {
        let file = open_lock_file(path)?;
        // SAFETY: flock only reads the descriptor, which `file` keeps open.
        let status = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if status == 0 {
            return Ok(Some(FileLock { file }));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() == std::io::ErrorKind::WouldBlock {
            return Ok(None);
        }
        Err(error).with_context(|| format!("cannot lock {}", path.display()))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: flock only reads the descriptor, which is still open here.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(path)
        .with_context(|| format!("cannot open lock file {}", path.display()))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let temporary = path.with_extension(format!("tmp-{}", random_hex(4)?));
    let result = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        fs::remove_file(&temporary).ok();
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// Returns `bytes` random bytes from the kernel as lower-case hex.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buffer = vec![0u8; bytes];
    File::open("/dev/urandom")
        .and_then(|mut urandom| urandom.read_exact(&mut buffer))
        .context("cannot read /dev/urandom")?;
    Ok(hex::encode(buffer))
}

/// Removes a file or a directory tree, first making directories writable so that trees
/// unpacked from images with read-only directories can be deleted.
pub fn remove_tree(path: &Path) -> Result<()> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot remove {}", path.display()))
        }
    };
    if !metadata.is_dir() {
        return fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()));
    }
    if fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    make_tree_writable(path);
    fs::remove_dir_all(path).with_context(|| format!("cannot remove {}", path.display()))
}

fn make_tree_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).ok();
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            make_tree_writable(&entry.path());
        }
    }
}

/// Bytes used by a file or directory tree (apparent sizes, symlinks not followed).
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(metadata) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !metadata.is_dir() {
        return metadata.len();
    }
    let Ok(entries) = fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| disk_usage(&entry.path()))
        .sum()
}

/// Returns the current time in seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_parse_rejects_bad_values() {
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse(&format!("sha512:{}", "a".repeat(64))).is_err());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse(&format!("sha256:{}", "a".repeat(64))).is_ok());
    }

    #[test]
    fn blob_commit_rejects_wrong_content() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let work = store.work_dir().unwrap();
        let expected = Digest::of(b"hello");

        let mut writer = work.blob_writer().unwrap();
        writer.write_all(b"hellO").unwrap();
        let error = writer.commit(&store, &expected, None).unwrap_err();
        assert!(error.to_string().contains("failed verification"), "{error}");
        assert!(!store.has_blob(&expected));
        assert_eq!(fs::read_dir(work.path()).unwrap().count(), 0);

        store.write_blob(&work, &expected, b"hello").unwrap();
        assert_eq!(store.read_blob(&expected).unwrap(), b"hello");
    }

    #[test]
    fn stale_work_dirs_are_removed() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let live = store.work_dir().unwrap();
        fs::create_dir(home.path().join("tmp/dead")).unwrap();
        fs::write(home.path().join("tmp/dead.lock"), b"").unwrap();

        assert_eq!(store.remove_stale_work_dirs().unwrap(), 1);
        assert!(!home.path().join("tmp/dead").exists());
        assert!(live.path().exists());
    }
}
