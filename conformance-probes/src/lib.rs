//! Reporting helpers shared by the conformance probes.
//!
//! A probe prints one `name=value` line per fact it checks and nothing else, so its stdout
//! can be compared byte for byte with the output recorded on a real arm64 Linux kernel.
//! Values are booleans, small counts, fixed constants or errno names, never addresses,
//! pids, times or inode numbers. Syscalls whose error path matters go through [`sys`],
//! which issues `svc #0` directly so that no libc wrapper can fault or rewrite the result
//! first.

use std::fmt::Display;

/// Prints one `name=value` line.
pub fn report(name: &str, value: impl Display) {
    println!("{name}={value}");
}

/// Prints `name=true` or `name=false`.
pub fn check(name: &str, ok: bool) {
    report(name, ok);
}

/// Prints `name=ok` for a success or `name=ERRNAME` for a failure, ignoring the value.
pub fn outcome<T>(name: &str, result: Result<T, Errno>) {
    match result {
        Ok(_) => report(name, "ok"),
        Err(errno) => report(name, errno),
    }
}

/// Prints the returned value for a success or the errno name for a failure.
pub fn result<T: Display>(name: &str, result: Result<T, Errno>) {
    match result {
        Ok(value) => report(name, value),
        Err(errno) => report(name, errno),
    }
}

/// A Linux errno returned by a syscall, printed by its symbolic name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Display for Errno {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match errno_name(self.0) {
            Some(name) => formatter.write_str(name),
            None => write!(formatter, "errno{}", self.0),
        }
    }
}

/// Issues Linux syscall `number` with up to six arguments by `svc #0`.
///
/// Returns x0 as the kernel left it, except that a value in `-4095..=-1` (the kernel's
/// error convention) becomes `Err` with that errno.
///
/// # Safety
/// The syscall may read or write memory through any argument, change mappings, or end
/// the process: the caller must pass arguments for which that is sound.
pub unsafe fn sys(number: i64, args: &[u64]) -> Result<u64, Errno> {
    let mut regs = [0u64; 6];
    for (slot, arg) in regs.iter_mut().zip(args) {
        *slot = *arg;
    }
    let ret: u64;
    // SAFETY: the caller guarantees that the syscall's effects are sound; `svc #0` only
    // clobbers x0 besides the memory the syscall itself touches.
    unsafe {
        std::arch::asm!(
            "svc #0",
            inlateout("x0") regs[0] => ret,
            in("x1") regs[1],
            in("x2") regs[2],
            in("x3") regs[3],
            in("x4") regs[4],
            in("x5") regs[5],
            in("x8") number,
            options(nostack),
        );
    }
    let signed = ret as i64;
    if (-4095..0).contains(&signed) {
        Err(Errno(-signed as i32))
    } else {
        Ok(ret)
    }
}

/// An address that is never mapped in a probe: the kernel returns EFAULT for it.
pub const BAD_POINTER: u64 = 0x10;

/// Returns the address of a page that was mapped and then unmapped, so it is a valid
/// user address with nothing behind it. Nothing else maps there while the probe runs
/// because probes map with explicit hints only at addresses they just reserved.
pub fn unmapped_page() -> u64 {
    // SAFETY: a fresh anonymous mapping is created and removed; no Rust object refers to it.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if page == libc::MAP_FAILED {
            return BAD_POINTER;
        }
        libc::munmap(page, 4096);
        page as u64
    }
}

/// A fresh directory under /tmp for one probe run, removed when dropped.
pub struct TempDir {
    path: std::path::PathBuf,
}

impl TempDir {
    /// Creates `/tmp/probe-NAME-PID`, replacing anything left there by an earlier run.
    pub fn new(name: &str) -> std::io::Result<Self> {
        let path = std::path::PathBuf::from(format!("/tmp/probe-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path)?;
        Ok(Self { path })
    }

    /// Returns the directory's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Returns `self/name` as a NUL-terminated C string.
    pub fn c_path(&self, name: &str) -> std::ffi::CString {
        cstring(&format!("{}/{name}", self.path.display()))
    }

    /// Returns `self/name` as a path.
    pub fn join(&self, name: impl AsRef<std::path::Path>) -> std::path::PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Converts `text` into a C string; probe paths never contain NUL, so a NUL yields "".
pub fn cstring(text: &str) -> std::ffi::CString {
    std::ffi::CString::new(text).unwrap_or_default()
}

/// Returns the address of a C string for passing to [`sys`].
pub fn ptr(text: &std::ffi::CStr) -> u64 {
    text.as_ptr() as u64
}

/// Prints `setup_failed=WHAT: ERROR` and exits with status 2, for a probe whose setup
/// failed so that it cannot check anything.
pub fn fail(what: &str, error: impl Display) -> ! {
    println!("setup_failed={what}: {error}");
    std::process::exit(2);
}

/// Returns the symbolic name of a Linux errno (arm64 uses the generic numbering).
pub fn errno_name(errno: i32) -> Option<&'static str> {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::EPIPE => "EPIPE",
        libc::EDOM => "EDOM",
        libc::ERANGE => "ERANGE",
        libc::EDEADLK => "EDEADLK",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOLCK => "ENOLCK",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::ENOMSG => "ENOMSG",
        libc::ENODATA => "ENODATA",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EALREADY => "EALREADY",
        libc::ECANCELED => "ECANCELED",
        _ => return None,
    };
    Some(name)
}
