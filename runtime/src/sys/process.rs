//! Process and thread identity and lifecycle: ids, credentials, exit, resource limits and
//! usage, `prctl`, scheduling queries, and the thread-library registration calls
//! (`set_tid_address`, `set_robust_list`, `rseq`).

// Host libc field types differ between Linux and macOS (suseconds_t, clock_t), so
// conversions that are no-ops on one host are kept for the other.
#![allow(clippy::useless_conversion)]

use carrick_macros::syscall;

use crate::linux::{
    self, Errno, PrctlOption, Rlimit, Rlimit64, RlimitResource, Rseq, Rusage, RusageWho, Timeval,
};
use crate::process::ExitRequest;
use crate::sys::state::Limit;
use crate::sys::{GuestAddr, SysResult, SyscallContext, UserBuf, UserPtr};

#[syscall]
pub fn getpid(cx: &mut SyscallContext<'_>) -> SysResult {
    Ok(cx.process.pid() as u64)
}

#[syscall]
pub fn getppid(cx: &mut SyscallContext<'_>) -> SysResult {
    let _ = cx;
    // SAFETY: getppid has no preconditions and cannot fail.
    Ok(unsafe { libc::getppid() } as u64)
}

#[syscall]
pub fn gettid(cx: &mut SyscallContext<'_>) -> SysResult {
    Ok(cx.thread.tid as u64)
}

#[syscall]
pub fn getuid(cx: &mut SyscallContext<'_>) -> SysResult {
    Ok(u64::from(cx.process.creds().ruid))
}

#[syscall]
pub fn geteuid(cx: &mut SyscallContext<'_>) -> SysResult {
    Ok(u64::from(cx.process.creds().euid))
}

#[syscall]
pub fn getgid(cx: &mut SyscallContext<'_>) -> SysResult {
    Ok(u64::from(cx.process.creds().rgid))
}

#[syscall]
pub fn getegid(cx: &mut SyscallContext<'_>) -> SysResult {
    Ok(u64::from(cx.process.creds().egid))
}

#[syscall]
pub fn getresuid(
    cx: &mut SyscallContext<'_>,
    ruid: UserPtr<u32>,
    euid: UserPtr<u32>,
    suid: UserPtr<u32>,
) -> SysResult {
    let creds = cx.process.creds().clone();
    ruid.write(cx.mem(), &creds.ruid)?;
    euid.write(cx.mem(), &creds.euid)?;
    suid.write(cx.mem(), &creds.suid)?;
    Ok(0)
}

#[syscall]
pub fn getresgid(
    cx: &mut SyscallContext<'_>,
    rgid: UserPtr<u32>,
    egid: UserPtr<u32>,
    sgid: UserPtr<u32>,
) -> SysResult {
    let creds = cx.process.creds().clone();
    rgid.write(cx.mem(), &creds.rgid)?;
    egid.write(cx.mem(), &creds.egid)?;
    sgid.write(cx.mem(), &creds.sgid)?;
    Ok(0)
}

/// `u32::MAX` (-1) in a set*id argument means "leave unchanged".
const UNCHANGED: u32 = u32::MAX;

/// Applies `setresuid`/`setresgid` to one id family, given as real, effective, saved and
/// file-system ids. An unprivileged caller may only pick among its current real, effective
/// and saved ids; the file-system id follows the effective one.
fn set_res_ids(ids: [&mut u32; 4], requested: [u32; 3], privileged: bool) -> Result<(), Errno> {
    let [real, effective, saved, fs] = ids;
    let current = [*real, *effective, *saved];
    let allowed = |id: u32| id == UNCHANGED || privileged || current.contains(&id);
    if !requested.iter().all(|&id| allowed(id)) {
        return Err(Errno::EPERM);
    }

    let [new_real, new_effective, new_saved] = requested;
    if new_real != UNCHANGED {
        *real = new_real;
    }
    if new_effective != UNCHANGED {
        *effective = new_effective;
        *fs = new_effective;
    }
    if new_saved != UNCHANGED {
        *saved = new_saved;
    }
    Ok(())
}

