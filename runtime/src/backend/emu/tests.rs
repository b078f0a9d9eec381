use super::*;
use crate::mem::{MapRequest, Placement, Prot};

const CODE: u64 = 0x40_0000;
const DATA: u64 = 0x50_0000;

const SVC: u32 = 0xd400_0001;
const UDF: u32 = 0x0000_0000;
const BRK: u32 = 0xd420_0000;
const B_BACK: u32 = 0x17ff_ffff;
const LDR_X1_X0: u32 = 0xf940_0001;
const STR_X1_X0: u32 = 0xf900_0001;
const ADD_X0_1: u32 = 0x9100_0400;
const ADD_X1_1: u32 = 0x9100_0421;

fn movz(reg: u32, imm: u16) -> u32 {
    0xd280_0000 | u32::from(imm) << 5 | reg
}

fn map(mem: &GuestMemory, addr: u64, prot: Prot) {
    let request = MapRequest {
        addr,
        placement: Placement::FixedReplace,
        ..MapRequest::anon(PAGE_SIZE, Prot::RW)
    };
    mem.mmap(request).expect("map page");
    mem.mprotect(addr, PAGE_SIZE, prot).expect("protect page");
}

fn machine(code: &[u32]) -> (GuestMemory, EmuVcpu) {
    let mem = GuestMemory::new().expect("guest memory");
    map(&mem, CODE, Prot::RW);
    let bytes: Vec<u8> = code.iter().flat_map(|insn| insn.to_le_bytes()).collect();
    mem.write(CODE, &bytes).expect("write code");
    mem.mprotect(CODE, PAGE_SIZE, Prot::RX)
        .expect("make code executable");
    let mut vcpu = EmuVcpu::new(mem.clone()).expect("vcpu");
    vcpu.set_pc(CODE);
    (mem, vcpu)
}

/// Records every trap with the PC and x0 at that moment; stops after `limit` traps.
struct Recorder<F: FnMut(&mut dyn Registers, Trap) -> TrapAction> {
    traps: Vec<(Trap, u64, u64)>,
    keep_interrupts: bool,
    react: F,
}

impl<F: FnMut(&mut dyn Registers, Trap) -> TrapAction> TrapHandler for Recorder<F> {
    fn on_trap(&mut self, regs: &mut dyn Registers, trap: Trap) -> TrapAction {
        // The ticker interrupts any vCPU now and then; only the kick test asks for those.
        if trap == Trap::Interrupted && !self.keep_interrupts {
            return TrapAction::Resume;
        }
        self.traps.push((trap, regs.pc(), regs.x(0)));
        (self.react)(regs, trap)
    }
}

fn recorder<F: FnMut(&mut dyn Registers, Trap) -> TrapAction>(react: F) -> Recorder<F> {
    Recorder {
        keep_interrupts: false,
        traps: Vec::new(),
        react,
    }
}

#[test]
fn syscall_handled_in_hook() {
    let (_mem, mut vcpu) = machine(&[movz(0, 5), SVC, ADD_X0_1, SVC]);
    let mut calls = 0;
    let mut handler = recorder(|regs, _| {
        calls += 1;
        if calls == 1 {
            regs.set_x(0, 10);
            TrapAction::Resume
        } else {
            TrapAction::Stop
        }
    });
    vcpu.run(&mut handler).expect("run");
    assert_eq!(handler.traps[0], (Trap::Syscall, CODE + 8, 5));
    assert_eq!(handler.traps[1], (Trap::Syscall, CODE + 16, 11));
}

#[test]
fn unmapped_load_reports_fault() {
    let (_mem, mut vcpu) = machine(&[LDR_X1_X0]);
    vcpu.set_x(0, 0x6000_0010);
    let mut handler = recorder(|_, _| TrapAction::Stop);
    vcpu.run(&mut handler).expect("run");
    let fault = Trap::Fault {
        addr: 0x6000_0000,
        access: Access::Read,
    };
    assert_eq!(handler.traps, vec![(fault, CODE, 0x6000_0010)]);
}

