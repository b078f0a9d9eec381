//! The ELF loader: maps a static, static-pie or dynamically linked arm64 executable (and its
//! PT_INTERP dynamic loader) into a [`GuestMemory`] and builds the initial stack, as Linux's
//! `execve` does. Files are host files the caller already opened: the loader never resolves
//! a path itself, and opens the interpreter through a caller-supplied function, so guest
//! paths are resolved inside the container root by the caller.
//!
//! `#!` scripts are detected and returned to the caller, which resolves the interpreter and
//! calls the loader again with the script path added to the arguments.

pub mod elf;
pub mod stack;

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use crate::mem::space::{page_align_down, page_align_up};
use crate::mem::{
    Backing, GuestMemory, MapRequest, MmError, Placement, Prot, RegionName, GUEST_LIMIT,
    MIN_GUEST_ADDR, PAGE_SIZE,
};
use elf::{
    ElfHeader, ElfKind, Probe, ProgramHeader, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR,
};
use stack::{at, StackContents};

/// Top of the main thread's stack.
pub const STACK_TOP: u64 = GUEST_LIMIT;
/// Size of the main thread's stack mapping (Linux's default RLIMIT_STACK).
pub const STACK_SIZE: u64 = 8 << 20;
/// Where a position-independent executable is loaded (like Linux's ELF_ET_DYN_BASE, scaled
/// to the 1 TiB guest address space, without randomisation).
pub const PIE_BASE: u64 = 0x55_5555_0000;

/// Value of AT_MINSIGSTKSZ.
// NOTE: estimate for a CPU without SVE or SME; replace with the signal frame size once
// signal delivery defines the frame, and compare with the arm64 oracle.
const MINSIGSTKSZ: u64 = 5120;
/// Value of AT_CLKTCK (Linux's USER_HZ).
const CLKTCK: u64 = 100;

/// Why a file could not be loaded. [`LoadError::exit_status`] gives the shell's exit code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoadError {
    /// Neither an ELF file nor a `#!` script.
    #[error("not an executable format (no ELF header or #! line)")]
    NotExecutableFormat,
    /// The file ends inside a header or a segment.
    #[error("truncated ELF file")]
    Truncated,
    /// A 32-bit ELF file.
    #[error("32-bit ELF file; only 64-bit arm64 programs run")]
    Not64Bit,
    /// A big-endian ELF file.
    #[error("big-endian ELF file; only little-endian arm64 programs run")]
    BigEndian,
    /// An ELF file for another architecture.
    #[error("ELF file for machine {machine} ({name}); only arm64 (183) programs run")]
    WrongMachine {
        /// The e_machine field.
        machine: u16,
        /// A readable name of that machine.
        name: &'static str,
    },
    /// An ELF file that is not an executable or shared object (a relocatable or core file).
    #[error("ELF type {0} is not an executable (expected ET_EXEC or ET_DYN)")]
    NotExecutableType(u16),
    /// Program header table with an unexpected entry size or count.
    #[error("invalid program header table")]
    BadProgramHeaders,
    /// A PT_LOAD segment that cannot be mapped (misaligned, overlapping, out of range).
    #[error("invalid loadable segment at {vaddr:#x}")]
    BadSegment {
        /// The segment's p_vaddr.
        vaddr: u64,
    },
    /// A `#!` line without an interpreter, or with one longer than the line Linux reads.
    #[error("invalid #! interpreter line")]
    BadInterpreterLine,
    /// The PT_INTERP path is empty, not NUL-terminated or the interpreter has its own.
    #[error("invalid program interpreter (PT_INTERP)")]
    BadInterpreter,
    /// The program interpreter could not be opened.
    #[error("program interpreter {path} not found: {detail}")]
    InterpreterNotFound {
        /// The PT_INTERP path.
        path: String,
        /// The error from opening it.
        detail: String,
    },
    /// Argument and environment strings exceed the limit (E2BIG).
    #[error("argument list too long")]
    ArgumentsTooLong,
    /// Reading the file failed.
    #[error("read failed: {0}")]
    Io(String),
    /// Mapping guest memory failed.
    #[error("cannot map guest memory: {0}")]
    Memory(#[from] MmError),
}

