//! Checks the struct layouts, flag values, constants, errno and signal numbers of
//! `syscalls.toml` against the real arm64 ABI.
//!
//! The test writes C that prints `sizeof`, `_Alignof`, `offsetof` and the signedness of every
//! struct field and the value of every named constant. It builds that C with
//! `aarch64-linux-gnu-gcc -static` and runs it under `qemu-aarch64`, which only prints layouts
//! here: no kernel behaviour is involved. Each output line is compared with the table. Items are
//! grouped into translation units by their `c_header` list, so kernel headers (`asm/stat.h`) and
//! glibc headers (`sys/stat.h`) never meet in one unit. A struct the headers do not declare is
//! checked against a stand-in C type with the same field offsets, where one exists.

mod abi_common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use abi_common::{array, int_field, load_table, run_cross_gcc, str_field};

/// The user-mode emulator that runs the layout printer.
const QEMU: &str = "qemu-aarch64";

/// Classifies an integer lvalue as signed (1), unsigned (0) or something else (2: a struct,
/// an array, a pointer or an enum).
const PRELUDE: &str = r#"
int printf(const char *, ...);
#define ABI_SIGN(x) _Generic((x), \
    signed char: 1, short: 1, int: 1, long: 1, long long: 1, \
    unsigned char: 0, unsigned short: 0, unsigned int: 0, unsigned long: 0, \
    unsigned long long: 0, char: ((char)-1 < 0), default: 2)
"#;

/// C types with the field names and offsets of structs the headers do not declare
/// (`c_type = ""`), as (struct, C type, header). Only field offsets are compared, because
/// glibc's `struct dirent64` has a 256-byte `d_name` and glibc's `struct msghdr` differs from the
/// kernel's `user_msghdr` in the signedness of `msg_namelen` and `msg_flags`.
const STAND_INS: [(&str, &str, &str); 2] = [
    ("linux_dirent64", "struct dirent64", "dirent.h"),
    ("user_msghdr", "struct msghdr", "sys/socket.h"),
];

/// What the table expects the C program to print for one key.
#[derive(Debug)]
enum Expected {
    /// `sizeof` and `_Alignof` of a struct.
    Struct { size: i64, align: i64 },
    /// `offsetof` and `sizeof` of a field, and whether its C type is signed (`None` for
    /// structs and arrays, whose signedness is not checked).
    Field {
        offset: i64,
        size: i64,
        signed: Option<bool>,
    },
    /// `offsetof` of a field of a struct checked against a stand-in C type.
    Offset { offset: i64 },
    /// An integer value, compared in its low `bits` bits.
    Int { value: i64, bits: u32 },
    /// An errno number and its `strerror` text.
    Errno { value: i64, text: String },
}

/// One translation unit: the headers it includes and the statements of its function.
#[derive(Default)]
struct Unit {
    headers: Vec<String>,
    body: String,
}

/// The generated program and what its output must be.
#[derive(Default)]
struct Plan {
    units: BTreeMap<Vec<String>, Unit>,
    expected: BTreeMap<String, Expected>,
}

impl Plan {
    fn unit(&mut self, headers: &[String]) -> &mut String {
        let unit = self.units.entry(headers.to_vec()).or_default();
        unit.headers = headers.to_vec();
        &mut unit.body
    }
}

/// Returns the size and alignment of a field type: a scalar, a struct of the table or an
/// array of either.
fn type_layout(structs: &toml::value::Table, ty: &str, depth: usize) -> Result<(i64, i64), String> {
    if depth > 16 {
        return Err(format!("type `{ty}` nests too deeply"));
    }
    let ty = ty.trim();
    if let Some(inner) = ty.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        let (element, count) = inner
            .rsplit_once(';')
            .ok_or_else(|| format!("array type `{ty}` has no `; N`"))?;
        let count: i64 = count
            .trim()
            .parse()
            .map_err(|_| format!("array type `{ty}` has a bad length"))?;
        let (size, align) = type_layout(structs, element, depth + 1)?;
        return Ok((size * count, align));
    }
    match ty {
        "u8" | "i8" => Ok((1, 1)),
        "u16" | "i16" => Ok((2, 2)),
        "u32" | "i32" => Ok((4, 4)),
        "u64" | "i64" => Ok((8, 8)),
        name => {
            let def = structs
                .get(name)
                .ok_or_else(|| format!("unknown field type `{name}`"))?;
            let context = format!("struct {name}");
            Ok((
                int_field(def, "size", &context)?,
                int_field(def, "align", &context)?,
            ))
        }
    }
}

/// Returns whether a scalar field type is signed, or `None` for structs and arrays.
fn scalar_signed(ty: &str) -> Option<bool> {
    match ty.trim() {
        "i8" | "i16" | "i32" | "i64" => Some(true),
        "u8" | "u16" | "u32" | "u64" => Some(false),
        _ => None,
    }
}

