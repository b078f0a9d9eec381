//! Contents of the `/proc` files, in the formats of Linux 6.1 (`Documentation/filesystems/proc.rst`).
//! System-wide values come from the host; per-process ones from [`ProcessView`].

use super::synthetic::{ProcessView, SynthContext, SynthNode};

/// Formats `/proc/cpuinfo`: one block per CPU whose `Features` line names the hwcaps the
/// loader gave the process, so a program that reads it learns what the CPU really implements.
// NOTE: the implementer, part and variant lines are a Cortex-A57's, not the MIDR_EL1 of the
// backend's CPU.
pub fn cpuinfo(cpus: u64, (hwcap, hwcap2): (u64, u64)) -> String {
    let features = crate::backend::feature_names(hwcap, hwcap2).join(" ");
    let mut text = String::new();
    for cpu in 0..cpus {
        text.push_str(&format!(
            "processor\t: {cpu}\nBogoMIPS\t: 2000.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd07\nCPU revision\t: 0\n\n"
        ));
    }
    text
}

fn sysconf(name: libc::c_int) -> u64 {
    // SAFETY: sysconf has no memory effects.
    u64::try_from(unsafe { libc::sysconf(name) }).unwrap_or(0)
}

pub fn meminfo() -> String {
    let page_kib = sysconf(libc::_SC_PAGESIZE) / 1024;
    let total = sysconf(libc::_SC_PHYS_PAGES) * page_kib;
    #[cfg(target_os = "linux")]
    let available = sysconf(libc::_SC_AVPHYS_PAGES) * page_kib;
    // NOTE: hosts without _SC_AVPHYS_PAGES report half of the memory as free.
    #[cfg(not(target_os = "linux"))]
    let available = total / 2;
    let rows = [
        ("MemTotal", total),
        ("MemFree", available),
        ("MemAvailable", available),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapCached", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
    ];
    rows.iter()
        .map(|(name, kib)| format!("{:<16}{kib:>8} kB\n", format!("{name}:")))
        .collect()
}

fn monotonic_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

pub fn uptime() -> String {
    format!("{:.2} 0.00\n", monotonic_seconds())
}

pub fn loadavg() -> String {
    let mut loads = [0f64; 3];
    // SAFETY: `loads` has room for the 3 values requested.
    unsafe { libc::getloadavg(loads.as_mut_ptr(), 3) };
    format!("{:.2} {:.2} {:.2} 1/1 0\n", loads[0], loads[1], loads[2])
}

/// `/proc/stat`: per-CPU time counters (zero: carrick does not account CPU time per CPU).
pub fn system_stat(cpus: u64) -> String {
    let boot_time = {
        // SAFETY: time(NULL) only returns the time.
        let now = unsafe { libc::time(std::ptr::null_mut()) } as f64;
        (now - monotonic_seconds()) as i64
    };
    let mut text = String::from("cpu  0 0 0 0 0 0 0 0 0 0\n");
    for cpu in 0..cpus {
        text.push_str(&format!("cpu{cpu} 0 0 0 0 0 0 0 0 0 0\n"));
    }
    text.push_str(&format!(
        "intr 0\nctxt 0\nbtime {boot_time}\nprocesses 0\nprocs_running 1\nprocs_blocked 0\n"
    ));
    text
}

pub fn version(release: &[u8]) -> String {
    format!(
        "Linux version {} (carrick) #1 SMP PREEMPT\n",
        String::from_utf8_lossy(release)
    )
}

pub fn filesystems() -> String {
    [
        "nodev\tsysfs",
        "nodev\ttmpfs",
        "nodev\tproc",
        "nodev\tdevtmpfs",
        "nodev\tdevpts",
        "nodev\toverlay",
        "\text4",
    ]
    .iter()
    .map(|line| format!("{line}\n"))
    .collect()
}

/// A file under `/proc/sys/kernel`.
pub fn kernel_value(view: &dyn ProcessView, name: &[u8]) -> Option<Vec<u8>> {
    let mut value = match name {
        b"ostype" => b"Linux".to_vec(),
        b"osrelease" => view.kernel_release(),
        b"hostname" => view.hostname(),
        // Linux's defaults on 64-bit machines (PID_MAX_LIMIT and NGROUPS_MAX).
        b"pid_max" => b"4194304".to_vec(),
        b"ngroups_max" => b"65536".to_vec(),
        _ => return None,
    };
    value.push(b'\n');
    Some(value)
}

const PROCESS_FILES: &[&str] = &[
    "exe", "cwd", "root", "fd", "task", "maps", "auxv", "cmdline", "environ", "stat", "status",
    "mounts", "comm",
];

