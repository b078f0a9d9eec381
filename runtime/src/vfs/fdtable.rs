//! The per-process fd table: guest fd numbers mapped to open file descriptions.
//!
//! A description ([`OpenFile`]) is shared through `Arc` by every fd that `dup` made from it,
//! and by the child after `fork`; it contains the file, its status flags and, for directories,
//! the `getdents` cursor. `FD_CLOEXEC` belongs to the fd ([`FdEntry`]). New fds take the
//! lowest free number, below the `RLIMIT_NOFILE` soft limit.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use super::layered::DirEntry;
use super::path::GuestPath;
use super::resolve::Location;
use super::synthetic::Device;
use super::{errno, host};

/// Linux's default `RLIMIT_NOFILE` soft limit.
pub const DEFAULT_FD_LIMIT: u64 = 1024;

/// Linux's `nr_open`: the most a process may raise its `RLIMIT_NOFILE` to.
pub const MAX_FD_LIMIT: u64 = 1 << 20;

/// The object behind an open file description.
#[derive(Debug)]
pub enum FileKind {
    /// A host fd: regular files, FIFOs, pipes, terminals, sockets.
    Host(OwnedFd),
    /// A directory: its host fd when it has one, and the merged listing's cursor.
    Directory {
        fd: Option<OwnedFd>,
        location: Location,
        cursor: Mutex<DirCursor>,
    },
    /// A synthetic file: its contents as of the open, and the offset.
    Snapshot {
        data: Vec<u8>,
        offset: Mutex<u64>,
    },
    Device(Device),
}

/// A `getdents` position in a directory listing taken at the first read or at a rewind.
#[derive(Debug, Default)]
pub struct DirCursor {
    /// The listing, `.` and `..` first; `None` until the first read.
    pub entries: Option<Vec<DirEntry>>,
    /// Index of the next entry to return; also the `d_off` cookie.
    pub position: usize,
}

impl DirCursor {
    /// Moves to entry `position` (an offset from `lseek`); 0 also drops the listing so the
    /// next read lists the directory again, as a rewind does on Linux.
    pub fn seek(&mut self, position: usize) {
        if position == 0 {
            self.entries = None;
        }
        self.position = position;
    }

    /// The entries from the current position on, each with the position after it (the
    /// `d_off` of that entry). Call [`DirCursor::advance`] for those the caller consumed.
    pub fn remaining(&self) -> impl Iterator<Item = (&DirEntry, usize)> {
        let entries = self.entries.as_deref().unwrap_or_default();
        entries
            .iter()
            .enumerate()
            .skip(self.position)
            .map(|(index, entry)| (entry, index + 1))
    }

    /// Marks `count` more entries as returned.
    pub fn advance(&mut self, count: usize) {
        self.position += count;
    }
}

/// An open file description.
#[derive(Debug)]
pub struct OpenFile {
    pub kind: FileKind,
    /// Canonical guest path, for `/proc/self/fd/N` (`None` for pipes and sockets).
    pub path: Option<GuestPath>,
    /// The guest's file status flags (access mode, `O_APPEND`, `O_NONBLOCK`, ...), in the
    /// guest encoding; the syscall layer interprets them.
    status: AtomicU32,
}

impl OpenFile {
    pub fn new(kind: FileKind, path: Option<GuestPath>, status: u32) -> Self {
        OpenFile {
            kind,
            path,
            status: AtomicU32::new(status),
        }
    }

    pub fn status(&self) -> u32 {
        self.status.load(Ordering::Relaxed)
    }

    pub fn set_status(&self, status: u32) {
        self.status.store(status, Ordering::Relaxed);
    }

    /// The host fd behind the description, if there is one.
    pub fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.kind {
            FileKind::Host(fd) => Some(fd.as_fd()),
            FileKind::Directory { fd, .. } => fd.as_ref().map(AsFd::as_fd),
            _ => None,
        }
    }

    /// Reads from a snapshot or device at the description's offset. `None` for other kinds,
    /// which the caller reads through the host fd.
    pub fn read_synthetic(&self, buffer: &mut [u8]) -> Option<io::Result<usize>> {
        match &self.kind {
            FileKind::Snapshot { data, offset } => Some(
                offset
                    .lock()
                    .map_err(|_| errno(libc::EIO))
                    .map(|mut offset| {
                        let start = usize::try_from(*offset)
                            .unwrap_or(usize::MAX)
                            .min(data.len());
                        let count = buffer.len().min(data.len() - start);
                        buffer[..count].copy_from_slice(&data[start..start + count]);
                        *offset += count as u64;
                        count
                    }),
            ),
            FileKind::Device(device) => Some(device.read(buffer)),
            _ => None,
        }
    }

    /// Reads from a snapshot at `position`, leaving the offset alone (`pread`).
    pub fn read_snapshot_at(&self, buffer: &mut [u8], position: u64) -> Option<usize> {
        let FileKind::Snapshot { data, .. } = &self.kind else {
            return None;
        };
        let start = usize::try_from(position)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let count = buffer.len().min(data.len() - start);
        buffer[..count].copy_from_slice(&data[start..start + count]);
        Some(count)
    }

    /// Writes to a device; a snapshot is read-only (`EBADF`, as for an fd opened read-only).
    pub fn write_synthetic(&self, data: &[u8]) -> Option<io::Result<usize>> {
        match &self.kind {
            FileKind::Snapshot { .. } => Some(Err(errno(libc::EBADF))),
            FileKind::Device(device) => Some(device.write(data)),
            _ => None,
        }
    }
}

