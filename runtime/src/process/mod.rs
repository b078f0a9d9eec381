//! Guest processes and threads, and the trap loop that runs a thread until it exits.
//!
//! A [`Process`] is shared by all its threads (the address space and, once merged, the fd
//! table and filesystem context); a [`Thread`] is owned by the host thread that runs it.
//! [`run_thread`] drives a [`Vcpu`]: each syscall goes to the dispatcher with the thread's
//! registers; faults, undefined instructions and breakpoints end the process as the
//! matching signal would, with a one-line message on stderr.

pub mod scaffold;

use std::sync::{Arc, Mutex};

use crate::backend::{BackendError, Registers, Trap, TrapAction, TrapHandler, Vcpu};
use crate::mem::{Access, GuestMemory};

// TODO: Linux signal numbers; take them from the generated signal list in syscalls.toml.
mod linux_signal {
    pub const SIGILL: i32 = 4;
    pub const SIGTRAP: i32 = 5;
    pub const SIGSEGV: i32 = 11;
}

/// State shared by all threads of one guest process.
#[derive(Debug)]
pub struct Process {
    /// The address space.
    pub mem: Arc<GuestMemory>,
    /// The auxiliary vector the process started with (/proc/self/auxv).
    pub auxv: Mutex<Vec<u8>>,
}

impl Process {
    /// Creates a process around an address space.
    pub fn new(mem: Arc<GuestMemory>) -> Process {
        Process {
            mem,
            auxv: Mutex::new(Vec::new()),
        }
    }
}

/// How a thread (or, for `exit_group` and fatal signals, its whole process) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `exit` of this thread only, with its status.
    Thread(i32),
    /// `exit_group`, with its status.
    Group(i32),
    /// Killed by a signal (its Linux number).
    Signal(i32),
}

impl Exit {
    /// Returns the host exit status: the status itself, or 128 plus the signal number.
    pub fn exit_status(self) -> i32 {
        match self {
            Exit::Thread(status) | Exit::Group(status) => status & 0xff,
            Exit::Signal(signal) => 128 + signal,
        }
    }
}

/// Per-thread state.
#[derive(Debug, Default)]
pub struct Thread {
    /// The thread id (the host tid).
    pub tid: i32,
    /// Address the kernel clears and futex-wakes when the thread exits (set_tid_address).
    pub clear_child_tid: u64,
    /// Blocked signals, one bit per Linux signal number minus one.
    pub signal_mask: u64,
    /// Set when the thread must stop running; the trap loop returns it.
    pub pending_exit: Option<Exit>,
}

impl Thread {
    /// Creates the state of the calling host thread.
    pub fn current() -> Thread {
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::gettid() };
        Thread {
            tid,
            ..Thread::default()
        }
    }
}

/// The trap handler of one running thread.
struct TrapLoop<'a> {
    process: &'a Process,
    thread: &'a mut Thread,
}

impl TrapLoop<'_> {
    fn kill(&mut self, signal: i32, what: &str, regs: &dyn Registers) -> TrapAction {
        eprintln!(
            "carrick: guest killed by signal {signal}: {what} (pc {:#x})",
            regs.pc()
        );
        self.thread.pending_exit = Some(Exit::Signal(signal));
        TrapAction::Stop
    }
}

impl TrapHandler for TrapLoop<'_> {
    fn on_trap(&mut self, regs: &mut dyn Registers, trap: Trap) -> TrapAction {
        match trap {
            Trap::Syscall => {
                let nr = regs.x(8);
                let args = [
                    regs.x(0),
                    regs.x(1),
                    regs.x(2),
                    regs.x(3),
                    regs.x(4),
                    regs.x(5),
                ];
                let mut cx = scaffold::SyscallContext {
                    process: self.process,
                    thread: self.thread,
                    regs,
                };
                let result = scaffold::dispatch(&mut cx, nr, args);
                regs.set_x(0, result as u64);
            }
            Trap::Fault { addr, access } => {
                let verb = match access {
                    Access::Read => "read",
                    Access::Write => "write",
                    Access::Execute => "execute",
                };
                let what = format!("SIGSEGV, bad {verb} at {addr:#x}");
                return self.kill(linux_signal::SIGSEGV, &what, regs);
            }
            Trap::Undefined => {
                return self.kill(linux_signal::SIGILL, "SIGILL, undefined instruction", regs)
            }
            Trap::Breakpoint => return self.kill(linux_signal::SIGTRAP, "SIGTRAP, brk", regs),
            Trap::Interrupted => {}
        }
        if self.thread.pending_exit.is_some() {
            TrapAction::Stop
        } else {
            TrapAction::Resume
        }
    }
}

/// Runs `thread` on `vcpu` until it exits; returns how it ended.
pub fn run_thread(
    process: &Process,
    thread: &mut Thread,
    vcpu: &mut dyn Vcpu,
) -> Result<Exit, BackendError> {
    let mut handler = TrapLoop { process, thread };
    loop {
        vcpu.run(&mut handler)?;
        if let Some(exit) = handler.thread.pending_exit {
            return Ok(exit);
        }
    }
}