fn headers_of(item: &toml::Value) -> Vec<String> {
    array(item, "c_header")
        .iter()
        .filter_map(|h| h.as_str().map(str::to_string))
        .collect()
}

fn is_pad(field: &toml::Value) -> bool {
    field
        .get("pad")
        .and_then(toml::Value::as_bool)
        .unwrap_or(false)
}

/// Checks that a struct's fields cover every byte exactly once, each at an offset aligned
/// for its type, and that size and alignment agree with the fields.
fn check_coverage(
    structs: &toml::value::Table,
    name: &str,
    def: &toml::Value,
) -> Result<Vec<String>, String> {
    let context = format!("struct {name}");
    let size = int_field(def, "size", &context)?;
    let align = int_field(def, "align", &context)?;
    let mut problems = Vec::new();
    let mut end = 0;
    let mut max_align = 1;
    for field in array(def, "fields") {
        let field_name = str_field(field, "name", &context)?;
        let ty = str_field(field, "type", &context)?;
        let offset = int_field(field, "offset", &context)?;
        let (field_size, field_align) = type_layout(structs, ty, 0)?;
        if offset != end {
            problems.push(format!(
                "{name}.{field_name}: at offset {offset}, but the previous field ends at {end}"
            ));
        }
        if offset % field_align != 0 {
            problems.push(format!(
                "{name}.{field_name}: offset {offset} is not aligned to {field_align}"
            ));
        }
        end = offset + field_size;
        max_align = max_align.max(field_align);
    }
    if end != size {
        problems.push(format!("{name}: fields end at {end}, but size = {size}"));
    }
    if align < max_align || align.count_ones() != 1 || size % align != 0 {
        problems.push(format!(
            "{name}: align = {align} does not fit fields aligned to {max_align} and size {size}"
        ));
    }
    Ok(problems)
}

/// Adds the C statements and expectations for one struct that has a C type or a stand-in.
fn plan_struct(
    plan: &mut Plan,
    structs: &toml::value::Table,
    name: &str,
    def: &toml::Value,
) -> Result<(), String> {
    let context = format!("struct {name}");
    let mut c_type = str_field(def, "c_type", &context)?;
    let mut headers = headers_of(def);
    let stand_in = STAND_INS
        .iter()
        .find(|(struct_name, _, _)| *struct_name == name);
    let mut code = String::new();
    if !c_type.is_empty() {
        let _ = writeln!(
            code,
            "    printf(\"struct {name} %zu %zu\\n\", sizeof({c_type}), _Alignof({c_type}));"
        );
        plan.expected.insert(
            format!("struct {name}"),
            Expected::Struct {
                size: int_field(def, "size", &context)?,
                align: int_field(def, "align", &context)?,
            },
        );
    } else if let Some((_, stand_in_type, header)) = stand_in {
        c_type = stand_in_type;
        headers = vec![header.to_string()];
    } else {
        return Ok(());
    }

    for field in array(def, "fields") {
        if is_pad(field) {
            continue;
        }
        let field_name = str_field(field, "name", &context)?;
        let ty = str_field(field, "type", &context)?;
        let member = field
            .get("c_field")
            .and_then(toml::Value::as_str)
            .unwrap_or(field_name);
        let (size, _) = type_layout(structs, ty, 0)?;
        let offset = int_field(field, "offset", &context)?;
        let _ = writeln!(
            code,
            "    printf(\"field {name}.{field_name} %zu %zu %d\\n\", \
             __builtin_offsetof({c_type}, {member}), sizeof((({c_type} *)0)->{member}), \
             ABI_SIGN((({c_type} *)0)->{member}));"
        );
        let expected = if str_field(def, "c_type", &context)?.is_empty() {
            Expected::Offset { offset }
        } else {
            Expected::Field {
                offset,
                size,
                signed: scalar_signed(ty),
            }
        };
        plan.expected
            .insert(format!("field {name}.{field_name}"), expected);
    }
    plan.unit(&headers).push_str(&code);
    Ok(())
}

/// Adds a `printf` of one integer macro, or of `undefined` when C does not define it.
fn print_value(code: &mut String, key: &str, macro_name: &str) {
    let _ = writeln!(
        code,
        "#ifdef {macro_name}\n    \
         printf(\"{key} %lld\\n\", (long long)({macro_name}));\n\
         #else\n    \
         printf(\"{key} undefined\\n\");\n\
         #endif"
    );
}

