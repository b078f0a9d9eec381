//! Cost of one trivial syscall through the generated dispatch table: decoding the argument
//! registers and calling the handler (`gettid`, which touches no host state), as the trap
//! loop does for every `svc #0`. Run with `cargo bench -p carrick-runtime --bench dispatch`;
//! prints nanoseconds per call (best of several rounds).

use std::hint::black_box;
use std::time::Instant;

use carrick_runtime::backend::Registers;
use carrick_runtime::linux::nr;
use carrick_runtime::mem::GuestMemory;
use carrick_runtime::process::{Process, Thread};
use carrick_runtime::sys::{dispatch, SyscallContext};

/// A register file in host memory, standing in for a vCPU.
#[derive(Default)]
struct Regs {
    x: [u64; 31],
    sp: u64,
    pc: u64,
}

impl Registers for Regs {
    fn x(&self, n: usize) -> u64 {
        self.x.get(n).copied().unwrap_or(0)
    }
    fn set_x(&mut self, n: usize, value: u64) {
        if let Some(slot) = self.x.get_mut(n) {
            *slot = value;
        }
    }
    fn sp(&self) -> u64 {
        self.sp
    }
    fn set_sp(&mut self, value: u64) {
        self.sp = value;
    }
    fn pc(&self) -> u64 {
        self.pc
    }
    fn set_pc(&mut self, value: u64) {
        self.pc = value;
    }
    fn nzcv(&self) -> u64 {
        0
    }
    fn set_nzcv(&mut self, _: u64) {}
    fn tpidr_el0(&self) -> u64 {
        0
    }
    fn set_tpidr_el0(&mut self, _: u64) {}
    fn q(&self, _: usize) -> u128 {
        0
    }
    fn set_q(&mut self, _: usize, _: u128) {}
    fn fpcr(&self) -> u64 {
        0
    }
    fn set_fpcr(&mut self, _: u64) {}
    fn fpsr(&self) -> u64 {
        0
    }
    fn set_fpsr(&mut self, _: u64) {}
}

fn main() -> std::io::Result<()> {
    let process = Process::new(GuestMemory::new()?, 0, 0, "bench");
    let mut thread = Thread::new(4242);
    let mut regs = Regs::default();
    const CALLS: u32 = 10_000_000;

    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..CALLS {
            let mut cx = SyscallContext {
                process: &process,
                thread: &mut thread,
                regs: &mut regs,
            };
            let result = dispatch(
                &mut cx,
                black_box(nr::GETTID),
                black_box([1, 2, 3, 4, 5, 6]),
            );
            black_box(result);
        }
        let per_call = start.elapsed().as_nanos() as f64 / f64::from(CALLS);
        best = best.min(per_call);
    }
    println!("dispatch of gettid through the generated table: {best:.1} ns per call (best of 5 x {CALLS})");
    Ok(())
}
