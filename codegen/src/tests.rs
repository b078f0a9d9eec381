//! Unit tests of parsing, validation and emission on small hand-made tables.

use super::*;

const GOOD: &str = r#"
[meta]
arch = "aarch64"
kernel = "6.1"

[[syscall]]
nr = 63
name = "read"
args = [
  { name = "fd", type = "fd" },
  { name = "buf", type = "buf_out", len = "count" },
  { name = "count", type = "size" },
]
ret = "size"
status = "implemented"

[[syscall]]
nr = 56
name = "openat"
args = [
  { name = "dfd", type = "dirfd" },
  { name = "filename", type = "path" },
  { name = "flags", type = "flags", set = "open_flags" },
  { name = "mode", type = "mode" },
]
ret = "fd"
status = "partial"
note = "O_TMPFILE is missing"

[struct.timespec]
c_type = "struct timespec"
size = 16
align = 8
fields = [
  { name = "tv_sec", type = "i64", offset = 0 },
  { name = "tv_nsec", type = "i64", offset = 8 },
]

[struct.pair]
size = 40
align = 8
fields = [
  { name = "flag", type = "u32", offset = 0 },
  { name = "__pad0", type = "[u8; 4]", offset = 4, pad = true },
  { name = "times", type = "[timespec; 2]", offset = 8 },
]

[flags.open_flags]
kind = "bits"
unknown = "ignore"
values = [
  { name = "O_RDONLY", value = 0 },
  { name = "O_WRONLY", value = 1 },
  { name = "O_RDWR", value = 2 },
  { name = "O_ACCMODE", value = 3, composite = true, mask = true },
  { name = "O_CLOEXEC", value = 0o2000000 },
]

[[errno]]
name = "ENOENT"
value = 2
text = "No such file or directory"

[[signal]]
name = "SIGSEGV"
value = 11
action = "core"
"#;

fn problems(text: &str) -> Vec<String> {
    match parse("syscalls.toml", text) {
        Ok(_) => Vec::new(),
        Err(Error::Invalid(problems)) => problems.iter().map(ToString::to_string).collect(),
        Err(other) => vec![other.to_string()],
    }
}

fn with_row(extra: &str) -> String {
    format!("{GOOD}\n{extra}")
}

#[test]
fn good_table_parses() {
    assert_eq!(problems(GOOD), Vec::<String>::new());
}

#[test]
fn line_numbers_are_one_based() {
    let source = Source::new("t", "a\nb\nc\n");
    assert_eq!(source.line(0), 1);
    assert_eq!(source.line(2), 2);
    assert_eq!(source.line(4), 3);
}

#[test]
fn duplicate_number_names_line() {
    let text = with_row(
        "[[syscall]]\nnr = 63\nname = \"read2\"\nret = \"size\"\nstatus = \"unimplemented\"\n",
    );
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    // A row's span starts at its `[[syscall]]` header, the line before the second `nr = 63`.
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "nr = 63")
        .nth(1)
        .unwrap()
        .0;
    assert!(
        found[0].starts_with(&format!(
            "syscalls.toml:{line}: duplicate syscall number 63"
        )),
        "{found:?}"
    );
}

#[test]
fn duplicate_name_rejected() {
    let text = with_row(
        "[[syscall]]\nnr = 64\nname = \"read\"\nret = \"size\"\nstatus = \"unimplemented\"\n",
    );
    let found = problems(&text);
    assert!(
        found
            .iter()
            .any(|p| p.contains("duplicate syscall name \"read\"")),
        "{found:?}"
    );
}

#[test]
fn duplicate_constant_rejected() {
    let constant = "[[constant]]\nname = \"PATH_MAX\"\nvalue = 4096\ntype = \"i32\"\n";
    let text = with_row(&format!("{constant}\n{constant}"));
    let found = problems(&text);
    assert!(
        found
            .iter()
            .any(|p| p.contains("duplicate constant PATH_MAX (first on line")),
        "{found:?}"
    );
}

#[test]
fn overlapping_bits_rejected() {
    let text = GOOD.replace(
        "{ name = \"O_CLOEXEC\", value = 0o2000000 },",
        "{ name = \"O_CLOEXEC\", value = 0o2000000 },\n  { name = \"O_BAD\", value = 0o2000010 },",
    );
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("O_BAD: bits 0x80000 overlap O_CLOEXEC"),
        "{found:?}"
    );
}

#[test]
fn unknown_type_rejected() {
    let text = with_row("[[syscall]]\nnr = 64\nname = \"write\"\nargs = [{ name = \"fd\", type = \"filedesc\" }]\nret = \"size\"\nstatus = \"unimplemented\"\n");
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("unknown variant `filedesc`"), "{found:?}");
    assert!(found[0].contains("line "), "{found:?}");
}

