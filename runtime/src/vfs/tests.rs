//! Tests of the VFS on real host directories: hostile trees, union semantics, synthetic
//! files and volumes.

use std::fs;
use std::os::fd::FromRawFd;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::synthetic::tests::FakeProcess;
use super::*;
use crate::compat::CompatLog;

/// A host directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "carrick-vfs-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    fn write(&self, rel: &str, data: &str) {
        let path = self.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    }

    fn mkdir(&self, rel: &str) {
        fs::create_dir_all(self.join(rel)).unwrap();
    }

    fn symlink(&self, target: &str, rel: &str) {
        symlink(target, self.join(rel)).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn vfs_of(root: RootSpec, volumes: &[Volume]) -> Vfs {
    Vfs::new(
        root,
        volumes,
        None,
        Arc::new(FakeProcess),
        Arc::new(CompatLog::default()),
        FdTable::new(),
    )
    .unwrap()
}

fn plain(dir: &TempDir) -> Vfs {
    vfs_of(RootSpec::Directory(dir.0.clone()), &[])
}

fn read_all(vfs: &Vfs, path: &str) -> String {
    let root = vfs.root().unwrap();
    let file = vfs
        .open(
            &root,
            path.as_bytes(),
            OpenOptions {
                read: true,
                ..Default::default()
            },
            0,
        )
        .unwrap();
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let count = match file.read_synthetic(&mut buffer) {
            Some(result) => result.unwrap(),
            None => host::read(file.host_fd().unwrap(), &mut buffer).unwrap(),
        };
        if count == 0 {
            break;
        }
        data.extend_from_slice(&buffer[..count]);
    }
    String::from_utf8(data).unwrap()
}

fn error_of<T: std::fmt::Debug>(result: std::io::Result<T>) -> i32 {
    result.unwrap_err().raw_os_error().unwrap()
}

fn canonical(vfs: &Vfs, path: &str) -> String {
    let root = vfs.root().unwrap();
    vfs.resolve(&root, path.as_bytes(), true)
        .unwrap()
        .path
        .to_string()
}

