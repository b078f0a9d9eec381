//! The file systems carrick serves itself: `/proc`, `/dev` and `/sys`. Each is a function
//! of a path below its mount point; file contents are generated when the file is looked up,
//! from the calling process ([`ProcessView`]) and the host. `/dev/shm` is not here: it is a
//! host directory mounted over `/dev`.

use std::io;

use std::sync::Mutex;

use super::fdtable::FdTable;
use super::host::{self, Stat};
use super::{errno, mode, FileType};

/// The calling process as the process side of carrick reports it to the VFS, for `/proc`.
pub trait ProcessView: Send + Sync {
    /// Host pid of the process, which is also its guest pid.
    fn pid(&self) -> i32;
    fn ppid(&self) -> i32;
    /// Thread ids of the process, the main thread first.
    fn threads(&self) -> Vec<i32>;
    /// The command name (`comm`), at most 15 bytes.
    fn comm(&self) -> Vec<u8>;
    /// Canonical guest path of the executable.
    fn exe_guest_path(&self) -> Vec<u8>;
    /// Arguments, each terminated by NUL.
    fn cmdline(&self) -> Vec<u8>;
    /// Environment, each `NAME=value` terminated by NUL.
    fn environ(&self) -> Vec<u8>;
    /// The auxiliary vector as the guest's initial stack has it (pairs of little-endian u64).
    fn auxv(&self) -> Vec<u8>;
    /// The contents of `/proc/self/maps`.
    fn maps(&self) -> String;
    /// Real, effective, saved and file-system user ids, then the same for groups.
    fn ids(&self) -> ([u32; 4], [u32; 4]);
    /// Kernel release reported by `uname` and `/proc/sys/kernel/osrelease`.
    fn kernel_release(&self) -> Vec<u8>;
    /// Host name reported by `uname` and `/proc/sys/kernel/hostname`.
    fn hostname(&self) -> Vec<u8>;
    /// AT_HWCAP and AT_HWCAP2 of the process's CPU, which `/proc/cpuinfo` lists by name.
    fn hwcaps(&self) -> (u64, u64);
}

/// A device file carrick implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Null,
    Zero,
    Full,
    Random,
    Urandom,
    /// The controlling terminal: opening it opens the host's controlling terminal.
    Tty,
}

impl Device {
    /// Linux's major and minor numbers for the device (`Documentation/admin-guide/devices.txt`).
    pub fn numbers(self) -> (u32, u32) {
        match self {
            Device::Null => (1, 3),
            Device::Zero => (1, 5),
            Device::Full => (1, 7),
            Device::Random => (1, 8),
            Device::Urandom => (1, 9),
            Device::Tty => (5, 0),
        }
    }

    /// Reads from the device into `buffer`.
    pub fn read(self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Device::Null => Ok(0),
            Device::Zero | Device::Full => {
                buffer.fill(0);
                Ok(buffer.len())
            }
            Device::Random | Device::Urandom => {
                host::random_bytes(buffer)?;
                Ok(buffer.len())
            }
            Device::Tty => Err(errno(libc::ENXIO)),
        }
    }

    /// Writes `data` to the device: discarded, except that `/dev/full` is always full.
    pub fn write(self, data: &[u8]) -> io::Result<usize> {
        match self {
            Device::Full => Err(errno(libc::ENOSPC)),
            Device::Tty => Err(errno(libc::ENXIO)),
            _ => Ok(data.len()),
        }
    }
}

/// One node of a synthetic file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SynthNode {
    Dir,
    /// A file and its contents, generated at lookup.
    File(Vec<u8>),
    Symlink(Vec<u8>),
    Device(Device),
    /// `/proc/<pid>/fd/N`: a symlink to the fd's path, or to a name such as `pipe:[ino]`.
    FdLink {
        fd: i32,
        target: Vec<u8>,
    },
    /// What following an `FdLink` without a path gives: the open file itself, of the given
    /// type (Linux's "magic link", which reopens a pipe through `/dev/stdin`).
    OpenFd {
        fd: i32,
        file_type: FileType,
    },
}

impl SynthNode {
    pub fn file_type(&self) -> FileType {
        match self {
            SynthNode::Dir => FileType::Directory,
            SynthNode::File(_) => FileType::Regular,
            SynthNode::Symlink(_) | SynthNode::FdLink { .. } => FileType::Symlink,
            SynthNode::Device(_) => FileType::CharDevice,
            SynthNode::OpenFd { file_type, .. } => *file_type,
        }
    }

