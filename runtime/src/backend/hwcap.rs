//! AT_HWCAP and AT_HWCAP2 derived from the CPU's ID registers, the way the Linux arm64 kernel
//! derives them (arch/arm64/kernel/cpufeature.c, `arm64_elf_hwcaps`). Host-independent, so
//! every backend reports exactly the features its CPU implements.
//!
//! Features that need kernel support carrick does not provide are never reported: SVE and
//! SME (no vector-length state in signal frames yet), MTE, BTI (no PROT_BTI), pointer
//! authentication (keys are not managed per process) and the event stream.

/// The ID registers the hwcaps are decoded from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdRegisters {
    /// ID_AA64ISAR0_EL1.
    pub isar0: u64,
    /// ID_AA64ISAR1_EL1.
    pub isar1: u64,
    /// ID_AA64PFR0_EL1.
    pub pfr0: u64,
    /// ID_AA64PFR1_EL1.
    pub pfr1: u64,
    /// ID_AA64MMFR2_EL1.
    pub mmfr2: u64,
}

// TODO: Linux constants; move to syscalls.toml (HWCAP_* and HWCAP2_* bit numbers from
// arch/arm64/include/uapi/asm/hwcap.h) and generate them.
mod linux_hwcap {
    pub const FP: u32 = 0;
    pub const ASIMD: u32 = 1;
    pub const AES: u32 = 3;
    pub const PMULL: u32 = 4;
    pub const SHA1: u32 = 5;
    pub const SHA2: u32 = 6;
    pub const CRC32: u32 = 7;
    pub const ATOMICS: u32 = 8;
    pub const FPHP: u32 = 9;
    pub const ASIMDHP: u32 = 10;
    pub const CPUID: u32 = 11;
    pub const ASIMDRDM: u32 = 12;
    pub const JSCVT: u32 = 13;
    pub const FCMA: u32 = 14;
    pub const LRCPC: u32 = 15;
    pub const DCPOP: u32 = 16;
    pub const SHA3: u32 = 17;
    pub const SM3: u32 = 18;
    pub const SM4: u32 = 19;
    pub const ASIMDDP: u32 = 20;
    pub const SHA512: u32 = 21;
    pub const ASIMDFHM: u32 = 23;
    pub const DIT: u32 = 24;
    pub const USCAT: u32 = 25;
    pub const ILRCPC: u32 = 26;
    pub const FLAGM: u32 = 27;
    pub const SSBS: u32 = 28;
    pub const SB: u32 = 29;
    pub const HWCAP2_DCPODP: u32 = 0;
    pub const HWCAP2_FLAGM2: u32 = 7;
    pub const HWCAP2_FRINT: u32 = 8;
    pub const HWCAP2_I8MM: u32 = 13;
    pub const HWCAP2_BF16: u32 = 14;
    pub const HWCAP2_DGH: u32 = 15;
    pub const HWCAP2_RNG: u32 = 16;
}

/// Names `/proc/cpuinfo` gives the AT_HWCAP bits, indexed by bit (Linux's uapi hwcap.h order).
const HWCAP_NAMES: [&str; 32] = [
    "fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp",
    "asimdhp", "cpuid", "asimdrdm", "jscvt", "fcma", "lrcpc", "dcpop", "sha3", "sm3", "sm4",
    "asimddp", "sha512", "sve", "asimdfhm", "dit", "uscat", "ilrcpc", "flagm", "ssbs", "sb",
    "paca", "pacg",
];

/// Names `/proc/cpuinfo` gives the AT_HWCAP2 bits, indexed by bit, up to the last bit that
/// [`hwcaps_from_id_registers`] may set.
const HWCAP2_NAMES: [&str; 17] = [
    "dcpodp",
    "sve2",
    "sveaes",
    "svepmull",
    "svebitperm",
    "svesha3",
    "svesm4",
    "flagm2",
    "frint",
    "svei8mm",
    "svef32mm",
    "svef64mm",
    "svebf16",
    "i8mm",
    "bf16",
    "dgh",
    "rng",
];

/// Lists the `/proc/cpuinfo` feature names of the set hwcap bits, AT_HWCAP's first, each in
/// bit order, as the kernel prints them.
pub fn feature_names(hwcap: u64, hwcap2: u64) -> Vec<&'static str> {
    let set = |word: u64, names: &'static [&'static str]| {
        names
            .iter()
            .enumerate()
            .filter(move |(bit, _)| word & (1 << bit) != 0)
            .map(|(_, name)| *name)
    };
    set(hwcap, &HWCAP_NAMES)
        .chain(set(hwcap2, &HWCAP2_NAMES))
        .collect()
}

/// Returns the 4-bit ID register field at bit `shift`.
fn field(reg: u64, shift: u32) -> u64 {
    (reg >> shift) & 0xf
}

/// Returns the 4-bit signed ID register field at bit `shift` (FP and AdvSIMD use 0xf for
/// "not implemented").
fn signed_field(reg: u64, shift: u32) -> i8 {
    let raw = field(reg, shift) as i8;
    if raw >= 8 {
        raw - 16
    } else {
        raw
    }
}