impl LoadError {
    /// Returns the exit status a shell reports: 127 when a file is missing, 126 otherwise.
    pub fn exit_status(&self) -> i32 {
        match self {
            LoadError::InterpreterNotFound { .. } => 127,
            _ => 126,
        }
    }
}

impl From<io::Error> for LoadError {
    fn from(error: io::Error) -> LoadError {
        LoadError::Io(error.to_string())
    }
}

/// User and group ids the process starts with (AT_UID, AT_EUID, AT_GID, AT_EGID).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Real user id.
    pub uid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective group id.
    pub egid: u32,
}

/// Opens a guest path (the PT_INTERP of a dynamic executable) as a host file.
pub type OpenFn<'a> = dyn FnMut(&[u8]) -> io::Result<File> + 'a;

/// Everything `load` needs besides the executable file.
pub struct ExecRequest<'a> {
    /// The executable's guest path, shown in /proc/self/maps and used as AT_EXECFN.
    pub path: &'a [u8],
    /// Command-line arguments, argv[0] first.
    pub argv: &'a [Vec<u8>],
    /// Environment strings.
    pub envp: &'a [Vec<u8>],
    /// AT_HWCAP and AT_HWCAP2 of the CPU backend.
    pub hwcaps: (u64, u64),
    /// Ids reported in the auxiliary vector.
    pub credentials: Credentials,
    /// Opens the program interpreter by its guest path.
    pub open: &'a mut OpenFn<'a>,
}

/// A mapped ELF image (the executable or its interpreter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedImage {
    /// Load bias: address minus link address.
    pub bias: u64,
    /// Entry point after relocation.
    pub entry: u64,
    /// The guest path of the file.
    pub path: Vec<u8>,
    /// First mapped address.
    pub start: u64,
    /// One past the last mapped address (end of bss).
    pub end: u64,
}

/// A loaded process image, ready to run.
#[derive(Debug)]
pub struct Loaded {
    /// The PC to start at (the interpreter's entry if there is one).
    pub entry: u64,
    /// The initial stack pointer.
    pub sp: u64,
    /// The auxiliary vector bytes (/proc/self/auxv).
    pub auxv: Vec<u8>,
    /// The executable.
    pub executable: MappedImage,
    /// The program interpreter, for dynamically linked executables.
    pub interpreter: Option<MappedImage>,
}

/// The result of trying to execute a file.
#[derive(Debug)]
pub enum Outcome {
    /// The file was an ELF executable and is now loaded.
    Loaded(Loaded),
    /// The file is a `#!` script; nothing was mapped. The caller runs `interpreter` with
    /// `arg` (if any), then the script path, then the original arguments after argv[0].
    Script {
        /// Interpreter path from the `#!` line.
        interpreter: Vec<u8>,
        /// Optional single argument from the `#!` line.
        arg: Option<Vec<u8>>,
    },
}

