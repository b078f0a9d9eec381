//! The ELF loader: maps an arm64 executable (static, static-pie or dynamic) and its program
//! interpreter into a fresh guest address space and builds the initial stack Linux gives a
//! new process (argc, argv, envp, auxiliary vector). `#!` scripts are recognised and
//! returned to the caller, which resolves the interpreter inside the guest's root and loads
//! that instead.
//!
//! Inputs are host files the caller has already resolved and opened; the loader never looks
//! up a path itself. Every header field is validated before use, so a truncated or hostile
//! file yields a [`LoadError`], never a panic.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::{pod, LittleEndian as LE};

use crate::linux::AuxvType;
use crate::mem::{Backing, GuestMemory, MapRequest, Placement, Prot, RegionName, PAGE_SIZE};

/// Where a position-independent main executable is placed (ELF_ET_DYN_BASE on Linux is
/// two thirds of the address space; this is the same idea scaled to carrick's 1 TiB).
const ET_DYN_BASE: u64 = 0xaa_aaaa_0000;
/// Size of the main thread's stack mapping.
pub const STACK_SIZE: u64 = 8 << 20;
/// Longest `#!` line Linux reads (BINPRM_BUF_SIZE).
const SHEBANG_MAX: usize = 256;
/// Most program headers accepted, as a bound on hostile input.
const MAX_PHNUM: usize = 512;
/// Nested `#!` interpreters allowed before giving up, as Linux does.
pub const MAX_SHEBANG_DEPTH: usize = 4;