fn plan_flags(plan: &mut Plan, set: &str, def: &toml::Value) -> Result<(), String> {
    let context = format!("flags.{set}");
    let bits = int_field(def, "width", &context)?;
    let bits = u32::try_from(bits).map_err(|_| format!("{context}: bad width {bits}"))?;
    let headers = headers_of(def);
    let mut code = String::new();
    for value in array(def, "values") {
        let name = str_field(value, "name", &context)?;
        let key = format!("value {set}.{name}");
        print_value(&mut code, &key, name);
        plan.expected.insert(
            key,
            Expected::Int {
                value: int_field(value, "value", &context)?,
                bits,
            },
        );
    }
    plan.unit(&headers).push_str(&code);
    Ok(())
}

fn plan_constant(plan: &mut Plan, def: &toml::Value) -> Result<(), String> {
    let name = str_field(def, "name", "constant")?;
    let context = format!("constant {name}");
    let bits = match str_field(def, "type", &context)? {
        "i32" | "u32" => 32,
        "i64" | "u64" => 64,
        other => return Err(format!("{context}: unknown type `{other}`")),
    };
    let key = format!("constant {name}");
    let headers = headers_of(def);
    print_value(plan.unit(&headers), &key, name);
    plan.expected.insert(
        key,
        Expected::Int {
            value: int_field(def, "value", &context)?,
            bits,
        },
    );
    Ok(())
}

fn plan_errno_and_signals(plan: &mut Plan, table: &toml::Value) -> Result<(), String> {
    let headers: Vec<String> = ["errno.h", "signal.h", "string.h"]
        .map(String::from)
        .to_vec();
    let mut code = String::new();
    for errno in array(table, "errno") {
        let name = str_field(errno, "name", "errno")?;
        let context = format!("errno {name}");
        let _ = writeln!(
            code,
            "#ifdef {name}\n    \
             printf(\"errno {name} %d %s\\n\", {name}, strerror({name}));\n\
             #else\n    \
             printf(\"errno {name} undefined\\n\");\n\
             #endif"
        );
        plan.expected.insert(
            format!("errno {name}"),
            Expected::Errno {
                value: int_field(errno, "value", &context)?,
                text: str_field(errno, "text", &context)?.to_string(),
            },
        );
    }
    for signal in array(table, "signal") {
        let name = str_field(signal, "name", "signal")?;
        let key = format!("signal {name}");
        print_value(&mut code, &key, name);
        plan.expected.insert(
            key,
            Expected::Int {
                value: int_field(signal, "value", &format!("signal {name}"))?,
                bits: 32,
            },
        );
    }
    plan.unit(&headers).push_str(&code);
    Ok(())
}

fn build_plan(table: &toml::Value) -> Result<Plan, String> {
    let mut plan = Plan::default();
    let empty = toml::value::Table::new();
    let structs = table
        .get("struct")
        .and_then(toml::Value::as_table)
        .unwrap_or(&empty);
    for (name, def) in structs {
        plan_struct(&mut plan, structs, name, def)?;
    }
    if let Some(sets) = table.get("flags").and_then(toml::Value::as_table) {
        for (set, def) in sets {
            plan_flags(&mut plan, set, def)?;
        }
    }
    for constant in array(table, "constant") {
        plan_constant(&mut plan, constant)?;
    }
    plan_errno_and_signals(&mut plan, table)?;
    Ok(plan)
}

