//! Checks a parsed table for the mistakes that would otherwise surface as wrong behaviour:
//! duplicate numbers and names, overlapping flag bits, unknown types and references, struct
//! layouts whose offsets do not add up, and implemented rows without a handler. Every problem
//! becomes one diagnostic naming the line.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{ArgKind, Scalar, SetKind, Status, Table};
use crate::{Diagnostic, Source};

/// Largest syscall number the generated dispatch table can hold.
pub const MAX_SYSCALL_NR: u32 = 1023;

/// A struct field type after parsing its `type` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Scalar(Scalar),
    Struct(String),
    Array(Box<FieldType>, u64),
}

impl FieldType {
    pub fn parse(text: &str) -> Option<FieldType> {
        let text = text.trim();
        if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let (element, count) = inner.rsplit_once(';')?;
            let count: u64 = count.trim().parse().ok()?;
            let element = FieldType::parse(element)?;
            return Some(FieldType::Array(Box::new(element), count));
        }
        if let Some(scalar) = Scalar::parse(text) {
            return Some(FieldType::Scalar(scalar));
        }
        let is_ident = !text.is_empty()
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !text.starts_with(|c: char| c.is_ascii_digit());
        is_ident.then(|| FieldType::Struct(text.to_string()))
    }
}

/// Size and alignment of every struct, computed from its fields.
pub type Layouts = BTreeMap<String, (u64, u64)>;

/// Runs every check; returns the computed struct layouts when there is no problem.
pub fn validate(table: &Table, source: &Source) -> Result<Layouts, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    check_syscalls(table, source, &mut problems);
    let layouts = check_structs(table, source, &mut problems);
    check_flags(table, source, &mut problems);
    check_errno_and_signals(table, source, &mut problems);
    check_constants(table, source, &mut problems);
    if problems.is_empty() {
        Ok(layouts)
    } else {
        Err(problems)
    }
}

fn check_syscalls(table: &Table, source: &Source, problems: &mut Vec<Diagnostic>) {
    let mut numbers: HashMap<u32, usize> = HashMap::new();
    let mut names: HashMap<&str, usize> = HashMap::new();

    for row in &table.syscall {
        let line = source.line(row.span().start);
        let call = row.get_ref();
        let mut report = |message: String| problems.push(source.at(line, message));

        if call.nr > MAX_SYSCALL_NR {
            report(format!(
                "syscall {:?}: number {} is above {MAX_SYSCALL_NR}",
                call.name, call.nr
            ));
        }
        if let Some(first) = numbers.insert(call.nr, line) {
            report(format!(
                "duplicate syscall number {} (first on line {first})",
                call.nr
            ));
        }
        if let Some(first) = names.insert(&call.name, line) {
            report(format!(
                "duplicate syscall name {:?} (first on line {first})",
                call.name
            ));
        }
        if call.args.len() > 6 {
            report(format!(
                "syscall {:?} has {} arguments; arm64 passes at most 6",
                call.name,
                call.args.len()
            ));
        }
        if call.status == Status::Partial && call.note.trim().is_empty() {
            report(format!(
                "syscall {:?} is partial but has no note saying what is missing",
                call.name
            ));
        }

        let arg_names: Vec<&str> = call.args.iter().map(|a| a.name.as_str()).collect();
        for (index, arg) in call.args.iter().enumerate() {
            let what = format!("syscall {:?} argument {:?}", call.name, arg.name);
            if arg_names[..index].contains(&arg.name.as_str()) {
                report(format!("{what}: duplicate argument name"));
            }
            check_arg_references(table, arg, &arg_names, &what, &mut report);
        }
    }
}

