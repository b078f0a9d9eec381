//! System information: `uname`, `sysinfo`, `getrandom`, `getcpu`. carrick presents itself as
//! a Linux 6.1 arm64 kernel, the version whose uapi headers `syscalls.toml` follows.

use carrick_macros::syscall;

use crate::linux::{Errno, GetrandomFlags, Sysinfo, Utsname};
use crate::sys::{GuestAddr, SysResult, SyscallContext, UserBuf, UserPtr};

/// The kernel release `uname` reports.
pub const KERNEL_RELEASE: &str = "6.1.0-carrick";
/// The kernel version string `uname` reports.
pub const KERNEL_VERSION: &str = "#1 SMP PREEMPT carrick";

/// Copies `text` into a NUL-padded `utsname` field, truncating to leave room for the NUL.
fn fill(field: &mut [u8; 65], text: &[u8]) {
    let len = text.len().min(field.len() - 1);
    field[..len].copy_from_slice(&text[..len]);
}

#[syscall]
pub fn uname(cx: &mut SyscallContext<'_>, name: UserPtr<Utsname>) -> SysResult {
    let mut value = Utsname::ZERO;
    fill(&mut value.sysname, b"Linux");
    fill(&mut value.nodename, cx.process.hostname().as_bytes());
    fill(&mut value.release, KERNEL_RELEASE.as_bytes());
    fill(&mut value.version, KERNEL_VERSION.as_bytes());
    fill(&mut value.machine, b"aarch64");
    fill(&mut value.domainname, b"(none)");
    name.write(cx.mem(), &value)?;
    Ok(0)
}

#[syscall]
pub fn sysinfo(cx: &mut SyscallContext<'_>, info: UserPtr<Sysinfo>) -> SysResult {
    let value = host_sysinfo()?;
    info.write(cx.mem(), &value)?;
    Ok(0)
}

#[cfg(target_os = "linux")]
fn host_sysinfo() -> Result<Sysinfo, Errno> {
    // SAFETY: `host` is a valid, writable sysinfo.
    let mut host: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: see above; sysinfo only writes through the pointer.
    if unsafe { libc::sysinfo(&mut host) } != 0 {
        return Err(Errno::from_io(&std::io::Error::last_os_error()));
    }
    Ok(Sysinfo {
        uptime: host.uptime as i64,
        loads: [
            host.loads[0] as u64,
            host.loads[1] as u64,
            host.loads[2] as u64,
        ],
        totalram: host.totalram as u64,
        freeram: host.freeram as u64,
        sharedram: host.sharedram as u64,
        bufferram: host.bufferram as u64,
        totalswap: host.totalswap as u64,
        freeswap: host.freeswap as u64,
        procs: host.procs,
        totalhigh: host.totalhigh as u64,
        freehigh: host.freehigh as u64,
        mem_unit: host.mem_unit,
        ..Sysinfo::ZERO
    })
}

#[cfg(not(target_os = "linux"))]
fn host_sysinfo() -> Result<Sysinfo, Errno> {
    // NOTE: outside Linux only the uptime-free fields are filled: memory from sysconf.
    // SAFETY: sysconf has no preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) }.max(0) as u64;
    // SAFETY: as above.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    Ok(Sysinfo {
        totalram: pages * page_size,
        freeram: pages * page_size / 2,
        procs: 1,
        mem_unit: 1,
        ..Sysinfo::ZERO
    })
}

/// Fills `buffer` from the host's random source.
pub fn host_random(buffer: &mut [u8]) -> Result<(), Errno> {
    use std::io::Read as _;
    let mut source = std::fs::File::open("/dev/urandom").map_err(|error| Errno::from_io(&error))?;
    source
        .read_exact(buffer)
        .map_err(|error| Errno::from_io(&error))
}

#[syscall]
pub fn getrandom(
    cx: &mut SyscallContext<'_>,
    ubuf: UserBuf,
    len: u64,
    flags: GetrandomFlags,
) -> SysResult {
    if flags.contains(GetrandomFlags::GRND_INSECURE) && flags.contains(GetrandomFlags::GRND_RANDOM)
    {
        return Err(Errno::EINVAL);
    }
    // Linux returns at most 32 MiB - 1 per call (33554431 bytes); callers loop.
    let len = len.min((1 << 25) - 1) as usize;
    let mut bytes = vec![0u8; len];
    host_random(&mut bytes)?;
    ubuf.write(cx.mem(), &bytes)?;
    Ok(len as u64)
}

#[syscall]
pub fn getcpu(
    cx: &mut SyscallContext<'_>,
    cpu: UserPtr<u32>,
    node: UserPtr<u32>,
    unused: GuestAddr,
) -> SysResult {
    let _ = unused;
    cpu.write_optional(cx.mem(), &0)?;
    node.write_optional(cx.mem(), &0)?;
    Ok(0)
}
