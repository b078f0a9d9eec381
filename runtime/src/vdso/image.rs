//! The vDSO's ELF image, assembled byte by byte. It is linked at address 0, so every
//! virtual address in it equals its file offset, and it fits in whole pages that the loader
//! maps read-execute.
//!
//! The layout follows what glibc's and Go's vDSO parsers read: an ELF header, program
//! headers (PT_LOAD covering the image, PT_DYNAMIC, PT_NOTE), then the allocated sections
//! (`.hash`, `.dynsym`, `.dynstr`, `.gnu.version`, `.gnu.version_d`, `.note`, `.text`,
//! `.dynamic`), `.shstrtab`, and the section header table.

use object::elf;
use object::endian::{LittleEndian as LE, U16, U32, U64};
use object::pod::{bytes_of, Pod};

use crate::linux::nr;
use crate::mem::PAGE_SIZE;

/// DT_SONAME, also the name of the base version definition.
pub const SONAME: &str = "linux-vdso.so.1";
/// The symbol version every export carries on arm64.
pub const VERSION: &str = "LINUX_2.6.39";

/// One exported function: its name and the syscall its body makes.
struct Export {
    name: &'static str,
    syscall: u64,
    /// Whether the body returns to the caller (`rt_sigreturn` never does).
    returns: bool,
}

/// The functions the arm64 kernel's vDSO exports (Linux 6.1, arch/arm64/kernel/vdso).
const EXPORTS: [Export; 4] = [
    Export {
        name: "__kernel_rt_sigreturn",
        syscall: nr::RT_SIGRETURN,
        returns: false,
    },
    Export {
        name: "__kernel_gettimeofday",
        syscall: nr::GETTIMEOFDAY,
        returns: true,
    },
    Export {
        name: "__kernel_clock_gettime",
        syscall: nr::CLOCK_GETTIME,
        returns: true,
    },
    Export {
        name: "__kernel_clock_getres",
        syscall: nr::CLOCK_GETRES,
        returns: true,
    },
];

// `movz x8, #nr` encodes a 16-bit immediate.
const _: () = {
    let mut i = 0;
    while i < EXPORTS.len() {
        assert!(EXPORTS[i].syscall <= 0xffff);
        i += 1;
    }
};

/// A64 `nop`.
const NOP: u32 = 0xd503_201f;
/// A64 `svc #0`.
const SVC_0: u32 = 0xd400_0001;
/// A64 `ret` (to x30).
const RET: u32 = 0xd65f_03c0;

/// Encodes `movz x8, #imm`: on arm64, x8 contains the syscall number.
fn movz_x8(imm: u16) -> u32 {
    0xd280_0000 | (u32::from(imm) << 5) | 8
}

/// LINUX_VERSION_CODE of the kernel carrick reports (6.1.0), stored in the `Linux` note.
const LINUX_VERSION_CODE: u32 = (6 << 16) | (1 << 8);

/// Section indices in the section header table.
const SHN_DYNSYM: u16 = 2;
const SHN_DYNSTR: u16 = 3;
const SHN_TEXT: u16 = 7;
const SECTION_COUNT: u16 = 10;
const SHN_SHSTRTAB: u16 = SECTION_COUNT - 1;

/// Version indices: 1 is the object's base definition, 2 is [`VERSION`].
const VERSION_INDEX_BASE: u16 = 1;
const VERSION_INDEX_EXPORTS: u16 = 2;

/// Buckets in the SysV hash table: a small prime, enough for six symbols.
const HASH_BUCKETS: u32 = 3;

/// The built image and where each export landed.
#[derive(Debug)]
pub struct Image {
    /// The whole image, padded with zeros to a page multiple.
    pub bytes: Vec<u8>,
    /// Each export's name and offset from the start of the image.
    pub symbols: Vec<(&'static str, u64)>,
}

/// A string table under construction: a leading NUL, then NUL-terminated names.
struct StringTable {
    bytes: Vec<u8>,
}

impl StringTable {
    fn new() -> StringTable {
        StringTable { bytes: vec![0] }
    }

