//! CPU backends: run a guest thread's instructions until the next trap.
//!
//! A [`Vcpu`] runs guest code and calls a [`TrapHandler`] at every trap: a syscall, a fault,
//! an undefined instruction, a breakpoint, or an interruption requested through its
//! [`Kicker`]. The handler sees the registers through [`Registers`] and decides whether the
//! vCPU resumes (at whatever PC the handler left) or returns from [`Vcpu::run`]. Syscalls are
//! handled while the backend is still inside its run call (Unicorn: inside the interrupt
//! hook; Hypervisor.framework: inside the exit loop), which keeps a syscall round trip cheap.
//!
//! The backend owns no guest memory: it reads page permissions from [`crate::mem`] and
//! drops its cached translations when [`crate::mem::GuestMemory::epochs`] changes.

use crate::mem::Access;

#[cfg(not(all(target_os = "macos", target_arch = "aarch64")))]
pub mod emu;
mod hwcap;

#[cfg(not(all(target_os = "macos", target_arch = "aarch64")))]
pub use emu::blocking;
pub use hwcap::{feature_names, hwcaps_from_id_registers, IdRegisters};

/// The reason the guest stopped running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// `svc #0`: the PC already points past the instruction, the number is in x8.
    Syscall,
    /// A load, store or fetch hit an unmapped page or lacked permission; the PC points at
    /// the faulting instruction. `addr` is the page-aligned guest address on the emu backend.
    Fault {
        /// The guest address that could not be accessed.
        addr: u64,
        /// The kind of access.
        access: Access,
    },
    /// An undefined or not-permitted instruction; the PC points at it.
    Undefined,
    /// `brk`; the PC points at it.
    Breakpoint,
    /// The vCPU was kicked (by the periodic tick or by [`Kicker::kick`]).
    Interrupted,
}

/// The vCPU's next step after a handled trap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapAction {
    /// Continue at the current PC.
    Resume,
    /// Return from [`Vcpu::run`].
    Stop,
}

/// The general-purpose, special and FP/SIMD registers of one guest thread.
///
/// Accessors never fail: a backend that cannot reach a register logs it and returns zero.
pub trait Registers {
    /// Returns general-purpose register `x<n>` for `n` in 0..=30 (31 and above read as 0).
    fn x(&self, n: usize) -> u64;
    /// Sets general-purpose register `x<n>` for `n` in 0..=30 (others are ignored).
    fn set_x(&mut self, n: usize, value: u64);
    /// Returns the stack pointer (SP_EL0 as the guest sees it).
    fn sp(&self) -> u64;
    /// Sets the stack pointer.
    fn set_sp(&mut self, value: u64);
    /// Returns the program counter.
    fn pc(&self) -> u64;
    /// Sets the program counter.
    fn set_pc(&mut self, value: u64);
    /// Returns the condition flags (N, Z, C, V in bits 31..28, as in PSTATE and NZCV).
    fn nzcv(&self) -> u64;
    /// Sets the condition flags from bits 31..28 of `value`.
    fn set_nzcv(&mut self, value: u64);
    /// Returns the thread pointer register TPIDR_EL0.
    fn tpidr_el0(&self) -> u64;
    /// Sets TPIDR_EL0.
    fn set_tpidr_el0(&mut self, value: u64);
    /// Returns SIMD/FP register `q<n>` for `n` in 0..=31.
    fn q(&self, n: usize) -> u128;
    /// Sets SIMD/FP register `q<n>` for `n` in 0..=31.
    fn set_q(&mut self, n: usize, value: u128);
    /// Returns the floating-point control register.
    fn fpcr(&self) -> u64;
    /// Sets the floating-point control register.
    fn set_fpcr(&mut self, value: u64);
    /// Returns the floating-point status register.
    fn fpsr(&self) -> u64;
    /// Sets the floating-point status register.
    fn set_fpsr(&mut self, value: u64);

    /// Returns the syscall number (x8) and the six argument registers (x0-x5) at a
    /// [`Trap::Syscall`]. Backends override it when one batched read is cheaper.
    fn syscall_args(&self) -> (u64, [u64; 6]) {
        let args = [
            self.x(0),
            self.x(1),
            self.x(2),
            self.x(3),
            self.x(4),
            self.x(5),
        ];
        (self.x(8), args)
    }
}

/// Receives every trap of a running vCPU.
pub trait TrapHandler {
    /// Handles `trap`; `regs` are the trapping thread's registers.
    fn on_trap(&mut self, regs: &mut dyn Registers, trap: Trap) -> TrapAction;
}

/// Failure of the CPU backend itself (never caused by guest code).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The emulator or hypervisor rejected a setup or run call.
    #[error("CPU backend call {call} failed: {detail}")]
    Call {
        /// The failing call.
        call: &'static str,
        /// The backend's error, as text.
        detail: String,
    },
    /// The trap handler panicked; the guest thread cannot continue.
    #[error("trap handler panicked: {0}")]
    HandlerPanicked(String),
}

/// A virtual CPU that runs one guest thread.
pub trait Vcpu: Registers {
    /// Runs the guest from the current PC, calling `handler` at each trap, until the handler
    /// returns [`TrapAction::Stop`].
    fn run(&mut self, handler: &mut dyn TrapHandler) -> Result<(), BackendError>;

    /// Returns a handle that other threads use to interrupt this vCPU.
    fn kicker(&self) -> Kicker;

    /// Returns the values of AT_HWCAP and AT_HWCAP2 for the features this CPU implements.
    fn hwcaps(&self) -> (u64, u64);
}

/// Interrupts a running vCPU from another thread; the vCPU then reports
/// [`Trap::Interrupted`] to its handler. Kicking a vCPU that is not running makes it report
/// the interruption at its next trap (or, on the emu backend, after at most one tick).
#[derive(Clone)]
pub struct Kicker(std::sync::Arc<dyn Kick>);

impl std::fmt::Debug for Kicker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kicker")
    }
}

impl Kicker {
    /// Wraps a backend's kick implementation.
    pub fn new(kick: std::sync::Arc<dyn Kick>) -> Kicker {
        Kicker(kick)
    }

    /// Requests that the vCPU stop and report [`Trap::Interrupted`].
    pub fn kick(&self) {
        self.0.kick();
    }
}

/// A backend's way to interrupt one of its vCPUs from another thread.
pub trait Kick: Send + Sync {
    /// Requests an interruption.
    fn kick(&self);
}
