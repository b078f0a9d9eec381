//! The file handlers called through `dispatch` with raw argument registers, against a real
//! guest address space and a root directory on the host.

use std::sync::Arc;

use crate::backend::Registers;
use crate::compat::CompatLog;
use crate::linux::{self, nr, Errno, OpenFlags};
use crate::mem::{GuestMemory, MapRequest, Prot};
use crate::process::{Process, Thread};
use crate::sys::{dispatch, SyscallContext};
use crate::vfs::{FdTable, ProcessView, RootSpec, Vfs};

#[derive(Default)]
struct Regs([u64; 31]);

impl Registers for Regs {
    fn x(&self, n: usize) -> u64 {
        self.0.get(n).copied().unwrap_or(0)
    }
    fn set_x(&mut self, n: usize, value: u64) {
        if let Some(slot) = self.0.get_mut(n) {
            *slot = value;
        }
    }
    fn sp(&self) -> u64 {
        0
    }
    fn set_sp(&mut self, _value: u64) {}
    fn pc(&self) -> u64 {
        0
    }
    fn set_pc(&mut self, _value: u64) {}
    fn nzcv(&self) -> u64 {
        0
    }
    fn set_nzcv(&mut self, _value: u64) {}
    fn tpidr_el0(&self) -> u64 {
        0
    }
    fn set_tpidr_el0(&mut self, _value: u64) {}
    fn q(&self, _n: usize) -> u128 {
        0
    }
    fn set_q(&mut self, _n: usize, _value: u128) {}
    fn fpcr(&self) -> u64 {
        0
    }
    fn set_fpcr(&mut self, _value: u64) {}
    fn fpsr(&self) -> u64 {
        0
    }
    fn set_fpsr(&mut self, _value: u64) {}
}

struct View;

impl ProcessView for View {
    fn pid(&self) -> i32 {
        7
    }
    fn ppid(&self) -> i32 {
        1
    }
    fn threads(&self) -> Vec<i32> {
        vec![7]
    }
    fn comm(&self) -> Vec<u8> {
        b"probe".to_vec()
    }
    fn exe_guest_path(&self) -> Vec<u8> {
        b"/probe".to_vec()
    }
    fn cmdline(&self) -> Vec<u8> {
        b"probe\0".to_vec()
    }
    fn environ(&self) -> Vec<u8> {
        Vec::new()
    }
    fn auxv(&self) -> Vec<u8> {
        Vec::new()
    }
    fn maps(&self) -> String {
        String::new()
    }
    fn ids(&self) -> ([u32; 4], [u32; 4]) {
        ([0; 4], [0; 4])
    }
    fn kernel_release(&self) -> Vec<u8> {
        b"6.1.0".to_vec()
    }
    fn hostname(&self) -> Vec<u8> {
        b"test".to_vec()
    }

    fn hwcaps(&self) -> (u64, u64) {
        (0b11, 0)
    }
}

