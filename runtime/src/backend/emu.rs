//! The `emu` backend: Unicorn 2.1.5 emulating an arm64 CPU (QEMU's `max` model).
//!
//! Theory of operation:
//! - Guest memory is the whole reservation mapped once as Unicorn physical memory
//!   (`mem_map_ptr` at physical 0). Unicorn runs with the virtual TLB: every TLB miss calls
//!   [`tlb_fill`], which looks the page up in [`GuestMemory`] and returns an identity
//!   translation with the region's permissions, or records the fault and refuses. Data pages
//!   without execute permission do not pay QEMU's self-modifying-code check on every store.
//! - `svc` reaches the interrupt hook with the PC past the instruction. The hook calls the
//!   trap handler right there, so a syscall never leaves `emu_start`.
//! - A process-wide ticker thread raises a flag every [`TICK`]. The running vCPU notices it
//!   (or a kick) at its next syscall or TLB miss and stops there. Each stop flushes the TLB
//!   when QEMU would grow it (QEMU only resizes its TLB on a flush and starts with 256
//!   entries), and gives the trap handler a chance to switch guest threads.
//! - Only some stops are safe. Published Unicorn 2.1.5 checks for a stop request at the start
//!   of every translated block and again after every guest load and store. A stop taken
//!   after a load or store rewinds the PC to that instruction, but its access and any
//!   register it wrote have already happened, so the instruction runs twice. The Unicorn
//!   carrick builds (third_party/README.md) checks only at the start of a block while no
//!   memory hook is installed, which also makes the check an inline load and branch instead
//!   of a helper call. The interrupt hook stops with `uc_emu_stop`, which takes effect at the
//!   start of the next block, and [`tlb_fill`] rejects the translation instead of stopping:
//!   Unicorn handles that like a page fault, and the instruction restarts from the
//!   beginning.
//! - Only one thread of the process emulates at a time (see [`serial`]); a trap handler
//!   wraps host calls that may wait in [`blocking`] so other guest threads run meanwhile.
//! - A vCPU compares [`GuestMemory::epochs`] with the values it last saw after every trap and
//!   drops stale translations and translated code.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use unicorn_engine::{
    uc_ctl, uc_error, Arch, Arm64CpuModel, ControlType, MemType, Mode, Prot as UcProt,
    RegisterARM64, RegisterARM64CP, TlbEntry, TlbType, Unicorn,
};

mod serial;

pub use serial::blocking;

use super::{
    hwcaps_from_id_registers, BackendError, IdRegisters, Kick, Kicker, Registers, Trap, TrapAction,
    TrapHandler, Vcpu,
};
use crate::mem::{Access, Epochs, GuestMemory, GUEST_LIMIT, PAGE_SIZE};

/// Interval of the ticker that interrupts the running vCPU.
pub const TICK: Duration = Duration::from_millis(20);

/// Size of each vCPU's translated-code buffer. Unicorn's default reserves about 1 GiB of
/// virtual memory per instance.
const TCG_BUFFER_BYTES: u32 = 64 << 20;

/// QEMU's arm exception numbers as Unicorn passes them to the interrupt hook
/// (target/arm/cpu.h in Unicorn 2.1.5's QEMU).
mod excp {
    pub const UDEF: u32 = 1;
    pub const SWI: u32 = 2;
    pub const PREFETCH_ABORT: u32 = 3;
    pub const DATA_ABORT: u32 = 4;
    pub const BKPT: u32 = 7;
}

/// State the Unicorn hooks reach through the instance's user data.
struct HookState {
    mem: GuestMemory,
    /// The handler of the current `run` call, with its lifetime erased; only dereferenced
    /// while that call is on the stack.
    handler: Option<*mut (dyn TrapHandler + 'static)>,
    /// Invalidation counters last applied to this instance.
    epochs: Epochs,
    /// The reason the TLB hook gave for its last rejected translation.
    rejection: Option<Rejection>,
    /// TLB fills since the last TLB flush.
    fills_since_flush: u64,
    /// Estimate of the size QEMU's TLB has grown to (see [`flush_tlb`]).
    tlb_entries: u64,
    /// Set when the handler returned Stop from inside a hook.
    stopped: bool,
    /// A failure to report from `run` (handler panic, Unicorn error inside a hook).
    failure: Option<BackendError>,
    kick: Arc<EmuKick>,
}

type Uc = Unicorn<'static, HookState>;

fn call_error(call: &'static str, error: uc_error) -> BackendError {
    BackendError::Call {
        call,
        detail: format!("{error:?}"),
    }
}

/// A guest thread's CPU on Unicorn.
pub struct EmuVcpu {
    uc: Uc,
    kick: Arc<EmuKick>,
    hwcaps: (u64, u64),
}

impl std::fmt::Debug for EmuVcpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmuVcpu").field("pc", &self.pc()).finish()
    }
}

