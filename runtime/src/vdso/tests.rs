use object::elf;
use object::read::elf::{Dyn, ElfFile64, FileHeader, ProgramHeader, Sym};
use object::{LittleEndian as LE, Object, ObjectSection, ObjectSymbol};

use super::*;
use crate::linux::nr;

const EXPORTS: [&str; 4] = [
    "__kernel_rt_sigreturn",
    "__kernel_gettimeofday",
    "__kernel_clock_gettime",
    "__kernel_clock_getres",
];

/// The ELF hash of "LINUX_2.6.39" that Go's runtime (golang/go,
/// src/runtime/vdso_linux_arm64.go) compares with vd_hash before it accepts the version.
const GO_VERSION_HASH: u32 = 0x75f_cb89;

fn word_at(bytes: &[u8], offset: u64) -> u32 {
    let start = offset as usize;
    u32::from_le_bytes(bytes[start..start + 4].try_into().unwrap())
}

fn movz_x8(number: u64) -> u32 {
    0xd280_0008 | ((number as u32) << 5)
}

#[test]
fn image_is_one_page() {
    assert_eq!(image().bytes.len() as u64, PAGE_SIZE);
}

#[test]
fn header_is_arm64_shared_object() {
    let file = ElfFile64::<LE>::parse(image().bytes.as_slice()).unwrap();
    let header = file.elf_header();
    assert_eq!(header.e_type(LE), elf::ET_DYN);
    assert_eq!(header.e_machine(LE), elf::EM_AARCH64);
    assert!(file.is_little_endian());
    assert!(file.is_64());
}

#[test]
fn load_segment_is_read_execute() {
    let file = ElfFile64::<LE>::parse(image().bytes.as_slice()).unwrap();
    let loads: Vec<_> = file
        .elf_program_headers()
        .iter()
        .filter(|phdr| phdr.p_type(LE) == elf::PT_LOAD)
        .collect();
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0].p_offset(LE), 0);
    assert_eq!(loads[0].p_vaddr(LE), 0);
    assert_eq!(loads[0].p_flags(LE), elf::PF_R | elf::PF_X);
    assert!(loads[0].p_filesz(LE) <= image().bytes.len() as u64);
}

#[test]
fn sections_have_standard_names() {
    let file = ElfFile64::<LE>::parse(image().bytes.as_slice()).unwrap();
    let names: Vec<&str> = file.sections().map(|s| s.name().unwrap()).collect();
    for expected in [
        ".hash",
        ".dynsym",
        ".dynstr",
        ".gnu.version",
        ".gnu.version_d",
        ".text",
        ".dynamic",
    ] {
        assert!(names.contains(&expected), "missing {expected} in {names:?}");
    }
}

#[test]
fn dynamic_symbols_exported() {
    let file = ElfFile64::<LE>::parse(image().bytes.as_slice()).unwrap();
    for name in EXPORTS {
        let symbol = file
            .dynamic_symbols()
            .find(|symbol| symbol.name() == Ok(name))
            .unwrap_or_else(|| panic!("{name} not exported"));
        assert_eq!(symbol.kind(), object::SymbolKind::Text, "{name}");
        assert!(symbol.is_global(), "{name}");
        assert!(!symbol.is_undefined(), "{name}");
        assert_eq!(Some(symbol.address()), image().symbol(name), "{name}");
    }
}

#[test]
fn every_export_has_version() {
    let file = ElfFile64::<LE>::parse(image().bytes.as_slice()).unwrap();
    let data = image().bytes.as_slice();
    let sections = file.elf_section_table();
    let versions = sections.versions(LE, data).unwrap().unwrap();
    let symbols = sections.symbols(LE, data, elf::SHT_DYNSYM).unwrap();
    for name in EXPORTS {
        let (index, _) = symbols
            .iter()
            .enumerate()
            .find(|(_, symbol)| symbol.name(LE, symbols.strings()) == Ok(name.as_bytes()))
            .unwrap();
        let version_index = versions.version_index(LE, object::SymbolIndex(index));
        assert!(!version_index.is_hidden(), "{name}");
        let version = versions.version(version_index).unwrap().unwrap();
        assert_eq!(version.name(), VERSION.as_bytes(), "{name}");
    }
}

#[test]
fn hash_table_finds_exports() {
    let file = ElfFile64::<LE>::parse(image().bytes.as_slice()).unwrap();
    let data = image().bytes.as_slice();
    let sections = file.elf_section_table();
    let (hash, _) = sections.hash(LE, data).unwrap().unwrap();
    let symbols = sections.symbols(LE, data, elf::SHT_DYNSYM).unwrap();
    let versions = sections.versions(LE, data).unwrap().unwrap();
    for name in EXPORTS {
        let found = hash.find(
            LE,
            name.as_bytes(),
            elf::hash(name.as_bytes()),
            None,
            &symbols,
            &versions,
        );
        let (_, symbol) = found.unwrap_or_else(|| panic!("{name} not in the hash table"));
        assert_eq!(Some(symbol.st_value(LE)), image().symbol(name), "{name}");
    }
}

/// Reads the dynamic section the way Go's and glibc's vDSO parsers do: from PT_DYNAMIC,
/// not from the section headers.
fn dynamic_tags() -> Vec<(u64, u64)> {
    let bytes = image().bytes.as_slice();
    let file = ElfFile64::<LE>::parse(bytes).unwrap();
    let dynamic = file
        .elf_program_headers()
        .iter()
        .find(|phdr| phdr.p_type(LE) == elf::PT_DYNAMIC)
        .unwrap();
    let entries = dynamic.dynamic(LE, bytes).unwrap().unwrap();
    entries
        .iter()
        .map(|entry| (entry.d_tag(LE), entry.d_val(LE)))
        .collect()
}