/// Writes one C file per unit and a `main` that calls them all, builds the program and runs
/// it under qemu-aarch64. Returns its standard output.
fn build_and_run(plan: &Plan, dir: &Path) -> Result<String, String> {
    std::fs::create_dir_all(dir)
        .map_err(|err| format!("failed to create {}: {err}", dir.display()))?;
    let mut sources = Vec::new();
    let mut main = String::from("int main(void) {\n");
    let mut declarations = String::new();
    for (index, unit) in plan.units.values().enumerate() {
        let mut source = String::from("#define _GNU_SOURCE\n");
        for header in &unit.headers {
            let _ = writeln!(source, "#include <{header}>");
        }
        source.push_str(PRELUDE);
        let _ = write!(source, "void abi_unit_{index}(void) {{\n{}}}\n", unit.body);
        let path = dir.join(format!("unit_{index}.c"));
        std::fs::write(&path, source)
            .map_err(|err| format!("failed to write {}: {err}", path.display()))?;
        sources.push(path.display().to_string());
        let _ = writeln!(declarations, "void abi_unit_{index}(void);");
        let _ = writeln!(main, "    abi_unit_{index}();");
    }
    main.push_str("    return 0;\n}\n");
    let main_path = dir.join("main.c");
    std::fs::write(&main_path, format!("{declarations}{main}"))
        .map_err(|err| format!("failed to write {}: {err}", main_path.display()))?;
    sources.push(main_path.display().to_string());

    let binary = dir.join("abi_layout");
    let binary_arg = binary.display().to_string();
    let mut args = vec!["-static", "-O0", "-o", binary_arg.as_str()];
    args.extend(sources.iter().map(String::as_str));
    run_cross_gcc(&args, "")?;

    let output = Command::new(QEMU).arg(&binary).output().map_err(|err| {
        format!("failed to run {QEMU} ({err}): run scripts/setup.sh to install qemu-user")
    })?;
    if !output.status.success() {
        return Err(format!(
            "{QEMU} {} failed ({}): {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Splits each output line into its key (the first two words) and the rest.
fn parse_output(stdout: &str) -> BTreeMap<String, String> {
    let mut actual = BTreeMap::new();
    for line in stdout.lines() {
        let mut parts = line.splitn(3, ' ');
        if let (Some(kind), Some(name)) = (parts.next(), parts.next()) {
            actual.insert(
                format!("{kind} {name}"),
                parts.next().unwrap_or("").to_string(),
            );
        }
    }
    actual
}

fn parse_ints(text: &str) -> Vec<i64> {
    text.split_whitespace()
        .map_while(|word| word.parse().ok())
        .collect()
}

/// Compares one printed line with what the table expects and returns a description of any
/// difference.
fn compare(key: &str, expected: &Expected, actual: &str) -> Option<String> {
    if actual == "undefined" {
        return Some(format!("{key}: the C headers do not define it"));
    }
    let numbers = parse_ints(actual);
    match expected {
        Expected::Struct { size, align } => (numbers != [*size, *align]).then(|| {
            format!("{key}: table says size {size} align {align}, C says size/align {actual}")
        }),
        Expected::Field {
            offset,
            size,
            signed,
        } => {
            let [c_offset, c_size, c_sign] = numbers[..] else {
                return Some(format!("{key}: unreadable output `{actual}`"));
            };
            if (c_offset, c_size) != (*offset, *size) {
                return Some(format!(
                    "{key}: table says offset {offset} size {size}, \
                     C says offset {c_offset} size {c_size}"
                ));
            }
            match (signed, c_sign) {
                (Some(true), 0) => Some(format!("{key}: table type is signed, C type is unsigned")),
                (Some(false), 1) => {
                    Some(format!("{key}: table type is unsigned, C type is signed"))
                }
                _ => None,
            }
        }
        Expected::Offset { offset } => match numbers.first() {
            Some(c_offset) if c_offset == offset => None,
            _ => Some(format!(
                "{key}: table says offset {offset}, the stand-in C type says {actual}"
            )),
        },
        Expected::Int { value, bits } => {
            let mask = if *bits >= 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            match numbers.first() {
                Some(c_value) if (*c_value as u64) & mask == (*value as u64) & mask => None,
                _ => Some(format!(
                    "{key}: table says {value} ({value:#x}), C says {actual}"
                )),
            }
        }
        Expected::Errno { value, text } => {
            let (number, c_text) = actual.split_once(' ').unwrap_or((actual, ""));
            if number.parse::<i64>().ok() != Some(*value) {
                Some(format!("{key}: table says {value}, C says {number}"))
            } else if c_text != text {
                Some(format!(
                    "{key}: table text `{text}`, strerror says `{c_text}`"
                ))
            } else {
                None
            }
        }
    }
}

#[test]
fn struct_fields_cover_every_byte() {
    let table = load_table().unwrap_or_else(|err| panic!("{err}"));
    let structs = table
        .get("struct")
        .and_then(toml::Value::as_table)
        .unwrap_or_else(|| panic!("syscalls.toml has no [struct.*] tables"));
    let mut problems = Vec::new();
    for (name, def) in structs {
        match check_coverage(structs, name, def) {
            Ok(found) => problems.extend(found),
            Err(err) => problems.push(err),
        }
    }
    assert!(
        problems.is_empty(),
        "struct layouts with gaps or overlaps:\n{}",
        problems.join("\n")
    );
}

#[test]
fn layouts_and_values_match_arm64_c() {
    let table = load_table().unwrap_or_else(|err| panic!("{err}"));
    let plan = build_plan(&table).unwrap_or_else(|err| panic!("{err}"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("abi_layout");
    let stdout = build_and_run(&plan, &dir).unwrap_or_else(|err| panic!("{err}"));
    let actual = parse_output(&stdout);

    let mut mismatches = Vec::new();
    for (key, expected) in &plan.expected {
        match actual.get(key) {
            None => mismatches.push(format!("{key}: the C program printed nothing for it")),
            Some(line) => mismatches.extend(compare(key, expected, line)),
        }
    }
    assert!(
        plan.expected.len() > 1000,
        "only {} items checked; is syscalls.toml complete?",
        plan.expected.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} checks disagree with the arm64 C headers (sources in {}):\n{}",
        mismatches.len(),
        plan.expected.len(),
        dir.display(),
        mismatches.join("\n")
    );
}
