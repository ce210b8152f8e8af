//! Access permissions (`PROT_*` bits) and the kind of access a fault makes.

use std::fmt;

/// Read/write/execute permissions, with the `PROT_*` bit values.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Perms(u8);

impl Perms {
    /// No access.
    pub const NONE: Perms = Perms(0);
    /// Read.
    pub const READ: Perms = Perms(libc::PROT_READ as u8);
    /// Write.
    pub const WRITE: Perms = Perms(libc::PROT_WRITE as u8);
    /// Execute.
    pub const EXEC: Perms = Perms(libc::PROT_EXEC as u8);
    /// Read and write.
    pub const RW: Perms = Perms((libc::PROT_READ | libc::PROT_WRITE) as u8);
    /// Read, write and execute.
    pub const RWX: Perms = Perms((libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u8);

    /// From `PROT_*` bits; `None` if other bits are set.
    pub fn from_prot(prot: i32) -> Option<Perms> {
        if prot & !(libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) != 0 {
            return None;
        }
        u8::try_from(prot).ok().map(Perms)
    }

    /// The `PROT_*` bits.
    pub fn prot(self) -> i32 {
        i32::from(self.0)
    }

    /// Whether every permission of `other` is in `self`.
    pub fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether reading is allowed.
    pub fn read(self) -> bool {
        self.contains(Perms::READ)
    }

    /// Whether writing is allowed.
    pub fn write(self) -> bool {
        self.contains(Perms::WRITE)
    }

    /// Union.
    pub fn union(self, other: Perms) -> Perms {
        Perms(self.0 | other.0)
    }

    /// Permissions without `other`.
    pub fn without(self, other: Perms) -> Perms {
        Perms(self.0 & !other.0)
    }
}

impl fmt::Debug for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = if self.read() { 'r' } else { '-' };
        let w = if self.write() { 'w' } else { '-' };
        let x = if self.contains(Perms::EXEC) { 'x' } else { '-' };
        write!(f, "{r}{w}{x}")
    }
}

/// Kind of access a fault or touch makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
}

impl Access {
    /// The permission the access needs.
    pub fn needed(self) -> Perms {
        match self {
            Access::Read => Perms::READ,
            Access::Write => Perms::WRITE,
        }
    }
}