#[test]
fn store_to_read_only_reports_write_fault() {
    let (mem, mut vcpu) = machine(&[STR_X1_X0]);
    map(&mem, DATA, Prot::READ);
    vcpu.set_x(0, DATA);
    let mut handler = recorder(|_, _| TrapAction::Stop);
    vcpu.run(&mut handler).expect("run");
    let fault = Trap::Fault {
        addr: DATA,
        access: Access::Write,
    };
    assert_eq!(handler.traps, vec![(fault, CODE, DATA)]);
}

#[test]
fn fetch_from_data_page_faults() {
    let (mem, mut vcpu) = machine(&[SVC]);
    map(&mem, DATA, Prot::RW);
    vcpu.set_pc(DATA);
    let mut handler = recorder(|_, _| TrapAction::Stop);
    vcpu.run(&mut handler).expect("run");
    let fault = Trap::Fault {
        addr: DATA,
        access: Access::Execute,
    };
    assert_eq!(handler.traps[0].0, fault);
}

#[test]
fn undefined_and_breakpoint_stop_at_insn() {
    let (_mem, mut vcpu) = machine(&[UDF, BRK]);
    let mut handler = recorder(|regs, trap| {
        if trap == Trap::Undefined {
            let pc = regs.pc();
            regs.set_pc(pc + 4);
            TrapAction::Resume
        } else {
            TrapAction::Stop
        }
    });
    vcpu.run(&mut handler).expect("run");
    let kinds: Vec<_> = handler
        .traps
        .iter()
        .map(|(trap, pc, _)| (*trap, *pc))
        .collect();
    assert_eq!(
        kinds,
        vec![(Trap::Undefined, CODE), (Trap::Breakpoint, CODE + 4)]
    );
}

#[test]
fn munmap_during_syscall_invalidates_tlb() {
    let (mem, mut vcpu) = machine(&[LDR_X1_X0, SVC, LDR_X1_X0, SVC]);
    map(&mem, DATA, Prot::RW);
    mem.write_obj(DATA, &77u64).expect("write data");
    vcpu.set_x(0, DATA);
    let inner = mem.clone();
    let mut handler = recorder(move |regs, trap| {
        if trap == Trap::Syscall && regs.x(1) == 77 {
            inner.munmap(DATA, PAGE_SIZE).expect("munmap");
            TrapAction::Resume
        } else {
            TrapAction::Stop
        }
    });
    vcpu.run(&mut handler).expect("run");
    let traps: Vec<_> = handler
        .traps
        .iter()
        .map(|(trap, pc, _)| (*trap, *pc))
        .collect();
    let fault = Trap::Fault {
        addr: DATA,
        access: Access::Read,
    };
    assert_eq!(traps, vec![(Trap::Syscall, CODE + 8), (fault, CODE + 8)]);
}

#[test]
fn kick_interrupts_syscall_loop() {
    let (_mem, mut vcpu) = machine(&[SVC, B_BACK]);
    let kicker = vcpu.kicker();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        kicker.kick();
    });
    let mut handler = recorder(|_, trap| {
        if trap == Trap::Syscall {
            TrapAction::Resume
        } else {
            TrapAction::Stop
        }
    });
    handler.keep_interrupts = true;
    vcpu.run(&mut handler).expect("run");
    thread.join().expect("kicker thread");
    let (last, pc, _) = *handler.traps.last().expect("at least one trap");
    assert_eq!(last, Trap::Interrupted);
    assert!(pc == CODE || pc == CODE + 4, "pc {pc:#x}");
    assert!(handler
        .traps
        .iter()
        .rev()
        .skip(1)
        .all(|(trap, _, _)| *trap == Trap::Syscall));
}