impl EmuVcpu {
    /// Creates a vCPU whose memory is `mem`, with all registers zero.
    pub fn new(mem: GuestMemory) -> Result<EmuVcpu, BackendError> {
        let kick = Arc::new(EmuKick {
            pending: AtomicBool::new(false),
        });
        let state = HookState {
            mem: mem.clone(),
            handler: None,
            epochs: mem.epochs(),
            rejection: None,
            fills_since_flush: 0,
            tlb_entries: INITIAL_TLB_ENTRIES,
            stopped: false,
            failure: None,
            kick: kick.clone(),
        };
        let mut uc = Unicorn::new_with_data(Arch::ARM64, Mode::ARM, state)
            .map_err(|e| call_error("uc_open", e))?;

        // Order matters: these must precede anything that initialises the CPU.
        // SAFETY: the handle is valid; TCG_BUFFER_SIZE takes one uint32_t argument.
        let err = unsafe {
            uc_ctl(
                uc.get_handle(),
                ControlType(ControlType::TCG_BUFFER_SIZE.0 | ControlType::IO_WRITE.0),
                TCG_BUFFER_BYTES,
            )
        };
        if err != uc_error::OK {
            return Err(call_error("uc_ctl(TCG_BUFFER_SIZE)", err));
        }
        uc.ctl_set_cpu_model(Arm64CpuModel::MAX as i32)
            .map_err(|e| call_error("ctl_set_cpu_model", e))?;
        uc.ctl_set_page_size(PAGE_SIZE as u32)
            .map_err(|e| call_error("ctl_set_page_size", e))?;
        uc.ctl_set_tlb_type(TlbType::VIRTUAL)
            .map_err(|e| call_error("ctl_set_tlb_type", e))?;

        // SAFETY: the reservation is GUEST_LIMIT bytes long and outlives the instance, which
        // keeps a handle of the GuestMemory that owns it. Unicorn only touches pages that
        // `tlb_fill` allowed, and those are mapped in the host with at least that access.
        unsafe {
            uc.mem_map_ptr(0, GUEST_LIMIT, UcProt::ALL, mem.host_base().cast())
                .map_err(|e| call_error("mem_map_ptr", e))?;
        }
        uc.add_tlb_hook(0, u64::MAX, tlb_fill)
            .map_err(|e| call_error("add_tlb_hook", e))?;
        uc.add_intr_hook(on_interrupt)
            .map_err(|e| call_error("add_intr_hook", e))?;

        let hwcaps = hwcaps_from_id_registers(&read_id_registers(&uc));
        Ok(EmuVcpu { uc, kick, hwcaps })
    }

    /// Applies pending invalidations, then returns the trap that ended `emu_start`.
    fn trap_after_exit(&mut self, result: Result<(), uc_error>) -> Result<Trap, BackendError> {
        let pc = self.pc();
        match result {
            Err(uc_error::EXCEPTION) => match self.uc.get_data_mut().rejection.take() {
                Some(Rejection::Fault { addr, access }) => Ok(Trap::Fault { addr, access }),
                Some(Rejection::Preempt) => self.interrupted(),
                None => Ok(Trap::Fault {
                    addr: pc,
                    access: Access::Execute,
                }),
            },
            Err(error) => Err(call_error("emu_start", error)),
            // `until` is 0, so a jump to address 0 ends emulation cleanly instead of faulting.
            Ok(()) if pc == 0 => Ok(Trap::Fault {
                addr: 0,
                access: Access::Execute,
            }),
            Ok(()) => self.interrupted(),
        }
    }

    /// Handles a stop for a tick or a kick: the moment to let the TLB grow, if it is full
    /// enough that QEMU would grow it, and to let another guest thread run.
    fn interrupted(&mut self) -> Result<Trap, BackendError> {
        self.kick.pending.store(false, Ordering::Relaxed);
        TICK_DUE.store(false, Ordering::Relaxed);
        let state = self.uc.get_data();
        if state.fills_since_flush * 10 > state.tlb_entries * 7 {
            flush_tlb(&mut self.uc).map_err(|e| call_error("ctl_flush_tlb", e))?;
        }
        serial::yield_if_contended();
        Ok(Trap::Interrupted)
    }
}