fn check_arg_references(
    table: &Table,
    arg: &crate::model::Arg,
    arg_names: &[&str],
    what: &str,
    report: &mut impl FnMut(String),
) {
    let kind = arg.kind;
    match (&arg.set, kind.needs_set()) {
        (Some(set), true) => match table.flags.get(set) {
            None => report(format!("{what}: unknown flag set {set:?}")),
            Some(def) => {
                let expected = if kind == ArgKind::Flags {
                    SetKind::Bits
                } else {
                    SetKind::Enum
                };
                if def.get_ref().kind != expected {
                    report(format!("{what}: set {set:?} is not of kind {:?}", expected));
                }
            }
        },
        (None, true) => report(format!("{what}: type {} needs `set`", kind.as_str())),
        (Some(_), false) => report(format!("{what}: `set` is only for flags and enum")),
        (None, false) => {}
    }
    match (&arg.len, kind.needs_len()) {
        (Some(len), true) if !arg_names.contains(&len.as_str()) => report(format!(
            "{what}: length argument {len:?} is not an argument of this syscall"
        )),
        (None, true) => report(format!("{what}: type {} needs `len`", kind.as_str())),
        (Some(_), false) => report(format!("{what}: `len` is only for buffers and arrays")),
        _ => {}
    }
    match (&arg.struct_name, kind.needs_struct()) {
        (Some(name), true) if !table.structs.contains_key(name) => {
            report(format!("{what}: unknown struct {name:?}"))
        }
        (None, true) => report(format!("{what}: type {} needs `struct`", kind.as_str())),
        (Some(_), false) => report(format!(
            "{what}: `struct` is only for struct pointers and arrays"
        )),
        _ => {}
    }
    match (&arg.scalar, kind.needs_scalar()) {
        (None, true) => report(format!("{what}: type {} needs `scalar`", kind.as_str())),
        (Some(_), false) => report(format!(
            "{what}: `scalar` is only for scalar_out and scalar_inout"
        )),
        _ => {}
    }
}

fn check_structs(table: &Table, source: &Source, problems: &mut Vec<Diagnostic>) -> Layouts {
    let mut layouts = Layouts::new();
    let mut visiting = BTreeSet::new();
    for name in table.structs.keys() {
        layout_of(table, source, name, &mut layouts, &mut visiting, problems);
    }
    layouts
}

/// Computes (size, align) of a struct from its fields, checking each declared offset.
fn layout_of(
    table: &Table,
    source: &Source,
    name: &str,
    layouts: &mut Layouts,
    visiting: &mut BTreeSet<String>,
    problems: &mut Vec<Diagnostic>,
) -> Option<(u64, u64)> {
    if let Some(&layout) = layouts.get(name) {
        return Some(layout);
    }
    let def = table.structs.get(name)?;
    let line = source.line(def.span().start);
    if !visiting.insert(name.to_string()) {
        problems.push(source.at(line, format!("struct {name:?} contains itself")));
        return None;
    }

    let def = def.get_ref();
    let mut end = 0u64;
    let mut align = 1u64;
    let mut field_names = BTreeSet::new();
    let mut ok = true;
    for field in &def.fields {
        let field_line = source.line(field.span().start);
        let field = field.get_ref();
        let what = format!("struct {name:?} field {:?}", field.name);
        if !field_names.insert(field.name.as_str()) {
            problems.push(source.at(field_line, format!("{what}: duplicate field name")));
        }
        let Some(ty) = FieldType::parse(&field.ty) else {
            problems.push(source.at(field_line, format!("{what}: unknown type {:?}", field.ty)));
            ok = false;
            continue;
        };
        let Some((size, field_align)) =
            field_layout(table, source, &ty, layouts, visiting, problems)
        else {
            problems.push(source.at(field_line, format!("{what}: unknown type {:?}", field.ty)));
            ok = false;
            continue;
        };
        if field.offset % field_align != 0 {
            problems.push(source.at(
                field_line,
                format!(
                    "{what}: offset {} is not a multiple of its alignment {field_align}",
                    field.offset
                ),
            ));
            ok = false;
        }
        if field.offset != end {
            let problem = if field.offset < end {
                "overlaps the previous field"
            } else {
                "leaves a gap"
            };
            problems.push(source.at(
                field_line,
                format!(
                    "{what}: offset {} {problem} (previous field ends at {end}); declare padding as a `pad = true` field",
                    field.offset
                ),
            ));
            ok = false;
        }
        end = field.offset + size;
        align = align.max(field_align);
    }

    if ok && end != def.size {
        problems.push(source.at(
            line,
            format!(
                "struct {name:?}: fields end at {end} but size is {}; declare trailing padding",
                def.size
            ),
        ));
        ok = false;
    }
    // A declared alignment above the fields' is an `__attribute__((aligned(N)))` (struct rseq);
    // below it is a mistake.
    let forced_ok = def.align > align && def.align.is_power_of_two() && def.size % def.align == 0;
    if ok && align != def.align && !forced_ok {
        problems.push(source.at(
            line,
            format!(
                "struct {name:?}: fields give alignment {align} but align is {}",
                def.align
            ),
        ));
        ok = false;
    }
    visiting.remove(name);
    if !ok {
        return None;
    }
    layouts.insert(name.to_string(), (def.size, def.align));
    Some((def.size, def.align))
}

