//! The initial stack of a new process, laid out as Linux's `create_elf_tables` does (from the
//! top down): the executable's path (AT_EXECFN), the environment and argument strings, the
//! platform string, 16 random bytes (AT_RANDOM), then, 16-byte aligned, argc, the argv and
//! envp pointer arrays with their NULLs, and the auxiliary vector ending in AT_NULL.

use super::LoadError;

// TODO: Linux constants; move to syscalls.toml (include/uapi/linux/auxvec.h and
// arch/arm64/include/uapi/asm/auxvec.h) and generate them.
/// Auxiliary vector keys.
pub mod at {
    pub const NULL: u64 = 0;
    pub const PHDR: u64 = 3;
    pub const PHENT: u64 = 4;
    pub const PHNUM: u64 = 5;
    pub const PAGESZ: u64 = 6;
    pub const BASE: u64 = 7;
    pub const FLAGS: u64 = 8;
    pub const ENTRY: u64 = 9;
    pub const UID: u64 = 11;
    pub const EUID: u64 = 12;
    pub const GID: u64 = 13;
    pub const EGID: u64 = 14;
    pub const PLATFORM: u64 = 15;
    pub const HWCAP: u64 = 16;
    pub const CLKTCK: u64 = 17;
    pub const SECURE: u64 = 23;
    pub const RANDOM: u64 = 25;
    pub const HWCAP2: u64 = 26;
    pub const EXECFN: u64 = 31;
    pub const MINSIGSTKSZ: u64 = 51;
}

/// Longest single argument or environment string Linux accepts (MAX_ARG_STRLEN, 32 pages).
const MAX_ARG_STRLEN: usize = 32 * 4096;

/// What goes on the initial stack.
#[derive(Debug)]
pub struct StackContents<'a> {
    /// Command-line arguments, argv[0] first.
    pub argv: &'a [Vec<u8>],
    /// Environment strings (`NAME=value`).
    pub envp: &'a [Vec<u8>],
    /// The path the program was executed as (AT_EXECFN).
    pub execfn: &'a [u8],
    /// The platform string (AT_PLATFORM), without NUL.
    pub platform: &'a [u8],
    /// The AT_RANDOM bytes.
    pub random: [u8; 16],
    /// Auxiliary vector entries other than AT_PLATFORM, AT_RANDOM, AT_EXECFN and AT_NULL,
    /// which this module adds because only it knows their addresses.
    pub auxv: &'a [(u64, u64)],
    /// Most bytes the strings may take (Linux: a quarter of the stack size limit).
    pub max_strings: usize,
}

/// The initial stack, ready to be written at `sp`.
#[derive(Debug)]
pub struct StackImage {
    /// Initial stack pointer (16-byte aligned; points at argc).
    pub sp: u64,
    /// The bytes of `[sp, top)`.
    pub bytes: Vec<u8>,
    /// The auxiliary vector as it appears on the stack, AT_NULL included (/proc/self/auxv).
    pub auxv: Vec<u8>,
}