/// One guest fd.
#[derive(Clone, Debug)]
pub struct FdEntry {
    pub file: Arc<OpenFile>,
    pub cloexec: bool,
}

/// The fd table of one process.
#[derive(Clone, Debug)]
pub struct FdTable {
    entries: BTreeMap<i32, FdEntry>,
    limit: u64,
}

impl Default for FdTable {
    fn default() -> Self {
        Self::new()
    }
}

impl FdTable {
    /// An empty table.
    pub const fn new() -> Self {
        FdTable {
            entries: BTreeMap::new(),
            limit: DEFAULT_FD_LIMIT,
        }
    }

    /// A table whose fds 0, 1 and 2 are duplicates of the host's stdin, stdout and stderr.
    /// A host fd that is closed is left out, so that guest fd starts closed too.
    pub fn with_host_stdio(status: [u32; 3]) -> Self {
        let mut table = Self::new();
        for (fd, status) in (0..3).zip(status) {
            if let Ok(host) = host::dup_cloexec(fd) {
                let file = OpenFile::new(FileKind::Host(host), None, status);
                table.entries.insert(
                    fd,
                    FdEntry {
                        file: Arc::new(file),
                        cloexec: false,
                    },
                );
            }
        }
        table
    }

    pub fn get(&self, fd: i32) -> io::Result<&FdEntry> {
        self.entries.get(&fd).ok_or_else(|| errno(libc::EBADF))
    }

    /// The description of `fd`; `EBADF` when it is not open.
    pub fn file(&self, fd: i32) -> io::Result<Arc<OpenFile>> {
        Ok(self.get(fd)?.file.clone())
    }

    /// Installs `file` at the lowest free fd at or above `min`; `EMFILE` when none is below
    /// the limit.
    pub fn insert_from(&mut self, min: i32, file: Arc<OpenFile>, cloexec: bool) -> io::Result<i32> {
        let mut candidate = min.max(0);
        for (&fd, _) in self.entries.range(candidate..) {
            if fd != candidate {
                break;
            }
            candidate += 1;
        }
        if u64::try_from(candidate).map_or(true, |fd| fd >= self.limit) {
            return Err(errno(libc::EMFILE));
        }
        self.entries.insert(candidate, FdEntry { file, cloexec });
        Ok(candidate)
    }

    /// Installs `file` at the lowest free fd.
    pub fn insert(&mut self, file: Arc<OpenFile>, cloexec: bool) -> io::Result<i32> {
        self.insert_from(0, file, cloexec)
    }

    /// Puts `file` at `fd`, closing what was there (`dup3`); `EBADF` when `fd` is out of range.
    pub fn insert_at(
        &mut self,
        fd: i32,
        file: Arc<OpenFile>,
        cloexec: bool,
    ) -> io::Result<Option<FdEntry>> {
        if u64::try_from(fd).map_or(true, |fd| fd >= self.limit) {
            return Err(errno(libc::EBADF));
        }
        Ok(self.entries.insert(fd, FdEntry { file, cloexec }))
    }

    /// `dup`: a new fd for the same description, without close-on-exec.
    pub fn dup(&mut self, fd: i32) -> io::Result<i32> {
        let file = self.file(fd)?;
        self.insert(file, false)
    }

    /// `dup3`: `new` becomes a copy of `old`. `EINVAL` when they are equal.
    pub fn dup3(&mut self, old: i32, new: i32, cloexec: bool) -> io::Result<i32> {
        if old == new {
            return Err(errno(libc::EINVAL));
        }
        let file = self.file(old)?;
        self.insert_at(new, file, cloexec)?;
        Ok(new)
    }

