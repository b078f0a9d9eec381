//! Parsing of ELF64 little-endian arm64 headers, and `#!` script lines. Pure functions over
//! bytes, so every rejection path is unit-tested without files.

use super::LoadError;

/// Bytes of a file's start that the loader inspects (Linux's BINPRM_BUF_SIZE).
pub const PROBE_LEN: usize = 256;

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_AARCH64: u16 = 183;
const EM_X86_64: u16 = 62;
const EHDR_LEN: usize = 64;
const PHDR_LEN: usize = 56;
/// Most program headers Linux accepts (it caps the table at 64 KiB).
const MAX_PHNUM: usize = 65536 / PHDR_LEN;

/// Program header type: loadable segment.
pub const PT_LOAD: u32 = 1;
/// Program header type: path of the program interpreter.
pub const PT_INTERP: u32 = 3;
/// Program header type: the program header table itself.
pub const PT_PHDR: u32 = 6;
/// Segment flag: executable.
pub const PF_X: u32 = 1;
/// Segment flag: writable.
pub const PF_W: u32 = 2;
/// Segment flag: readable.
pub const PF_R: u32 = 4;

/// Whether the file is a fixed-address executable or position-independent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfKind {
    /// ET_EXEC: loaded at its link addresses.
    Fixed,
    /// ET_DYN: a PIE executable or a shared object such as the dynamic loader.
    Dynamic,
}

/// The fields of the ELF header the loader uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfHeader {
    /// ET_EXEC or ET_DYN.
    pub kind: ElfKind,
    /// Entry point (before relocation by the load bias).
    pub entry: u64,
    /// File offset of the program header table.
    pub phoff: u64,
    /// Number of program headers.
    pub phnum: usize,
}

/// One program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramHeader {
    /// Segment type (PT_*).
    pub kind: u32,
    /// Segment flags (PF_*).
    pub flags: u32,
    /// File offset of the segment.
    pub offset: u64,
    /// Virtual address of the segment.
    pub vaddr: u64,
    /// Bytes of the segment stored in the file.
    pub filesz: u64,
    /// Bytes of the segment in memory (the rest is zero-filled).
    pub memsz: u64,
    /// Required alignment.
    pub align: u64,
}

/// What the first bytes of an executable file are.
#[derive(Debug, PartialEq, Eq)]
pub enum Probe {
    /// An arm64 ELF executable.
    Elf(ElfHeader),
    /// A `#!` script: the interpreter path and its optional single argument.
    Script {
        /// The interpreter's path, as written in the script.
        interpreter: Vec<u8>,
        /// Everything after the interpreter on the `#!` line, trimmed, if anything.
        arg: Option<Vec<u8>>,
    },
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    let mut raw = [0u8; 2];
    raw.copy_from_slice(&bytes[at..at + 2]);
    u16::from_le_bytes(raw)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(raw)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(raw)
}

/// Classifies a file from its first bytes (up to [`PROBE_LEN`]).
pub fn probe(head: &[u8]) -> Result<Probe, LoadError> {
    if head.starts_with(b"#!") {
        return parse_shebang(head);
    }
    if head.len() < 4 || &head[..4] != ELF_MAGIC {
        return Err(LoadError::NotExecutableFormat);
    }
    if head.len() < EHDR_LEN {
        return Err(LoadError::Truncated);
    }
    if head[4] != ELFCLASS64 {
        return Err(LoadError::Not64Bit);
    }
    if head[5] != ELFDATA2LSB {
        return Err(LoadError::BigEndian);
    }
    let machine = u16_at(head, 18);
    if machine != EM_AARCH64 {
        let name = if machine == EM_X86_64 {
            "x86-64"
        } else {
            "not arm64"
        };
        return Err(LoadError::WrongMachine { machine, name });
    }
    let kind = match u16_at(head, 16) {
        ET_EXEC => ElfKind::Fixed,
        ET_DYN => ElfKind::Dynamic,
        other => return Err(LoadError::NotExecutableType(other)),
    };
    let phentsize = usize::from(u16_at(head, 54));
    let phnum = usize::from(u16_at(head, 56));
    if phentsize != PHDR_LEN || phnum == 0 || phnum > MAX_PHNUM {
        return Err(LoadError::BadProgramHeaders);
    }
    Ok(Probe::Elf(ElfHeader {
        kind,
        entry: u64_at(head, 24),
        phoff: u64_at(head, 32),
        phnum,
    }))
}

/// Parses the `#!` line: interpreter up to the first blank, then the trimmed rest.
fn parse_shebang(head: &[u8]) -> Result<Probe, LoadError> {
    let line_end = head.iter().position(|&b| b == b'\n');
    let line = &head[2..line_end.unwrap_or(head.len())];
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = line
        .iter()
        .position(|b| !is_blank(b))
        .ok_or(LoadError::BadInterpreterLine)?;
    let line = &line[start..];
    let name_end = line.iter().position(is_blank).unwrap_or(line.len());
    if line_end.is_none() && name_end == line.len() {
        // The interpreter name may continue past the bytes Linux reads.
        return Err(LoadError::BadInterpreterLine);
    }
    let interpreter = line[..name_end].to_vec();
    let rest = &line[name_end..];
    let rest_start = rest.iter().position(|b| !is_blank(b));
    let arg = rest_start.map(|from| {
        let rest = &rest[from..];
        let end = rest
            .iter()
            .rposition(|b| !is_blank(b))
            .map_or(0, |last| last + 1);
        rest[..end].to_vec()
    });
    Ok(Probe::Script { interpreter, arg })
}