/// Applies `setuid`/`setgid`: a privileged caller sets all four ids, any other caller may
/// set the effective (and file-system) id to its real or saved id.
fn set_id(ids: [&mut u32; 4], id: u32, privileged: bool) -> Result<(), Errno> {
    let [real, effective, saved, fs] = ids;
    if privileged {
        (*real, *effective, *saved, *fs) = (id, id, id, id);
        return Ok(());
    }
    if id != *real && id != *saved {
        return Err(Errno::EPERM);
    }
    (*effective, *fs) = (id, id);
    Ok(())
}

#[syscall]
pub fn setresuid(cx: &mut SyscallContext<'_>, ruid: u32, euid: u32, suid: u32) -> SysResult {
    let mut creds = cx.process.creds_mut();
    let privileged = creds.is_root();
    let creds = &mut *creds;
    let ids = [
        &mut creds.ruid,
        &mut creds.euid,
        &mut creds.suid,
        &mut creds.fsuid,
    ];
    set_res_ids(ids, [ruid, euid, suid], privileged)?;
    Ok(0)
}

#[syscall]
pub fn setresgid(cx: &mut SyscallContext<'_>, rgid: u32, egid: u32, sgid: u32) -> SysResult {
    let mut creds = cx.process.creds_mut();
    let privileged = creds.is_root();
    let creds = &mut *creds;
    let ids = [
        &mut creds.rgid,
        &mut creds.egid,
        &mut creds.sgid,
        &mut creds.fsgid,
    ];
    set_res_ids(ids, [rgid, egid, sgid], privileged)?;
    Ok(0)
}

#[syscall]
pub fn setuid(cx: &mut SyscallContext<'_>, uid: u32) -> SysResult {
    let mut creds = cx.process.creds_mut();
    let privileged = creds.is_root();
    let creds = &mut *creds;
    set_id(
        [
            &mut creds.ruid,
            &mut creds.euid,
            &mut creds.suid,
            &mut creds.fsuid,
        ],
        uid,
        privileged,
    )?;
    Ok(0)
}

#[syscall]
pub fn setgid(cx: &mut SyscallContext<'_>, gid: u32) -> SysResult {
    let mut creds = cx.process.creds_mut();
    let privileged = creds.is_root();
    let creds = &mut *creds;
    set_id(
        [
            &mut creds.rgid,
            &mut creds.egid,
            &mut creds.sgid,
            &mut creds.fsgid,
        ],
        gid,
        privileged,
    )?;
    Ok(0)
}

#[syscall]
pub fn getgroups(cx: &mut SyscallContext<'_>, gidsetsize: i32, grouplist: GuestAddr) -> SysResult {
    let groups = cx.process.creds().groups.clone();
    let size = usize::try_from(gidsetsize).map_err(|_| Errno::EINVAL)?;
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if size < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|gid| gid.to_le_bytes()).collect();
    UserBuf(grouplist).write(cx.mem(), &bytes)?;
    Ok(groups.len() as u64)
}