fn field_layout(
    table: &Table,
    source: &Source,
    ty: &FieldType,
    layouts: &mut Layouts,
    visiting: &mut BTreeSet<String>,
    problems: &mut Vec<Diagnostic>,
) -> Option<(u64, u64)> {
    match ty {
        FieldType::Scalar(scalar) => Some((scalar.size(), scalar.size())),
        FieldType::Struct(name) => layout_of(table, source, name, layouts, visiting, problems),
        FieldType::Array(element, count) => {
            let (size, align) = field_layout(table, source, element, layouts, visiting, problems)?;
            Some((size * count, align))
        }
    }
}

fn check_flags(table: &Table, source: &Source, problems: &mut Vec<Diagnostic>) {
    let mut set_types: HashMap<String, &str> = HashMap::new();
    for (set_name, set) in &table.flags {
        let set_line = source.line(set.span().start);
        let rust_name = crate::model::type_name(set_name);
        if let Some(other) = set_types.insert(rust_name.clone(), set_name) {
            problems.push(source.at(
                set_line,
                format!("flag sets {other:?} and {set_name:?} both become type {rust_name}"),
            ));
        }
        if table
            .structs
            .keys()
            .any(|s| crate::model::type_name(s) == rust_name)
        {
            problems.push(source.at(
                set_line,
                format!("flag set {set_name:?} has the same Rust name as a struct"),
            ));
        }

        let set = set.get_ref();
        if set.width != 32 && set.width != 64 {
            problems.push(source.at(
                set_line,
                format!("flag set {set_name:?}: width {} is not 32 or 64", set.width),
            ));
            continue;
        }
        let limit: i128 = 1i128 << set.width;

        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut plain_bits: Vec<(i64, &str, usize)> = Vec::new();
        let mut enum_values: HashMap<i64, &str> = HashMap::new();
        let masks: Vec<i64> = set
            .values
            .iter()
            .map(|v| v.get_ref())
            .filter(|v| v.mask)
            .map(|v| v.value)
            .collect();
        for value in &set.values {
            let line = source.line(value.span().start);
            let value = value.get_ref();
            let what = format!("flag set {set_name:?} value {}", value.name);
            if let Some(first) = names.insert(&value.name, line) {
                problems.push(source.at(
                    line,
                    format!("{what}: duplicate name (first on line {first})"),
                ));
            }
            let as_unsigned = i128::from(value.value);
            if as_unsigned >= limit || as_unsigned < -(limit / 2) {
                problems.push(source.at(
                    line,
                    format!(
                        "{what}: {:#x} does not fit in {} bits",
                        value.value, set.width
                    ),
                ));
            }
            match set.kind {
                SetKind::Bits => {
                    if value.mask && !value.composite {
                        problems.push(
                            source.at(line, format!("{what}: a mask must also be composite")),
                        );
                    }
                    // Values inside a field mask (O_RDONLY, S_IFREG) are compared as a field, not
                    // as single bits, so they may share bits.
                    let in_field = masks.iter().any(|mask| value.value & !mask == 0);
                    if value.composite || value.value == 0 || in_field {
                        continue;
                    }
                    for &(bits, other, other_line) in &plain_bits {
                        if bits & value.value != 0 {
                            problems.push(source.at(
                                line,
                                format!(
                                    "{what}: bits {:#x} overlap {other} on line {other_line}; mark one `composite = true` if that is intended",
                                    bits & value.value
                                ),
                            ));
                        }
                    }
                    plain_bits.push((value.value, &value.name, line));
                }
                SetKind::Enum => {
                    if value.alias {
                        continue;
                    }
                    if let Some(other) = enum_values.insert(value.value, &value.name) {
                        problems.push(source.at(
                            line,
                            format!("{what}: value {} repeats {other}; mark one `alias = true` if that is intended", value.value),
                        ));
                    }
                }
            }
        }
    }
}

