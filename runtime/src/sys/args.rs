//! Typed syscall arguments. `#[syscall]` decodes each raw register into the type the row in
//! `syscalls.toml` maps its argument to (table in `docs/syscalls-toml.md`). Pointer types
//! only carry the guest address: reading or writing through them goes to guest memory, which
//! checks the range and returns `EFAULT` for a bad one.

use std::marker::PhantomData;

use crate::linux::{self, Errno};
use crate::mem::{GuestMemory, Pod};

/// Decodes one raw argument register.
pub trait FromArg: Sized {
    fn from_arg(raw: u64) -> Result<Self, Errno>;
}

// C `int` and `unsigned int` arguments use the low 32 bits of the register, as the kernel's
// syscall wrappers do; the truncation is the point of these casts.
impl FromArg for i32 {
    fn from_arg(raw: u64) -> Result<Self, Errno> {
        Ok(raw as u32 as i32)
    }
}

impl FromArg for u32 {
    fn from_arg(raw: u64) -> Result<Self, Errno> {
        Ok(raw as u32)
    }
}

impl FromArg for i64 {
    fn from_arg(raw: u64) -> Result<Self, Errno> {
        Ok(raw as i64)
    }
}

impl FromArg for u64 {
    fn from_arg(raw: u64) -> Result<Self, Errno> {
        Ok(raw)
    }
}

/// A guest file descriptor (an index into the process's fd table, not a host fd).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fd(pub i32);

impl FromArg for Fd {
    fn from_arg(raw: u64) -> Result<Self, Errno> {
        Ok(Fd(raw as u32 as i32))
    }
}

/// A directory fd argument of an `*at` call: a guest fd, or `AT_FDCWD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirFd(pub i32);

impl DirFd {
    pub fn is_cwd(self) -> bool {
        self.0 == linux::AT_FDCWD
    }
}

impl FromArg for DirFd {
    fn from_arg(raw: u64) -> Result<Self, Errno> {
        Ok(DirFd(raw as u32 as i32))
    }
}

/// A guest virtual address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GuestAddr(pub u64);

impl GuestAddr {
    pub fn is_null(self) -> bool {
        self.0 == 0
    }
}

impl FromArg for GuestAddr {
    fn from_arg(raw: u64) -> Result<Self, Errno> {
        Ok(GuestAddr(raw))
    }
}

impl From<crate::mem::Fault> for Errno {
    fn from(_: crate::mem::Fault) -> Self {
        Errno::EFAULT
    }
}

/// A pointer to a NUL-terminated string (a path or another C string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CStrPtr(pub GuestAddr);

impl CStrPtr {
    /// Reads a path: `EFAULT` for a bad pointer, `ENAMETOOLONG` when no NUL comes within
    /// `PATH_MAX` bytes, `ENOENT` for an empty string (callers that accept empty paths with
    /// `AT_EMPTY_PATH` use [`CStrPtr::read`]).
    pub fn read_path(self, mem: &GuestMemory) -> Result<Vec<u8>, Errno> {
        let path = self.read(mem, linux::PATH_MAX as usize)?;
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        Ok(path)
    }

    /// Reads the string without its NUL; `ENAMETOOLONG` when it is `max_len` bytes or longer.
    pub fn read(self, mem: &GuestMemory, max_len: usize) -> Result<Vec<u8>, Errno> {
        if self.0.is_null() {
            return Err(Errno::EFAULT);
        }
        mem.read_cstr(self.0 .0, max_len)
            .map_err(|error| match error {
                crate::mem::CStrError::Fault(_) => Errno::EFAULT,
                crate::mem::CStrError::TooLong(_) => Errno::ENAMETOOLONG,
            })
    }
}

impl FromArg for CStrPtr {
    fn from_arg(raw: u64) -> Result<Self, Errno> {
        Ok(CStrPtr(GuestAddr(raw)))
    }
}

/// A pointer to a NULL-terminated array of string pointers (`argv`, `envp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrArrayPtr(pub GuestAddr);

impl StrArrayPtr {
    /// Reads every string; `E2BIG` when the strings together exceed `max_total` bytes. A NULL
    /// array reads as empty, as Linux allows for `argv` and `envp`.
    pub fn read_all(self, mem: &GuestMemory, max_total: usize) -> Result<Vec<Vec<u8>>, Errno> {
        let mut strings = Vec::new();
        if self.0.is_null() {
            return Ok(strings);
        }
        let mut total = 0usize;
        for index in 0u64.. {
            let slot = self.0 .0.checked_add(index * 8).ok_or(Errno::EFAULT)?;
            let pointer: u64 = mem.read_obj(slot)?;
            if pointer == 0 {
                break;
            }
            let remaining = max_total.saturating_sub(total);
            let string = CStrPtr(GuestAddr(pointer))
                .read(mem, remaining)
                .map_err(|errno| {
                    if errno == Errno::ENAMETOOLONG {
                        Errno::E2BIG
                    } else {
                        errno
                    }
                })?;
            total += string.len() + 1;
            strings.push(string);
        }
        Ok(strings)
    }
}