/// Lays out the initial stack below `top`.
pub fn build(top: u64, contents: &StackContents<'_>) -> Result<StackImage, LoadError> {
    let strings: usize = contents
        .argv
        .iter()
        .chain(contents.envp)
        .map(|s| s.len() + 1)
        .sum::<usize>()
        + contents.execfn.len()
        + 1;
    let too_long = contents
        .argv
        .iter()
        .chain(contents.envp)
        .any(|s| s.len() + 1 > MAX_ARG_STRLEN);
    if strings > contents.max_strings || too_long {
        return Err(LoadError::ArgumentsTooLong);
    }

    // Strings, highest first: execfn, then envp and argv so that argv[0] is lowest.
    let mut cursor = top;
    let mut place = |bytes: &[u8], with_nul: bool| {
        cursor -= bytes.len() as u64 + u64::from(with_nul);
        cursor
    };
    let execfn_addr = place(contents.execfn, true);
    let envp_addrs: Vec<u64> = contents.envp.iter().rev().map(|s| place(s, true)).collect();
    let argv_addrs: Vec<u64> = contents.argv.iter().rev().map(|s| place(s, true)).collect();
    let platform_addr = place(contents.platform, true);
    let random_addr = place(&contents.random, false);

    let mut auxv_words: Vec<u64> = Vec::new();
    for &(key, value) in contents.auxv {
        auxv_words.extend([key, value]);
    }
    auxv_words.extend([at::PLATFORM, platform_addr, at::RANDOM, random_addr]);
    auxv_words.extend([at::EXECFN, execfn_addr, at::NULL, 0]);

    let words = 1 + contents.argv.len() + 1 + contents.envp.len() + 1 + auxv_words.len();
    let sp = (random_addr & !15) - ((words as u64 * 8 + 15) & !15);

    let mut bytes = vec![0u8; (top - sp) as usize];
    let mut put = |addr: u64, data: &[u8]| {
        let at = (addr - sp) as usize;
        bytes[at..at + data.len()].copy_from_slice(data);
    };
    put(execfn_addr, contents.execfn);
    for (s, &addr) in contents.envp.iter().rev().zip(&envp_addrs) {
        put(addr, s);
    }
    for (s, &addr) in contents.argv.iter().rev().zip(&argv_addrs) {
        put(addr, s);
    }
    put(platform_addr, contents.platform);
    put(random_addr, &contents.random);

    let mut table: Vec<u64> = Vec::with_capacity(words);
    table.push(contents.argv.len() as u64);
    table.extend(argv_addrs.iter().rev());
    table.push(0);
    table.extend(envp_addrs.iter().rev());
    table.push(0);
    table.extend(&auxv_words);
    let table_bytes: Vec<u8> = table.iter().flat_map(|w| w.to_le_bytes()).collect();
    put(sp, &table_bytes);

    let auxv = auxv_words.iter().flat_map(|w| w.to_le_bytes()).collect();
    Ok(StackImage { sp, bytes, auxv })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(image: &StackImage, addr: u64) -> u64 {
        let at = (addr - image.sp) as usize;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&image.bytes[at..at + 8]);
        u64::from_le_bytes(raw)
    }

    fn cstr(image: &StackImage, addr: u64) -> Vec<u8> {
        let at = (addr - image.sp) as usize;
        image.bytes[at..]
            .iter()
            .take_while(|&&b| b != 0)
            .copied()
            .collect()
    }

    fn contents<'a>(argv: &'a [Vec<u8>], envp: &'a [Vec<u8>]) -> StackContents<'a> {
        StackContents {
            argv,
            envp,
            execfn: b"/bin/prog",
            platform: b"aarch64",
            random: [7; 16],
            auxv: &[(at::PAGESZ, 4096)],
            max_strings: 1 << 20,
        }
    }

    #[test]
    fn layout_matches_linux_order() {
        let argv = vec![b"prog".to_vec(), b"-x".to_vec()];
        let envp = vec![b"A=1".to_vec()];
        let top = 0x10_0000;
        let image = build(top, &contents(&argv, &envp)).expect("build");
        assert_eq!(image.sp % 16, 0);
        assert_eq!(word(&image, image.sp), 2);
        let argv0 = word(&image, image.sp + 8);
        let argv1 = word(&image, image.sp + 16);
        assert_eq!(cstr(&image, argv0), b"prog");
        assert_eq!(cstr(&image, argv1), b"-x");
        assert!(argv0 < argv1);
        assert_eq!(word(&image, image.sp + 24), 0);
        assert_eq!(cstr(&image, word(&image, image.sp + 32)), b"A=1");
        assert_eq!(word(&image, image.sp + 40), 0);

        let auxv_start = image.sp + 48;
        let pairs: Vec<(u64, u64)> = (0..6)
            .map(|i| {
                (
                    word(&image, auxv_start + 16 * i),
                    word(&image, auxv_start + 16 * i + 8),
                )
            })
            .collect();
        assert_eq!(pairs[0], (at::PAGESZ, 4096));
        assert_eq!(pairs[1].0, at::PLATFORM);
        assert_eq!(cstr(&image, pairs[1].1), b"aarch64");
        assert_eq!(pairs[2].0, at::RANDOM);
        let random_at = (pairs[2].1 - image.sp) as usize;
        assert_eq!(&image.bytes[random_at..random_at + 16], &[7; 16]);
        assert_eq!(pairs[3].0, at::EXECFN);
        assert_eq!(cstr(&image, pairs[3].1), b"/bin/prog");
        assert_eq!(pairs[3].1 + 10, top);
        assert_eq!(pairs[4], (at::NULL, 0));
        assert_eq!(image.auxv.len(), 5 * 16);
    }

    #[test]
    fn rejects_oversized_arguments() {
        let argv = vec![vec![b'a'; 2000]];
        let small = StackContents {
            max_strings: 1000,
            ..contents(&argv, &[])
        };
        assert!(matches!(
            build(0x10_0000, &small),
            Err(LoadError::ArgumentsTooLong)
        ));
        let huge = vec![vec![b'a'; MAX_ARG_STRLEN]];
        let one = contents(&huge, &[]);
        assert!(matches!(
            build(0x100_0000, &one),
            Err(LoadError::ArgumentsTooLong)
        ));
    }
}