/// Each constant becomes one item of the generated module, so names must be unique.
fn check_constants(table: &Table, source: &Source, problems: &mut Vec<Diagnostic>) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for row in &table.constant {
        let line = source.line(row.span().start);
        let name = &row.get_ref().name;
        if let Some(first) = names.insert(name, line) {
            problems.push(source.at(
                line,
                format!("duplicate constant {name} (first on line {first})"),
            ));
        }
    }
}

fn check_errno_and_signals(table: &Table, source: &Source, problems: &mut Vec<Diagnostic>) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut values: HashMap<u32, usize> = HashMap::new();
    for row in &table.errno {
        let line = source.line(row.span().start);
        let errno = row.get_ref();
        if let Some(first) = names.insert(&errno.name, line) {
            problems.push(source.at(
                line,
                format!("duplicate errno {} (first on line {first})", errno.name),
            ));
        }
        if let Some(first) = values.insert(errno.value, line) {
            problems.push(source.at(
                line,
                format!(
                    "duplicate errno value {} (first on line {first})",
                    errno.value
                ),
            ));
        }
        if errno.value == 0 || errno.value > 4095 {
            problems.push(source.at(
                line,
                format!(
                    "errno {}: value {} is outside 1..4095",
                    errno.name, errno.value
                ),
            ));
        }
    }

    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut values: HashMap<u32, usize> = HashMap::new();
    for row in &table.signal {
        let line = source.line(row.span().start);
        let signal = row.get_ref();
        if let Some(first) = names.insert(&signal.name, line) {
            problems.push(source.at(
                line,
                format!("duplicate signal {} (first on line {first})", signal.name),
            ));
        }
        if let Some(first) = values.insert(signal.value, line) {
            problems.push(source.at(
                line,
                format!(
                    "duplicate signal number {} (first on line {first})",
                    signal.value
                ),
            ));
        }
        if signal.value == 0 || signal.value >= table.meta.sigrtmin {
            problems.push(source.at(
                line,
                format!(
                    "signal {}: number {} is outside 1..{}",
                    signal.name, signal.value, table.meta.sigrtmin
                ),
            ));
        }
    }
}

/// Checks that every implemented or partial row has a `#[syscall]` handler and that every
/// handler names a row. `handlers` maps a handler name to where it was found.
pub fn check_handlers(
    table: &Table,
    source: &Source,
    handlers: &BTreeMap<String, String>,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let mut rows = BTreeSet::new();
    for row in &table.syscall {
        let call = row.get_ref();
        rows.insert(call.name.as_str());
        let has_handler = handlers.contains_key(&call.name);
        let line = source.line(row.span().start);
        if call.status.has_handler() && !has_handler {
            problems.push(source.at(
                line,
                format!(
                    "syscall {:?} (nr {}) is {} but no `#[syscall] fn {}` exists under runtime/src/sys",
                    call.name,
                    call.nr,
                    call.status.as_str(),
                    call.name
                ),
            ));
        }
        if !call.status.has_handler() && has_handler {
            let place = handlers
                .get(&call.name)
                .map(String::as_str)
                .unwrap_or_default();
            problems.push(source.at(
                line,
                format!(
                    "syscall {:?} has a handler at {place} but its status is unimplemented; set status = \"implemented\" or \"partial\"",
                    call.name
                ),
            ));
        }
    }
    for (name, place) in handlers {
        if !rows.contains(name.as_str()) {
            problems.push(Diagnostic {
                location: place.clone(),
                message: format!("handler `{name}` does not name a syscall in syscalls.toml"),
            });
        }
    }
    problems
}