#[test]
fn registers_round_trip() {
    let (_mem, mut vcpu) = machine(&[SVC]);
    for n in 0..=30 {
        vcpu.set_x(n, 0x1000 + n as u64);
    }
    vcpu.set_sp(0x7fff_0000);
    vcpu.set_tpidr_el0(0x1234_5678);
    vcpu.set_nzcv(0x6000_0000);
    vcpu.set_q(31, 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff);
    vcpu.set_fpcr(0x0040_0000);
    for n in 0..=30 {
        assert_eq!(vcpu.x(n), 0x1000 + n as u64, "x{n}");
    }
    assert_eq!(vcpu.sp(), 0x7fff_0000);
    assert_eq!(vcpu.tpidr_el0(), 0x1234_5678);
    assert_eq!(vcpu.nzcv(), 0x6000_0000);
    assert_eq!(vcpu.q(31), 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff);
    assert_eq!(vcpu.fpcr(), 0x0040_0000);
}

#[test]
fn max_cpu_reports_atomics_and_fp() {
    let (_mem, vcpu) = machine(&[SVC]);
    let (hwcap, _) = vcpu.hwcaps();
    assert_ne!(hwcap & 1, 0, "FP");
    assert_ne!(hwcap & (1 << 8), 0, "ATOMICS");
}

const LDR_X0_X0: u32 = 0xf940_0000;

/// A kick pending while the TLB is filled for a load must not make that load run twice:
/// `ldr x0, [x0]` run again would load through the value it just loaded.
#[test]
fn kick_at_tlb_miss_runs_load_once() {
    let (mem, mut vcpu) = machine(&[SVC, ADD_X1_1, LDR_X0_X0, ADD_X1_1, SVC]);
    map(&mem, DATA, Prot::RW);
    mem.write_obj(DATA, &0x6000_0000u64).expect("write data");
    vcpu.set_x(0, DATA);

    // The first run translates the code page and fills its TLB entry, so the second run's
    // first TLB miss is the load from DATA.
    let mut first = recorder(|_, _| TrapAction::Stop);
    vcpu.run(&mut first).expect("first run");
    assert_eq!(first.traps, vec![(Trap::Syscall, CODE + 4, DATA)]);

    vcpu.kicker().kick();
    let mut second = recorder(|_, _| TrapAction::Stop);
    vcpu.run(&mut second).expect("second run");
    assert_eq!(second.traps, vec![(Trap::Syscall, CODE + 20, 0x6000_0000)]);
    assert_eq!(vcpu.x(1), 2);
}

/// Chases a cycle of pointers through more pages than the TLB holds, so most loads miss,
/// while another thread kicks the vCPU again and again: every load must run exactly once.
#[test]
fn pointer_chase_survives_kicks() {
    const PAGES: u64 = 1024;
    const ROUNDS: u64 = 100_000;
    // x0: current node, x1: loads done, x2: loads to do.
    //   loop: ldr x0, [x0]; add x1, x1, #1; cmp x1, x2; b.ne loop; svc #0
    let (mem, mut vcpu) = machine(&[LDR_X0_X0, ADD_X1_1, 0xeb02_003f, 0x54ff_ffa1, SVC]);
    let base = 0x1000_0000;
    let request = MapRequest {
        addr: base,
        placement: Placement::FixedReplace,
        ..MapRequest::anon(PAGES * PAGE_SIZE, Prot::RW)
    };
    mem.mmap(request).expect("map the chain");
    // Node k lives at the start of page k * 7 mod PAGES and points at node k + 1.
    let node = |k: u64| base + (k * 7 % PAGES) * PAGE_SIZE;
    for k in 0..PAGES {
        mem.write_obj(node(k), &node((k + 1) % PAGES))
            .expect("write node");
    }
    vcpu.set_x(0, node(0));
    vcpu.set_x(2, ROUNDS);

    let kicker = vcpu.kicker();
    let done = Arc::new(AtomicBool::new(false));
    let stop_kicking = done.clone();
    let thread = std::thread::spawn(move || {
        while !stop_kicking.load(Ordering::Relaxed) {
            kicker.kick();
            std::thread::sleep(Duration::from_micros(20));
        }
    });
    let mut handler = recorder(|_, trap| {
        if trap == Trap::Interrupted {
            TrapAction::Resume
        } else {
            TrapAction::Stop
        }
    });
    handler.keep_interrupts = true;
    vcpu.run(&mut handler).expect("run");
    done.store(true, Ordering::Relaxed);
    thread.join().expect("kicker thread");

    let interrupts = handler.traps.len() - 1;
    assert!(interrupts > 0, "the kicks never stopped the loop");
    let last = *handler.traps.last().expect("a trap");
    assert_eq!(last, (Trap::Syscall, CODE + 20, node(ROUNDS % PAGES)));
    assert_eq!(vcpu.x(1), ROUNDS);
}