/// Parses `header.phnum` program headers from `table`.
pub fn program_headers(table: &[u8], header: &ElfHeader) -> Result<Vec<ProgramHeader>, LoadError> {
    if table.len() < header.phnum * PHDR_LEN {
        return Err(LoadError::Truncated);
    }
    let headers = table
        .chunks_exact(PHDR_LEN)
        .take(header.phnum)
        .map(|raw| ProgramHeader {
            kind: u32_at(raw, 0),
            flags: u32_at(raw, 4),
            offset: u64_at(raw, 8),
            vaddr: u64_at(raw, 16),
            filesz: u64_at(raw, 32),
            memsz: u64_at(raw, 40),
            align: u64_at(raw, 48),
        })
        .collect();
    Ok(headers)
}

/// Size in bytes of the program header table of `header`.
pub fn table_len(header: &ElfHeader) -> usize {
    header.phnum * PHDR_LEN
}

/// Size in bytes of one program header (AT_PHENT).
pub const PHENT: u64 = PHDR_LEN as u64;

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class: u8, data: u8, kind: u16, machine: u16) -> Vec<u8> {
        let mut head = vec![0u8; 64];
        head[..4].copy_from_slice(ELF_MAGIC);
        head[4] = class;
        head[5] = data;
        head[16..18].copy_from_slice(&kind.to_le_bytes());
        head[18..20].copy_from_slice(&machine.to_le_bytes());
        head[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes());
        head[32..40].copy_from_slice(&64u64.to_le_bytes());
        head[54..56].copy_from_slice(&56u16.to_le_bytes());
        head[56..58].copy_from_slice(&2u16.to_le_bytes());
        head
    }

    #[test]
    fn accepts_arm64_executable() {
        let parsed = probe(&header(2, 1, 2, 183));
        let expected = ElfHeader {
            kind: ElfKind::Fixed,
            entry: 0x40_1000,
            phoff: 64,
            phnum: 2,
        };
        assert_eq!(parsed, Ok(Probe::Elf(expected)));
    }

    #[test]
    fn rejects_bad_files() {
        assert_eq!(probe(b"hello world"), Err(LoadError::NotExecutableFormat));
        assert_eq!(probe(b""), Err(LoadError::NotExecutableFormat));
        assert_eq!(
            probe(&header(2, 1, 2, 183)[..40]),
            Err(LoadError::Truncated)
        );
        assert_eq!(probe(&header(1, 1, 2, 183)), Err(LoadError::Not64Bit));
        assert_eq!(probe(&header(2, 2, 2, 183)), Err(LoadError::BigEndian));
        assert_eq!(
            probe(&header(2, 1, 2, 62)),
            Err(LoadError::WrongMachine {
                machine: 62,
                name: "x86-64"
            })
        );
        assert_eq!(
            probe(&header(2, 1, 1, 183)),
            Err(LoadError::NotExecutableType(1))
        );
        let mut bad_phent = header(2, 1, 3, 183);
        bad_phent[54] = 32;
        assert_eq!(probe(&bad_phent), Err(LoadError::BadProgramHeaders));
    }

    #[test]
    fn shebang_with_argument() {
        let parsed = probe(b"#! /bin/sh  -e -x \t\nexit 0\n");
        let expected = Probe::Script {
            interpreter: b"/bin/sh".to_vec(),
            arg: Some(b"-e -x".to_vec()),
        };
        assert_eq!(parsed, Ok(expected));
    }

    #[test]
    fn shebang_without_argument() {
        let parsed = probe(b"#!/usr/bin/env\n");
        let expected = Probe::Script {
            interpreter: b"/usr/bin/env".to_vec(),
            arg: None,
        };
        assert_eq!(parsed, Ok(expected));
    }

    #[test]
    fn shebang_empty_or_cut_off() {
        assert_eq!(probe(b"#!   \n"), Err(LoadError::BadInterpreterLine));
        let long = [b"#!/".as_slice(), &[b'a'; 300]].concat();
        assert_eq!(
            probe(&long[..PROBE_LEN]),
            Err(LoadError::BadInterpreterLine)
        );
    }

    #[test]
    fn program_header_fields() {
        let mut raw = vec![0u8; 56];
        raw[0..4].copy_from_slice(&PT_LOAD.to_le_bytes());
        raw[4..8].copy_from_slice(&(PF_R | PF_X).to_le_bytes());
        raw[16..24].copy_from_slice(&0x40_0000u64.to_le_bytes());
        raw[32..40].copy_from_slice(&0x123u64.to_le_bytes());
        raw[40..48].copy_from_slice(&0x456u64.to_le_bytes());
        let header = ElfHeader {
            kind: ElfKind::Fixed,
            entry: 0,
            phoff: 64,
            phnum: 1,
        };
        let parsed = program_headers(&raw, &header).expect("parse");
        assert_eq!(parsed[0].vaddr, 0x40_0000);
        assert_eq!(parsed[0].filesz, 0x123);
        assert_eq!(parsed[0].memsz, 0x456);
        let two = ElfHeader { phnum: 2, ..header };
        assert_eq!(program_headers(&raw, &two), Err(LoadError::Truncated));
    }
}