    /// `fcntl(F_DUPFD)` and `F_DUPFD_CLOEXEC`; `EINVAL` when `min` is out of range.
    pub fn dup_from(&mut self, fd: i32, min: i32, cloexec: bool) -> io::Result<i32> {
        if min < 0 || u64::try_from(min).map_or(true, |min| min >= self.limit) {
            return Err(errno(libc::EINVAL));
        }
        let file = self.file(fd)?;
        self.insert_from(min, file, cloexec)
    }

    /// Closes `fd`, returning its entry; the description is freed when its last fd closes.
    pub fn close(&mut self, fd: i32) -> io::Result<FdEntry> {
        self.entries.remove(&fd).ok_or_else(|| errno(libc::EBADF))
    }

    /// `close_range`: closes the open fds in `first..=last`, or only marks them close-on-exec.
    pub fn close_range(&mut self, first: u32, last: u32, cloexec_only: bool) -> io::Result<()> {
        if first > last {
            return Err(errno(libc::EINVAL));
        }
        let first = i32::try_from(first).unwrap_or(i32::MAX);
        let last = i32::try_from(last).unwrap_or(i32::MAX);
        if cloexec_only {
            for (_, entry) in self.entries.range_mut(first..=last) {
                entry.cloexec = true;
            }
        } else {
            let closing: Vec<i32> = self
                .entries
                .range(first..=last)
                .map(|(&fd, _)| fd)
                .collect();
            for fd in closing {
                self.entries.remove(&fd);
            }
        }
        Ok(())
    }

    pub fn cloexec(&self, fd: i32) -> io::Result<bool> {
        Ok(self.get(fd)?.cloexec)
    }

    pub fn set_cloexec(&mut self, fd: i32, cloexec: bool) -> io::Result<()> {
        self.entries
            .get_mut(&fd)
            .ok_or_else(|| errno(libc::EBADF))?
            .cloexec = cloexec;
        Ok(())
    }

    /// Closes every close-on-exec fd, as `execve` does.
    pub fn close_on_exec(&mut self) {
        self.entries.retain(|_, entry| !entry.cloexec);
    }

    /// The `RLIMIT_NOFILE` soft limit: fds are below it.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Sets the limit; open fds at or above it stay open, as on Linux. `EPERM` above
    /// [`MAX_FD_LIMIT`].
    pub fn set_limit(&mut self, limit: u64) -> io::Result<()> {
        if limit > MAX_FD_LIMIT {
            return Err(errno(libc::EPERM));
        }
        self.limit = limit;
        Ok(())
    }

    /// The open fds in order.
    pub fn fds(&self) -> impl Iterator<Item = i32> + '_ {
        self.entries.keys().copied()
    }

    /// Each fd with the target of its `/proc/self/fd/N` link (`anon_inode:[...]`-style text
    /// for descriptions without a path, as Linux shows for pipes).
    pub fn links(&self) -> Vec<(i32, Vec<u8>)> {
        self.entries
            .iter()
            .map(|(&fd, entry)| {
                let target = match &entry.file.path {
                    Some(path) => path.as_bytes().to_vec(),
                    None => match entry.file.host_fd().and_then(|fd| host::fstat(fd).ok()) {
                        Some(stat) if stat.file_type() == super::FileType::Fifo => {
                            format!("pipe:[{}]", stat.ino).into_bytes()
                        }
                        Some(stat) if stat.file_type() == super::FileType::Socket => {
                            format!("socket:[{}]", stat.ino).into_bytes()
                        }
                        // Terminals and files the guest inherited from the host, such as
                        // stdin redirected from a host file: their host path, as Linux shows
                        // the path of any open file.
                        _ => entry
                            .file
                            .host_fd()
                            .and_then(host_link)
                            .unwrap_or_else(|| b"anon_inode:[unknown]".to_vec()),
                    },
                };
                (fd, target)
            })
            .collect()
    }
}

/// Returns the host's own `/proc/self/fd` target of `fd`.
#[cfg(target_os = "linux")]
fn host_link(fd: BorrowedFd<'_>) -> Option<Vec<u8>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStringExt;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    Some(link.into_os_string().into_vec())
}

