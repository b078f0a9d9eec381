use std::io::Write;
use std::os::fd::AsFd;

use super::*;

const PAGE: u64 = PAGE_SIZE;

fn fixed(addr: u64, len: u64, prot: Prot) -> MapRequest<'static> {
    MapRequest {
        addr,
        placement: Placement::FixedReplace,
        ..MapRequest::anon(len, prot)
    }
}

fn memory() -> GuestMemory {
    GuestMemory::new().expect("reserve guest address space")
}

#[test]
fn anon_mapping_reads_zero_and_round_trips() {
    let mem = memory();
    let addr = mem
        .mmap(MapRequest::anon(3 * PAGE, Prot::RW))
        .expect("mmap");
    assert_eq!(addr % PAGE, 0);
    assert!(addr >= MIN_GUEST_ADDR && addr + 3 * PAGE <= MMAP_TOP);
    assert_eq!(mem.read_obj::<u64>(addr + 8), Ok(0));
    mem.write_obj(addr + PAGE - 4, &0x1122_3344_5566_7788u64)
        .expect("write across pages");
    assert_eq!(
        mem.read_obj::<u64>(addr + PAGE - 4),
        Ok(0x1122_3344_5566_7788)
    );
    assert_eq!(mem.read_obj::<[u8; 2]>(addr + PAGE - 4), Ok([0x88, 0x77]));
}

#[test]
fn unmapped_and_prot_none_fault() {
    let mem = memory();
    let addr = mem.mmap(fixed(0x100000, 2 * PAGE, Prot::RW)).expect("mmap");
    mem.mprotect(addr + PAGE, PAGE, Prot::NONE)
        .expect("mprotect");
    let fault = mem.read_obj::<u32>(addr + PAGE - 2);
    assert_eq!(
        fault,
        Err(Fault {
            addr: addr + PAGE,
            access: Access::Read
        })
    );
    let fault = mem.write(addr + 2 * PAGE, &[1]);
    assert_eq!(
        fault,
        Err(Fault {
            addr: addr + 2 * PAGE,
            access: Access::Write
        })
    );
    assert!(mem.read_obj::<u8>(0).is_err());
    assert!(mem.read_obj::<u8>(GUEST_LIMIT - 1).is_err());
    assert!(mem.read_obj::<u64>(u64::MAX - 3).is_err());
}

#[test]
fn read_only_rejects_writes() {
    let mem = memory();
    let addr = mem.mmap(fixed(0x200000, PAGE, Prot::READ)).expect("mmap");
    assert_eq!(mem.read_obj::<u8>(addr), Ok(0));
    assert!(mem.write(addr, &[1]).is_err());
}

#[test]
fn fixed_replaces_existing_contents() {
    let mem = memory();
    let addr = mem.mmap(fixed(0x300000, 4 * PAGE, Prot::RW)).expect("mmap");
    mem.write_obj(addr + PAGE, &7u32).expect("write");
    mem.write_obj(addr + 3 * PAGE, &9u32).expect("write");
    mem.mmap(fixed(addr + PAGE, PAGE, Prot::READ))
        .expect("fixed over");
    assert_eq!(mem.read_obj::<u32>(addr + PAGE), Ok(0));
    assert_eq!(mem.read_obj::<u32>(addr + 3 * PAGE), Ok(9));
    assert_eq!(mem.regions().len(), 3);
}

#[test]
fn fixed_noreplace_reports_exists() {
    let mem = memory();
    mem.mmap(fixed(0x400000, 2 * PAGE, Prot::RW)).expect("mmap");
    let request = MapRequest {
        addr: 0x401000,
        placement: Placement::FixedNoReplace,
        ..MapRequest::anon(2 * PAGE, Prot::RW)
    };
    assert_eq!(mem.mmap(request), Err(MmError::Exists));
    let request = MapRequest {
        addr: 0x402000,
        ..request
    };
    assert_eq!(mem.mmap(request), Ok(0x402000));
}

#[test]
fn mmap_argument_errors() {
    let mem = memory();
    assert_eq!(
        mem.mmap(MapRequest::anon(0, Prot::RW)),
        Err(MmError::Invalid)
    );
    assert_eq!(
        mem.mmap(fixed(0x500001, PAGE, Prot::RW)),
        Err(MmError::Invalid)
    );
    assert_eq!(
        mem.mmap(fixed(0x1000, PAGE, Prot::RW)),
        Err(MmError::Permission)
    );
    assert_eq!(
        mem.mmap(fixed(GUEST_LIMIT - PAGE, 2 * PAGE, Prot::RW)),
        Err(MmError::NoMemory)
    );
    assert_eq!(
        mem.mmap(MapRequest::anon(GUEST_LIMIT * 2, Prot::RW)),
        Err(MmError::NoMemory)
    );
}

