//! Checks the auxiliary vector through getauxval.
//! - AT_PAGESZ 4096, AT_CLKTCK 100, AT_PHENT 56, AT_SECURE 0.
//! - AT_BASE 0 and AT_FLAGS 0 for a static executable; the ids match the process's.
//! - AT_PHDR points at program headers with an executable PT_LOAD covering AT_ENTRY.
//! - AT_RANDOM points at 16 bytes; AT_SYSINFO_EHDR points at the vDSO's ELF header.
//! - AT_EXECFN ends in the probe's name; AT_HWCAP has FP and ASIMD.

use conformance_probes::{check, report};

fn aux(kind: libc::c_ulong) -> u64 {
    // SAFETY: getauxval only reads the saved auxiliary vector.
    unsafe { libc::getauxval(kind) }
}

fn main() {
    report("at_pagesz", aux(libc::AT_PAGESZ));
    report("at_clktck", aux(libc::AT_CLKTCK));
    report("at_phent", aux(libc::AT_PHENT));
    report("at_base", aux(libc::AT_BASE));
    report("at_flags", aux(libc::AT_FLAGS));
    report("at_secure", aux(libc::AT_SECURE));
    // SAFETY: the id getters have no memory effects.
    let (uid, euid, gid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    check("at_uid_matches", aux(libc::AT_UID) == u64::from(uid));
    check("at_euid_matches", aux(libc::AT_EUID) == u64::from(euid));
    check("at_gid_matches", aux(libc::AT_GID) == u64::from(gid));
    check("at_egid_matches", aux(libc::AT_EGID) == u64::from(egid));

    let phdr = aux(libc::AT_PHDR);
    let phnum = aux(libc::AT_PHNUM);
    let entry = aux(libc::AT_ENTRY);
    check("at_phnum_positive", phnum > 0);
    let mut entry_covered = false;
    let mut has_load = false;
    for index in 0..phnum {
        // SAFETY: AT_PHDR points at AT_PHNUM program headers mapped with the executable.
        let header = unsafe { &*((phdr + index * 56) as *const libc::Elf64_Phdr) };
        if header.p_type == libc::PT_LOAD {
            has_load = true;
            let end = header.p_vaddr + header.p_memsz;
            if (header.p_vaddr..end).contains(&entry) && header.p_flags & libc::PF_X != 0 {
                entry_covered = true;
            }
        }
    }
    check("phdr_has_pt_load", has_load);
    check("entry_in_executable_load", entry_covered);

    let random = aux(libc::AT_RANDOM);
    // SAFETY: AT_RANDOM points at 16 bytes on the initial stack.
    let bytes = unsafe { std::slice::from_raw_parts(random as *const u8, 16) };
    check("at_random_not_all_zero", bytes.iter().any(|&b| b != 0));

    let vdso = aux(libc::AT_SYSINFO_EHDR);
    check("at_sysinfo_ehdr_present", vdso != 0);
    if vdso != 0 {
        // SAFETY: AT_SYSINFO_EHDR points at the mapped vDSO image.
        let magic = unsafe { std::slice::from_raw_parts(vdso as *const u8, 4) };
        check("vdso_elf_magic", magic == b"\x7fELF");
    }

    let execfn = aux(libc::AT_EXECFN);
    if execfn != 0 {
        // SAFETY: AT_EXECFN points at a NUL-terminated string on the initial stack.
        let name = unsafe { std::ffi::CStr::from_ptr(execfn as *const libc::c_char) };
        check(
            "at_execfn_ends_with_name",
            name.to_bytes().ends_with(b"/auxv_values"),
        );
    } else {
        check("at_execfn_present", false);
    }
    let platform = aux(libc::AT_PLATFORM);
    if platform != 0 {
        // SAFETY: AT_PLATFORM points at a NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr(platform as *const libc::c_char) };
        report("at_platform", name.to_string_lossy());
    } else {
        report("at_platform", "absent");
    }
    let hwcap = aux(libc::AT_HWCAP);
    check("hwcap_fp", hwcap & libc::HWCAP_FP != 0);
    check("hwcap_asimd", hwcap & libc::HWCAP_ASIMD != 0);
    check("at_minsigstksz_positive", aux(51) > 0);
}
