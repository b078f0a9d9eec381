//! Per-process kernel state that Linux keeps and the host does not: credentials as the guest
//! sees them, resource limits, signal dispositions. Threads share one copy through the
//! `Process`; fork copies it.

use crate::linux::{self, Errno, Sigaction};

/// User and group ids as the guest sees them. carrick does not change the host process's ids:
/// a container that runs as root sees uid 0 while the host process keeps its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub ruid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub rgid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
}

impl Credentials {
    /// Every id set to `uid`/`gid`, as after a login.
    pub fn new(uid: u32, gid: u32) -> Credentials {
        Credentials {
            ruid: uid,
            euid: uid,
            suid: uid,
            fsuid: uid,
            rgid: gid,
            egid: gid,
            sgid: gid,
            fsgid: gid,
            groups: Vec::new(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.euid == 0
    }
}

/// One resource limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub cur: u64,
    pub max: u64,
}

/// The resource limits, indexed by Linux `RLIMIT_*` number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    limits: Vec<Limit>,
}

impl Limits {
    /// Limits as a fresh Linux login shell has them, with the host's values where the host
    /// enforces the same resource (open files, stack).
    pub fn initial() -> Limits {
        let unlimited = Limit {
            cur: linux::RLIM_INFINITY,
            max: linux::RLIM_INFINITY,
        };
        let count = linux::RLIM_NLIMITS as usize;
        let mut limits = vec![unlimited; count];
        let mut set = |resource: linux::RlimitResource, limit: Limit| {
            if let Some(slot) = limits.get_mut(resource.value() as usize) {
                *slot = limit;
            }
        };
        set(
            linux::RlimitResource::RLIMIT_STACK,
            Limit {
                cur: 8 << 20,
                max: linux::RLIM_INFINITY,
            },
        );
        set(
            linux::RlimitResource::RLIMIT_CORE,
            Limit {
                cur: 0,
                max: linux::RLIM_INFINITY,
            },
        );
        set(
            linux::RlimitResource::RLIMIT_NOFILE,
            Limit {
                cur: 1024,
                max: 1 << 20,
            },
        );
        set(
            linux::RlimitResource::RLIMIT_NPROC,
            Limit {
                cur: 63_000,
                max: 63_000,
            },
        );
        set(
            linux::RlimitResource::RLIMIT_MEMLOCK,
            Limit {
                cur: 8 << 20,
                max: 8 << 20,
            },
        );
        set(
            linux::RlimitResource::RLIMIT_SIGPENDING,
            Limit {
                cur: 63_000,
                max: 63_000,
            },
        );
        set(
            linux::RlimitResource::RLIMIT_MSGQUEUE,
            Limit {
                cur: 819_200,
                max: 819_200,
            },
        );
        set(linux::RlimitResource::RLIMIT_NICE, Limit { cur: 0, max: 0 });
        set(
            linux::RlimitResource::RLIMIT_RTPRIO,
            Limit { cur: 0, max: 0 },
        );
        Limits { limits }
    }

    pub fn get(&self, resource: linux::RlimitResource) -> Result<Limit, Errno> {
        self.limits
            .get(resource.value() as usize)
            .copied()
            .ok_or(Errno::EINVAL)
    }

    /// Sets a limit with Linux's rules: `cur <= max`, and raising `max` needs root.
    pub fn set(
        &mut self,
        resource: linux::RlimitResource,
        limit: Limit,
        privileged: bool,
    ) -> Result<(), Errno> {
        let slot = self
            .limits
            .get_mut(resource.value() as usize)
            .ok_or(Errno::EINVAL)?;
        if limit.cur > limit.max {
            return Err(Errno::EINVAL);
        }
        if limit.max > slot.max && !privileged {
            return Err(Errno::EPERM);
        }
        *slot = limit;
        Ok(())
    }
}

/// Signal dispositions, indexed by signal number (1 to `NSIG`).
#[derive(Clone, Debug)]
pub struct SignalActions {
    actions: Vec<Sigaction>,
}

impl Default for SignalActions {
    fn default() -> Self {
        SignalActions {
            actions: vec![Sigaction::ZERO; linux::NSIG as usize + 1],
        }
    }
}

impl SignalActions {
    pub fn get(&self, signal: linux::Signal) -> Sigaction {
        self.actions
            .get(signal.number() as usize)
            .copied()
            .unwrap_or(Sigaction::ZERO)
    }

    pub fn set(&mut self, signal: linux::Signal, action: Sigaction) {
        if let Some(slot) = self.actions.get_mut(signal.number() as usize) {
            *slot = action;
        }
    }

    /// Resets handled signals to their default action, as `execve` does; ignored ones stay
    /// ignored.
    pub fn reset_for_exec(&mut self) {
        for action in &mut self.actions {
            if action.sa_handler != linux::SIG_IGN {
                *action = Sigaction::ZERO;
            }
        }
    }
}