/// A process with a guest root in a host temp directory and one scratch page region.
struct Guest {
    process: Process,
    thread: Thread,
    regs: Regs,
    scratch: u64,
    root: std::path::PathBuf,
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

const STRING_AREA: u64 = 0;
const BUFFER_AREA: u64 = 0x4000;

impl Guest {
    fn new(name: &str) -> Guest {
        let root =
            std::env::temp_dir().join(format!("carrick-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mem = GuestMemory::new().unwrap();
        let scratch = mem.mmap(MapRequest::anon(0x10000, Prot::RW)).unwrap();
        let process = Process::new(mem, 0, 0, "test");
        let vfs = Vfs::new(
            RootSpec::Directory(root.clone()),
            &[],
            None,
            Arc::new(View),
            Arc::new(CompatLog::default()),
            FdTable::new(),
        )
        .unwrap();
        process.vfs.set(vfs).unwrap();
        Guest {
            process,
            thread: Thread::new(7),
            regs: Regs::default(),
            scratch,
            root,
        }
    }

    fn call(&mut self, number: u64, args: &[u64]) -> u64 {
        let mut raw = [0u64; 6];
        raw[..args.len()].copy_from_slice(args);
        let mut cx = SyscallContext {
            process: &self.process,
            thread: &mut self.thread,
            regs: &mut self.regs,
        };
        dispatch(&mut cx, number, raw)
    }

    /// Copies a NUL-terminated string into guest memory at `slot` (one of 16 slots).
    fn string(&self, slot: u64, text: &str) -> u64 {
        let addr = self.scratch + STRING_AREA + slot * 0x400;
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0);
        self.process.mem.write(addr, &bytes).unwrap();
        addr
    }

    fn buffer(&self) -> u64 {
        self.scratch + BUFFER_AREA
    }

    fn read_buffer(&self, length: usize) -> Vec<u8> {
        let mut data = vec![0u8; length];
        self.process.mem.read(self.buffer(), &mut data).unwrap();
        data
    }
}

fn at_fdcwd() -> u64 {
    linux::AT_FDCWD as i64 as u64
}

fn error(errno: Errno) -> u64 {
    errno.as_return()
}

fn flags(bits: &[OpenFlags]) -> u64 {
    u64::from(bits.iter().fold(0, |all, flag| all | flag.bits()))
}

#[test]
fn open_write_seek_read_close() {
    let mut guest = Guest::new("rw");
    let path = guest.string(0, "/file");
    let create = flags(&[OpenFlags::O_CREAT, OpenFlags::O_RDWR]);
    let fd = guest.call(nr::OPENAT, &[at_fdcwd(), path, create, 0o666]);
    assert_eq!(fd, 0);
    let data = guest.string(1, "hello");
    assert_eq!(guest.call(nr::WRITE, &[fd, data, 5]), 5);
    assert_eq!(guest.call(nr::LSEEK, &[fd, 0, 0]), 0);
    assert_eq!(guest.call(nr::READ, &[fd, guest.buffer(), 100]), 5);
    assert_eq!(guest.read_buffer(5), b"hello");

    assert_eq!(guest.call(nr::FSTAT, &[fd, guest.buffer()]), 0);
    let stat: linux::Stat = guest.process.mem.read_obj(guest.buffer()).unwrap();
    assert_eq!(stat.st_size, 5);
    // The default umask 022 takes the group and other write bits.
    assert_eq!(stat.st_mode, linux::FileMode::S_IFREG.bits() | 0o644);

    let get_status = u64::from(linux::FcntlCmd::F_GETFL.value());
    let status = u64::from(OpenFlags::O_RDWR.bits() | OpenFlags::O_LARGEFILE.bits());
    assert_eq!(guest.call(nr::FCNTL, &[fd, get_status, 0]), status);

    assert_eq!(guest.call(nr::CLOSE, &[fd]), 0);
    assert_eq!(guest.call(nr::CLOSE, &[fd]), error(Errno::EBADF));
    assert_eq!(std::fs::read(guest.root.join("file")).unwrap(), b"hello");
}

#[test]
fn openat_errors() {
    let mut guest = Guest::new("errors");
    let missing = guest.string(0, "/missing");
    assert_eq!(
        guest.call(nr::OPENAT, &[at_fdcwd(), missing, 0, 0]),
        error(Errno::ENOENT)
    );
    assert_eq!(
        guest.call(nr::OPENAT, &[at_fdcwd(), 0x10, 0, 0]),
        error(Errno::EFAULT)
    );
    let root = guest.string(1, "/");
    let write = flags(&[OpenFlags::O_WRONLY]);
    assert_eq!(
        guest.call(nr::OPENAT, &[at_fdcwd(), root, write, 0]),
        error(Errno::EISDIR)
    );
    // A relative path with a bad dirfd fails; an absolute one ignores the dirfd.
    let relative = guest.string(2, "x");
    assert_eq!(
        guest.call(nr::OPENAT, &[99, relative, 0, 0]),
        error(Errno::EBADF)
    );
    let directory = flags(&[OpenFlags::O_DIRECTORY]);
    assert_eq!(guest.call(nr::OPENAT, &[99, root, directory, 0]), 0);
}

#[test]
fn getdents_lists_entries() {
    let mut guest = Guest::new("dents");
    std::fs::write(guest.root.join("alpha"), b"a").unwrap();
    std::fs::create_dir(guest.root.join("beta")).unwrap();
    let root = guest.string(0, "/");
    let fd = guest.call(
        nr::OPENAT,
        &[at_fdcwd(), root, flags(&[OpenFlags::O_DIRECTORY]), 0],
    );
    let mut names = Vec::new();
    loop {
        let length = guest.call(nr::GETDENTS64, &[fd, guest.buffer(), 4096]);
        assert!((length as i64) >= 0, "getdents64 failed: {}", length as i64);
        if length == 0 {
            break;
        }
        let data = guest.read_buffer(length as usize);
        let mut offset = 0;
        while offset < data.len() {
            let record_length = u16::from_le_bytes([data[offset + 16], data[offset + 17]]) as usize;
            let d_type = data[offset + 18];
            let name: Vec<u8> = data[offset + 19..offset + record_length]
                .iter()
                .copied()
                .take_while(|&byte| byte != 0)
                .collect();
            names.push((String::from_utf8(name).unwrap(), d_type));
            offset += record_length;
        }
    }
    names.sort();
    let dir_type = (linux::FileMode::S_IFDIR.bits() >> 12) as u8;
    let file_type = (linux::FileMode::S_IFREG.bits() >> 12) as u8;
    assert!(names.contains(&(".".to_string(), dir_type)), "{names:?}");
    assert!(
        names.contains(&("alpha".to_string(), file_type)),
        "{names:?}"
    );
    assert!(names.contains(&("beta".to_string(), dir_type)), "{names:?}");
    assert!(names.contains(&("proc".to_string(), dir_type)), "{names:?}");
    // A buffer too small for one record is EINVAL.
    assert_eq!(guest.call(nr::LSEEK, &[fd, 0, 0]), 0);
    assert_eq!(
        guest.call(nr::GETDENTS64, &[fd, guest.buffer(), 8]),
        error(Errno::EINVAL)
    );
}

#[test]
fn pipe_dup_and_fcntl() {
    let mut guest = Guest::new("pipe");
    assert_eq!(guest.call(nr::PIPE2, &[guest.buffer(), 0]), 0);
    let pair: linux::FdPair = guest.process.mem.read_obj(guest.buffer()).unwrap();
    let (read_end, write_end) = (pair.fd0 as u64, pair.fd1 as u64);
    assert_eq!((read_end, write_end), (0, 1));
    let data = guest.string(0, "ping");
    assert_eq!(guest.call(nr::WRITE, &[write_end, data, 4]), 4);
    assert_eq!(guest.call(nr::READ, &[read_end, guest.buffer(), 64]), 4);
    assert_eq!(guest.read_buffer(4), b"ping");

    let get_status = u64::from(linux::FcntlCmd::F_GETFL.value());
    let set_status = u64::from(linux::FcntlCmd::F_SETFL.value());
    assert_eq!(
        guest.call(nr::FCNTL, &[read_end, get_status, 0]),
        u64::from(OpenFlags::O_RDONLY.bits())
    );
    let nonblock = u64::from(OpenFlags::O_NONBLOCK.bits());
    assert_eq!(guest.call(nr::FCNTL, &[read_end, set_status, nonblock]), 0);
    assert_eq!(
        guest.call(nr::READ, &[read_end, guest.buffer(), 64]),
        error(Errno::EAGAIN)
    );
    assert_eq!(
        guest.call(nr::WRITE, &[read_end, data, 4]),
        error(Errno::EBADF)
    );

    let cloexec = u64::from(OpenFlags::O_CLOEXEC.bits());
    assert_eq!(guest.call(nr::DUP3, &[write_end, 9, cloexec]), 9);
    let get_fd = u64::from(linux::FcntlCmd::F_GETFD.value());
    assert_eq!(
        guest.call(nr::FCNTL, &[9, get_fd, 0]),
        u64::from(linux::FdFlags::FD_CLOEXEC.bits())
    );
    assert_eq!(guest.call(nr::FCNTL, &[write_end, get_fd, 0]), 0);
    assert_eq!(guest.call(nr::DUP3, &[9, 9, 0]), error(Errno::EINVAL));
    let dup_from = u64::from(linux::FcntlCmd::F_DUPFD.value());
    assert_eq!(guest.call(nr::FCNTL, &[9, dup_from, 5]), 5);
    assert_eq!(guest.call(nr::DUP, &[5]), 2);
    assert_eq!(
        guest.call(
            nr::IOCTL,
            &[
                read_end,
                u64::from(linux::IoctlRequest::TCGETS.value()),
                guest.buffer()
            ]
        ),
        error(Errno::ENOTTY)
    );
}

#[test]
fn paths_cwd_and_links() {
    let mut guest = Guest::new("paths");
    let dir = guest.string(0, "/work");
    assert_eq!(guest.call(nr::MKDIRAT, &[at_fdcwd(), dir, 0o755]), 0);
    assert_eq!(
        guest.call(nr::MKDIRAT, &[at_fdcwd(), dir, 0o755]),
        error(Errno::EEXIST)
    );
    assert_eq!(guest.call(nr::CHDIR, &[dir]), 0);
    assert_eq!(guest.call(nr::GETCWD, &[guest.buffer(), 64]), 6);
    assert_eq!(guest.read_buffer(6), b"/work\0");
    assert_eq!(
        guest.call(nr::GETCWD, &[guest.buffer(), 3]),
        error(Errno::ERANGE)
    );

    let name = guest.string(1, "note");
    let create = flags(&[OpenFlags::O_CREAT, OpenFlags::O_WRONLY]);
    let fd = guest.call(nr::OPENAT, &[at_fdcwd(), name, create, 0o600]);
    assert_eq!(fd, 0);
    assert!(guest.root.join("work/note").exists());

    let target = guest.string(2, "/work/note");
    let link = guest.string(3, "/link");
    assert_eq!(guest.call(nr::SYMLINKAT, &[target, at_fdcwd(), link]), 0);
    assert_eq!(
        guest.call(nr::READLINKAT, &[at_fdcwd(), link, guest.buffer(), 64]),
        10
    );
    assert_eq!(guest.read_buffer(10), b"/work/note");

    let fd_link = guest.string(4, "/proc/self/fd/0");
    assert_eq!(
        guest.call(nr::READLINKAT, &[at_fdcwd(), fd_link, guest.buffer(), 64]),
        10
    );
    assert_eq!(guest.read_buffer(10), b"/work/note");

    let renamed = guest.string(5, "renamed");
    let noreplace = u64::from(linux::RenameFlags::RENAME_NOREPLACE.bits());
    assert_eq!(
        guest.call(nr::RENAMEAT2, &[at_fdcwd(), name, at_fdcwd(), renamed, 0]),
        0
    );
    assert_eq!(
        guest.call(
            nr::RENAMEAT2,
            &[at_fdcwd(), renamed, at_fdcwd(), link, noreplace]
        ),
        error(Errno::EEXIST)
    );

    let nofollow = u64::from(linux::AtFlags::AT_SYMLINK_NOFOLLOW.bits());
    assert_eq!(
        guest.call(
            nr::NEWFSTATAT,
            &[at_fdcwd(), link, guest.buffer(), nofollow]
        ),
        0
    );
    let stat: linux::Stat = guest.process.mem.read_obj(guest.buffer()).unwrap();
    assert_eq!(
        stat.st_mode & linux::FileMode::S_IFMT.bits(),
        linux::FileMode::S_IFLNK.bits()
    );
    // The link's target was renamed away.
    assert_eq!(
        guest.call(nr::NEWFSTATAT, &[at_fdcwd(), link, guest.buffer(), 0]),
        error(Errno::ENOENT)
    );

    let removedir = u64::from(linux::AtFlags::AT_REMOVEDIR.bits());
    assert_eq!(
        guest.call(nr::UNLINKAT, &[at_fdcwd(), dir, removedir]),
        error(Errno::ENOTEMPTY)
    );
    assert_eq!(guest.call(nr::UNLINKAT, &[at_fdcwd(), renamed, 0]), 0);
    assert_eq!(guest.call(nr::UNLINKAT, &[at_fdcwd(), dir, removedir]), 0);
    assert_eq!(guest.call(nr::UMASK, &[0o077]), 0o022);
    assert_eq!(guest.call(nr::UMASK, &[0o022]), 0o077);
}

#[test]
fn stat_synthetic_and_faults() {
    let mut guest = Guest::new("stat");
    let null = guest.string(0, "/dev/null");
    assert_eq!(
        guest.call(nr::NEWFSTATAT, &[at_fdcwd(), null, guest.buffer(), 0]),
        0
    );
    let stat: linux::Stat = guest.process.mem.read_obj(guest.buffer()).unwrap();
    assert_eq!(
        stat.st_mode & linux::FileMode::S_IFMT.bits(),
        linux::FileMode::S_IFCHR.bits()
    );
    // Linux encodes 1:3 as (1 << 8) | 3.
    assert_eq!(stat.st_rdev, (1 << 8) | 3);
    assert_eq!(
        guest.call(nr::NEWFSTATAT, &[at_fdcwd(), null, 0x10, 0]),
        error(Errno::EFAULT)
    );
    let bad_flags = 0x8000_0000u64;
    assert_eq!(
        guest.call(
            nr::NEWFSTATAT,
            &[at_fdcwd(), null, guest.buffer(), bad_flags]
        ),
        error(Errno::EINVAL)
    );

    let fd = guest.call(
        nr::OPENAT,
        &[at_fdcwd(), null, flags(&[OpenFlags::O_RDWR]), 0],
    );
    let data = guest.string(1, "discarded");
    assert_eq!(guest.call(nr::WRITE, &[fd, data, 9]), 9);
    assert_eq!(guest.call(nr::READ, &[fd, guest.buffer(), 9]), 0);
    let empty = guest.string(2, "");
    let empty_path = u64::from(linux::AtFlags::AT_EMPTY_PATH.bits());
    assert_eq!(
        guest.call(nr::NEWFSTATAT, &[fd, empty, guest.buffer(), empty_path]),
        0
    );
    assert_eq!(
        guest.call(nr::NEWFSTATAT, &[fd, empty, guest.buffer(), 0]),
        error(Errno::ENOENT)
    );
}

#[test]
fn statfs_reports_file_system_type() {
    let mut guest = Guest::new("statfs");
    let proc_path = guest.string(0, "/proc/self/status");
    assert_eq!(guest.call(nr::STATFS, &[proc_path, guest.buffer()]), 0);
    let stats: linux::Statfs = guest.process.mem.read_obj(guest.buffer()).unwrap();
    assert_eq!(stats.f_type, linux::PROC_SUPER_MAGIC);
    let root = guest.string(1, "/");
    assert_eq!(guest.call(nr::STATFS, &[root, guest.buffer()]), 0);
    let stats: linux::Statfs = guest.process.mem.read_obj(guest.buffer()).unwrap();
    assert!(stats.f_blocks > 0);
    assert_eq!(stats.f_namelen, 255);
    let missing = guest.string(2, "/missing");
    assert_eq!(
        guest.call(nr::STATFS, &[missing, guest.buffer()]),
        error(Errno::ENOENT)
    );
}

#[test]
fn sendfile_and_copy_file_range() {
    let mut guest = Guest::new("copy");
    std::fs::write(guest.root.join("source"), b"0123456789").unwrap();
    let source = guest.string(0, "/source");
    let target = guest.string(1, "/target");
    let input = guest.call(nr::OPENAT, &[at_fdcwd(), source, 0, 0]);
    let create = flags(&[OpenFlags::O_CREAT, OpenFlags::O_RDWR]);
    let output = guest.call(nr::OPENAT, &[at_fdcwd(), target, create, 0o644]);

    // An explicit offset reads from there and leaves the file offset alone.
    let offset_slot = guest.buffer();
    guest.process.mem.write_obj(offset_slot, &4i64).unwrap();
    assert_eq!(
        guest.call(nr::SENDFILE, &[output, input, offset_slot, 3]),
        3
    );
    assert_eq!(guest.process.mem.read_obj::<i64>(offset_slot).unwrap(), 7);
    assert_eq!(guest.call(nr::SENDFILE, &[output, input, 0, 100]), 10);
    assert_eq!(
        std::fs::read(guest.root.join("target")).unwrap(),
        b"4560123456789"
    );

    guest.process.mem.write_obj(offset_slot, &0i64).unwrap();
    guest.process.mem.write_obj(offset_slot + 8, &1i64).unwrap();
    assert_eq!(
        guest.call(
            nr::COPY_FILE_RANGE,
            &[input, offset_slot, output, offset_slot + 8, 2, 0]
        ),
        2
    );
    assert_eq!(
        std::fs::read(guest.root.join("target")).unwrap(),
        b"4010123456789"
    );
    assert_eq!(
        guest.call(nr::COPY_FILE_RANGE, &[input, 0, output, 0, 2, 1]),
        error(Errno::EINVAL)
    );
    assert_eq!(
        guest.call(nr::SENDFILE, &[input, output, 0, 1]),
        error(Errno::EBADF)
    );

    assert_eq!(guest.call(nr::FALLOCATE, &[output, 0, 0, 4096]), 0);
    assert_eq!(
        std::fs::metadata(guest.root.join("target")).unwrap().len(),
        4096
    );
    assert_eq!(
        guest.call(nr::FALLOCATE, &[output, 1, 0, 4096]),
        error(Errno::EOPNOTSUPP)
    );
}