/// Reads up to [`elf::PROBE_LEN`] bytes from the start of `file`.
fn read_head(file: &File) -> Result<Vec<u8>, LoadError> {
    let mut head = vec![0u8; elf::PROBE_LEN];
    let mut filled = 0;
    while filled < head.len() {
        let n = file.read_at(&mut head[filled..], filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    Ok(head)
}

fn read_exact_at(file: &File, len: usize, offset: u64) -> Result<Vec<u8>, LoadError> {
    let mut buf = vec![0u8; len];
    match file.read_exact_at(&mut buf, offset) {
        Ok(()) => Ok(buf),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Err(LoadError::Truncated),
        Err(error) => Err(error.into()),
    }
}

/// Loads `file` into `mem` (which should be empty) and builds the initial stack.
pub fn load(
    mem: &GuestMemory,
    file: &File,
    request: ExecRequest<'_>,
) -> Result<Outcome, LoadError> {
    let header = match elf::probe(&read_head(file)?)? {
        Probe::Script { interpreter, arg } => return Ok(Outcome::Script { interpreter, arg }),
        Probe::Elf(header) => header,
    };
    let phdrs = read_program_headers(file, &header)?;

    let interp_path = interpreter_path(file, &phdrs)?;
    let base = match (header.kind, &interp_path) {
        (ElfKind::Fixed, _) => None,
        (ElfKind::Dynamic, Some(_)) => Some(PIE_BASE),
        // A static-pie is placed like an interpreter: anywhere free.
        (ElfKind::Dynamic, None) => Some(0),
    };
    let executable = map_image(mem, file, &header, &phdrs, request.path, base)?;
    mem.set_brk_start(executable.end);

    let interpreter = match interp_path {
        None => None,
        Some(path) => {
            let interp_file =
                (request.open)(&path).map_err(|error| LoadError::InterpreterNotFound {
                    path: String::from_utf8_lossy(&path).into_owned(),
                    detail: error.to_string(),
                })?;
            let interp_header = match elf::probe(&read_head(&interp_file)?)? {
                Probe::Elf(h) if h.kind == ElfKind::Dynamic => h,
                _ => return Err(LoadError::BadInterpreter),
            };
            let interp_phdrs = read_program_headers(&interp_file, &interp_header)?;
            if interpreter_path(&interp_file, &interp_phdrs)?.is_some() {
                return Err(LoadError::BadInterpreter);
            }
            Some(map_image(
                mem,
                &interp_file,
                &interp_header,
                &interp_phdrs,
                &path,
                Some(0),
            )?)
        }
    };

    let phdr_addr =
        phdr_address(&header, &phdrs).map_or(0, |addr| addr.wrapping_add(executable.bias));
    let (hwcap, hwcap2) = request.hwcaps;
    let creds = request.credentials;
    let auxv = [
        (at::HWCAP, hwcap),
        (at::PAGESZ, PAGE_SIZE),
        (at::CLKTCK, CLKTCK),
        (at::PHDR, phdr_addr),
        (at::PHENT, elf::PHENT),
        (at::PHNUM, header.phnum as u64),
        (at::BASE, interpreter.as_ref().map_or(0, |image| image.bias)),
        (at::FLAGS, 0),
        (at::ENTRY, executable.entry),
        (at::UID, u64::from(creds.uid)),
        (at::EUID, u64::from(creds.euid)),
        (at::GID, u64::from(creds.gid)),
        (at::EGID, u64::from(creds.egid)),
        (at::SECURE, 0),
        (at::HWCAP2, hwcap2),
        (at::MINSIGSTKSZ, MINSIGSTKSZ),
    ];
    let (sp, auxv) = build_stack(mem, &request, &auxv)?;

    let entry = interpreter
        .as_ref()
        .map_or(executable.entry, |image| image.entry);
    Ok(Outcome::Loaded(Loaded {
        entry,
        sp,
        auxv,
        executable,
        interpreter,
    }))
}

fn read_program_headers(file: &File, header: &ElfHeader) -> Result<Vec<ProgramHeader>, LoadError> {
    let table = read_exact_at(file, elf::table_len(header), header.phoff)?;
    elf::program_headers(&table, header)
}

/// Returns the PT_INTERP path (without its NUL), if the file has one.
fn interpreter_path(file: &File, phdrs: &[ProgramHeader]) -> Result<Option<Vec<u8>>, LoadError> {
    let Some(interp) = phdrs.iter().find(|ph| ph.kind == PT_INTERP) else {
        return Ok(None);
    };
    if interp.filesz < 2 || interp.filesz > PAGE_SIZE {
        return Err(LoadError::BadInterpreter);
    }
    let mut path = read_exact_at(file, interp.filesz as usize, interp.offset)?;
    if path.pop() != Some(0) || path.contains(&0) {
        return Err(LoadError::BadInterpreter);
    }
    Ok(Some(path))
}

/// Returns the link-time address of the program header table, as Linux computes AT_PHDR.
fn phdr_address(header: &ElfHeader, phdrs: &[ProgramHeader]) -> Option<u64> {
    if let Some(ph) = phdrs.iter().find(|ph| ph.kind == PT_PHDR) {
        return Some(ph.vaddr);
    }
    phdrs
        .iter()
        .filter(|ph| ph.kind == PT_LOAD)
        .find(|ph| ph.offset <= header.phoff && header.phoff < ph.offset + ph.filesz)
        .map(|ph| ph.vaddr + (header.phoff - ph.offset))
}

fn segment_prot(flags: u32) -> Prot {
    Prot::new(flags & PF_R != 0, flags & PF_W != 0, flags & PF_X != 0)
}

/// Maps the PT_LOAD segments of one ELF file. `base` is `None` for ET_EXEC, `Some(addr)` for
/// ET_DYN (0: any free range).
fn map_image(
    mem: &GuestMemory,
    file: &File,
    header: &ElfHeader,
    phdrs: &[ProgramHeader],
    path: &[u8],
    base: Option<u64>,
) -> Result<MappedImage, LoadError> {
    let loads: Vec<&ProgramHeader> = phdrs.iter().filter(|ph| ph.kind == PT_LOAD).collect();
    let file_len = file.metadata()?.len();
    for ph in &loads {
        let bad = LoadError::BadSegment { vaddr: ph.vaddr };
        if ph.filesz > ph.memsz || ph.vaddr % PAGE_SIZE != ph.offset % PAGE_SIZE {
            return Err(bad);
        }
        if ph
            .offset
            .checked_add(ph.filesz)
            .is_none_or(|end| end > file_len)
        {
            return Err(LoadError::Truncated);
        }
    }
    let (Some(first), Some(last)) = (
        loads.first(),
        loads.iter().max_by_key(|ph| ph.vaddr + ph.memsz),
    ) else {
        return Err(LoadError::BadProgramHeaders);
    };
    let low = page_align_down(first.vaddr);
    let high = segment_end(last)?;
    let span = high - low;

    // Reserve the whole span first so the segments keep their relative placement.
    let align = loads
        .iter()
        .map(|ph| ph.align)
        .max()
        .unwrap_or(PAGE_SIZE)
        .max(PAGE_SIZE);
    let reserve = |placement: Placement, addr: u64, len: u64| {
        let request = MapRequest {
            addr,
            placement,
            ..MapRequest::anon(len, Prot::NONE)
        };
        mem.mmap(request)
    };
    let bias = match base {
        None => {
            if low < MIN_GUEST_ADDR || high > GUEST_LIMIT {
                return Err(LoadError::BadSegment { vaddr: first.vaddr });
            }
            reserve(Placement::FixedNoReplace, low, span)?;
            0
        }
        Some(hint) => {
            // Over-reserve so an aligned start exists, then trim the excess.
            let padded = span
                .checked_add(align)
                .ok_or(LoadError::BadSegment { vaddr: first.vaddr })?;
            let raw = reserve(Placement::Hint, hint, padded)?;
            let start = raw.div_ceil(align) * align;
            if start > raw {
                mem.munmap(raw, start - raw)?;
            }
            if start + span < raw + padded {
                mem.munmap(start + span, raw + padded - start - span)?;
            }
            start.wrapping_sub(low)
        }
    };

    for ph in &loads {
        map_segment(mem, file, ph, bias, path)?;
    }
    Ok(MappedImage {
        bias,
        entry: header.entry.wrapping_add(bias),
        path: path.to_vec(),
        start: low.wrapping_add(bias),
        end: high.wrapping_add(bias),
    })
}

fn segment_end(last: &ProgramHeader) -> Result<u64, LoadError> {
    last.vaddr
        .checked_add(last.memsz)
        .and_then(page_align_up)
        .ok_or(LoadError::BadSegment { vaddr: last.vaddr })
}

/// Maps one PT_LOAD segment: file pages, the zeroed tail of the last file page, then
/// anonymous pages for the rest of the bss.
fn map_segment(
    mem: &GuestMemory,
    file: &File,
    ph: &ProgramHeader,
    bias: u64,
    path: &[u8],
) -> Result<(), LoadError> {
    let prot = segment_prot(ph.flags);
    let vaddr = ph.vaddr.wrapping_add(bias);
    let start = page_align_down(vaddr);
    let file_end = vaddr + ph.filesz;
    let mem_end =
        page_align_up(vaddr + ph.memsz).ok_or(LoadError::BadSegment { vaddr: ph.vaddr })?;

    if ph.filesz > 0 {
        let mapped_end =
            page_align_up(file_end).ok_or(LoadError::BadSegment { vaddr: ph.vaddr })?;
        let writable_for_zeroing = Prot::new(prot.read(), true, prot.exec());
        let request = MapRequest {
            addr: start,
            placement: Placement::FixedReplace,
            backing: Backing::File {
                fd: file.as_fd(),
                offset: page_align_down(ph.offset),
                shared: false,
                path,
            },
            ..MapRequest::anon(mapped_end - start, writable_for_zeroing)
        };
        mem.mmap(request)?;
        if ph.memsz > ph.filesz && mapped_end > file_end {
            mem.zero(file_end, mapped_end - file_end)
                .map_err(|_| LoadError::BadSegment { vaddr: ph.vaddr })?;
        }
        mem.mprotect(start, mapped_end - start, prot)?;
        if mem_end > mapped_end {
            map_anon_fixed(mem, mapped_end, mem_end - mapped_end, prot)?;
        }
    } else if mem_end > start {
        map_anon_fixed(mem, start, mem_end - start, prot)?;
    }
    Ok(())
}

fn map_anon_fixed(mem: &GuestMemory, addr: u64, len: u64, prot: Prot) -> Result<(), MmError> {
    let request = MapRequest {
        addr,
        placement: Placement::FixedReplace,
        ..MapRequest::anon(len, prot)
    };
    mem.mmap(request).map(|_| ())
}

/// Maps the main thread's stack and writes the initial stack contents into it.
fn build_stack(
    mem: &GuestMemory,
    request: &ExecRequest<'_>,
    auxv: &[(u64, u64)],
) -> Result<(u64, Vec<u8>), LoadError> {
    let stack_low = STACK_TOP - STACK_SIZE;
    let stack = MapRequest {
        addr: stack_low,
        placement: Placement::FixedNoReplace,
        grows_down: true,
        ..MapRequest::anon(STACK_SIZE, Prot::RW)
    };
    mem.mmap(stack)?;
    mem.set_name(stack_low, RegionName::Stack);

    let mut random = [0u8; 16];
    fill_random(&mut random)?;
    let contents = StackContents {
        argv: request.argv,
        envp: request.envp,
        execfn: request.path,
        platform: b"aarch64",
        random,
        auxv,
        max_strings: (STACK_SIZE / 4) as usize,
    };
    let image = stack::build(STACK_TOP, &contents)?;
    mem.write(image.sp, &image.bytes)
        .map_err(|_| LoadError::ArgumentsTooLong)?;
    Ok((image.sp, image.auxv))
}

/// Fills `buf` from the host's random source (AT_RANDOM seeds the guest's stack protector).
fn fill_random(buf: &mut [u8]) -> Result<(), LoadError> {
    // SAFETY: getrandom writes at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        return Err(io::Error::last_os_error().into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
