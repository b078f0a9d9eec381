//! Syscall handlers and the dispatcher that calls them.
//!
//! Each handler is a function named after its syscall with the `#[syscall]` attribute, in
//! the module of its subsystem. The attribute checks the handler's parameter types against
//! the row in `syscalls.toml` and generates a `__sys_NAME` entry point that decodes the raw
//! argument registers; the generated `linux::DISPATCH` table points at those entry points.
//! [`dispatch`] is what the trap loop calls for every `svc #0`.

use std::panic::AssertUnwindSafe;

use crate::linux::{self, Errno};
use crate::process::{Process, Thread};

mod args;
pub mod copy;
pub mod exec;
pub mod files;
pub mod fs;
pub mod futex;
pub mod info;
pub mod memory;
pub mod poll;
pub mod process;
pub mod signal;
pub mod socket;
pub mod state;
mod terminal;
pub mod time;
pub mod vectored;
pub mod xattr;

pub use args::{CStrPtr, DirFd, Fd, FromArg, GuestAddr, StrArrayPtr, UserArray, UserBuf, UserPtr};
pub use copy::*;
pub use exec::*;
pub use files::*;
pub use fs::*;
pub use futex::*;
pub use info::*;
pub use memory::*;
pub use poll::*;
pub use process::*;
pub use signal::*;
pub use socket::*;
pub use time::*;
pub use vectored::*;
pub use xattr::*;

/// What a handler returns: the value for x0, or a Linux errno.
pub type SysResult = Result<u64, Errno>;

/// Everything a handler may touch: the calling thread, its registers and its process.
pub struct SyscallContext<'a> {
    pub process: &'a Process,
    pub thread: &'a mut Thread,
    /// The calling thread's registers, for calls that change them (`rt_sigreturn`, `clone`).
    pub regs: &'a mut dyn crate::backend::Registers,
}

impl SyscallContext<'_> {
    /// The process's guest memory.
    pub fn mem(&self) -> &crate::mem::GuestMemory {
        &self.process.mem
    }

    /// Runs `work`, which may block for a long time (sleeping, waiting for I/O), with the
    /// CPU backend's run lock released so other guest threads can run meanwhile.
    pub fn blocking<R>(&mut self, work: impl FnOnce() -> R) -> R {
        crate::backend::blocking(work)
    }
}

/// Runs syscall `nr` with its six argument registers and returns the value for x0 (a
/// negative errno on failure). An unknown or unimplemented number returns `-ENOSYS` and is
/// recorded as a compat event. A handler that panics does not take the supervisor down: the
/// guest thread is killed with `SIGABRT` and the panic is logged.
pub fn dispatch(cx: &mut SyscallContext<'_>, nr: u64, args: [u64; 6]) -> u64 {
    let handler = usize::try_from(nr)
        .ok()
        .and_then(|index| linux::DISPATCH.get(index))
        .copied()
        .flatten();
    let Some(handler) = handler else {
        cx.process.compat.record_unimplemented(nr);
        return Errno::ENOSYS.as_return();
    };

    let result = std::panic::catch_unwind(AssertUnwindSafe(|| handler(cx, &args)));
    match result {
        Ok(Ok(value)) => value,
        Ok(Err(Errno::EPIPE)) if writes_to_fd(nr) => {
            // Writing to a pipe or socket with no reader also raises SIGPIPE, whose default
            // action ends the process (carrick itself ignores SIGPIPE, so the host only
            // returned EPIPE).
            let _ = signal::raise_sigpipe(cx);
            Errno::EPIPE.as_return()
        }
        Ok(Err(errno)) => errno.as_return(),
        Err(_) => {
            let name = linux::syscall_info(nr).map_or("?", |info| info.name);
            tracing::error!(
                nr,
                name,
                tid = cx.thread.tid,
                "syscall handler panicked; killing the guest with SIGABRT"
            );
            cx.thread.kill(linux::Signal::SIGABRT);
            Errno::EINTR.as_return()
        }
    }
}

/// Whether syscall `nr` writes to a file descriptor, so EPIPE from it comes with SIGPIPE.
fn writes_to_fd(nr: u64) -> bool {
    use linux::nr;
    matches!(
        nr,
        nr::WRITE
            | nr::WRITEV
            | nr::PWRITE64
            | nr::PWRITEV
            | nr::PWRITEV2
            | nr::SENDTO
            | nr::SENDMSG
            | nr::SENDMMSG
            | nr::SENDFILE
            | nr::SPLICE
    )
}