// NOTE: hosts without /proc show inherited terminals and files as anon_inode:[unknown].
#[cfg(not(target_os = "linux"))]
fn host_link(_fd: BorrowedFd<'_>) -> Option<Vec<u8>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device_file() -> Arc<OpenFile> {
        Arc::new(OpenFile::new(
            FileKind::Device(Device::Null),
            Some(GuestPath::normalize(b"/dev/null")),
            0,
        ))
    }

    #[test]
    fn insert_takes_lowest_free() {
        let mut table = FdTable::new();
        assert_eq!(table.insert(device_file(), false).unwrap(), 0);
        assert_eq!(table.insert(device_file(), false).unwrap(), 1);
        assert_eq!(table.insert(device_file(), false).unwrap(), 2);
        table.close(1).unwrap();
        assert_eq!(table.insert(device_file(), false).unwrap(), 1);
        assert_eq!(table.insert(device_file(), false).unwrap(), 3);
    }

    #[test]
    fn dup_shares_description_not_cloexec() {
        let mut table = FdTable::new();
        let fd = table.insert(device_file(), true).unwrap();
        let copy = table.dup(fd).unwrap();
        assert!(Arc::ptr_eq(
            &table.file(fd).unwrap(),
            &table.file(copy).unwrap()
        ));
        assert!(table.cloexec(fd).unwrap());
        assert!(!table.cloexec(copy).unwrap());
        table.file(fd).unwrap().set_status(0o4000);
        assert_eq!(table.file(copy).unwrap().status(), 0o4000);
    }

    #[test]
    fn dup3_rules() {
        let mut table = FdTable::new();
        let fd = table.insert(device_file(), false).unwrap();
        assert_eq!(
            table.dup3(fd, fd, false).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
        assert_eq!(
            table.dup3(7, 8, false).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
        assert_eq!(table.dup3(fd, 10, true).unwrap(), 10);
        assert!(table.cloexec(10).unwrap());
        assert_eq!(
            table.dup3(fd, 1024, false).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
    }

    #[test]
    fn dupfd_respects_minimum_and_limit() {
        let mut table = FdTable::new();
        let fd = table.insert(device_file(), false).unwrap();
        assert_eq!(table.dup_from(fd, 5, true).unwrap(), 5);
        assert_eq!(table.dup_from(fd, 5, false).unwrap(), 6);
        assert!(table.cloexec(5).unwrap());
        table.set_limit(7).unwrap();
        assert_eq!(
            table.dup_from(fd, 5, false).unwrap_err().raw_os_error(),
            Some(libc::EMFILE)
        );
        assert_eq!(
            table.dup_from(fd, 7, false).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
        assert_eq!(
            table.dup_from(fd, -1, false).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn close_range_and_exec() {
        let mut table = FdTable::new();
        for _ in 0..6 {
            table.insert(device_file(), false).unwrap();
        }
        table.close_range(4, u32::MAX, false).unwrap();
        assert_eq!(table.fds().collect::<Vec<_>>(), [0, 1, 2, 3]);
        table.close_range(2, 3, true).unwrap();
        table.close_on_exec();
        assert_eq!(table.fds().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(
            table.close_range(3, 2, false).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
        assert_eq!(
            table.close(9).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
    }

    #[test]
    fn snapshot_reads_advance_offset() {
        let kind = FileKind::Snapshot {
            data: b"hello".to_vec(),
            offset: Mutex::new(0),
        };
        let file = OpenFile::new(kind, None, 0);
        let mut buffer = [0u8; 3];
        assert_eq!(file.read_synthetic(&mut buffer).unwrap().unwrap(), 3);
        assert_eq!(&buffer, b"hel");
        assert_eq!(file.read_synthetic(&mut buffer).unwrap().unwrap(), 2);
        assert_eq!(file.read_synthetic(&mut buffer).unwrap().unwrap(), 0);
        assert_eq!(file.read_snapshot_at(&mut buffer, 1), Some(3));
        assert_eq!(&buffer, b"ell");
        assert!(file.write_synthetic(b"x").unwrap().is_err());
    }

    #[test]
    fn dir_cursor_positions() {
        let entry = |name: &[u8]| DirEntry {
            name: name.to_vec(),
            ino: 1,
            file_type: crate::vfs::FileType::Regular,
        };
        let mut cursor = DirCursor {
            entries: Some(vec![entry(b"."), entry(b".."), entry(b"a")]),
            position: 0,
        };
        cursor.advance(2);
        let rest: Vec<(Vec<u8>, usize)> = cursor
            .remaining()
            .map(|(entry, next)| (entry.name.clone(), next))
            .collect();
        assert_eq!(rest, [(b"a".to_vec(), 3)]);
        cursor.seek(1);
        assert_eq!(cursor.remaining().count(), 2);
        cursor.seek(0);
        assert!(cursor.entries.is_none());
    }

    #[test]
    fn links_show_paths() {
        let mut table = FdTable::new();
        table.insert(device_file(), false).unwrap();
        assert_eq!(table.links(), [(0, b"/dev/null".to_vec())]);
    }
}