/// The reason [`tlb_fill`] rejected a translation.
#[derive(Clone, Copy, Debug)]
enum Rejection {
    /// The guest may not make this access: a fault to report.
    Fault { addr: u64, access: Access },
    /// A tick or a kick is due: stop before the access, then retry it.
    Preempt,
}

/// Reads the ID registers the hwcaps are decoded from; unreadable registers count as zero.
fn read_id_registers(uc: &Unicorn<'_, HookState>) -> IdRegisters {
    let read = |crm: u32, op2: u32| {
        let mut reg = RegisterARM64CP {
            crn: 0,
            crm,
            op0: 3,
            op1: 0,
            op2,
            val: 0,
        };
        match uc.reg_read_arm64_coproc(&mut reg) {
            Ok(()) => reg.val,
            Err(error) => {
                tracing::warn!(crm, op2, ?error, "cannot read ID register; assuming 0");
                0
            }
        }
    };
    IdRegisters {
        isar0: read(6, 0),
        isar1: read(6, 1),
        pfr0: read(4, 0),
        pfr1: read(4, 1),
        mmfr2: read(7, 2),
    }
}

/// Unicorn's TLB-miss hook: an identity translation with the region's permissions.
///
/// A due tick or kick rejects the translation rather than calling `uc_emu_stop`, which in
/// published Unicorn would run the instruction twice (see the module documentation). Unicorn
/// restarts the instruction after a rejection as after a page fault, and `run` resumes the
/// guest there.
///
/// NOTE: a loop that neither traps nor misses the TLB is not preempted. So a guest thread
/// that spins on a flag set by another guest thread keeps that thread from running. The
/// patched Unicorn checks for stops only at block starts, so `uc_emu_stop` from the ticker
/// thread would now be safe, but the kick does not use it yet.
fn tlb_fill(uc: &mut Unicorn<'_, HookState>, addr: u64, kind: MemType) -> Option<TlbEntry> {
    let state = uc.get_data_mut();
    if state.kick.pending.load(Ordering::Relaxed) || TICK_DUE.load(Ordering::Relaxed) {
        state.rejection = Some(Rejection::Preempt);
        return None;
    }

    state.fills_since_flush += 1;
    let access = match kind {
        MemType::WRITE => Access::Write,
        MemType::FETCH => Access::Execute,
        _ => Access::Read,
    };

    let prot = state.mem.translate(addr);
    let allowed = prot.is_some_and(|prot| match access {
        Access::Read => prot.read(),
        Access::Write => prot.write(),
        Access::Execute => prot.exec(),
    });
    let Some(prot) = prot.filter(|_| allowed) else {
        state.rejection = Some(Rejection::Fault { addr, access });
        return None;
    };

    let mut perms = UcProt::NONE;
    if prot.read() {
        perms = UcProt(perms.0 | UcProt::READ.0);
    }
    if prot.write() {
        perms = UcProt(perms.0 | UcProt::WRITE.0);
    }
    if prot.exec() {
        perms = UcProt(perms.0 | UcProt::EXEC.0);
    }
    Some(TlbEntry { paddr: addr, perms })
}

/// Calls the current handler, turning a panic into a recorded failure and Stop.
fn call_handler(uc: &mut Unicorn<'_, HookState>, trap: Trap) -> TrapAction {
    let Some(handler) = uc.get_data().handler else {
        return TrapAction::Stop;
    };
    let mut regs = UcRegs(uc);
    // SAFETY: `handler` was set by `run` from a live `&mut dyn TrapHandler` and is cleared
    // before `run` returns; hooks only fire inside `emu_start`, which `run` calls.
    let result = catch_unwind(AssertUnwindSafe(|| unsafe {
        (*handler).on_trap(&mut regs, trap)
    }));
    match result {
        Ok(action) => action,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            uc.get_data_mut().failure = Some(BackendError::HandlerPanicked(message));
            TrapAction::Stop
        }
    }
}

/// Drops cached translations and code that guest memory changes made stale.
fn sync_epochs(uc: &mut Unicorn<'_, HookState>) -> Result<(), uc_error> {
    let state = uc.get_data_mut();
    let now = state.mem.epochs();
    let seen = std::mem::replace(&mut state.epochs, now);
    if now.code != seen.code {
        uc.ctl_flush_tb()?;
    }
    if now.tlb != seen.tlb {
        flush_tlb(uc)?;
    }
    Ok(())
}