#[test]
fn hint_used_when_free() {
    let mem = memory();
    let request = MapRequest {
        addr: 0x7000_0000,
        ..MapRequest::anon(PAGE, Prot::RW)
    };
    assert_eq!(mem.mmap(request), Ok(0x7000_0000));
    let second = mem.mmap(request).expect("mmap");
    assert_ne!(second, 0x7000_0000);
}

#[test]
fn partial_munmap_splits() {
    let mem = memory();
    let addr = mem.mmap(fixed(0x600000, 3 * PAGE, Prot::RW)).expect("mmap");
    mem.write_obj(addr + 2 * PAGE, &5u8).expect("write");
    mem.munmap(addr + PAGE, PAGE).expect("munmap");
    assert!(mem.read_obj::<u8>(addr + PAGE).is_err());
    assert_eq!(mem.read_obj::<u8>(addr + 2 * PAGE), Ok(5));
    let spans: Vec<_> = mem.regions().iter().map(|r| (r.start, r.end)).collect();
    assert_eq!(
        spans,
        vec![(addr, addr + PAGE), (addr + 2 * PAGE, addr + 3 * PAGE)]
    );
    assert_eq!(mem.munmap(addr + 1, PAGE), Err(MmError::Invalid));
    assert_eq!(mem.munmap(addr, 0), Err(MmError::Invalid));
    assert_eq!(mem.munmap(0x7777_0000, PAGE), Ok(()));
}

#[test]
fn partial_mprotect_splits_and_needs_mapping() {
    let mem = memory();
    let addr = mem.mmap(fixed(0x700000, 3 * PAGE, Prot::RW)).expect("mmap");
    let before = mem.epochs();
    mem.mprotect(addr + PAGE, PAGE, Prot::READ)
        .expect("mprotect");
    assert!(mem.epochs().tlb > before.tlb);
    assert!(mem.write(addr + PAGE, &[1]).is_err());
    assert!(mem.write(addr, &[1]).is_ok());
    assert!(mem.write(addr + 2 * PAGE, &[1]).is_ok());
    assert_eq!(mem.regions().len(), 3);
    assert_eq!(
        mem.mprotect(addr, 4 * PAGE, Prot::READ),
        Err(MmError::NoMemory)
    );
    assert_eq!(
        mem.mprotect(addr + 8, PAGE, Prot::READ),
        Err(MmError::Invalid)
    );
}

#[test]
fn mremap_grows_in_place_and_moves() {
    let mem = memory();
    let addr = mem.mmap(fixed(0x800000, PAGE, Prot::RW)).expect("mmap");
    mem.write_obj(addr, &0xabcdu32).expect("write");
    let grown = mem
        .mremap(addr, PAGE, 3 * PAGE, RemapFlags::default())
        .expect("grow");
    assert_eq!(grown, addr);
    assert_eq!(mem.read_obj::<u32>(addr + 2 * PAGE), Ok(0));

    mem.mmap(fixed(addr + 3 * PAGE, PAGE, Prot::READ))
        .expect("blocker");
    let stuck = mem.mremap(addr, 3 * PAGE, 5 * PAGE, RemapFlags::default());
    assert_eq!(stuck, Err(MmError::NoMemory));
    let flags = RemapFlags {
        may_move: true,
        ..RemapFlags::default()
    };
    let moved = mem.mremap(addr, 3 * PAGE, 5 * PAGE, flags).expect("move");
    assert_ne!(moved, addr);
    assert_eq!(mem.read_obj::<u32>(moved), Ok(0xabcd));
    assert_eq!(mem.read_obj::<u32>(moved + 4 * PAGE), Ok(0));
    assert!(mem.read_obj::<u8>(addr).is_err());
}

#[test]
fn mremap_fixed_and_dontunmap() {
    let mem = memory();
    let addr = mem.mmap(fixed(0x900000, 2 * PAGE, Prot::RW)).expect("mmap");
    mem.write_obj(addr, &42u64).expect("write");
    let flags = RemapFlags {
        may_move: true,
        fixed: Some(0xa00000),
        dont_unmap: true,
    };
    assert_eq!(mem.mremap(addr, 2 * PAGE, 2 * PAGE, flags), Ok(0xa00000));
    assert_eq!(mem.read_obj::<u64>(0xa00000), Ok(42));
    assert_eq!(mem.read_obj::<u64>(addr), Ok(0));

    let shrunk = mem.mremap(0xa00000, 2 * PAGE, PAGE, RemapFlags::default());
    assert_eq!(shrunk, Ok(0xa00000));
    assert!(mem.read_obj::<u8>(0xa00000 + PAGE).is_err());

    let bad = RemapFlags {
        fixed: Some(0xb00000),
        ..RemapFlags::default()
    };
    assert_eq!(mem.mremap(0xa00000, PAGE, PAGE, bad), Err(MmError::Invalid));
    assert_eq!(
        mem.mremap(0xc00000, PAGE, 2 * PAGE, RemapFlags::default()),
        Err(MmError::Fault)
    );
}