fn tag(tags: &[(u64, u64)], expected: u32) -> Option<u64> {
    tags.iter()
        .find(|(tag, _)| *tag == u64::from(expected))
        .map(|&(_, value)| value)
}

#[test]
fn dynamic_has_required_tags() {
    let tags = dynamic_tags();
    for expected in [
        elf::DT_HASH,
        elf::DT_SYMTAB,
        elf::DT_STRTAB,
        elf::DT_STRSZ,
        elf::DT_SYMENT,
        elf::DT_VERSYM,
        elf::DT_VERDEF,
        elf::DT_SONAME,
    ] {
        assert!(tag(&tags, expected).is_some(), "missing tag {expected:#x}");
    }
    assert_eq!(tag(&tags, elf::DT_VERDEFNUM), Some(2));
    assert_eq!(tag(&tags, elf::DT_SYMENT), Some(24));
    assert_eq!(tags.last(), Some(&(u64::from(elf::DT_NULL), 0)));
}

#[test]
fn soname_is_linux_vdso() {
    let tags = dynamic_tags();
    let strtab = tag(&tags, elf::DT_STRTAB).unwrap() as usize;
    let soname = tag(&tags, elf::DT_SONAME).unwrap() as usize;
    let bytes = &image().bytes[strtab + soname..];
    let end = bytes.iter().position(|&b| b == 0).unwrap();
    assert_eq!(&bytes[..end], SONAME.as_bytes());
}

/// Walks DT_VERDEF as Go's runtime does and returns the index of [`VERSION`].
fn version_index_by_walk(tags: &[(u64, u64)]) -> Option<u16> {
    let bytes = &image().bytes;
    let strtab = tag(tags, elf::DT_STRTAB).unwrap();
    let mut offset = tag(tags, elf::DT_VERDEF).unwrap();
    loop {
        let read16 = |at: u64| u16::from_le_bytes([bytes[at as usize], bytes[at as usize + 1]]);
        let flags = read16(offset + 2);
        let index = read16(offset + 4);
        let hash = word_at(bytes, offset + 8);
        let aux = word_at(bytes, offset + 12);
        let next = word_at(bytes, offset + 16);
        if flags & elf::VER_FLG_BASE == 0 {
            let name_offset = word_at(bytes, offset + u64::from(aux));
            let name = &bytes[(strtab + u64::from(name_offset)) as usize..];
            if hash == GO_VERSION_HASH && name.starts_with(b"LINUX_2.6.39\0") {
                return Some(index & 0x7fff);
            }
        }
        if next == 0 {
            return None;
        }
        offset += u64::from(next);
    }
}

#[test]
fn version_found_by_go_hash() {
    let tags = dynamic_tags();
    assert_eq!(version_index_by_walk(&tags), Some(2));
}

#[test]
fn function_bodies_make_syscalls() {
    let bytes = &image().bytes;
    let svc = 0xd400_0001;
    let ret = 0xd65f_03c0;
    let cases = [
        ("__kernel_gettimeofday", nr::GETTIMEOFDAY),
        ("__kernel_clock_gettime", nr::CLOCK_GETTIME),
        ("__kernel_clock_getres", nr::CLOCK_GETRES),
    ];
    for (name, number) in cases {
        let start = image().symbol(name).unwrap();
        assert_eq!(word_at(bytes, start), movz_x8(number), "{name}");
        assert_eq!(word_at(bytes, start + 4), svc, "{name}");
        assert_eq!(word_at(bytes, start + 8), ret, "{name}");
    }
}

#[test]
fn sigreturn_matches_unwinder_pattern() {
    // libgcc (config/aarch64/linux-unwind.h) and gdb recognise a signal frame by these two
    // words at the return address.
    let bytes = &image().bytes;
    let start = image().symbol(SIGRETURN_SYMBOL).unwrap();
    assert_eq!(word_at(bytes, start), 0xd280_1168);
    assert_eq!(word_at(bytes, start), movz_x8(nr::RT_SIGRETURN));
    assert_eq!(word_at(bytes, start + 4), 0xd400_0001);
    assert_eq!(word_at(bytes, start - 4), 0xd503_201f);
}

#[test]
fn map_names_vvar_and_vdso() {
    let mem = GuestMemory::new().unwrap();
    let base = map(&mem).unwrap();
    let regions = mem.regions();
    let vdso = regions.iter().find(|r| r.name == RegionName::Vdso).unwrap();
    let vvar = regions.iter().find(|r| r.name == RegionName::Vvar).unwrap();
    assert_eq!(vdso.start, base);
    assert_eq!(vdso.end, base + PAGE_SIZE);
    assert_eq!(vdso.prot, Prot::RX);
    assert_eq!(vvar.end, base);
    assert_eq!(vvar.start, base - VVAR_SIZE);
    assert_eq!(vvar.prot, Prot::READ);
    assert_eq!(base % PAGE_SIZE, 0);
}

#[test]
fn mapped_vdso_readable_not_writable() {
    let mem = GuestMemory::new().unwrap();
    let base = map(&mem).unwrap();
    let mut magic = [0u8; 4];
    mem.read(base, &mut magic).unwrap();
    assert_eq!(&magic, b"\x7fELF");
    assert!(mem.write(base, &[0]).is_err());
    assert_eq!(
        sigreturn_address(base),
        Some(base + image().symbol(SIGRETURN_SYMBOL).unwrap())
    );
}