/// The Unicorn carrick builds checks for a stop request only at the start of a block while
/// no memory hook is installed (third_party/README.md). So `uc_emu_stop` called from the
/// TLB-fill hook, in the middle of a load, stops after the block and never runs the load
/// twice, which published Unicorn 2.1.5 does. A pointer chase would then skip nodes.
#[test]
fn stop_in_tlb_fill_waits_for_block_end() {
    const PAGES: u64 = 512;
    const ROUNDS: u64 = 20_000;
    const BASE: u64 = 0x1000_0000;
    let node = |k: u64| BASE + (k * 7 % PAGES) * PAGE_SIZE;

    let mut uc = Unicorn::new(Arch::ARM64, Mode::ARM).expect("unicorn");
    uc.ctl_set_cpu_model(Arm64CpuModel::MAX as i32)
        .expect("cpu model");
    uc.ctl_set_tlb_type(TlbType::VIRTUAL).expect("tlb type");
    uc.mem_map(CODE, PAGE_SIZE, UcProt::ALL).expect("map code");
    uc.mem_map(BASE, PAGES * PAGE_SIZE, UcProt::ALL)
        .expect("map chain");
    //   loop: ldr x0, [x0]; add x1, x1, #1; cmp x1, x2; b.ne loop; svc #0
    let code = [LDR_X0_X0, ADD_X1_1, 0xeb02_003f, 0x54ff_ffa1, SVC];
    let bytes: Vec<u8> = code.iter().flat_map(|insn| insn.to_le_bytes()).collect();
    uc.mem_write(CODE, &bytes).expect("write code");
    for k in 0..PAGES {
        let next = node((k + 1) % PAGES).to_le_bytes();
        uc.mem_write(node(k), &next).expect("write node");
    }
    uc.reg_write(RegisterARM64::X0, node(0)).expect("x0");
    uc.reg_write(RegisterARM64::X2, ROUNDS).expect("x2");

    let fills = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = fills.clone();
    uc.add_tlb_hook(0, u64::MAX, move |uc, addr, _kind| {
        counted.fetch_add(1, Ordering::Relaxed);
        uc.emu_stop().expect("stop from the fill hook");
        Some(TlbEntry {
            paddr: addr,
            perms: UcProt::ALL,
        })
    })
    .expect("tlb hook");
    let reached_svc = Arc::new(AtomicBool::new(false));
    let reached = reached_svc.clone();
    uc.add_intr_hook(move |uc, _intno| {
        reached.store(true, Ordering::Relaxed);
        uc.emu_stop().expect("stop at svc");
    })
    .expect("intr hook");

    let mut pc = CODE;
    let mut starts = 0;
    while !reached_svc.load(Ordering::Relaxed) {
        uc.emu_start(pc, 0, 0, 0).expect("emulate");
        pc = uc.reg_read(RegisterARM64::PC).expect("pc");
        starts += 1;
        assert!(starts < 10 * ROUNDS, "the chase does not finish");
    }

    assert!(
        fills.load(Ordering::Relaxed) > PAGES,
        "the loads did not miss the TLB"
    );
    assert_eq!(uc.reg_read(RegisterARM64::X1).expect("x1"), ROUNDS);
    assert_eq!(
        uc.reg_read(RegisterARM64::X0).expect("x0"),
        node(ROUNDS % PAGES)
    );
}