/// Why a file could not be loaded. The CLI turns each into one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    /// Not an ELF file and not a `#!` script.
    #[error("not an executable: no ELF header or #! line")]
    NotExecutable,
    /// An ELF file for another machine.
    #[error("not an arm64 program: ELF machine {0} ({1})")]
    WrongMachine(u16, &'static str),
    /// A 32-bit ELF file.
    #[error("not a 64-bit program: 32-bit ELF")]
    Not64Bit,
    /// A big-endian ELF file.
    #[error("not a little-endian program: big-endian ELF")]
    BigEndian,
    /// Neither an executable nor a shared object.
    #[error("not an executable ELF file (type {0})")]
    WrongType(u16),
    /// Headers point outside the file or are inconsistent.
    #[error("corrupt or truncated ELF file: {0}")]
    Corrupt(&'static str),
    /// The guest address space could not hold the program.
    #[error("cannot map the program: {0}")]
    Memory(#[from] crate::mem::MmError),
    /// A guest memory write failed while building the stack.
    #[error("cannot build the initial stack: {0}")]
    Stack(#[from] crate::mem::Fault),
    /// The arguments and environment do not fit in a quarter of the stack (E2BIG).
    #[error("argument list too long")]
    ArgumentsTooLong,
}

/// What the first bytes of an executable file say it is.
#[derive(Debug, PartialEq, Eq)]
pub enum FileKind {
    Elf,
    /// A `#!` script: the interpreter path and its optional single argument.
    Script {
        interpreter: Vec<u8>,
        argument: Option<Vec<u8>>,
    },
}

/// Reads the start of `file` and classifies it.
pub fn classify(file: &File) -> Result<FileKind, LoadError> {
    let mut head = [0u8; SHEBANG_MAX];
    let len = read_prefix(file, &mut head)?;
    let head = &head[..len];
    if head.starts_with(&elf::ELFMAG) {
        return Ok(FileKind::Elf);
    }
    if let Some(rest) = head.strip_prefix(b"#!") {
        return parse_shebang(rest).ok_or(LoadError::NotExecutable);
    }
    Err(LoadError::NotExecutable)
}

fn read_prefix(file: &File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read_at(&mut buffer[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Parses the rest of a `#!` line as Linux does: blanks separate the interpreter from one
/// optional argument, which runs to the end of the line (trailing blanks removed).
fn parse_shebang(rest: &[u8]) -> Option<FileKind> {
    let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = &rest[..line_end];
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = line.iter().position(|b| !is_blank(b))?;
    let line = &line[start..];
    let end = line.iter().rposition(|b| !is_blank(b))? + 1;
    let line = &line[..end];
    let (interpreter, argument) = match line.iter().position(is_blank) {
        Some(split) => {
            let argument = &line[split..];
            let arg_start = argument
                .iter()
                .position(|b| !is_blank(b))
                .unwrap_or(argument.len());
            (&line[..split], Some(argument[arg_start..].to_vec()))
        }
        None => (line, None),
    };
    if interpreter.is_empty() {
        return None;
    }
    Some(FileKind::Script {
        interpreter: interpreter.to_vec(),
        argument,
    })
}

/// One ELF object mapped into guest memory.
#[derive(Debug, Clone, Copy)]
pub struct MappedElf {
    /// Load bias: guest address minus the ELF's virtual address.
    pub bias: u64,
    /// Entry point (already biased).
    pub entry: u64,
    /// Guest address of the program headers.
    pub phdr: u64,
    pub phnum: u64,
    /// End of the highest segment (the initial program break for the main executable).
    pub end: u64,
}

/// A parsed ELF header and program header table.
struct Elf {
    header: elf::FileHeader64<LE>,
    phdrs: Vec<elf::ProgramHeader64<LE>>,
}

fn parse_elf(file: &File) -> Result<Elf, LoadError> {
    let mut buffer = [0u8; 64];
    if read_prefix(file, &mut buffer)? < buffer.len() {
        return Err(LoadError::Corrupt("file shorter than an ELF header"));
    }
    if !buffer.starts_with(&elf::ELFMAG) {
        return Err(LoadError::NotExecutable);
    }
    // e_ident[EI_CLASS] and e_ident[EI_DATA].
    match buffer[4] {
        elf::ELFCLASS64 => {}
        elf::ELFCLASS32 => return Err(LoadError::Not64Bit),
        _ => return Err(LoadError::Corrupt("unknown ELF class")),
    }
    match buffer[5] {
        elf::ELFDATA2LSB => {}
        elf::ELFDATA2MSB => return Err(LoadError::BigEndian),
        _ => return Err(LoadError::Corrupt("unknown ELF data encoding")),
    }
    let (header, _) = pod::from_bytes::<elf::FileHeader64<LE>>(&buffer)
        .map_err(|()| LoadError::Corrupt("short ELF header"))?;
    let header = *header;

    let machine = header.e_machine(LE);
    if machine != elf::EM_AARCH64 {
        return Err(LoadError::WrongMachine(machine, machine_name(machine)));
    }
    let kind = header.e_type(LE);
    if kind != elf::ET_EXEC && kind != elf::ET_DYN {
        return Err(LoadError::WrongType(kind));
    }
    let phentsize = usize::from(header.e_phentsize.get(LE));
    if phentsize != std::mem::size_of::<elf::ProgramHeader64<LE>>() {
        return Err(LoadError::Corrupt("unexpected program header size"));
    }
    let phnum = usize::from(header.e_phnum.get(LE));
    if phnum == 0 || phnum > MAX_PHNUM {
        return Err(LoadError::Corrupt("bad program header count"));
    }

    let mut table = vec![0u8; phnum * phentsize];
    let offset = header.e_phoff.get(LE);
    let read = file.read_at(&mut table, offset).map_err(LoadError::Io)?;
    if read < table.len() {
        let mut filled = read;
        while filled < table.len() {
            let n = file.read_at(&mut table[filled..], offset + filled as u64)?;
            if n == 0 {
                return Err(LoadError::Corrupt(
                    "program headers past the end of the file",
                ));
            }
            filled += n;
        }
    }
    let (phdrs, _) = pod::slice_from_bytes::<elf::ProgramHeader64<LE>>(&table, phnum)
        .map_err(|()| LoadError::Corrupt("short program header table"))?;
    Ok(Elf {
        header,
        phdrs: phdrs.to_vec(),
    })
}

fn machine_name(machine: u16) -> &'static str {
    match machine {
        elf::EM_X86_64 => "x86-64",
        elf::EM_386 => "i386",
        elf::EM_ARM => "32-bit ARM",
        elf::EM_RISCV => "RISC-V",
        elf::EM_PPC64 => "PowerPC 64",
        elf::EM_S390 => "s390",
        _ => "unknown",
    }
}

fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

fn page_up(addr: u64) -> Option<u64> {
    addr.checked_add(PAGE_SIZE - 1).map(page_down)
}

fn segment_prot(flags: u32) -> Prot {
    Prot::new(
        flags & elf::PF_R != 0,
        flags & elf::PF_W != 0,
        flags & elf::PF_X != 0,
    )
}

/// Returns the PT_INTERP path of an ELF file, if it has one.
pub fn interpreter_path(file: &File) -> Result<Option<Vec<u8>>, LoadError> {
    let parsed = parse_elf(file)?;
    for phdr in &parsed.phdrs {
        if phdr.p_type(LE) != elf::PT_INTERP {
            continue;
        }
        let size = phdr.p_filesz(LE);
        if size == 0 || size > 4096 {
            return Err(LoadError::Corrupt("bad PT_INTERP size"));
        }
        let mut path = vec![0u8; size as usize];
        if file.read_at(&mut path, phdr.p_offset(LE))? != path.len() {
            return Err(LoadError::Corrupt("PT_INTERP past the end of the file"));
        }
        if let Some(nul) = path.iter().position(|&b| b == 0) {
            path.truncate(nul);
        }
        return Ok(Some(path));
    }
    Ok(None)
}

/// Maps every PT_LOAD segment of `file`. A position-independent object goes at `base` (for
/// the main executable) or wherever the address space has room (`base` = None).
pub fn map_elf(
    mem: &GuestMemory,
    file: &File,
    guest_path: &[u8],
    base: Option<u64>,
) -> Result<MappedElf, LoadError> {
    let parsed = parse_elf(file)?;
    let loads: Vec<&elf::ProgramHeader64<LE>> = parsed
        .phdrs
        .iter()
        .filter(|p| p.p_type(LE) == elf::PT_LOAD)
        .collect();
    if loads.is_empty() {
        return Err(LoadError::Corrupt("no loadable segments"));
    }

    let mut low = u64::MAX;
    let mut high = 0u64;
    for phdr in &loads {
        let vaddr = phdr.p_vaddr(LE);
        let memsz = phdr.p_memsz(LE);
        if phdr.p_filesz(LE) > memsz {
            return Err(LoadError::Corrupt("segment file size exceeds memory size"));
        }
        if phdr.p_offset(LE) % PAGE_SIZE != vaddr % PAGE_SIZE {
            return Err(LoadError::Corrupt(
                "segment offset and address are not congruent",
            ));
        }
        let end = vaddr
            .checked_add(memsz)
            .ok_or(LoadError::Corrupt("segment wraps around"))?;
        low = low.min(page_down(vaddr));
        high = high.max(end);
    }
    let high = page_up(high).ok_or(LoadError::Corrupt("segment wraps around"))?;
    let span = high - low;

    // Reserve the whole span first so the segments keep their relative placement, then map
    // each segment over the reservation.
    let is_dyn = parsed.header.e_type(LE) == elf::ET_DYN;
    let reservation = MapRequest {
        addr: if is_dyn { base.unwrap_or(0) } else { low },
        len: span,
        prot: Prot::NONE,
        placement: if is_dyn && base.is_none() {
            Placement::Hint
        } else {
            Placement::FixedNoReplace
        },
        backing: Backing::AnonPrivate,
        grows_down: false,
    };
    let start = mem.mmap(reservation)?;
    let bias = start.wrapping_sub(low);

    for phdr in &loads {
        map_segment(mem, file, guest_path, phdr, bias)?;
    }

    let entry = parsed.header.e_entry(LE).wrapping_add(bias);
    let phdr = program_header_address(&parsed, bias);
    Ok(MappedElf {
        bias,
        entry,
        phdr,
        phnum: parsed.phdrs.len() as u64,
        end: high.wrapping_add(bias),
    })
}

/// Guest address of the program headers: PT_PHDR if present, else the PT_LOAD segment
/// that contains them in the file.
fn program_header_address(parsed: &Elf, bias: u64) -> u64 {
    if let Some(phdr) = parsed.phdrs.iter().find(|p| p.p_type(LE) == elf::PT_PHDR) {
        return phdr.p_vaddr(LE).wrapping_add(bias);
    }
    let phoff = parsed.header.e_phoff.get(LE);
    parsed
        .phdrs
        .iter()
        .filter(|p| p.p_type(LE) == elf::PT_LOAD)
        .find(|p| phoff >= p.p_offset(LE) && phoff < p.p_offset(LE) + p.p_filesz(LE))
        .map_or(0, |p| {
            p.p_vaddr(LE)
                .wrapping_add(phoff - p.p_offset(LE))
                .wrapping_add(bias)
        })
}

fn map_segment(
    mem: &GuestMemory,
    file: &File,
    guest_path: &[u8],
    phdr: &elf::ProgramHeader64<LE>,
    bias: u64,
) -> Result<(), LoadError> {
    let prot = segment_prot(phdr.p_flags(LE));
    let vaddr = phdr.p_vaddr(LE).wrapping_add(bias);
    let filesz = phdr.p_filesz(LE);
    let memsz = phdr.p_memsz(LE);
    let page_start = page_down(vaddr);
    let file_offset = page_down(phdr.p_offset(LE));
    let file_end = vaddr + filesz;
    let mem_end = page_up(vaddr + memsz).ok_or(LoadError::Corrupt("segment wraps around"))?;

    if filesz > 0 {
        let file_pages_end = page_up(file_end).ok_or(LoadError::Corrupt("segment wraps around"))?;
        // Map writable while the tail of the last file page is cleared, then apply the
        // segment's protection.
        let map_prot = if prot.write() {
            prot
        } else {
            Prot::new(true, true, prot.exec())
        };
        mem.mmap(MapRequest {
            addr: page_start,
            len: file_pages_end - page_start,
            prot: map_prot,
            placement: Placement::FixedReplace,
            backing: Backing::File {
                fd: file.as_fd(),
                offset: file_offset,
                shared: false,
                path: guest_path,
            },
            grows_down: false,
        })?;
        // Bytes past p_filesz in the last file page belong to .bss and must read as zero.
        if memsz > filesz && file_end % PAGE_SIZE != 0 {
            mem.zero(file_end, file_pages_end - file_end)?;
        }
        if map_prot != prot {
            mem.mprotect(page_start, file_pages_end - page_start, prot)?;
        }
        if mem_end > file_pages_end {
            map_anonymous(mem, file_pages_end, mem_end - file_pages_end, prot)?;
        }
    } else if mem_end > page_start {
        map_anonymous(mem, page_start, mem_end - page_start, prot)?;
    }
    Ok(())
}

fn map_anonymous(mem: &GuestMemory, addr: u64, len: u64, prot: Prot) -> Result<(), LoadError> {
    mem.mmap(MapRequest {
        addr,
        len,
        prot,
        placement: Placement::FixedReplace,
        backing: Backing::AnonPrivate,
        grows_down: false,
    })?;
    Ok(())
}

/// Process facts the auxiliary vector reports.
#[derive(Debug, Clone)]
pub struct AuxInfo {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub hwcap: u64,
    pub hwcap2: u64,
    /// AT_MINSIGSTKSZ: the signal frame size the CPU needs.
    pub minsigstksz: u64,
    /// AT_CLKTCK.
    pub clock_ticks: u64,
    /// 16 random bytes for AT_RANDOM.
    pub random: [u8; 16],
}

impl AuxInfo {
    /// Describes a new image of a process with these credentials and hwcaps, with fresh
    /// random bytes from the host.
    pub fn for_process(
        creds: &crate::sys::state::Credentials,
        (hwcap, hwcap2): (u64, u64),
    ) -> Result<AuxInfo, crate::linux::Errno> {
        let mut random = [0u8; 16];
        crate::sys::info::host_random(&mut random)?;
        Ok(AuxInfo {
            uid: creds.ruid,
            euid: creds.euid,
            gid: creds.rgid,
            egid: creds.egid,
            hwcap,
            hwcap2,
            minsigstksz: crate::linux::MINSIGSTKSZ,
            clock_ticks: crate::linux::HZ as u64,
            random,
        })
    }
}

/// A program ready to run: where to start, and what the process side needs to keep.
#[derive(Debug, Clone)]
pub struct LoadedProgram {
    /// First instruction: the interpreter's entry if there is one, else the executable's.
    pub entry: u64,
    /// Initial stack pointer, pointing at argc.
    pub sp: u64,
    /// The auxiliary vector as written to the stack, for /proc/self/auxv.
    pub auxv: Vec<(u64, u64)>,
    pub executable: MappedElf,
    pub interpreter: Option<MappedElf>,
    /// Guest address of the vDSO's ELF header (AT_SYSINFO_EHDR).
    pub vdso: u64,
}

/// An executable and, for a dynamic one, its interpreter, both opened by the caller.
pub struct Program<'a> {
    pub file: &'a File,
    /// The guest path of the executable (AT_EXECFN and /proc/self/maps).
    pub guest_path: &'a [u8],
    pub interpreter: Option<(&'a File, &'a [u8])>,
}

/// Maps `program` into `mem` (which must be empty), sets the program break, and builds the
/// initial stack with `argv`, `envp` and the auxiliary vector.
pub fn load(
    mem: &GuestMemory,
    program: &Program<'_>,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    aux: &AuxInfo,
) -> Result<LoadedProgram, LoadError> {
    let executable = map_elf(mem, program.file, program.guest_path, Some(ET_DYN_BASE))?;
    mem.set_brk_start(executable.end);
    let interpreter = match program.interpreter {
        Some((file, path)) => Some(map_elf(mem, file, path, None)?),
        None => None,
    };
    // Linux maps the vDSO after the interpreter, top-down from the mmap base.
    let vdso = crate::vdso::map(mem)?;

    let stack_top = crate::mem::GUEST_LIMIT - PAGE_SIZE;
    let stack_base = stack_top - STACK_SIZE;
    mem.mmap(MapRequest {
        addr: stack_base,
        len: STACK_SIZE,
        prot: Prot::RW,
        placement: Placement::FixedNoReplace,
        backing: Backing::AnonPrivate,
        grows_down: true,
    })?;
    mem.set_name(stack_base, RegionName::Stack);

    let entry = interpreter.map_or(executable.entry, |interp| interp.entry);
    // The execve handler has already applied Linux's limit (a quarter of RLIMIT_STACK, at
    // most 6 MiB), so the strings may take up to three quarters of the mapping. A lower floor
    // would fail here, after the old image is gone, for an execve that Linux accepts.
    let mut stack = StackBuilder {
        mem,
        top: stack_top,
        floor: stack_top - STACK_SIZE / 4 * 3,
    };
    let execfn = stack.push_bytes_nul(program.guest_path)?;
    let mut envp_addrs = Vec::with_capacity(envp.len());
    for variable in envp.iter().rev() {
        envp_addrs.push(stack.push_bytes_nul(variable)?);
    }
    envp_addrs.reverse();
    let mut argv_addrs = Vec::with_capacity(argv.len());
    for argument in argv.iter().rev() {
        argv_addrs.push(stack.push_bytes_nul(argument)?);
    }
    argv_addrs.reverse();
    let platform = stack.push_bytes_nul(b"aarch64")?;
    let random = stack.push_bytes(&aux.random)?;

    // Linux's order (fs/binfmt_elf.c, create_elf_tables): the arch entries first, and on
    // arm64 AT_SYSINFO_EHDR comes before AT_MINSIGSTKSZ.
    let auxv: Vec<(u64, u64)> = vec![
        (AuxvType::AT_SYSINFO_EHDR.value(), vdso),
        (AuxvType::AT_MINSIGSTKSZ.value(), aux.minsigstksz),
        (AuxvType::AT_HWCAP.value(), aux.hwcap),
        (AuxvType::AT_PAGESZ.value(), PAGE_SIZE),
        (AuxvType::AT_CLKTCK.value(), aux.clock_ticks),
        (AuxvType::AT_PHDR.value(), executable.phdr),
        (
            AuxvType::AT_PHENT.value(),
            std::mem::size_of::<elf::ProgramHeader64<LE>>() as u64,
        ),
        (AuxvType::AT_PHNUM.value(), executable.phnum),
        (
            AuxvType::AT_BASE.value(),
            interpreter.map_or(0, |interp| interp.bias),
        ),
        (AuxvType::AT_FLAGS.value(), 0),
        (AuxvType::AT_ENTRY.value(), executable.entry),
        (AuxvType::AT_UID.value(), aux.uid.into()),
        (AuxvType::AT_EUID.value(), aux.euid.into()),
        (AuxvType::AT_GID.value(), aux.gid.into()),
        (AuxvType::AT_EGID.value(), aux.egid.into()),
        (AuxvType::AT_SECURE.value(), 0),
        (AuxvType::AT_RANDOM.value(), random),
        (AuxvType::AT_HWCAP2.value(), aux.hwcap2),
        (AuxvType::AT_EXECFN.value(), execfn),
        (AuxvType::AT_PLATFORM.value(), platform),
        (AuxvType::AT_NULL.value(), 0),
    ];

    // argc, argv[], NULL, envp[], NULL, auxv pairs: the pointer block ends 16-byte aligned.
    let words = 1 + argv_addrs.len() + 1 + envp_addrs.len() + 1 + auxv.len() * 2;
    let block = (words * 8) as u64;
    let sp = (stack.top - block) & !15;
    let mut cursor = sp;
    let mut put = |value: u64| -> Result<(), LoadError> {
        mem.write_obj(cursor, &value)?;
        cursor += 8;
        Ok(())
    };
    put(argv_addrs.len() as u64)?;
    for addr in &argv_addrs {
        put(*addr)?;
    }
    put(0)?;
    for addr in &envp_addrs {
        put(*addr)?;
    }
    put(0)?;
    for (key, value) in &auxv {
        put(*key)?;
        put(*value)?;
    }

    Ok(LoadedProgram {
        entry,
        sp,
        auxv,
        executable,
        interpreter,
        vdso,
    })
}

/// Pushes data downwards from the top of the new stack.
struct StackBuilder<'a> {
    mem: &'a GuestMemory,
    top: u64,
    /// Lowest address strings may reach.
    floor: u64,
}

impl StackBuilder<'_> {
    fn push_bytes(&mut self, bytes: &[u8]) -> Result<u64, LoadError> {
        let len = bytes.len() as u64;
        if self
            .top
            .checked_sub(len)
            .is_none_or(|bottom| bottom < self.floor)
        {
            return Err(LoadError::ArgumentsTooLong);
        }
        self.top -= len;
        self.mem.write(self.top, bytes)?;
        Ok(self.top)
    }

    fn push_bytes_nul(&mut self, bytes: &[u8]) -> Result<u64, LoadError> {
        self.push_bytes(&[0])?;
        if bytes.is_empty() {
            return Ok(self.top);
        }
        self.push_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_with_argument() {
        let kind = parse_shebang(b" /bin/sh  -e -x \nrest").unwrap();
        assert_eq!(
            kind,
            FileKind::Script {
                interpreter: b"/bin/sh".to_vec(),
                argument: Some(b"-e -x".to_vec())
            }
        );
    }

    #[test]
    fn shebang_without_argument() {
        let kind = parse_shebang(b"/usr/bin/python3\n").unwrap();
        assert_eq!(
            kind,
            FileKind::Script {
                interpreter: b"/usr/bin/python3".to_vec(),
                argument: None
            }
        );
    }

    #[test]
    fn empty_shebang_rejected() {
        assert_eq!(parse_shebang(b"   \n"), None);
    }
}