/// Decodes (AT_HWCAP, AT_HWCAP2) from the ID registers.
pub fn hwcaps_from_id_registers(id: &IdRegisters) -> (u64, u64) {
    use linux_hwcap::*;

    let mut hwcap = 1u64 << CPUID;
    let mut hwcap2 = 0u64;
    let mut set = |bit: u32, present: bool| {
        if present {
            hwcap |= 1 << bit;
        }
    };

    let fp = signed_field(id.pfr0, 16);
    let simd = signed_field(id.pfr0, 20);
    set(FP, fp >= 0);
    set(FPHP, fp >= 1);
    set(ASIMD, simd >= 0);
    set(ASIMDHP, simd >= 1);
    set(DIT, field(id.pfr0, 48) >= 1);

    set(AES, field(id.isar0, 4) >= 1);
    set(PMULL, field(id.isar0, 4) >= 2);
    set(SHA1, field(id.isar0, 8) >= 1);
    set(SHA2, field(id.isar0, 12) >= 1);
    set(SHA512, field(id.isar0, 12) >= 2);
    set(CRC32, field(id.isar0, 16) >= 1);
    set(ATOMICS, field(id.isar0, 20) >= 2);
    set(ASIMDRDM, field(id.isar0, 28) >= 1);
    set(SHA3, field(id.isar0, 32) >= 1);
    set(SM3, field(id.isar0, 36) >= 1);
    set(SM4, field(id.isar0, 40) >= 1);
    set(ASIMDDP, field(id.isar0, 44) >= 1);
    set(ASIMDFHM, field(id.isar0, 48) >= 1);
    set(FLAGM, field(id.isar0, 52) >= 1);

    set(DCPOP, field(id.isar1, 0) >= 1);
    set(JSCVT, field(id.isar1, 12) >= 1);
    set(FCMA, field(id.isar1, 16) >= 1);
    set(LRCPC, field(id.isar1, 20) >= 1);
    set(ILRCPC, field(id.isar1, 20) >= 2);
    set(SB, field(id.isar1, 36) >= 1);
    set(SSBS, field(id.pfr1, 4) >= 2);
    set(USCAT, field(id.mmfr2, 32) >= 1);

    let mut set2 = |bit: u32, present: bool| {
        if present {
            hwcap2 |= 1 << bit;
        }
    };
    set2(HWCAP2_DCPODP, field(id.isar1, 0) >= 2);
    set2(HWCAP2_FLAGM2, field(id.isar0, 52) >= 2);
    set2(HWCAP2_FRINT, field(id.isar1, 32) >= 1);
    set2(HWCAP2_I8MM, field(id.isar1, 52) >= 1);
    set2(HWCAP2_BF16, field(id.isar1, 44) >= 1);
    set2(HWCAP2_DGH, field(id.isar1, 48) >= 1);
    set2(HWCAP2_RNG, field(id.isar0, 60) >= 1);

    (hwcap, hwcap2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bit the decoder can set has a name, and names follow the uapi bit numbers.
    #[test]
    fn feature_names_match_bits() {
        use linux_hwcap::*;
        assert_eq!(HWCAP_NAMES[ATOMICS as usize], "atomics");
        assert_eq!(HWCAP_NAMES[SB as usize], "sb");
        assert_eq!(HWCAP2_NAMES[HWCAP2_FLAGM2 as usize], "flagm2");
        assert_eq!(HWCAP2_NAMES[HWCAP2_RNG as usize], "rng");
        assert_eq!(
            feature_names(1 << CPUID | 1 << FP, 1 << HWCAP2_DGH),
            ["fp", "cpuid", "dgh"]
        );
        let all = IdRegisters {
            isar0: u64::MAX,
            isar1: u64::MAX,
            pfr0: 0x1111_1111_1111_1111,
            pfr1: u64::MAX,
            mmfr2: u64::MAX,
        };
        let (hwcap, hwcap2) = hwcaps_from_id_registers(&all);
        assert_eq!(hwcap2 >> HWCAP2_NAMES.len(), 0, "hwcap2 bit without a name");
        let named = feature_names(hwcap, hwcap2).len();
        assert_eq!(named as u32, hwcap.count_ones() + hwcap2.count_ones());
    }

    #[test]
    fn no_fp_when_field_is_all_ones() {
        let id = IdRegisters {
            pfr0: 0xff << 16,
            ..IdRegisters::default()
        };
        let (hwcap, _) = hwcaps_from_id_registers(&id);
        assert_eq!(hwcap & 0b11, 0);
        assert_ne!(hwcap & (1 << linux_hwcap::CPUID), 0);
    }

    #[test]
    fn atomics_need_level_two() {
        let one = IdRegisters {
            isar0: 1 << 20,
            ..IdRegisters::default()
        };
        let two = IdRegisters {
            isar0: 2 << 20,
            ..IdRegisters::default()
        };
        assert_eq!(
            hwcaps_from_id_registers(&one).0 & (1 << linux_hwcap::ATOMICS),
            0
        );
        assert_ne!(
            hwcaps_from_id_registers(&two).0 & (1 << linux_hwcap::ATOMICS),
            0
        );
    }

    #[test]
    fn aes_level_two_adds_pmull() {
        let id = IdRegisters {
            isar0: 2 << 4,
            ..IdRegisters::default()
        };
        let (hwcap, _) = hwcaps_from_id_registers(&id);
        assert_ne!(hwcap & (1 << linux_hwcap::AES), 0);
        assert_ne!(hwcap & (1 << linux_hwcap::PMULL), 0);
    }

    #[test]
    fn rng_goes_to_hwcap2() {
        let id = IdRegisters {
            isar0: 1 << 60,
            ..IdRegisters::default()
        };
        let (hwcap, hwcap2) = hwcaps_from_id_registers(&id);
        assert_eq!(
            hwcap,
            1 << linux_hwcap::CPUID | 1 << linux_hwcap::FP | 1 << linux_hwcap::ASIMD
        );
        assert_eq!(hwcap2, 1 << linux_hwcap::HWCAP2_RNG);
    }
}