    /// The status shown for the node. Like procfs, files report size 0.
    pub fn stat(&self, kind: SynthKind, rel: &[Vec<u8>], ids: (u32, u32)) -> Stat {
        let (type_bits, permissions) = match self {
            // On Linux, root may write to devtmpfs directories but not to procfs or the sysfs
            // root. NOTE: creating a file in carrick's /dev fails with ENOENT despite the mode.
            SynthNode::Dir if kind == SynthKind::Dev => (mode::S_IFDIR, 0o755),
            SynthNode::Dir => (mode::S_IFDIR, 0o555),
            SynthNode::File(_) => (mode::S_IFREG, 0o444),
            SynthNode::Symlink(_) | SynthNode::FdLink { .. } => (mode::S_IFLNK, 0o777),
            SynthNode::Device(_) | SynthNode::OpenFd { .. } => (mode::S_IFCHR, 0o666),
        };
        let rdev = match self {
            SynthNode::Device(device) => {
                let (major, minor) = device.numbers();
                make_device(major, minor)
            }
            _ => 0,
        };
        let nlink = if *self == SynthNode::Dir { 2 } else { 1 };
        Stat {
            dev: make_device(0, kind.minor()),
            ino: synthetic_ino(kind, rel),
            mode: type_bits | permissions,
            nlink,
            uid: ids.0,
            gid: ids.1,
            rdev,
            size: 0,
            blksize: 1024,
            blocks: 0,
            ..Stat::default()
        }
    }
}

#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn make_device(major: u32, minor: u32) -> u64 {
    libc::makedev(major as _, minor as _) as u64
}

/// A stable inode number for a synthetic path (FNV-1a of the path; never 0).
fn synthetic_ino(kind: SynthKind, rel: &[Vec<u8>]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ kind.minor() as u64;
    for byte in rel
        .iter()
        .flat_map(|component| component.iter().chain(b"/"))
    {
        hash ^= *byte as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash.max(1)
}

/// A synthetic file system type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynthKind {
    Proc,
    Dev,
    Sys,
}

impl SynthKind {
    /// The file system type shown in `/proc/self/mounts`.
    pub fn fstype(self) -> &'static str {
        match self {
            SynthKind::Proc => "proc",
            SynthKind::Dev => "devtmpfs",
            SynthKind::Sys => "sysfs",
        }
    }

    fn minor(self) -> u32 {
        match self {
            SynthKind::Proc => 20,
            SynthKind::Dev => 5,
            SynthKind::Sys => 21,
        }
    }
}

/// The state a synthetic lookup reads besides the process.
pub struct SynthContext<'a> {
    pub view: &'a dyn ProcessView,
    /// Mount points, file system types and whether each is read-only, for `mounts`.
    pub mounts: Vec<(String, &'static str, bool)>,
    /// The process's fd table, for `/proc/<pid>/fd`. Locked during a lookup, so callers
    /// must not hold it while resolving a path.
    pub fds: &'a Mutex<FdTable>,
    /// Canonical guest path of the working directory.
    pub cwd: Vec<u8>,
}

impl SynthContext<'_> {
    /// Lists each open guest fd with the target of its `/proc/self/fd/N` link.
    pub fn fd_links(&self) -> Vec<(i32, Vec<u8>)> {
        self.fds
            .lock()
            .map(|table| table.links())
            .unwrap_or_default()
    }
}

/// Looks up the node at `rel` (components below the mount point) of a synthetic file system.
pub fn lookup(
    kind: SynthKind,
    cx: &SynthContext<'_>,
    rel: &[Vec<u8>],
) -> io::Result<Option<SynthNode>> {
    let rel: Vec<&[u8]> = rel.iter().map(Vec::as_slice).collect();
    Ok(match kind {
        SynthKind::Proc => proc_node(cx, &rel),
        SynthKind::Dev => dev_node(&rel),
        SynthKind::Sys => sys_node(&rel),
    })
}