fn names(vfs: &Vfs, path: &str) -> Vec<String> {
    let location = vfs
        .locate_dir(&GuestPath::normalize(path.as_bytes()))
        .unwrap();
    let mut names: Vec<String> = vfs
        .list(&location)
        .unwrap()
        .into_iter()
        .map(|entry| String::from_utf8(entry.name).unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn absolute_symlink_stays_in_root() {
    let dir = TempDir::new();
    dir.write("etc/passwd", "guest passwd");
    dir.symlink("/etc/passwd", "link");
    dir.symlink("/etc", "etcdir");
    let vfs = plain(&dir);
    assert_eq!(read_all(&vfs, "/link"), "guest passwd");
    assert_eq!(read_all(&vfs, "/etcdir/passwd"), "guest passwd");
    assert_eq!(canonical(&vfs, "/link"), "/etc/passwd");
}

#[test]
fn dot_dot_chains_stop_at_root() {
    let dir = TempDir::new();
    dir.write("etc/passwd", "guest passwd");
    dir.mkdir("a/b");
    dir.symlink("../../../../../../etc/passwd", "a/b/up");
    let vfs = plain(&dir);
    assert_eq!(read_all(&vfs, "/../../../etc/passwd"), "guest passwd");
    assert_eq!(read_all(&vfs, "/a/b/up"), "guest passwd");
    assert_eq!(canonical(&vfs, "/a/b/../../.."), "/");

    let start = vfs.locate_dir(&GuestPath::normalize(b"/a/b")).unwrap();
    let resolved = vfs
        .resolve(&start, b"../../../../etc/passwd", true)
        .unwrap();
    assert_eq!(resolved.path.to_string(), "/etc/passwd");
}

#[test]
fn symlink_loops_give_eloop() {
    let dir = TempDir::new();
    dir.symlink("b", "a");
    dir.symlink("a", "b");
    dir.symlink("self", "self");
    let vfs = plain(&dir);
    let root = vfs.root().unwrap();
    assert_eq!(error_of(vfs.resolve(&root, b"/a", true)), libc::ELOOP);
    assert_eq!(error_of(vfs.resolve(&root, b"/self/x", false)), libc::ELOOP);
    // Not following the final component returns the link itself.
    let resolved = vfs.resolve(&root, b"/a", false).unwrap();
    assert_eq!(resolved.file_type(), Some(FileType::Symlink));
}

#[test]
fn forty_symlinks_allowed_not_forty_one() {
    let dir = TempDir::new();
    dir.write("target", "end");
    dir.symlink("target", "l0");
    for index in 1..=40 {
        dir.symlink(&format!("l{}", index - 1), &format!("l{index}"));
    }
    let vfs = plain(&dir);
    let root = vfs.root().unwrap();
    // l39 needs 40 links to reach the target, l40 needs 41.
    assert_eq!(read_all(&vfs, "/l39"), "end");
    assert_eq!(error_of(vfs.resolve(&root, b"/l40", true)), libc::ELOOP);
}

#[test]
fn directory_swapped_for_symlink_does_not_escape() {
    let dir = TempDir::new();
    dir.mkdir("d");
    let vfs = plain(&dir);
    let root = vfs.root().unwrap();
    let resolved = vfs.resolve(&root, b"/d", true).unwrap();
    fs::remove_dir(dir.join("d")).unwrap();
    symlink("/etc", dir.join("d")).unwrap();
    // The lookup saw a directory; opening it now finds a symlink to the host's /etc.
    assert_eq!(error_of(vfs.enter_resolved(&resolved)), libc::ENOTDIR);
    // A fresh resolution follows the symlink inside the root, where /etc does not exist.
    assert_eq!(
        error_of(vfs.resolve(&root, b"/d/passwd", true)),
        libc::ENOENT
    );
}

#[test]
fn enotdir_enoent_enametoolong() {
    let dir = TempDir::new();
    dir.write("file", "x");
    let vfs = plain(&dir);
    let root = vfs.root().unwrap();
    assert_eq!(
        error_of(vfs.resolve(&root, b"/file/x", true)),
        libc::ENOTDIR
    );
    assert_eq!(error_of(vfs.resolve(&root, b"/file/", true)), libc::ENOTDIR);
    assert_eq!(
        error_of(vfs.resolve(&root, b"/missing/x", true)),
        libc::ENOENT
    );
    assert_eq!(error_of(vfs.resolve(&root, b"", true)), libc::ENOENT);
    let long_name = format!("/{}", "n".repeat(256));
    assert_eq!(
        error_of(vfs.resolve(&root, long_name.as_bytes(), true)),
        libc::ENAMETOOLONG
    );
    let long_path = "/a".repeat(2048);
    assert_eq!(
        error_of(vfs.resolve(&root, long_path.as_bytes(), true)),
        libc::ENAMETOOLONG
    );
    let missing = vfs.resolve(&root, b"/missing", true).unwrap();
    assert!(!missing.exists());
    assert_eq!(missing.path.to_string(), "/missing");
}

#[test]
fn trailing_slash_follows_symlink_to_dir() {
    let dir = TempDir::new();
    dir.mkdir("real");
    dir.symlink("real", "alias");
    let vfs = plain(&dir);
    let root = vfs.root().unwrap();
    let no_slash = vfs.resolve(&root, b"/alias", false).unwrap();
    assert_eq!(no_slash.file_type(), Some(FileType::Symlink));
    let slash = vfs.resolve(&root, b"/alias/", false).unwrap();
    assert_eq!(slash.file_type(), Some(FileType::Directory));
    assert_eq!(slash.path.to_string(), "/real");
}

#[test]
fn open_rules() {
    let dir = TempDir::new();
    dir.write("file", "x");
    dir.symlink("file", "link");
    dir.mkdir("dir");
    let vfs = plain(&dir);
    let root = vfs.root().unwrap();
    let read = OpenOptions {
        read: true,
        ..Default::default()
    };
    let nofollow = OpenOptions {
        nofollow: true,
        ..read
    };
    assert_eq!(
        error_of(vfs.open(&root, b"/link", nofollow, 0)),
        libc::ELOOP
    );
    let exclusive = OpenOptions {
        write: true,
        create: Some(0o644),
        exclusive: true,
        ..Default::default()
    };
    assert_eq!(
        error_of(vfs.open(&root, b"/link", exclusive, 0)),
        libc::EEXIST
    );
    assert_eq!(
        error_of(vfs.open(&root, b"/new/", exclusive, 0)),
        libc::EISDIR
    );
    let write = OpenOptions {
        write: true,
        ..Default::default()
    };
    assert_eq!(error_of(vfs.open(&root, b"/dir", write, 0)), libc::EISDIR);
    let directory = OpenOptions {
        directory: true,
        ..read
    };
    assert_eq!(
        error_of(vfs.open(&root, b"/file", directory, 0)),
        libc::ENOTDIR
    );
    let opened = vfs.open(&root, b"/dir", directory, 0).unwrap();
    assert!(matches!(opened.kind, FileKind::Directory { .. }));
    assert_eq!(opened.path.unwrap().to_string(), "/dir");
    vfs.open(&root, b"/created", exclusive, 0).unwrap();
    assert!(dir.join("created").exists());
}

#[test]
fn tree_changes_on_plain_root() {
    let dir = TempDir::new();
    dir.write("a", "x");
    let vfs = plain(&dir);
    let root = vfs.root().unwrap();
    vfs.mkdir(&root, b"/d", 0o755).unwrap();
    assert_eq!(error_of(vfs.mkdir(&root, b"/d", 0o755)), libc::EEXIST);
    vfs.rename(&root, b"/a", &root, b"/d/b", false).unwrap();
    assert_eq!(fs::read_to_string(dir.join("d/b")).unwrap(), "x");
    assert_eq!(
        error_of(vfs.rename(&root, b"/d", &root, b"/d/sub", false)),
        libc::EINVAL
    );
    assert_eq!(error_of(vfs.remove(&root, b"/d", true)), libc::ENOTEMPTY);
    assert_eq!(error_of(vfs.remove(&root, b"/d", false)), libc::EISDIR);
    assert_eq!(error_of(vfs.remove(&root, b"/", true)), libc::EBUSY);
    assert_eq!(error_of(vfs.remove(&root, b"/d/.", true)), libc::EINVAL);
    vfs.symlink(b"/d/b", &root, b"/s").unwrap();
    assert_eq!(vfs.readlink(&root, b"/s").unwrap(), b"/d/b");
    assert_eq!(error_of(vfs.readlink(&root, b"/d")), libc::EINVAL);
    vfs.link(&root, b"/d/b", false, &root, b"/hard").unwrap();
    assert_eq!(fs::metadata(dir.join("hard")).unwrap().nlink(), 2);
    vfs.remove(&root, b"/d/b", false).unwrap();
    vfs.remove(&root, b"/d", true).unwrap();
    assert!(!dir.join("d").exists());
}

/// A union root: two lower layers and an empty upper directory.
struct Union {
    lower0: TempDir,
    lower1: TempDir,
    upper: TempDir,
}

impl Union {
    fn new() -> Self {
        Union {
            lower0: TempDir::new(),
            lower1: TempDir::new(),
            upper: TempDir::new(),
        }
    }

    fn vfs(&self, index0: MemoryLayerIndex, index1: MemoryLayerIndex) -> Vfs {
        let lowers: Vec<(PathBuf, Arc<dyn LayerIndex>)> = vec![
            (self.lower0.0.clone(), Arc::new(index0)),
            (self.lower1.0.clone(), Arc::new(index1)),
        ];
        vfs_of(
            RootSpec::Layers {
                upper: self.upper.0.clone(),
                lowers,
            },
            &[],
        )
    }
}

#[test]
fn union_top_layer_wins() {
    let layers = Union::new();
    layers.lower0.write("etc/os-release", "bottom");
    layers.lower0.write("etc/only-bottom", "b");
    layers.lower1.write("etc/os-release", "top");
    fs::set_permissions(&layers.lower1.0, fs::Permissions::from_mode(0o751)).unwrap();
    fs::set_permissions(&layers.upper.0, fs::Permissions::from_mode(0o700)).unwrap();
    let vfs = layers.vfs(MemoryLayerIndex::new(), MemoryLayerIndex::new());
    assert_eq!(read_all(&vfs, "/etc/os-release"), "top");
    let root = vfs.root().unwrap();
    assert_eq!(vfs.stat(&root, b"/", true).unwrap().mode & 0o7777, 0o751);
    assert_eq!(read_all(&vfs, "/etc/only-bottom"), "b");
    assert_eq!(
        names(&vfs, "/etc"),
        [".", "..", "only-bottom", "os-release"]
    );
}

#[test]
fn union_whiteout_hides_lower_file() {
    let layers = Union::new();
    layers.lower0.write("etc/gone", "old");
    layers.lower0.write("etc/kept", "k");
    layers.lower1.mkdir("etc");
    let mut top = MemoryLayerIndex::new();
    top.add_whiteout("etc/gone");
    let vfs = layers.vfs(MemoryLayerIndex::new(), top);
    let root = vfs.root().unwrap();
    assert!(!vfs.resolve(&root, b"/etc/gone", true).unwrap().exists());
    assert_eq!(names(&vfs, "/etc"), [".", "..", "kept"]);
}

#[test]
fn union_opaque_dir_hides_lower_children() {
    let layers = Union::new();
    layers.lower0.write("var/cache/old", "o");
    layers.lower1.write("var/cache/new", "n");
    let mut top = MemoryLayerIndex::new();
    top.add_opaque("var/cache");
    let vfs = layers.vfs(MemoryLayerIndex::new(), top);
    assert_eq!(names(&vfs, "/var/cache"), [".", "..", "new"]);
    let root = vfs.root().unwrap();
    assert!(!vfs
        .resolve(&root, b"/var/cache/old", true)
        .unwrap()
        .exists());
}

#[test]
fn union_copy_up_leaves_layer_untouched() {
    let layers = Union::new();
    layers.lower0.write("etc/hosts", "lower");
    let vfs = layers.vfs(MemoryLayerIndex::new(), MemoryLayerIndex::new());
    let root = vfs.root().unwrap();
    let options = OpenOptions {
        write: true,
        truncate: true,
        ..Default::default()
    };
    let file = vfs.open(&root, b"/etc/hosts", options, 0).unwrap();
    host::write(file.host_fd().unwrap(), b"upper").unwrap();
    drop(file);
    assert_eq!(
        fs::read_to_string(layers.lower0.join("etc/hosts")).unwrap(),
        "lower"
    );
    assert_eq!(
        fs::read_to_string(layers.upper.join("etc/hosts")).unwrap(),
        "upper"
    );
    assert_eq!(read_all(&vfs, "/etc/hosts"), "upper");
    vfs.truncate(&root, b"/etc/hosts", 2).unwrap();
    assert_eq!(read_all(&vfs, "/etc/hosts"), "up");
}

#[test]
fn union_delete_then_recreate() {
    let layers = Union::new();
    layers.lower0.write("etc/motd", "old");
    layers.lower0.write("opt/app/data", "d");
    let vfs = layers.vfs(MemoryLayerIndex::new(), MemoryLayerIndex::new());
    let root = vfs.root().unwrap();

    vfs.remove(&root, b"/etc/motd", false).unwrap();
    assert!(layers.lower0.join("etc/motd").exists());
    assert!(!vfs.resolve(&root, b"/etc/motd", true).unwrap().exists());
    assert_eq!(names(&vfs, "/etc"), [".", ".."]);
    let create = OpenOptions {
        write: true,
        create: Some(0o644),
        exclusive: true,
        ..Default::default()
    };
    let file = vfs.open(&root, b"/etc/motd", create, 0).unwrap();
    host::write(file.host_fd().unwrap(), b"new").unwrap();
    assert_eq!(read_all(&vfs, "/etc/motd"), "new");
    assert_eq!(names(&vfs, "/etc"), [".", "..", "motd"]);

    assert_eq!(
        error_of(vfs.remove(&root, b"/opt/app", true)),
        libc::ENOTEMPTY
    );
    vfs.remove(&root, b"/opt/app/data", false).unwrap();
    vfs.remove(&root, b"/opt/app", true).unwrap();
    assert_eq!(names(&vfs, "/opt"), [".", ".."]);
    vfs.mkdir(&root, b"/opt/app", 0o755).unwrap();
    // The new directory does not show the deleted one's lower children.
    assert_eq!(names(&vfs, "/opt/app"), [".", ".."]);
    assert!(layers.lower0.join("opt/app/data").exists());
}

#[test]
fn union_attrs_from_layer_and_chown() {
    let layers = Union::new();
    layers.lower0.write("usr/bin/su", "su");
    let mut index = MemoryLayerIndex::new();
    index.set_attrs(
        "usr/bin/su",
        Attrs {
            uid: 0,
            gid: 0,
            mode: mode::S_IFREG | 0o4755,
            rdev: 0,
        },
    );
    let vfs = layers.vfs(index, MemoryLayerIndex::new());
    let root = vfs.root().unwrap();
    let stat = vfs.stat(&root, b"/usr/bin/su", true).unwrap();
    assert_eq!((stat.uid, stat.gid, stat.mode & 0o7777), (0, 0, 0o4755));

    vfs.chown(&root, b"/usr/bin/su", Some(1000), None, true)
        .unwrap();
    let stat = vfs.stat(&root, b"/usr/bin/su", true).unwrap();
    assert_eq!((stat.uid, stat.gid), (1000, 0));
    // Changing the owner clears set-user-ID.
    assert_eq!(stat.mode & 0o7777, 0o755);
    vfs.chmod(&root, b"/usr/bin/su", 0o4711, true).unwrap();
    assert_eq!(
        vfs.stat(&root, b"/usr/bin/su", true).unwrap().mode & 0o7777,
        0o4711
    );
    // The layer keeps its file; carrick's records stay out of listings.
    assert_eq!(
        fs::read_to_string(layers.lower0.join("usr/bin/su")).unwrap(),
        "su"
    );
    assert_eq!(names(&vfs, "/usr/bin"), [".", "..", "su"]);
    assert_eq!(
        fs::metadata(layers.upper.join("usr/bin/su"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o711
    );
}

#[test]
fn union_device_node_from_attrs() {
    let layers = Union::new();
    layers.lower0.write("image-dev/null", "");
    let mut index = MemoryLayerIndex::new();
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let rdev = libc::makedev(1, 3) as u64;
    index.set_attrs(
        "image-dev/null",
        Attrs {
            uid: 0,
            gid: 0,
            mode: mode::S_IFCHR | 0o666,
            rdev,
        },
    );
    let vfs = layers.vfs(index, MemoryLayerIndex::new());
    let root = vfs.root().unwrap();
    let stat = vfs.stat(&root, b"/image-dev/null", true).unwrap();
    assert_eq!(stat.file_type(), FileType::CharDevice);
    assert_eq!(stat.rdev, rdev);
    let file = vfs
        .open(
            &root,
            b"/image-dev/null",
            OpenOptions {
                read: true,
                ..Default::default()
            },
            0,
        )
        .unwrap();
    assert!(matches!(file.kind, FileKind::Device(Device::Null)));
}

#[test]
fn union_rename_and_reserved_names() {
    let layers = Union::new();
    layers.lower0.write("a/file", "f");
    layers.lower0.write("dir/x", "x");
    let vfs = layers.vfs(MemoryLayerIndex::new(), MemoryLayerIndex::new());
    let root = vfs.root().unwrap();
    vfs.rename(&root, b"/a/file", &root, b"/a/moved", false)
        .unwrap();
    assert_eq!(names(&vfs, "/a"), [".", "..", "moved"]);
    assert_eq!(read_all(&vfs, "/a/moved"), "f");
    assert_eq!(
        error_of(vfs.rename(&root, b"/dir", &root, b"/dir2", false)),
        libc::EXDEV
    );
    let create = OpenOptions {
        write: true,
        create: Some(0o644),
        ..Default::default()
    };
    assert_eq!(
        error_of(vfs.open(&root, b"/a/.carrick.wh.moved", create, 0)),
        libc::EPERM
    );
    assert!(!vfs
        .resolve(&root, b"/a/.carrick.wh.file", true)
        .unwrap()
        .exists());
}

#[test]
fn union_cwd_sees_files_created_later() {
    let layers = Union::new();
    layers.lower0.mkdir("work");
    let vfs = layers.vfs(MemoryLayerIndex::new(), MemoryLayerIndex::new());
    let root = vfs.root().unwrap();
    let cwd = vfs.locate_dir(&GuestPath::normalize(b"/work")).unwrap();
    vfs.mkdir(&root, b"/work/new", 0o755).unwrap();
    assert!(vfs.resolve(&cwd, b"new", true).unwrap().exists());
}

#[test]
fn synthetic_files_through_vfs() {
    let dir = TempDir::new();
    let compat = Arc::new(CompatLog::default());
    let vfs = Vfs::new(
        RootSpec::Directory(dir.0.clone()),
        &[],
        None,
        Arc::new(FakeProcess),
        compat.clone(),
        FdTable::new(),
    )
    .unwrap();
    let root = vfs.root().unwrap();
    assert_eq!(vfs.readlink(&root, b"/proc/self/exe").unwrap(), b"/bin/sh");
    assert_eq!(canonical(&vfs, "/proc/self"), "/proc/42");
    assert_eq!(read_all(&vfs, "/proc/self/cmdline"), "sh\0-c\0true\0");
    assert!(read_all(&vfs, "/proc/cpuinfo").contains("Features\t: fp asimd"));
    assert!(read_all(&vfs, "/proc/self/mounts").contains("proc /proc proc rw"));
    let read = OpenOptions {
        read: true,
        ..Default::default()
    };
    assert_eq!(
        error_of(vfs.open(&root, b"/dev/stdin", read, 0)),
        libc::ENOENT
    );
    let dev_null = vfs.open(&root, b"/dev/null", read, 0).unwrap();
    vfs.fds().insert(Arc::new(dev_null), false).unwrap();
    let null = vfs
        .open(
            &root,
            b"/dev/stdin",
            OpenOptions {
                read: true,
                ..Default::default()
            },
            0,
        )
        .unwrap();
    assert_eq!(null.path.unwrap().to_string(), "/dev/null");
    assert_eq!(names(&vfs, "/proc/self/fd"), [".", "..", "0"]);
    assert_eq!(vfs.readlink(&root, b"/proc/self/cwd").unwrap(), b"/");
    assert_eq!(names(&vfs, "/"), [".", "..", "dev", "proc", "sys"]);
    let stat = vfs.stat(&root, b"/dev/zero", true).unwrap();
    assert_eq!(stat.file_type(), FileType::CharDevice);
    // The modes of the mount points as Linux 6.1 shows them (devtmpfs, procfs, sysfs).
    let dev = vfs.stat(&root, b"/dev", true).unwrap();
    assert_eq!(dev.mode, mode::S_IFDIR | 0o755);
    let proc = vfs.stat(&root, b"/proc", true).unwrap();
    assert_eq!(proc.mode, mode::S_IFDIR | 0o555);
    let sys = vfs.stat(&root, b"/sys", true).unwrap();
    assert_eq!(sys.mode, mode::S_IFDIR | 0o555);
    assert_eq!(error_of(vfs.mkdir(&root, b"/proc/x", 0o755)), libc::ENOENT);
    let write = OpenOptions {
        write: true,
        ..Default::default()
    };
    assert_eq!(
        error_of(vfs.open(&root, b"/proc/version", write, 0)),
        libc::EACCES
    );
    assert_eq!(canonical(&vfs, "/proc/.."), "/");
    let recorded: Vec<String> = compat
        .synthetic()
        .into_iter()
        .map(|(path, _)| String::from_utf8(path).unwrap())
        .collect();
    assert!(
        recorded.contains(&"/proc/42/cmdline".to_string()),
        "{recorded:?}"
    );
}

#[test]
fn volumes_mount_and_read_only() {
    let root_dir = TempDir::new();
    root_dir.mkdir("data");
    root_dir.mkdir("etc/app");
    let volume = TempDir::new();
    volume.write("inside", "v");
    let read_only = TempDir::new();
    read_only.write("config", "c");
    let volumes = [
        Volume {
            host: volume.0.clone(),
            guest: GuestPath::normalize(b"/data"),
            read_only: false,
        },
        Volume {
            host: read_only.0.clone(),
            guest: GuestPath::normalize(b"/etc/app"),
            read_only: true,
        },
    ];
    let vfs = vfs_of(RootSpec::Directory(root_dir.0.clone()), &volumes);
    let root = vfs.root().unwrap();
    assert_eq!(read_all(&vfs, "/data/inside"), "v");
    assert_eq!(read_all(&vfs, "/etc/app/config"), "c");
    assert_eq!(canonical(&vfs, "/data/../etc/app/.."), "/etc");
    vfs.mkdir(&root, b"/data/sub", 0o755).unwrap();
    assert!(volume.join("sub").is_dir());
    assert_eq!(
        error_of(vfs.mkdir(&root, b"/etc/app/sub", 0o755)),
        libc::EROFS
    );
    let write = OpenOptions {
        write: true,
        ..Default::default()
    };
    assert_eq!(
        error_of(vfs.open(&root, b"/etc/app/config", write, 0)),
        libc::EROFS
    );
    assert_eq!(
        error_of(vfs.rename(&root, b"/data/inside", &root, b"/moved", false)),
        libc::EXDEV
    );
    assert_eq!(error_of(vfs.remove(&root, b"/data", true)), libc::EBUSY);
}

#[test]
fn fstat_and_getdents_cursor() {
    let layers = Union::new();
    layers.lower0.write("bin/su", "su");
    let mut index = MemoryLayerIndex::new();
    index.set_attrs(
        "bin/su",
        Attrs {
            uid: 0,
            gid: 0,
            mode: mode::S_IFREG | 0o4755,
            rdev: 0,
        },
    );
    let vfs = layers.vfs(index, MemoryLayerIndex::new());
    let root = vfs.root().unwrap();
    let read = OpenOptions {
        read: true,
        ..Default::default()
    };
    let file = vfs.open(&root, b"/bin/su", read, 0).unwrap();
    let stat = vfs.fstat(&file).unwrap();
    assert_eq!((stat.uid, stat.mode & 0o7777, stat.size), (0, 0o4755, 2));

    let dir = vfs
        .open(
            &root,
            b"/bin",
            OpenOptions {
                directory: true,
                ..read
            },
            0,
        )
        .unwrap();
    assert_eq!(vfs.file_location(&dir).unwrap().path.to_string(), "/bin");
    assert_eq!(error_of(vfs.file_location(&file)), libc::ENOTDIR);
    let mut cursor = vfs.dir_cursor(&dir).unwrap();
    let listed: Vec<Vec<u8>> = cursor
        .remaining()
        .map(|(entry, _)| entry.name.clone())
        .collect();
    assert_eq!(listed, [b".".to_vec(), b"..".to_vec(), b"su".to_vec()]);
    cursor.advance(3);
    assert_eq!(cursor.remaining().count(), 0);
}

#[test]
fn proc_fd_link_reopens_pipe() {
    let dir = TempDir::new();
    let mut ends = [0; 2];
    // SAFETY: `ends` has room for the two fds pipe() returns.
    assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0);
    // SAFETY: pipe() returned two new fds that nothing else owns.
    let (read_end, write_end) = unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(ends[0]),
            std::os::fd::OwnedFd::from_raw_fd(ends[1]),
        )
    };
    let pipe = Arc::new(OpenFile::new(FileKind::Host(write_end), None, 0));
    let mut fds = FdTable::new();
    fds.insert_at(5, pipe, false).unwrap();
    let vfs = Vfs::new(
        RootSpec::Directory(dir.0.clone()),
        &[],
        None,
        Arc::new(FakeProcess),
        Arc::new(CompatLog::default()),
        fds,
    )
    .unwrap();
    let root = vfs.root().unwrap();

    assert!(vfs
        .readlink(&root, b"/dev/fd/5")
        .unwrap()
        .starts_with(b"pipe:["));
    assert_eq!(
        vfs.stat(&root, b"/proc/self/fd/5", true)
            .unwrap()
            .file_type(),
        FileType::Fifo
    );
    let write = OpenOptions {
        write: true,
        ..Default::default()
    };
    let reopened = vfs.open(&root, b"/dev/fd/5", write, 0).unwrap();
    host::write(reopened.host_fd().unwrap(), b"through the link").unwrap();
    let mut buffer = [0u8; 32];
    let count = host::read(std::os::fd::AsFd::as_fd(&read_end), &mut buffer).unwrap();
    assert_eq!(&buffer[..count], b"through the link");
    assert_eq!(
        error_of(vfs.open(&root, b"/proc/self/fd/9", write, 0)),
        libc::ENOENT
    );
}

#[test]
fn union_layer_entry_beats_own_whiteout() {
    let layers = Union::new();
    layers.lower0.write("etc/conf", "old");
    layers.lower0.write("opt/x", "x");
    layers.lower1.write("etc/conf", "new");
    layers.lower1.write("opt/y", "y");
    let mut top = MemoryLayerIndex::new();
    // The top layer deleted and recreated both names in one layer.
    top.add_whiteout("etc/conf");
    top.add_whiteout("opt");
    let vfs = layers.vfs(MemoryLayerIndex::new(), top);
    assert_eq!(read_all(&vfs, "/etc/conf"), "new");
    assert_eq!(names(&vfs, "/opt"), [".", "..", "y"]);
}

#[test]
fn layer_meta_drives_union() {
    let layers = Union::new();
    layers.lower0.write("bin/tool", "t");
    layers.lower0.write("bin/gone", "g");
    layers.lower1.mkdir("bin");
    let mut bottom = layer::LayerMeta::default();
    let attrs = layer::Attrs {
        uid: 0,
        gid: 50,
        mode: mode::S_IFREG | 0o4750,
        rdev: 0,
        mtime: 0,
    };
    bottom.set_attrs(std::path::Path::new("bin/tool"), attrs);
    let mut top = layer::LayerMeta::default();
    top.add_whiteout(std::path::Path::new("bin/gone"));
    let lowers: Vec<(PathBuf, Arc<dyn LayerIndex>)> = vec![
        (layers.lower0.0.clone(), Arc::new(bottom)),
        (layers.lower1.0.clone(), Arc::new(top)),
    ];
    let vfs = vfs_of(
        RootSpec::Layers {
            upper: layers.upper.0.clone(),
            lowers,
        },
        &[],
    );
    let root = vfs.root().unwrap();
    let stat = vfs.stat(&root, b"/bin/tool", true).unwrap();
    assert_eq!((stat.uid, stat.gid, stat.mode & 0o7777), (0, 50, 0o4750));
    assert_eq!(names(&vfs, "/bin"), [".", "..", "tool"]);
}