#[test]
fn brk_grows_shrinks_and_rejects() {
    let mem = memory();
    mem.set_brk_start(0x1000_0123);
    let start = 0x1000_1000;
    assert_eq!(mem.brk(0), start);
    assert_eq!(mem.brk(start + 10), start + 10);
    mem.write_obj(start + 8, &1u16).expect("heap writable");
    assert_eq!(mem.brk(start + 3 * PAGE), start + 3 * PAGE);
    assert_eq!(mem.regions().len(), 1);
    assert_eq!(mem.regions()[0].name, RegionName::Heap);
    assert_eq!(mem.brk(start + PAGE), start + PAGE);
    assert!(mem.read_obj::<u8>(start + 2 * PAGE).is_err());
    assert_eq!(mem.brk(start - 1), start + PAGE);

    mem.mmap(fixed(start + 4 * PAGE, PAGE, Prot::RW))
        .expect("blocker");
    assert_eq!(mem.brk(start + 8 * PAGE), start + PAGE);
    assert_eq!(mem.brk(MMAP_TOP + PAGE), start + PAGE);
}

#[test]
fn dontneed_zeroes_anonymous_pages() {
    let mem = memory();
    let addr = mem.mmap(fixed(0xd00000, 2 * PAGE, Prot::RW)).expect("mmap");
    mem.write_obj(addr, &0xffu8).expect("write");
    mem.write_obj(addr + PAGE, &0xeeu8).expect("write");
    mem.madvise_dontneed(addr, PAGE).expect("madvise");
    assert_eq!(mem.read_obj::<u8>(addr), Ok(0));
    assert_eq!(mem.read_obj::<u8>(addr + PAGE), Ok(0xee));
    assert_eq!(mem.madvise_dontneed(addr, 4 * PAGE), Err(MmError::NoMemory));
}

#[test]
fn read_cstr_stops_at_nul_and_limit() {
    let mem = memory();
    let addr = mem.mmap(fixed(0xe00000, PAGE, Prot::RW)).expect("mmap");
    let text = addr + PAGE - 6;
    mem.write(text, b"hello\0").expect("write");
    assert_eq!(mem.read_cstr(text, 100), Ok(b"hello".to_vec()));
    assert_eq!(mem.read_cstr(text, 3), Err(CStrError::TooLong(3)));
    mem.write(text, b"hellos").expect("write");
    let fault = mem.read_cstr(text, 100);
    assert_eq!(
        fault,
        Err(CStrError::Fault(Fault {
            addr: addr + PAGE,
            access: Access::Read
        }))
    );
}

#[test]
fn file_mappings_share_and_copy() {
    let dir = std::env::temp_dir().join(format!("carrick-mem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("data");
    let mut file = std::fs::File::create(&path).expect("create");
    file.write_all(&[7u8; 8192]).expect("fill");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("open");

    let mem = memory();
    let shared = MapRequest {
        backing: Backing::File {
            fd: file.as_fd(),
            offset: 4096,
            shared: true,
            path: b"/data",
        },
        ..MapRequest::anon(PAGE, Prot::RW)
    };
    let addr = mem.mmap(shared).expect("shared map");
    assert_eq!(mem.read_obj::<u8>(addr), Ok(7));
    mem.write_obj(addr, &9u8).expect("write");
    let on_disk = std::fs::read(&path).expect("read back");
    assert_eq!(on_disk[4096], 9);
    let info = &mem.regions()[0];
    assert!(info.shared);
    assert_eq!(info.offset, 4096);
    assert_eq!(info.name, RegionName::Path(b"/data".to_vec()));

    let read_only = std::fs::File::open(&path).expect("open read-only");
    let denied = MapRequest {
        backing: Backing::File {
            fd: read_only.as_fd(),
            offset: 0,
            shared: true,
            path: b"/data",
        },
        ..MapRequest::anon(PAGE, Prot::RW)
    };
    assert_eq!(mem.mmap(denied), Err(MmError::Access));
    let private = MapRequest {
        backing: Backing::File {
            fd: read_only.as_fd(),
            offset: 0,
            shared: false,
            path: b"/data",
        },
        ..MapRequest::anon(PAGE, Prot::RW)
    };
    let copy = mem.mmap(private).expect("private map");
    mem.write_obj(copy, &1u8).expect("write private copy");
    assert_eq!(std::fs::read(&path).expect("read back")[0], 7);

    std::fs::remove_dir_all(&dir).ok();
}