/// Lists the directory at `rel`; `ENOTDIR` when it is not one.
pub fn list(
    kind: SynthKind,
    cx: &SynthContext<'_>,
    rel: &[Vec<u8>],
) -> io::Result<Vec<(Vec<u8>, FileType)>> {
    let names: Vec<Vec<u8>> = {
        let parts: Vec<&[u8]> = rel.iter().map(Vec::as_slice).collect();
        match kind {
            SynthKind::Proc => proc_children(cx, &parts),
            SynthKind::Dev => dev_children(&parts),
            SynthKind::Sys => sys_children(&parts),
        }
        .ok_or_else(|| errno(libc::ENOTDIR))?
    };
    let mut entries = Vec::with_capacity(names.len());
    for name in names {
        let mut child = rel.to_vec();
        child.push(name.clone());
        if let Some(node) = lookup(kind, cx, &child)? {
            entries.push((name, node.file_type()));
        }
    }
    Ok(entries)
}

fn owned(names: &[&str]) -> Vec<Vec<u8>> {
    names.iter().map(|name| name.as_bytes().to_vec()).collect()
}

fn dev_node(rel: &[&[u8]]) -> Option<SynthNode> {
    let node = match rel {
        [] | [b"pts"] => SynthNode::Dir,
        [b"null"] => SynthNode::Device(Device::Null),
        [b"zero"] => SynthNode::Device(Device::Zero),
        [b"full"] => SynthNode::Device(Device::Full),
        [b"random"] => SynthNode::Device(Device::Random),
        [b"urandom"] => SynthNode::Device(Device::Urandom),
        [b"tty"] => SynthNode::Device(Device::Tty),
        [b"stdin"] => SynthNode::Symlink(b"/proc/self/fd/0".to_vec()),
        [b"stdout"] => SynthNode::Symlink(b"/proc/self/fd/1".to_vec()),
        [b"stderr"] => SynthNode::Symlink(b"/proc/self/fd/2".to_vec()),
        [b"fd"] => SynthNode::Symlink(b"/proc/self/fd".to_vec()),
        _ => return None,
    };
    Some(node)
}

fn dev_children(rel: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
    match rel {
        [] => Some(owned(&[
            "null", "zero", "full", "random", "urandom", "tty", "stdin", "stdout", "stderr", "fd",
            "pts",
        ])),
        [b"pts"] => Some(Vec::new()),
        _ => None,
    }
}

pub fn online_cpus() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let count = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u64::try_from(count).unwrap_or(1).max(1)
}

fn sys_node(rel: &[&[u8]]) -> Option<SynthNode> {
    let node = match rel {
        [] | [b"devices"] | [b"devices", b"system"] | [b"devices", b"system", b"cpu"] => {
            SynthNode::Dir
        }
        [b"devices", b"system", b"cpu", b"online" | b"possible"] => {
            let last = online_cpus() - 1;
            let range = if last == 0 {
                "0\n".to_string()
            } else {
                format!("0-{last}\n")
            };
            SynthNode::File(range.into_bytes())
        }
        _ => return None,
    };
    Some(node)
}

fn sys_children(rel: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
    match rel {
        [] => Some(owned(&["devices"])),
        [b"devices"] => Some(owned(&["system"])),
        [b"devices", b"system"] => Some(owned(&["cpu"])),
        [b"devices", b"system", b"cpu"] => Some(owned(&["online", "possible"])),
        _ => None,
    }
}

fn is_own_pid(cx: &SynthContext<'_>, name: &[u8]) -> bool {
    name == cx.view.pid().to_string().as_bytes()
}

fn proc_node(cx: &SynthContext<'_>, rel: &[&[u8]]) -> Option<SynthNode> {
    let text = |value: String| Some(SynthNode::File(value.into_bytes()));
    match rel {
        [] => Some(SynthNode::Dir),
        [b"self"] => Some(SynthNode::Symlink(cx.view.pid().to_string().into_bytes())),
        [b"thread-self"] => {
            let tid = cx
                .view
                .threads()
                .first()
                .copied()
                .unwrap_or_else(|| cx.view.pid());
            Some(SynthNode::Symlink(
                format!("{}/task/{tid}", cx.view.pid()).into_bytes(),
            ))
        }
        [b"mounts"] => Some(SynthNode::Symlink(b"self/mounts".to_vec())),
        [b"cpuinfo"] => text(super::procfs::cpuinfo(online_cpus(), cx.view.hwcaps())),
        [b"meminfo"] => text(super::procfs::meminfo()),
        [b"stat"] => text(super::procfs::system_stat(online_cpus())),
        [b"uptime"] => text(super::procfs::uptime()),
        [b"loadavg"] => text(super::procfs::loadavg()),
        [b"version"] => text(super::procfs::version(&cx.view.kernel_release())),
        [b"filesystems"] => text(super::procfs::filesystems()),
        [b"sys"] | [b"sys", b"kernel"] | [b"sys", b"vm"] => Some(SynthNode::Dir),
        [b"sys", b"kernel", name] => {
            super::procfs::kernel_value(cx.view, name).map(SynthNode::File)
        }
        [b"sys", b"vm", b"overcommit_memory"] => text("0\n".to_string()),
        [pid, rest @ ..] if is_own_pid(cx, pid) => super::procfs::process_node(cx, rest),
        _ => None,
    }
}