/// Entries in QEMU's TLB before its first resize (CPU_TLB_DYN_DEFAULT_BITS in QEMU 5.0).
const INITIAL_TLB_ENTRIES: u64 = 1 << 8;
/// Most entries QEMU's TLB grows to with 4 KiB pages (CPU_TLB_DYN_MAX_BITS).
const MAX_TLB_ENTRIES: u64 = 1 << 20;

/// Flushes the TLB and tracks its size the way QEMU resizes it on a flush: it doubles when
/// more than 70% of its entries were in use. Refilling a large TLB after a flush costs
/// about as much as running with a small one, so ticks only flush when the TLB would grow.
fn flush_tlb(uc: &mut Unicorn<'_, HookState>) -> Result<(), uc_error> {
    uc.ctl_flush_tlb()?;
    let state = uc.get_data_mut();
    if state.fills_since_flush * 10 > state.tlb_entries * 7 {
        state.tlb_entries = (state.tlb_entries * 2).min(MAX_TLB_ENTRIES);
    }
    state.fills_since_flush = 0;
    Ok(())
}

/// Unicorn's interrupt hook: every synchronous exception the guest raises lands here.
fn on_interrupt(uc: &mut Unicorn<'_, HookState>, intno: u32) {
    let trap = match intno {
        excp::SWI => Trap::Syscall,
        excp::BKPT => Trap::Breakpoint,
        excp::PREFETCH_ABORT => Trap::Fault {
            addr: UcRegs(uc).pc(),
            access: Access::Execute,
        },
        excp::DATA_ABORT => match uc.get_data_mut().rejection.take() {
            Some(Rejection::Fault { addr, access }) => Trap::Fault { addr, access },
            Some(Rejection::Preempt) => Trap::Interrupted,
            None => Trap::Fault {
                addr: 0,
                access: Access::Read,
            },
        },
        excp::UDEF => Trap::Undefined,
        other => {
            tracing::debug!(
                intno = other,
                "unexpected exception number; reporting undefined"
            );
            Trap::Undefined
        }
    };
    ticker_check_after_fork();

    let mut action = call_handler(uc, trap);
    if action == TrapAction::Resume {
        if let Err(error) = sync_epochs(uc) {
            uc.get_data_mut().failure = Some(call_error("flush after memory change", error));
            action = TrapAction::Stop;
        }
    }
    if action == TrapAction::Resume {
        // The run loop reports the tick or kick as Trap::Interrupted once emulation stops.
        stop_if_requested(uc);
    }
    if action == TrapAction::Stop {
        uc.get_data_mut().stopped = true;
        if let Err(error) = uc.emu_stop() {
            tracing::error!(?error, "emu_stop failed inside the interrupt hook");
        }
    }
}

