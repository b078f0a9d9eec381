//! The in-memory form of `syscalls.toml`, as serde reads it. Every row keeps its byte span so
//! validation errors can name the line. The format is described in `docs/syscalls-toml.md`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub meta: Meta,
    #[serde(default)]
    pub syscall: Vec<Spanned<Syscall>>,
    #[serde(default, rename = "struct")]
    pub structs: BTreeMap<String, Spanned<StructDef>>,
    #[serde(default)]
    pub flags: BTreeMap<String, Spanned<FlagSet>>,
    #[serde(default)]
    pub constant: Vec<Spanned<Constant>>,
    #[serde(default)]
    pub errno: Vec<Spanned<ErrnoDef>>,
    #[serde(default)]
    pub signal: Vec<Spanned<SignalDef>>,
}

/// Facts about the ABI as a whole.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub arch: String,
    pub kernel: String,
    #[serde(default = "default_sigrtmin")]
    pub sigrtmin: u32,
    #[serde(default = "default_nsig")]
    pub nsig: u32,
}

fn default_sigrtmin() -> u32 {
    32
}

fn default_nsig() -> u32 {
    64
}

/// One syscall number.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Syscall {
    pub nr: u32,
    pub name: String,
    #[serde(default)]
    pub args: Vec<Arg>,
    pub ret: RetKind,
    pub status: Status,
    #[serde(default)]
    pub note: String,
}

/// Support level of a syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Implemented,
    Partial,
    Unimplemented,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Implemented => "implemented",
            Status::Partial => "partial",
            Status::Unimplemented => "unimplemented",
        }
    }

    /// Whether rows with this status need a handler.
    pub fn has_handler(self) -> bool {
        self != Status::Unimplemented
    }
}

/// What a successful call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetKind {
    Zero,
    Int,
    Fd,
    Pid,
    Size,
    Off,
    Addr,
    Long,
    Noreturn,
}

/// One argument of a syscall.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arg {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ArgKind,
    /// Flag or enum set, for `flags` and `enum`.
    pub set: Option<String>,
    /// Length argument, for buffers and arrays.
    pub len: Option<String>,
    /// Struct type, for struct pointers and arrays.
    #[serde(rename = "struct")]
    pub struct_name: Option<String>,
    /// Scalar type, for `scalar_out` and `scalar_inout`.
    pub scalar: Option<Scalar>,
    #[serde(default)]
    pub nullable: bool,
}

/// The closed vocabulary of argument types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgKind {
    Int,
    Uint,
    Long,
    Ulong,
    Size,
    Off,
    Fd,
    Dirfd,
    Pid,
    Uid,
    Gid,
    Mode,
    Signal,
    Clockid,
    Addr,
    Ptr,
    Flags,
    Enum,
    Path,
    Cstr,
    CstrArray,
    BufIn,
    BufOut,
    StructIn,
    StructOut,
    StructInout,
    ArrayIn,
    ArrayOut,
    ArrayInout,
    ScalarOut,
    ScalarInout,
}

impl ArgKind {
    pub fn needs_set(self) -> bool {
        matches!(self, ArgKind::Flags | ArgKind::Enum)
    }

    pub fn needs_len(self) -> bool {
        matches!(
            self,
            ArgKind::BufIn
                | ArgKind::BufOut
                | ArgKind::ArrayIn
                | ArgKind::ArrayOut
                | ArgKind::ArrayInout
        )
    }

    pub fn needs_struct(self) -> bool {
        matches!(
            self,
            ArgKind::StructIn
                | ArgKind::StructOut
                | ArgKind::StructInout
                | ArgKind::ArrayIn
                | ArgKind::ArrayOut
                | ArgKind::ArrayInout
        )
    }

    pub fn needs_scalar(self) -> bool {
        matches!(self, ArgKind::ScalarOut | ArgKind::ScalarInout)
    }

    /// The name used in `syscalls.toml`, for messages and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            ArgKind::Int => "int",
            ArgKind::Uint => "uint",
            ArgKind::Long => "long",
            ArgKind::Ulong => "ulong",
            ArgKind::Size => "size",
            ArgKind::Off => "off",
            ArgKind::Fd => "fd",
            ArgKind::Dirfd => "dirfd",
            ArgKind::Pid => "pid",
            ArgKind::Uid => "uid",
            ArgKind::Gid => "gid",
            ArgKind::Mode => "mode",
            ArgKind::Signal => "signal",
            ArgKind::Clockid => "clockid",
            ArgKind::Addr => "addr",
            ArgKind::Ptr => "ptr",
            ArgKind::Flags => "flags",
            ArgKind::Enum => "enum",
            ArgKind::Path => "path",
            ArgKind::Cstr => "cstr",
            ArgKind::CstrArray => "cstr_array",
            ArgKind::BufIn => "buf_in",
            ArgKind::BufOut => "buf_out",
            ArgKind::StructIn => "struct_in",
            ArgKind::StructOut => "struct_out",
            ArgKind::StructInout => "struct_inout",
            ArgKind::ArrayIn => "array_in",
            ArgKind::ArrayOut => "array_out",
            ArgKind::ArrayInout => "array_inout",
            ArgKind::ScalarOut => "scalar_out",
            ArgKind::ScalarInout => "scalar_inout",
        }
    }
}