impl FromArg for StrArrayPtr {
    fn from_arg(raw: u64) -> Result<Self, Errno> {
        Ok(StrArrayPtr(GuestAddr(raw)))
    }
}

/// A byte buffer; its length is a separate argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserBuf(pub GuestAddr);

impl UserBuf {
    /// Copies `len` bytes out of guest memory.
    pub fn read(self, mem: &GuestMemory, len: usize) -> Result<Vec<u8>, Errno> {
        let mut bytes = vec![0; len];
        mem.read(self.0 .0, &mut bytes)?;
        Ok(bytes)
    }

    /// Copies `data` into guest memory at the buffer's start.
    pub fn write(self, mem: &GuestMemory, data: &[u8]) -> Result<(), Errno> {
        mem.write(self.0 .0, data)?;
        Ok(())
    }
}

impl FromArg for UserBuf {
    fn from_arg(raw: u64) -> Result<Self, Errno> {
        Ok(UserBuf(GuestAddr(raw)))
    }
}

/// A pointer to one `T` in guest memory.
pub struct UserPtr<T> {
    pub addr: GuestAddr,
    marker: PhantomData<fn() -> T>,
}

impl<T> Clone for UserPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for UserPtr<T> {}

impl<T> std::fmt::Debug for UserPtr<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserPtr({:#x})", self.addr.0)
    }
}

impl<T: Pod> UserPtr<T> {
    pub fn new(addr: u64) -> Self {
        UserPtr {
            addr: GuestAddr(addr),
            marker: PhantomData,
        }
    }

    pub fn is_null(self) -> bool {
        self.addr.is_null()
    }

    pub fn read(self, mem: &GuestMemory) -> Result<T, Errno> {
        Ok(mem.read_obj(self.addr.0)?)
    }

    pub fn write(self, mem: &GuestMemory, value: &T) -> Result<(), Errno> {
        Ok(mem.write_obj(self.addr.0, value)?)
    }

    /// Reads the value, or `None` for a NULL pointer.
    pub fn read_optional(self, mem: &GuestMemory) -> Result<Option<T>, Errno> {
        if self.is_null() {
            return Ok(None);
        }
        self.read(mem).map(Some)
    }

    /// Writes the value unless the pointer is NULL.
    pub fn write_optional(self, mem: &GuestMemory, value: &T) -> Result<(), Errno> {
        if self.is_null() {
            return Ok(());
        }
        self.write(mem, value)
    }
}

impl<T: Pod> FromArg for UserPtr<T> {
    fn from_arg(raw: u64) -> Result<Self, Errno> {
        Ok(UserPtr::new(raw))
    }
}

/// A pointer to an array of `T`; its length is a separate argument.
pub struct UserArray<T> {
    pub addr: GuestAddr,
    marker: PhantomData<fn() -> T>,
}

impl<T> Clone for UserArray<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for UserArray<T> {}

impl<T> std::fmt::Debug for UserArray<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserArray({:#x})", self.addr.0)
    }
}

impl<T: Pod> UserArray<T> {
    pub fn new(addr: u64) -> Self {
        UserArray {
            addr: GuestAddr(addr),
            marker: PhantomData,
        }
    }

    fn element(self, index: usize) -> Result<u64, Errno> {
        let offset = (index as u64)
            .checked_mul(std::mem::size_of::<T>() as u64)
            .ok_or(Errno::EFAULT)?;
        self.addr.0.checked_add(offset).ok_or(Errno::EFAULT)
    }

    pub fn get(self, mem: &GuestMemory, index: usize) -> Result<T, Errno> {
        Ok(mem.read_obj(self.element(index)?)?)
    }

    pub fn set(self, mem: &GuestMemory, index: usize, value: &T) -> Result<(), Errno> {
        Ok(mem.write_obj(self.element(index)?, value)?)
    }

    /// Reads `count` elements.
    pub fn read(self, mem: &GuestMemory, count: usize) -> Result<Vec<T>, Errno> {
        (0..count).map(|index| self.get(mem, index)).collect()
    }
}

impl<T: Pod> FromArg for UserArray<T> {
    fn from_arg(raw: u64) -> Result<Self, Errno> {
        Ok(UserArray::new(raw))
    }
}