fn proc_children(cx: &SynthContext<'_>, rel: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
    match rel {
        [] => {
            let mut names = owned(&[
                "self",
                "thread-self",
                "mounts",
                "cpuinfo",
                "meminfo",
                "stat",
                "uptime",
                "loadavg",
                "version",
                "filesystems",
                "sys",
            ]);
            names.push(cx.view.pid().to_string().into_bytes());
            Some(names)
        }
        [b"sys"] => Some(owned(&["kernel", "vm"])),
        [b"sys", b"kernel"] => Some(owned(&[
            "ostype",
            "osrelease",
            "hostname",
            "pid_max",
            "ngroups_max",
        ])),
        [b"sys", b"vm"] => Some(owned(&["overcommit_memory"])),
        [pid, rest @ ..] if is_own_pid(cx, pid) => super::procfs::process_children(cx, rest),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fixed process for tests.
    pub struct FakeProcess;

    impl ProcessView for FakeProcess {
        fn pid(&self) -> i32 {
            42
        }
        fn ppid(&self) -> i32 {
            1
        }
        fn threads(&self) -> Vec<i32> {
            vec![42, 43]
        }
        fn comm(&self) -> Vec<u8> {
            b"sh".to_vec()
        }
        fn exe_guest_path(&self) -> Vec<u8> {
            b"/bin/sh".to_vec()
        }
        fn cmdline(&self) -> Vec<u8> {
            b"sh\0-c\0true\0".to_vec()
        }
        fn environ(&self) -> Vec<u8> {
            b"HOME=/root\0".to_vec()
        }
        fn auxv(&self) -> Vec<u8> {
            vec![0; 16]
        }
        fn maps(&self) -> String {
            "00400000-00401000 r-xp 00000000 00:00 0 /bin/sh\n".to_string()
        }
        fn ids(&self) -> ([u32; 4], [u32; 4]) {
            ([0; 4], [0; 4])
        }
        fn kernel_release(&self) -> Vec<u8> {
            b"6.1.0".to_vec()
        }
        fn hostname(&self) -> Vec<u8> {
            b"box".to_vec()
        }

        fn hwcaps(&self) -> (u64, u64) {
            // fp, asimd and cpuid; dcpodp and rng.
            (0b1000_0000_0011, 1 | 1 << 16)
        }
    }

    fn context() -> SynthContext<'static> {
        static FDS: std::sync::OnceLock<Mutex<FdTable>> = std::sync::OnceLock::new();
        let fds = FDS.get_or_init(|| {
            let mut table = FdTable::new();
            for (fd, path) in [(0, &b"/dev/null"[..]), (3, b"/etc/passwd")] {
                let kind = crate::vfs::FileKind::Device(Device::Null);
                let file = crate::vfs::OpenFile::new(
                    kind,
                    Some(crate::vfs::GuestPath::normalize(path)),
                    0,
                );
                table
                    .insert_at(fd, std::sync::Arc::new(file), false)
                    .unwrap();
            }
            Mutex::new(table)
        });
        SynthContext {
            view: &FakeProcess,
            fds,
            cwd: b"/tmp".to_vec(),
            mounts: vec![("/".to_string(), "overlay", false)],
        }
    }

    fn rel(path: &str) -> Vec<Vec<u8>> {
        path.split('/')
            .filter(|part| !part.is_empty())
            .map(|part| part.as_bytes().to_vec())
            .collect()
    }

    #[test]
    fn dev_null_and_full() {
        let null = lookup(SynthKind::Dev, &context(), &rel("null")).unwrap();
        assert_eq!(null, Some(SynthNode::Device(Device::Null)));
        let mut buffer = [7u8; 4];
        assert_eq!(Device::Null.read(&mut buffer).unwrap(), 0);
        assert_eq!(Device::Zero.read(&mut buffer).unwrap(), 4);
        assert_eq!(buffer, [0; 4]);
        assert_eq!(
            Device::Full.write(b"x").unwrap_err().raw_os_error(),
            Some(libc::ENOSPC)
        );
        assert_eq!(Device::Null.write(b"abc").unwrap(), 3);
    }

    #[test]
    fn urandom_fills_buffer() {
        let mut buffer = [0u8; 600];
        Device::Urandom.read(&mut buffer).unwrap();
        assert!(buffer.iter().any(|&byte| byte != 0));
    }

    #[test]
    fn cpuinfo_names_process_hwcaps() {
        let text = super::super::procfs::cpuinfo(2, context().view.hwcaps());
        assert_eq!(text.matches("processor\t: ").count(), 2);
        assert!(
            text.contains("Features\t: fp asimd cpuid dcpodp rng\n"),
            "{text}"
        );
    }

    #[test]
    fn proc_self_links_to_pid() {
        let node = lookup(SynthKind::Proc, &context(), &rel("self")).unwrap();
        assert_eq!(node, Some(SynthNode::Symlink(b"42".to_vec())));
        assert_eq!(
            lookup(SynthKind::Proc, &context(), &rel("43")).unwrap(),
            None
        );
    }

    #[test]
    fn proc_pid_files() {
        let cx = context();
        assert_eq!(
            lookup(SynthKind::Proc, &cx, &rel("42/exe")).unwrap(),
            Some(SynthNode::Symlink(b"/bin/sh".to_vec()))
        );
        assert_eq!(
            lookup(SynthKind::Proc, &cx, &rel("42/fd/3")).unwrap(),
            Some(SynthNode::FdLink {
                fd: 3,
                target: b"/etc/passwd".to_vec()
            })
        );
        assert_eq!(lookup(SynthKind::Proc, &cx, &rel("42/fd/4")).unwrap(), None);
        let Some(SynthNode::File(cmdline)) =
            lookup(SynthKind::Proc, &cx, &rel("42/cmdline")).unwrap()
        else {
            panic!("cmdline is not a file");
        };
        assert_eq!(cmdline, b"sh\0-c\0true\0");
        let Some(SynthNode::File(status)) =
            lookup(SynthKind::Proc, &cx, &rel("42/status")).unwrap()
        else {
            panic!("status is not a file");
        };
        let status = String::from_utf8(status).unwrap();
        assert!(status.contains("Name:\tsh\n"), "{status}");
        assert!(status.contains("Pid:\t42\n"), "{status}");
        assert!(status.contains("Threads:\t2\n"), "{status}");
        let Some(SynthNode::File(stat)) = lookup(SynthKind::Proc, &cx, &rel("42/stat")).unwrap()
        else {
            panic!("stat is not a file");
        };
        assert!(String::from_utf8(stat).unwrap().starts_with("42 (sh) R 1 "));
    }

    #[test]
    fn proc_listing_includes_fds() {
        let entries = list(SynthKind::Proc, &context(), &rel("42/fd")).unwrap();
        let names: Vec<&[u8]> = entries.iter().map(|(name, _)| name.as_slice()).collect();
        assert_eq!(names, [&b"0"[..], b"3"]);
        assert!(entries
            .iter()
            .all(|(_, file_type)| *file_type == FileType::Symlink));
    }

    #[test]
    fn proc_kernel_values() {
        let cx = context();
        let ostype = lookup(SynthKind::Proc, &cx, &rel("sys/kernel/ostype")).unwrap();
        assert_eq!(ostype, Some(SynthNode::File(b"Linux\n".to_vec())));
        let hostname = lookup(SynthKind::Proc, &cx, &rel("sys/kernel/hostname")).unwrap();
        assert_eq!(hostname, Some(SynthNode::File(b"box\n".to_vec())));
    }

    #[test]
    fn sys_cpu_online_is_range() {
        let Some(SynthNode::File(online)) = lookup(
            SynthKind::Sys,
            &context(),
            &rel("devices/system/cpu/online"),
        )
        .unwrap() else {
            panic!("online is not a file");
        };
        assert!(online.starts_with(b"0"));
        assert!(online.ends_with(b"\n"));
    }

    #[test]
    fn list_of_file_is_enotdir() {
        let error = list(SynthKind::Dev, &context(), &rel("null")).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOTDIR));
    }
}