#[syscall]
pub fn setgroups(cx: &mut SyscallContext<'_>, gidsetsize: i32, grouplist: GuestAddr) -> SysResult {
    let size = usize::try_from(gidsetsize).map_err(|_| Errno::EINVAL)?;
    if size > linux::NGROUPS_MAX as usize {
        return Err(Errno::EINVAL);
    }
    if !cx.process.creds().is_root() {
        return Err(Errno::EPERM);
    }
    let bytes = UserBuf(grouplist).read(cx.mem(), size * 4)?;
    let groups = bytes
        .chunks_exact(4)
        .map(|chunk| u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect();
    cx.process.creds_mut().groups = groups;
    Ok(0)
}

#[syscall]
pub fn exit(cx: &mut SyscallContext<'_>, error_code: i32) -> SysResult {
    crate::sys::exec::release_vfork_parent(cx);
    cx.thread
        .request_exit(ExitRequest::Thread(error_code & 0xff));
    Ok(0)
}

#[syscall]
pub fn exit_group(cx: &mut SyscallContext<'_>, error_code: i32) -> SysResult {
    crate::sys::exec::release_vfork_parent(cx);
    cx.thread
        .request_exit(ExitRequest::Group(error_code & 0xff));
    Ok(0)
}

#[syscall]
pub fn set_tid_address(cx: &mut SyscallContext<'_>, tidptr: GuestAddr) -> SysResult {
    cx.thread.clear_child_tid = tidptr.0;
    Ok(cx.thread.tid as u64)
}

#[syscall]
pub fn set_robust_list(cx: &mut SyscallContext<'_>, head: GuestAddr, len: u64) -> SysResult {
    if len != std::mem::size_of::<linux::RobustListHead>() as u64 {
        return Err(Errno::EINVAL);
    }
    cx.thread.robust_list = head.0;
    Ok(0)
}

#[syscall]
pub fn get_robust_list(
    cx: &mut SyscallContext<'_>,
    pid: i32,
    head_ptr: UserPtr<u64>,
    len_ptr: UserPtr<u64>,
) -> SysResult {
    if pid != 0 && pid != cx.thread.tid {
        return Err(Errno::ESRCH);
    }
    head_ptr.write(cx.mem(), &cx.thread.robust_list)?;
    len_ptr.write(
        cx.mem(),
        &(std::mem::size_of::<linux::RobustListHead>() as u64),
    )?;
    Ok(0)
}

#[syscall]
pub fn rseq(
    cx: &mut SyscallContext<'_>,
    rseq: UserPtr<Rseq>,
    rseq_len: u32,
    flags: i32,
    sig: u32,
) -> SysResult {
    let _ = (cx, rseq, rseq_len, flags, sig);
    // Restartable sequences need the kernel to abort a sequence when the thread is preempted;
    // carrick does not track that, so registration fails as on a kernel built without
    // CONFIG_RSEQ, and glibc falls back to its other paths.
    Err(Errno::ENOSYS)
}

#[syscall]
pub fn sched_yield(cx: &mut SyscallContext<'_>) -> SysResult {
    let _ = cx;
    std::thread::yield_now();
    Ok(0)
}

#[syscall]
pub fn sched_getaffinity(
    cx: &mut SyscallContext<'_>,
    pid: i32,
    len: u32,
    user_mask_ptr: UserBuf,
) -> SysResult {
    if pid != 0 && pid != cx.thread.tid && pid != cx.process.pid() {
        return Err(Errno::ESRCH);
    }
    // The kernel copies its cpumask (at least 8 bytes on arm64) and rejects shorter buffers
    // or lengths that are not a multiple of the word size.
    let len = len as usize;
    if len < 8 || len % 8 != 0 {
        return Err(Errno::EINVAL);
    }
    let cpus = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(len * 8);
    let mut mask = vec![0u8; 8];
    for cpu in 0..cpus.min(64) {
        mask[cpu / 8] |= 1 << (cpu % 8);
    }
    user_mask_ptr.write(cx.mem(), &mask)?;
    Ok(8)
}

/// Converts the host's resource usage into Linux's struct rusage; fields the host does not
/// count stay zero.
pub(crate) fn linux_rusage(usage: &libc::rusage) -> Rusage {
    let timeval = |tv: libc::timeval| Timeval {
        tv_sec: i64::from(tv.tv_sec),
        tv_usec: i64::from(tv.tv_usec),
    };
    Rusage {
        ru_utime: timeval(usage.ru_utime),
        ru_stime: timeval(usage.ru_stime),
        ru_maxrss: i64::from(usage.ru_maxrss),
        ru_minflt: i64::from(usage.ru_minflt),
        ru_majflt: i64::from(usage.ru_majflt),
        ru_inblock: i64::from(usage.ru_inblock),
        ru_oublock: i64::from(usage.ru_oublock),
        ru_nvcsw: i64::from(usage.ru_nvcsw),
        ru_nivcsw: i64::from(usage.ru_nivcsw),
        ..Rusage::ZERO
    }
}

#[syscall]
pub fn getrusage(cx: &mut SyscallContext<'_>, who: RusageWho, ru: UserPtr<Rusage>) -> SysResult {
    let host_who = match who {
        RusageWho::RUSAGE_SELF | RusageWho::RUSAGE_THREAD => libc::RUSAGE_SELF,
        RusageWho::RUSAGE_CHILDREN => libc::RUSAGE_CHILDREN,
        _ => return Err(Errno::EINVAL),
    };
    // SAFETY: `usage` is a valid, writable rusage for the duration of the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: see above; getrusage only writes through the pointer.
    if unsafe { libc::getrusage(host_who, &mut usage) } != 0 {
        return Err(Errno::from_io(&std::io::Error::last_os_error()));
    }
    ru.write(cx.mem(), &linux_rusage(&usage))?;
    Ok(0)
}

#[syscall]
pub fn prlimit64(
    cx: &mut SyscallContext<'_>,
    pid: i32,
    resource: RlimitResource,
    new_rlim: UserPtr<Rlimit64>,
    old_rlim: UserPtr<Rlimit64>,
) -> SysResult {
    if pid != 0 && pid != cx.process.pid() {
        return Err(Errno::ESRCH);
    }
    let new = new_rlim.read_optional(cx.mem())?;
    let old = cx.process.limits().get(resource)?;
    if let Some(new) = new {
        let privileged = cx.process.creds().is_root();
        cx.process.limits_mut().set(
            resource,
            Limit {
                cur: new.rlim_cur,
                max: new.rlim_max,
            },
            privileged,
        )?;
    }
    old_rlim.write_optional(
        cx.mem(),
        &Rlimit64 {
            rlim_cur: old.cur,
            rlim_max: old.max,
        },
    )?;
    Ok(0)
}

#[syscall]
pub fn getrlimit(
    cx: &mut SyscallContext<'_>,
    resource: RlimitResource,
    rlim: UserPtr<Rlimit>,
) -> SysResult {
    let limit = cx.process.limits().get(resource)?;
    rlim.write(
        cx.mem(),
        &Rlimit {
            rlim_cur: limit.cur,
            rlim_max: limit.max,
        },
    )?;
    Ok(0)
}

#[syscall]
pub fn setrlimit(
    cx: &mut SyscallContext<'_>,
    resource: RlimitResource,
    rlim: UserPtr<Rlimit>,
) -> SysResult {
    let new = rlim.read(cx.mem())?;
    let privileged = cx.process.creds().is_root();
    cx.process.limits_mut().set(
        resource,
        Limit {
            cur: new.rlim_cur,
            max: new.rlim_max,
        },
        privileged,
    )?;
    Ok(0)
}

#[syscall]
pub fn prctl(
    cx: &mut SyscallContext<'_>,
    option: PrctlOption,
    arg2: u64,
    arg3: u64,
    arg4: u64,
    arg5: u64,
) -> SysResult {
    let _ = (arg3, arg4, arg5);
    match option {
        PrctlOption::PR_SET_NAME => {
            let name = crate::sys::CStrPtr(GuestAddr(arg2)).read(cx.mem(), 4096)?;
            let mut comm = [0u8; 16];
            let len = name.len().min(15);
            comm[..len].copy_from_slice(&name[..len]);
            cx.thread.comm = comm;
            Ok(0)
        }
        PrctlOption::PR_GET_NAME => {
            let comm = cx.thread.comm;
            crate::sys::UserBuf(GuestAddr(arg2)).write(cx.mem(), &comm)?;
            Ok(0)
        }
        PrctlOption::PR_SET_PDEATHSIG => {
            if arg2 > u64::from(linux::NSIG) {
                return Err(Errno::EINVAL);
            }
            cx.thread.pdeath_signal = arg2 as u32;
            Ok(0)
        }
        PrctlOption::PR_GET_PDEATHSIG => {
            UserPtr::<i32>::new(arg2).write(cx.mem(), &(cx.thread.pdeath_signal as i32))?;
            Ok(0)
        }
        PrctlOption::PR_GET_DUMPABLE => Ok(1),
        PrctlOption::PR_SET_DUMPABLE => {
            if arg2 <= 1 {
                Ok(0)
            } else {
                Err(Errno::EINVAL)
            }
        }
        PrctlOption::PR_SET_NO_NEW_PRIVS => {
            if arg2 == 1 {
                Ok(0)
            } else {
                Err(Errno::EINVAL)
            }
        }
        PrctlOption::PR_GET_NO_NEW_PRIVS => Ok(0),
        PrctlOption::PR_SET_CHILD_SUBREAPER | PrctlOption::PR_SET_KEEPCAPS => Ok(0),
        PrctlOption::PR_GET_TIMERSLACK => Ok(50_000),
        PrctlOption::PR_CAPBSET_READ => Ok(1),
        _ => Err(Errno::EINVAL),
    }
}

/// Calls a host process-group or session function and converts its result.
fn host_id_call(result: libc::pid_t) -> SysResult {
    if result < 0 {
        return Err(Errno::from_io(&std::io::Error::last_os_error()));
    }
    Ok(result as u64)
}

// Process groups and sessions are the host's: each guest process is a host process.

#[syscall]
pub fn getpgid(cx: &mut SyscallContext<'_>, pid: i32) -> SysResult {
    let _ = cx;
    // SAFETY: getpgid has no memory-safety preconditions.
    host_id_call(unsafe { libc::getpgid(pid) })
}

#[syscall]
pub fn setpgid(cx: &mut SyscallContext<'_>, pid: i32, pgid: i32) -> SysResult {
    let _ = cx;
    // SAFETY: setpgid has no memory-safety preconditions.
    host_id_call(unsafe { libc::setpgid(pid, pgid) }).map(|_| 0)
}

#[syscall]
pub fn getsid(cx: &mut SyscallContext<'_>, pid: i32) -> SysResult {
    let _ = cx;
    // SAFETY: getsid has no memory-safety preconditions.
    host_id_call(unsafe { libc::getsid(pid) })
}

#[syscall]
pub fn setsid(cx: &mut SyscallContext<'_>) -> SysResult {
    let _ = cx;
    // SAFETY: setsid has no memory-safety preconditions.
    host_id_call(unsafe { libc::setsid() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setres_unprivileged_picks_current_ids() {
        let (mut real, mut effective, mut saved, mut fs) = (1000, 1000, 2000, 1000);
        let ids = [&mut real, &mut effective, &mut saved, &mut fs];
        assert_eq!(
            set_res_ids(ids, [UNCHANGED, 2000, UNCHANGED], false),
            Ok(())
        );
        assert_eq!((real, effective, saved, fs), (1000, 2000, 2000, 2000));
    }

    #[test]
    fn setres_unprivileged_rejects_new_id() {
        let (mut real, mut effective, mut saved, mut fs) = (1000, 1000, 1000, 1000);
        let ids = [&mut real, &mut effective, &mut saved, &mut fs];
        assert_eq!(
            set_res_ids(ids, [0, UNCHANGED, UNCHANGED], false),
            Err(Errno::EPERM)
        );
        assert_eq!((real, effective, saved, fs), (1000, 1000, 1000, 1000));
    }

    #[test]
    fn setid_privileged_sets_all_four() {
        let (mut real, mut effective, mut saved, mut fs) = (0, 0, 0, 0);
        let ids = [&mut real, &mut effective, &mut saved, &mut fs];
        assert_eq!(set_id(ids, 65534, true), Ok(()));
        assert_eq!((real, effective, saved, fs), (65534, 65534, 65534, 65534));
    }

    #[test]
    fn setid_unprivileged_sets_effective_only() {
        let (mut real, mut effective, mut saved, mut fs) = (1000, 2000, 2000, 2000);
        let ids = [&mut real, &mut effective, &mut saved, &mut fs];
        assert_eq!(set_id(ids, 1000, false), Ok(()));
        assert_eq!((real, effective, saved, fs), (1000, 1000, 2000, 1000));
        let ids = [&mut real, &mut effective, &mut saved, &mut fs];
        assert_eq!(set_id(ids, 0, false), Err(Errno::EPERM));
    }
}