/// A fixed-width integer type, as used by struct fields and scalar pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scalar {
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
}

impl Scalar {
    pub fn parse(text: &str) -> Option<Scalar> {
        Some(match text {
            "u8" => Scalar::U8,
            "u16" => Scalar::U16,
            "u32" => Scalar::U32,
            "u64" => Scalar::U64,
            "i8" => Scalar::I8,
            "i16" => Scalar::I16,
            "i32" => Scalar::I32,
            "i64" => Scalar::I64,
            _ => return None,
        })
    }

    pub fn rust(self) -> &'static str {
        match self {
            Scalar::U8 => "u8",
            Scalar::U16 => "u16",
            Scalar::U32 => "u32",
            Scalar::U64 => "u64",
            Scalar::I8 => "i8",
            Scalar::I16 => "i16",
            Scalar::I32 => "i32",
            Scalar::I64 => "i64",
        }
    }

    /// Size in bytes, which is also the alignment on arm64.
    pub fn size(self) -> u64 {
        match self {
            Scalar::U8 | Scalar::I8 => 1,
            Scalar::U16 | Scalar::I16 => 2,
            Scalar::U32 | Scalar::I32 => 4,
            Scalar::U64 | Scalar::I64 => 8,
        }
    }
}

/// A struct layout.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructDef {
    #[serde(default)]
    pub c_type: String,
    #[serde(default)]
    pub c_header: Vec<String>,
    pub size: u64,
    pub align: u64,
    pub fields: Vec<Spanned<Field>>,
    #[serde(default)]
    pub doc: String,
}

/// One field of a struct.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub offset: u64,
    #[serde(default)]
    pub pad: bool,
    pub c_field: Option<String>,
}

/// A flag set or an enumeration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagSet {
    pub kind: SetKind,
    #[serde(default = "default_width")]
    pub width: u32,
    #[serde(default)]
    pub unknown: UnknownBits,
    #[serde(default)]
    pub c_header: Vec<String>,
    /// `"none"` marks a Linux-only set with no host translation.
    pub host: Option<String>,
    pub values: Vec<Spanned<FlagValue>>,
    #[serde(default)]
    pub doc: String,
}

fn default_width() -> u32 {
    32
}

impl FlagSet {
    pub fn translates_to_host(&self) -> bool {
        self.host.as_deref() != Some("none")
    }
}

/// Whether a set is any combination of bits or exactly one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetKind {
    Bits,
    Enum,
}

/// What decoding does with bits a `bits` set does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownBits {
    #[default]
    Reject,
    Ignore,
}

/// One named value of a set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagValue {
    pub name: String,
    pub value: i64,
    #[serde(default)]
    pub composite: bool,
    #[serde(default)]
    pub mask: bool,
    #[serde(default)]
    pub alias: bool,
    pub host: Option<String>,
}

impl FlagValue {
    /// The host `libc` constant this value translates to, if any.
    pub fn host_name(&self) -> Option<&str> {
        match self.host.as_deref() {
            Some("none") => None,
            Some(name) => Some(name),
            None => Some(&self.name),
        }
    }
}

/// A single ABI constant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constant {
    pub name: String,
    pub value: i64,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub c_header: Vec<String>,
    #[serde(default)]
    pub doc: String,
}

/// One Linux errno.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrnoDef {
    pub name: String,
    pub value: u32,
    pub text: String,
    pub host: Option<String>,
}

impl ErrnoDef {
    pub fn host_name(&self) -> Option<&str> {
        match self.host.as_deref() {
            Some("none") => None,
            Some(name) => Some(name),
            None => Some(&self.name),
        }
    }
}

/// One Linux signal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalDef {
    pub name: String,
    pub value: u32,
    pub action: SignalAction,
    pub host: Option<String>,
}

impl SignalDef {
    pub fn host_name(&self) -> Option<&str> {
        match self.host.as_deref() {
            Some("none") => None,
            Some(name) => Some(name),
            None => Some(&self.name),
        }
    }
}

/// A signal's default disposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalAction {
    Term,
    Core,
    Ignore,
    Stop,
    Continue,
}

/// Converts a TOML name (`linux_dirent64`, `open_flags`) to a Rust type name
/// (`LinuxDirent64`, `OpenFlags`).
pub fn type_name(toml_name: &str) -> String {
    let mut out = String::with_capacity(toml_name.len());
    let mut upper = true;
    for c in toml_name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