    /// Appends `name` and returns its offset.
    fn add(&mut self, name: &str) -> u32 {
        let offset = self.bytes.len() as u32;
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        offset
    }
}

/// File offsets (equal to virtual addresses) and sizes of every piece of the image.
#[derive(Default)]
struct Layout {
    cursor: u64,
    hash: (u64, u64),
    dynsym: (u64, u64),
    dynstr: (u64, u64),
    versym: (u64, u64),
    verdef: (u64, u64),
    note: (u64, u64),
    text: (u64, u64),
    dynamic: (u64, u64),
    shstrtab: (u64, u64),
    section_headers: u64,
    end: u64,
}

impl Layout {
    /// Reserves `size` bytes aligned to `align` and returns (offset, size).
    fn place(&mut self, size: usize, align: u64) -> (u64, u64) {
        let offset = self.cursor.next_multiple_of(align);
        self.cursor = offset + size as u64;
        (offset, size as u64)
    }
}

/// Appends one plain-old-data value to `out`.
fn put<T: Pod>(out: &mut Vec<u8>, value: &T) {
    out.extend_from_slice(bytes_of(value));
}

/// Pads `out` with zeros up to `offset`, which must not be behind it.
fn pad_to(out: &mut Vec<u8>, offset: u64) {
    out.resize(offset as usize, 0);
}

/// The strings of `.dynstr`, with the offset of each name.
struct DynamicStrings {
    table: StringTable,
    soname: u32,
    version: u32,
    exports: Vec<u32>,
}

fn dynamic_strings() -> DynamicStrings {
    let mut table = StringTable::new();
    let soname = table.add(SONAME);
    let version = table.add(VERSION);
    let exports = EXPORTS
        .iter()
        .map(|export| table.add(export.name))
        .collect();
    DynamicStrings {
        table,
        soname,
        version,
        exports,
    }
}

/// Assembles `.text` and returns it with each export's offset inside it and its size.
fn text() -> (Vec<u8>, Vec<(u64, u64)>) {
    let mut code: Vec<u32> = Vec::new();
    let mut placed = Vec::new();
    for export in &EXPORTS {
        if !export.returns {
            // An unwinder looks up a return address at pc - 1. The kernel's vDSO puts a nop
            // before the trampoline so that address still belongs to it; keep that layout.
            code.push(NOP);
        }
        let start = code.len() as u64 * 4;
        code.push(movz_x8(export.syscall as u16));
        code.push(SVC_0);
        if export.returns {
            code.push(RET);
        }
        placed.push((start, code.len() as u64 * 4 - start));
    }
    let bytes = code.iter().flat_map(|word| word.to_le_bytes()).collect();
    (bytes, placed)
}

/// Builds the vDSO image.
pub fn build() -> Image {
    let strings = dynamic_strings();
    let (code, functions) = text();
    // Symbols: the null symbol, the version's absolute symbol, then the exports.
    let symbol_count = 2 + EXPORTS.len();
    let mut shstrtab = StringTable::new();
    let section_names = [
        0,
        shstrtab.add(".hash"),
        shstrtab.add(".dynsym"),
        shstrtab.add(".dynstr"),
        shstrtab.add(".gnu.version"),
        shstrtab.add(".gnu.version_d"),
        shstrtab.add(".note"),
        shstrtab.add(".text"),
        shstrtab.add(".dynamic"),
        shstrtab.add(".shstrtab"),
    ];

    let mut layout = Layout::default();
    layout.place(size_of::<elf::FileHeader64<LE>>(), 1);
    layout.place(
        PROGRAM_HEADER_COUNT * size_of::<elf::ProgramHeader64<LE>>(),
        8,
    );
    let hash_words = 2 + HASH_BUCKETS as usize + symbol_count;
    layout.hash = layout.place(hash_words * 4, 8);
    layout.dynsym = layout.place(symbol_count * size_of::<elf::Sym64<LE>>(), 8);
    layout.dynstr = layout.place(strings.table.bytes.len(), 1);
    layout.versym = layout.place(symbol_count * 2, 2);
    let verdef_size = size_of::<elf::Verdef<LE>>() + size_of::<elf::Verdaux<LE>>();
    layout.verdef = layout.place(2 * verdef_size, 8);
    layout.note = layout.place(note().len(), 4);
    layout.text = layout.place(code.len(), 16);
    layout.dynamic = layout.place(DYNAMIC_COUNT * size_of::<elf::Dyn64<LE>>(), 8);
    layout.shstrtab = layout.place(shstrtab.bytes.len(), 1);
    layout.section_headers = layout
        .place(
            usize::from(SECTION_COUNT) * size_of::<elf::SectionHeader64<LE>>(),
            8,
        )
        .0;
    layout.end = layout.cursor;

    let mut out = Vec::with_capacity(PAGE_SIZE as usize);
    write_headers(&mut out, &layout);
    pad_to(&mut out, layout.hash.0);
    write_hash(&mut out, &strings);
    pad_to(&mut out, layout.dynsym.0);
    write_symbols(&mut out, &strings, &functions, layout.text.0);
    pad_to(&mut out, layout.dynstr.0);
    out.extend_from_slice(&strings.table.bytes);
    pad_to(&mut out, layout.versym.0);
    write_versym(&mut out, symbol_count);
    pad_to(&mut out, layout.verdef.0);
    write_verdef(&mut out, &strings);
    pad_to(&mut out, layout.note.0);
    out.extend_from_slice(&note());
    pad_to(&mut out, layout.text.0);
    out.extend_from_slice(&code);
    pad_to(&mut out, layout.dynamic.0);
    write_dynamic(&mut out, &layout, &strings);
    pad_to(&mut out, layout.shstrtab.0);
    out.extend_from_slice(&shstrtab.bytes);
    pad_to(&mut out, layout.section_headers);
    write_section_headers(&mut out, &layout, &section_names);
    let pages_end = (out.len() as u64).next_multiple_of(PAGE_SIZE);
    pad_to(&mut out, pages_end);

    let symbols = EXPORTS
        .iter()
        .zip(&functions)
        .map(|(export, (offset, _))| (export.name, layout.text.0 + offset))
        .collect();
    Image {
        bytes: out,
        symbols,
    }
}

const PROGRAM_HEADER_COUNT: usize = 3;

fn write_headers(out: &mut Vec<u8>, layout: &Layout) {
    let header = elf::FileHeader64::<LE> {
        e_ident: elf::Ident {
            magic: elf::ELFMAG,
            class: elf::ELFCLASS64,
            data: elf::ELFDATA2LSB,
            version: elf::EV_CURRENT,
            os_abi: elf::ELFOSABI_NONE,
            abi_version: 0,
            padding: [0; 7],
        },
        e_type: U16::new(LE, elf::ET_DYN),
        e_machine: U16::new(LE, elf::EM_AARCH64),
        e_version: U32::new(LE, elf::EV_CURRENT.into()),
        e_entry: U64::new(LE, layout.text.0),
        e_phoff: U64::new(LE, size_of::<elf::FileHeader64<LE>>() as u64),
        e_shoff: U64::new(LE, layout.section_headers),
        e_flags: U32::new(LE, 0),
        e_ehsize: U16::new(LE, size_of::<elf::FileHeader64<LE>>() as u16),
        e_phentsize: U16::new(LE, size_of::<elf::ProgramHeader64<LE>>() as u16),
        e_phnum: U16::new(LE, PROGRAM_HEADER_COUNT as u16),
        e_shentsize: U16::new(LE, size_of::<elf::SectionHeader64<LE>>() as u16),
        e_shnum: U16::new(LE, SECTION_COUNT),
        e_shstrndx: U16::new(LE, SHN_SHSTRTAB),
    };
    put(out, &header);
    let segment =
        |p_type: u32, p_flags: u32, (offset, size): (u64, u64), align: u64| elf::ProgramHeader64::<
            LE,
        > {
            p_type: U32::new(LE, p_type),
            p_flags: U32::new(LE, p_flags),
            p_offset: U64::new(LE, offset),
            p_vaddr: U64::new(LE, offset),
            p_paddr: U64::new(LE, offset),
            p_filesz: U64::new(LE, size),
            p_memsz: U64::new(LE, size),
            p_align: U64::new(LE, align),
        };
    let whole = (0, layout.end);
    put(
        out,
        &segment(elf::PT_LOAD, elf::PF_R | elf::PF_X, whole, PAGE_SIZE),
    );
    put(out, &segment(elf::PT_DYNAMIC, elf::PF_R, layout.dynamic, 8));
    put(out, &segment(elf::PT_NOTE, elf::PF_R, layout.note, 4));
}

/// The `Linux` note with the kernel version, as the kernel's vDSO carries it.
fn note() -> Vec<u8> {
    let name = b"Linux\0";
    let mut out = Vec::new();
    put(
        &mut out,
        &elf::NoteHeader64::<LE> {
            n_namesz: U32::new(LE, name.len() as u32),
            n_descsz: U32::new(LE, 4),
            n_type: U32::new(LE, 0),
        },
    );
    out.extend_from_slice(name);
    out.resize(out.len().next_multiple_of(4), 0);
    out.extend_from_slice(&LINUX_VERSION_CODE.to_le_bytes());
    out
}

/// Names of the dynamic symbols by index: the null symbol, the version, then the exports.
fn symbol_names(strings: &DynamicStrings) -> Vec<(u32, &'static str)> {
    let mut names = vec![(0, ""), (strings.version, VERSION)];
    for (export, &offset) in EXPORTS.iter().zip(&strings.exports) {
        names.push((offset, export.name));
    }
    names
}

/// Writes the SysV hash table (DT_HASH): bucket heads, then one chain link per symbol.
fn write_hash(out: &mut Vec<u8>, strings: &DynamicStrings) {
    let names = symbol_names(strings);
    let mut buckets = vec![0u32; HASH_BUCKETS as usize];
    let mut chains = vec![0u32; names.len()];
    for (index, (_, name)) in names.iter().enumerate().skip(1) {
        let bucket = (elf::hash(name.as_bytes()) % HASH_BUCKETS) as usize;
        chains[index] = buckets[bucket];
        buckets[bucket] = index as u32;
    }
    put(
        out,
        &elf::HashHeader::<LE> {
            bucket_count: U32::new(LE, HASH_BUCKETS),
            chain_count: U32::new(LE, names.len() as u32),
        },
    );
    for word in buckets.iter().chain(&chains) {
        put(out, &U32::<LE>::new(LE, *word));
    }
}

fn write_symbols(
    out: &mut Vec<u8>,
    strings: &DynamicStrings,
    functions: &[(u64, u64)],
    text_offset: u64,
) {
    let symbol = |name: u32, info: u8, shndx: u16, value: u64, size: u64| elf::Sym64::<LE> {
        st_name: U32::new(LE, name),
        st_info: info,
        st_other: elf::STV_DEFAULT,
        st_shndx: U16::new(LE, shndx),
        st_value: U64::new(LE, value),
        st_size: U64::new(LE, size),
    };
    put(out, &symbol(0, 0, elf::SHN_UNDEF, 0, 0));
    let version_info = (elf::STB_GLOBAL << 4) | elf::STT_OBJECT;
    put(
        out,
        &symbol(strings.version, version_info, elf::SHN_ABS, 0, 0),
    );
    let function_info = (elf::STB_GLOBAL << 4) | elf::STT_FUNC;
    for (&name, &(offset, size)) in strings.exports.iter().zip(functions) {
        let value = text_offset + offset;
        put(out, &symbol(name, function_info, SHN_TEXT, value, size));
    }
}

/// Writes `.gnu.version`: the null symbol is local (0), every other symbol has [`VERSION`].
fn write_versym(out: &mut Vec<u8>, symbol_count: usize) {
    put(out, &elf::Versym::<LE>(U16::new(LE, elf::VER_NDX_LOCAL)));
    for _ in 1..symbol_count {
        put(out, &elf::Versym::<LE>(U16::new(LE, VERSION_INDEX_EXPORTS)));
    }
}

/// Writes `.gnu.version_d`: the base definition (named after the object) and [`VERSION`].
fn write_verdef(out: &mut Vec<u8>, strings: &DynamicStrings) {
    let definitions = [
        (
            elf::VER_FLG_BASE,
            VERSION_INDEX_BASE,
            SONAME,
            strings.soname,
        ),
        (0, VERSION_INDEX_EXPORTS, VERSION, strings.version),
    ];
    let entry_size = (size_of::<elf::Verdef<LE>>() + size_of::<elf::Verdaux<LE>>()) as u32;
    for (position, &(flags, index, name, name_offset)) in definitions.iter().enumerate() {
        let is_last = position + 1 == definitions.len();
        put(
            out,
            &elf::Verdef::<LE> {
                vd_version: U16::new(LE, elf::VER_DEF_CURRENT),
                vd_flags: U16::new(LE, flags),
                vd_ndx: U16::new(LE, index),
                vd_cnt: U16::new(LE, 1),
                vd_hash: U32::new(LE, elf::hash(name.as_bytes())),
                vd_aux: U32::new(LE, size_of::<elf::Verdef<LE>>() as u32),
                vd_next: U32::new(LE, if is_last { 0 } else { entry_size }),
            },
        );
        put(
            out,
            &elf::Verdaux::<LE> {
                vda_name: U32::new(LE, name_offset),
                vda_next: U32::new(LE, 0),
            },
        );
    }
}

const DYNAMIC_COUNT: usize = 10;

fn write_dynamic(out: &mut Vec<u8>, layout: &Layout, strings: &DynamicStrings) {
    let entries: [(u32, u64); DYNAMIC_COUNT] = [
        (elf::DT_SONAME, strings.soname.into()),
        (elf::DT_HASH, layout.hash.0),
        (elf::DT_STRTAB, layout.dynstr.0),
        (elf::DT_SYMTAB, layout.dynsym.0),
        (elf::DT_STRSZ, layout.dynstr.1),
        (elf::DT_SYMENT, size_of::<elf::Sym64<LE>>() as u64),
        (elf::DT_VERSYM, layout.versym.0),
        (elf::DT_VERDEF, layout.verdef.0),
        (elf::DT_VERDEFNUM, 2),
        (elf::DT_NULL, 0),
    ];
    for (tag, value) in entries {
        put(
            out,
            &elf::Dyn64::<LE> {
                d_tag: U64::new(LE, tag.into()),
                d_val: U64::new(LE, value),
            },
        );
    }
}

fn write_section_headers(out: &mut Vec<u8>, layout: &Layout, names: &[u32; 10]) {
    struct Section {
        kind: u32,
        flags: u32,
        place: (u64, u64),
        link: u16,
        info: u32,
        align: u64,
        entry_size: usize,
    }
    let alloc = elf::SHF_ALLOC;
    let section = |kind, flags, place, link, info, align, entry_size| Section {
        kind,
        flags,
        place,
        link,
        info,
        align,
        entry_size,
    };
    let sections = [
        section(elf::SHT_NULL, 0, (0, 0), 0, 0, 0, 0),
        section(elf::SHT_HASH, alloc, layout.hash, SHN_DYNSYM, 0, 8, 4),
        // sh_info of a symbol table: index of the first global symbol.
        section(elf::SHT_DYNSYM, alloc, layout.dynsym, SHN_DYNSTR, 1, 8, 24),
        section(elf::SHT_STRTAB, alloc, layout.dynstr, 0, 0, 1, 0),
        section(
            elf::SHT_GNU_VERSYM,
            alloc,
            layout.versym,
            SHN_DYNSYM,
            0,
            2,
            2,
        ),
        // sh_info of a version definition section: the number of definitions.
        section(
            elf::SHT_GNU_VERDEF,
            alloc,
            layout.verdef,
            SHN_DYNSTR,
            2,
            8,
            0,
        ),
        section(elf::SHT_NOTE, alloc, layout.note, 0, 0, 4, 0),
        section(
            elf::SHT_PROGBITS,
            alloc | elf::SHF_EXECINSTR,
            layout.text,
            0,
            0,
            16,
            0,
        ),
        section(
            elf::SHT_DYNAMIC,
            alloc | elf::SHF_WRITE,
            layout.dynamic,
            SHN_DYNSTR,
            0,
            8,
            16,
        ),
        section(elf::SHT_STRTAB, 0, layout.shstrtab, 0, 0, 1, 0),
    ];
    for (section, &name) in sections.iter().zip(names) {
        let (offset, size) = section.place;
        let address = if section.flags & alloc != 0 {
            offset
        } else {
            0
        };
        put(
            out,
            &elf::SectionHeader64::<LE> {
                sh_name: U32::new(LE, name),
                sh_type: U32::new(LE, section.kind),
                sh_flags: U64::new(LE, section.flags.into()),
                sh_addr: U64::new(LE, address),
                sh_offset: U64::new(LE, offset),
                sh_size: U64::new(LE, size),
                sh_link: U32::new(LE, section.link.into()),
                sh_info: U32::new(LE, section.info),
                sh_addralign: U64::new(LE, section.align),
                sh_entsize: U64::new(LE, section.entry_size as u64),
            },
        );
    }
}