impl Vcpu for EmuVcpu {
    fn run(&mut self, handler: &mut dyn TrapHandler) -> Result<(), BackendError> {
        ensure_ticker();
        // SAFETY: only the lifetime is erased; the pointer is cleared below before `handler`
        // goes out of scope, and hooks only run inside `emu_start` in this function.
        let erased: *mut (dyn TrapHandler + 'static) = unsafe { std::mem::transmute(handler) };
        let state = self.uc.get_data_mut();
        state.handler = Some(erased);
        state.stopped = false;
        serial::acquire();

        let result = loop {
            if let Err(error) = sync_epochs(&mut self.uc) {
                break Err(call_error("flush after memory change", error));
            }
            let pc = self.pc();
            let exit = self.uc.emu_start(pc, 0, 0, 0);

            let state = self.uc.get_data_mut();
            if let Some(failure) = state.failure.take() {
                break Err(failure);
            }
            if state.stopped {
                break Ok(());
            }
            let trap = match self.trap_after_exit(exit) {
                Ok(trap) => trap,
                Err(error) => break Err(error),
            };
            if call_handler(&mut self.uc, trap) == TrapAction::Stop {
                break self.uc.get_data_mut().failure.take().map_or(Ok(()), Err);
            }
        };
        self.uc.get_data_mut().handler = None;
        serial::release();
        result
    }

    fn kicker(&self) -> Kicker {
        Kicker::new(self.kick.clone())
    }

    fn hwcaps(&self) -> (u64, u64) {
        self.hwcaps
    }
}

/// Interrupts one vCPU: marks the request, which the vCPU notices at its next TLB miss or
/// trap (see the module documentation for why it cannot be stopped from here).
struct EmuKick {
    pending: AtomicBool,
}

impl Kick for EmuKick {
    fn kick(&self) {
        self.pending.store(true, Ordering::Relaxed);
    }
}

/// Set by the ticker every [`TICK`], cleared by the vCPU that stops for it.
static TICK_DUE: AtomicBool = AtomicBool::new(false);
/// The pid whose ticker thread is running (0: none, for example in a fresh fork child).
static TICKER_PID: AtomicI32 = AtomicI32::new(0);
static ATFORK: Once = Once::new();

/// Stops emulation if a tick or a kick is due. Only the interrupt hook may call it: the stop
/// is then taken at the start of the next block.
fn stop_if_requested(uc: &mut Unicorn<'_, HookState>) {
    let kicked = uc.get_data().kick.pending.load(Ordering::Relaxed);
    if !kicked && !TICK_DUE.load(Ordering::Relaxed) {
        return;
    }
    if let Err(error) = uc.emu_stop() {
        tracing::error!(?error, "emu_stop failed inside a hook");
    }
}

extern "C" fn reset_in_child() {
    TICKER_PID.store(0, Ordering::SeqCst);
    serial::reset_in_child();
}

/// Starts this process's ticker thread unless it is already running.
fn ensure_ticker() {
    ATFORK.call_once(|| {
        // SAFETY: registers a plain function that only stores to atomics in the child.
        unsafe {
            libc::pthread_atfork(None, None, Some(reset_in_child));
        }
    });
    if TICKER_PID.load(Ordering::SeqCst) != 0 {
        return;
    }
    let pid = std::process::id() as i32;
    TICKER_PID.store(pid, Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .name("carrick-tick".into())
        .spawn(|| loop {
            std::thread::sleep(TICK);
            TICK_DUE.store(true, Ordering::Relaxed);
        });
    if let Err(error) = spawned {
        TICKER_PID.store(0, Ordering::SeqCst);
        tracing::warn!(%error, "cannot start the vCPU ticker; TLB will not grow");
    }
}

/// Restarts the ticker in a child forked from inside a syscall, which never left emu_start.
fn ticker_check_after_fork() {
    if TICKER_PID.load(Ordering::Relaxed) == 0 {
        ensure_ticker();
    }
}

/// The registers of a Unicorn instance, reachable from inside hooks.
struct UcRegs<'a, 'b>(&'a mut Unicorn<'b, HookState>);

fn x_register(n: usize) -> Option<RegisterARM64> {
    use RegisterARM64 as R;
    const LOW: [RegisterARM64; 29] = [
        R::X0,
        R::X1,
        R::X2,
        R::X3,
        R::X4,
        R::X5,
        R::X6,
        R::X7,
        R::X8,
        R::X9,
        R::X10,
        R::X11,
        R::X12,
        R::X13,
        R::X14,
        R::X15,
        R::X16,
        R::X17,
        R::X18,
        R::X19,
        R::X20,
        R::X21,
        R::X22,
        R::X23,
        R::X24,
        R::X25,
        R::X26,
        R::X27,
        R::X28,
    ];
    match n {
        0..=28 => Some(LOW[n]),
        29 => Some(R::X29),
        30 => Some(R::X30),
        _ => None,
    }
}

fn q_register(n: usize) -> Option<i32> {
    (n < 32).then(|| RegisterARM64::Q0 as i32 + n as i32)
}

fn read_reg(uc: &Unicorn<'_, HookState>, reg: RegisterARM64) -> u64 {
    uc.reg_read(reg).unwrap_or_else(|error| {
        tracing::error!(?reg, ?error, "register read failed");
        0
    })
}

fn write_reg(uc: &mut Unicorn<'_, HookState>, reg: RegisterARM64, value: u64) {
    if let Err(error) = uc.reg_write(reg, value) {
        tracing::error!(?reg, ?error, "register write failed");
    }
}

fn read_q(uc: &Unicorn<'_, HookState>, n: usize) -> u128 {
    let Some(reg) = q_register(n) else { return 0 };
    match uc.reg_read_long(reg) {
        Ok(bytes) if bytes.len() >= 16 => {
            let mut raw = [0u8; 16];
            raw.copy_from_slice(&bytes[..16]);
            u128::from_le_bytes(raw)
        }
        other => {
            tracing::error!(n, ?other, "SIMD register read failed");
            0
        }
    }
}

fn write_q(uc: &mut Unicorn<'_, HookState>, n: usize, value: u128) {
    let Some(reg) = q_register(n) else { return };
    if let Err(error) = uc.reg_write_long(reg, &value.to_le_bytes()) {
        tracing::error!(n, ?error, "SIMD register write failed");
    }
}

macro_rules! delegate_registers {
    ($ty:ty, $uc:ident => $get:expr, $get_mut:expr) => {
        impl Registers for $ty {
            fn x(&self, n: usize) -> u64 {
                let $uc = self;
                x_register(n).map_or(0, |reg| read_reg($get, reg))
            }
            fn set_x(&mut self, n: usize, value: u64) {
                let $uc = self;
                if let Some(reg) = x_register(n) {
                    write_reg($get_mut, reg, value);
                }
            }
            fn sp(&self) -> u64 {
                let $uc = self;
                read_reg($get, RegisterARM64::SP)
            }
            fn set_sp(&mut self, value: u64) {
                let $uc = self;
                write_reg($get_mut, RegisterARM64::SP, value)
            }
            fn pc(&self) -> u64 {
                let $uc = self;
                read_reg($get, RegisterARM64::PC)
            }
            fn set_pc(&mut self, value: u64) {
                let $uc = self;
                write_reg($get_mut, RegisterARM64::PC, value)
            }
            fn nzcv(&self) -> u64 {
                let $uc = self;
                read_reg($get, RegisterARM64::NZCV)
            }
            fn set_nzcv(&mut self, value: u64) {
                let $uc = self;
                write_reg($get_mut, RegisterARM64::NZCV, value & 0xf000_0000)
            }
            fn tpidr_el0(&self) -> u64 {
                let $uc = self;
                read_reg($get, RegisterARM64::TPIDR_EL0)
            }
            fn set_tpidr_el0(&mut self, value: u64) {
                let $uc = self;
                write_reg($get_mut, RegisterARM64::TPIDR_EL0, value)
            }
            fn q(&self, n: usize) -> u128 {
                let $uc = self;
                read_q($get, n)
            }
            fn set_q(&mut self, n: usize, value: u128) {
                let $uc = self;
                write_q($get_mut, n, value)
            }
            fn fpcr(&self) -> u64 {
                let $uc = self;
                read_reg($get, RegisterARM64::FPCR)
            }
            fn set_fpcr(&mut self, value: u64) {
                let $uc = self;
                write_reg($get_mut, RegisterARM64::FPCR, value)
            }
            fn fpsr(&self) -> u64 {
                let $uc = self;
                read_reg($get, RegisterARM64::FPSR)
            }
            fn set_fpsr(&mut self, value: u64) {
                let $uc = self;
                write_reg($get_mut, RegisterARM64::FPSR, value)
            }
            fn syscall_args(&self) -> (u64, [u64; 6]) {
                let $uc = self;
                read_syscall_args($get)
            }
        }
    };
}

delegate_registers!(EmuVcpu, this => &this.uc, &mut this.uc);
delegate_registers!(UcRegs<'_, '_>, this => &*this.0, &mut *this.0);

/// Reads x8 and x0-x5 with one call into Unicorn (the syscall path runs a million times a
/// second, and each register read is a separate FFI call otherwise).
fn read_syscall_args(uc: &Unicorn<'_, HookState>) -> (u64, [u64; 6]) {
    use RegisterARM64 as R;
    let ids = [R::X8, R::X0, R::X1, R::X2, R::X3, R::X4, R::X5].map(|reg| reg as i32);
    let mut values = [0u64; 7];
    let mut slots: [*mut std::ffi::c_void; 7] =
        std::array::from_fn(|i| (&raw mut values[i]).cast());
    // SAFETY: `ids` and `slots` both have 7 entries; each slot points at a distinct u64 in
    // `values`, which outlives the call, and every id names a 64-bit register.
    let err = unsafe {
        unicorn_engine::uc_reg_read_batch(uc.get_handle(), ids.as_ptr(), slots.as_mut_ptr(), 7)
    };
    if err != uc_error::OK {
        tracing::error!(?err, "syscall register read failed");
    }
    let [nr, args @ ..] = values;
    (nr, args)
}

#[cfg(test)]
mod tests;