#[test]
fn unknown_struct_rejected() {
    let text = with_row("[[syscall]]\nnr = 101\nname = \"nanosleep\"\nargs = [{ name = \"rqtp\", type = \"struct_in\", struct = \"timespek\" }]\nret = \"zero\"\nstatus = \"unimplemented\"\n");
    let found = problems(&text);
    assert!(
        found
            .iter()
            .any(|p| p.contains("unknown struct \"timespek\"")),
        "{found:?}"
    );
}

#[test]
fn bad_length_argument_rejected() {
    let text = GOOD.replace("len = \"count\"", "len = \"size\"");
    let found = problems(&text);
    assert!(
        found
            .iter()
            .any(|p| p.contains("length argument \"size\" is not an argument")),
        "{found:?}"
    );
}

#[test]
fn partial_without_note_rejected() {
    let text = GOOD.replace("note = \"O_TMPFILE is missing\"", "");
    let found = problems(&text);
    assert!(
        found
            .iter()
            .any(|p| p.contains("is partial but has no note")),
        "{found:?}"
    );
}

#[test]
fn struct_gap_rejected() {
    let text = GOOD.replace(
        "  { name = \"__pad0\", type = \"[u8; 4]\", offset = 4, pad = true },\n",
        "",
    );
    let found = problems(&text);
    assert!(
        found.iter().any(|p| p.contains("offset 8 leaves a gap")),
        "{found:?}"
    );
}

#[test]
fn struct_size_mismatch_rejected() {
    let text = GOOD.replace("size = 40", "size = 48");
    let found = problems(&text);
    assert!(
        found
            .iter()
            .any(|p| p.contains("fields end at 40 but size is 48")),
        "{found:?}"
    );
}

#[test]
fn misaligned_field_rejected() {
    let text = GOOD.replace(
        "{ name = \"tv_nsec\", type = \"i64\", offset = 8 }",
        "{ name = \"tv_nsec\", type = \"i64\", offset = 12 }",
    );
    let found = problems(&text);
    assert!(
        found
            .iter()
            .any(|p| p.contains("offset 12 is not a multiple of its alignment 8")),
        "{found:?}"
    );
}

#[test]
fn missing_handler_reported() {
    let checked = parse("syscalls.toml", GOOD).unwrap();
    let mut handlers = BTreeMap::new();
    handlers.insert("read".to_string(), "files.rs:1".to_string());
    let found = validate::check_handlers(&checked.table, &checked.source, &handlers);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0]
        .message
        .contains("\"openat\" (nr 56) is partial but no `#[syscall] fn openat`"));
    assert!(found[0].location.starts_with("syscalls.toml:"));
}

#[test]
fn handler_for_unknown_row_reported() {
    let checked = parse("syscalls.toml", GOOD).unwrap();
    let mut handlers = BTreeMap::new();
    handlers.insert("read".to_string(), "files.rs:1".to_string());
    handlers.insert("openat".to_string(), "files.rs:9".to_string());
    handlers.insert("frobnicate".to_string(), "files.rs:20".to_string());
    let found = validate::check_handlers(&checked.table, &checked.source, &handlers);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].location, "files.rs:20");
}

#[test]
fn emitted_dispatch_has_gaps() {
    let checked = parse("syscalls.toml", GOOD).unwrap();
    let code = emit::runtime_module(&checked);
    assert!(code.contains("pub const SYSCALL_TABLE_LEN: usize = 64;"));
    assert!(code.contains("Some(crate::sys::__sys_openat as Handler),"));
    assert!(code.contains("Some(crate::sys::__sys_read as Handler),"));
    assert_eq!(code.matches("    None,\n").count(), 2 * 62);
}

#[test]
fn emitted_struct_has_layout_asserts() {
    let checked = parse("syscalls.toml", GOOD).unwrap();
    let code = emit::runtime_module(&checked);
    assert!(code.contains("assert!(core::mem::size_of::<Pair>() == 40);"));
    assert!(code.contains("assert!(core::mem::offset_of!(Pair, times) == 8);"));
    assert!(code.contains("pub times: [Timespec; 2],"));
    assert!(code.contains("times: [Timespec::ZERO; 2],"));
}

#[test]
fn handler_scan_finds_attributed_fns() {
    let dir = std::env::temp_dir().join(format!("carrick-codegen-scan-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    std::fs::write(
        dir.join("a.rs"),
        "#[syscall]\npub fn read(cx: &mut C) {}\nfn helper() {}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("nested/b.rs"),
        "#[syscall]\n/// docs\nfn openat() {}\n",
    )
    .unwrap();
    let (handlers, files) = find_handlers(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(handlers.keys().collect::<Vec<_>>(), vec!["openat", "read"]);
    assert!(handlers["read"].ends_with("a.rs:2"));
}

#[test]
fn type_names_are_camel_case() {
    assert_eq!(model::type_name("linux_dirent64"), "LinuxDirent64");
    assert_eq!(model::type_name("open_flags"), "OpenFlags");
    assert_eq!(model::type_name("stat"), "Stat");
}