/// A node below `/proc/<pid>` of the calling process.
pub fn process_node(cx: &SynthContext<'_>, rel: &[&[u8]]) -> Option<SynthNode> {
    let view = cx.view;
    let node = match rel {
        [] | [b"fd"] | [b"task"] => SynthNode::Dir,
        [b"exe"] => SynthNode::Symlink(view.exe_guest_path()),
        [b"cwd"] => SynthNode::Symlink(cx.cwd.clone()),
        [b"root"] => SynthNode::Symlink(b"/".to_vec()),
        [b"fd", fd] => {
            let links = cx.fd_links();
            let target = links
                .into_iter()
                .find(|(number, _)| number.to_string().as_bytes() == *fd)?
                .1;
            let fd = std::str::from_utf8(fd).ok()?.parse().ok()?;
            SynthNode::FdLink { fd, target }
        }
        [b"task", tid] => {
            view.threads()
                .iter()
                .find(|thread| thread.to_string().as_bytes() == *tid)?;
            SynthNode::Dir
        }
        [b"task", tid, file] => {
            let tid: i32 = std::str::from_utf8(tid).ok()?.parse().ok()?;
            if !view.threads().contains(&tid) {
                return None;
            }
            match *file {
                b"comm" => SynthNode::File(comm(view)),
                b"stat" => SynthNode::File(stat(view, tid).into_bytes()),
                b"status" => SynthNode::File(status(view, tid).into_bytes()),
                _ => return None,
            }
        }
        [b"maps"] => SynthNode::File(view.maps().into_bytes()),
        [b"auxv"] => SynthNode::File(view.auxv()),
        [b"cmdline"] => SynthNode::File(view.cmdline()),
        [b"environ"] => SynthNode::File(view.environ()),
        [b"stat"] => SynthNode::File(stat(view, view.pid()).into_bytes()),
        [b"status"] => SynthNode::File(status(view, view.pid()).into_bytes()),
        [b"comm"] => SynthNode::File(comm(view)),
        [b"mounts"] => SynthNode::File(mounts(cx).into_bytes()),
        _ => return None,
    };
    Some(node)
}

/// The names in a directory below `/proc/<pid>`.
pub fn process_children(cx: &SynthContext<'_>, rel: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
    match rel {
        [] => Some(
            PROCESS_FILES
                .iter()
                .map(|name| name.as_bytes().to_vec())
                .collect(),
        ),
        [b"fd"] => Some(
            cx.fd_links()
                .into_iter()
                .map(|(fd, _)| fd.to_string().into_bytes())
                .collect(),
        ),
        [b"task"] => Some(
            cx.view
                .threads()
                .into_iter()
                .map(|tid| tid.to_string().into_bytes())
                .collect(),
        ),
        [b"task", _] => Some(vec![b"comm".to_vec(), b"stat".to_vec(), b"status".to_vec()]),
        _ => None,
    }
}

fn comm(view: &dyn ProcessView) -> Vec<u8> {
    let mut name = view.comm();
    name.truncate(15);
    name.push(b'\n');
    name
}

/// `/proc/<pid>/stat`: the 52 fields of Linux 6.1, with counters carrick does not keep as 0.
fn stat(view: &dyn ProcessView, tid: i32) -> String {
    // SAFETY: these calls only return ids of the calling process.
    let (pgrp, session) = unsafe { (libc::getpgrp(), libc::getsid(0)) };
    let name = String::from_utf8_lossy(&view.comm())
        .chars()
        .take(15)
        .collect::<String>();
    let threads = view.threads().len();
    let mut fields = vec![
        tid.to_string(),
        format!("({name})"),
        "R".to_string(),
        view.ppid().to_string(),
        pgrp.to_string(),
        session.to_string(),
    ];
    // tty_nr through cstime (fields 7 to 17), then priority 20 and nice 0.
    fields.extend(std::iter::repeat_n("0".to_string(), 11));
    fields.push("20".to_string());
    fields.push("0".to_string());
    fields.push(threads.to_string());
    // itrealvalue through exit_code (fields 21 to 52).
    fields.extend(std::iter::repeat_n("0".to_string(), 32));
    let mut line = fields.join(" ");
    line.push('\n');
    line
}

fn status(view: &dyn ProcessView, tid: i32) -> String {
    let (uids, gids) = view.ids();
    let join = |ids: [u32; 4]| {
        ids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join("\t")
    };
    format!(
        "Name:\t{}\nUmask:\t0022\nState:\tR (running)\nTgid:\t{}\nNgid:\t0\nPid:\t{tid}\nPPid:\t{}\nTracerPid:\t0\nUid:\t{}\nGid:\t{}\nFDSize:\t64\nGroups:\t\nThreads:\t{}\nSigQ:\t0/0\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\nNoNewPrivs:\t0\nSeccomp:\t0\nCpus_allowed_list:\t0-{}\n",
        String::from_utf8_lossy(&view.comm()),
        view.pid(),
        view.ppid(),
        join(uids),
        join(gids),
        view.threads().len(),
        super::synthetic::online_cpus().saturating_sub(1),
    )
}

fn mounts(cx: &SynthContext<'_>) -> String {
    cx.mounts
        .iter()
        .map(|(point, fstype, read_only)| {
            let mode = if *read_only { "ro" } else { "rw" };
            format!("{fstype} {point} {fstype} {mode},relatime 0 0\n")
        })
        .collect()
}
