//! What the stub runs ([`Workload`], [`Shape`]) and the application range
//! it runs in.

use super::error::TrapError;

/// Start of the application range a handler places mappings in: free in
/// this process (checked at spawn), so free in its fork.
pub const APP_BASE: u64 = 0x2000_0000_0000;
/// Length of the application range (64 GiB).
pub const APP_LEN: u64 = 1 << 36;
/// Most iterations one trial may ask for.
pub const MAX_ITERATIONS: u64 = 1 << 22;

/// What the stub's loop repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    /// `mmap(addr, len, prot, flags, fd, offset)`, then (optionally) one
    /// write per page, then (optionally) `munmap`.
    #[default]
    Mmap,
    /// `malloc(len)` of glibc reduced to the system calls it makes (the
    /// rule of the sentry's malloc model, `workload::exec::MallocModel`):
    /// below 128 KiB a chunk of `max(len + 8, 32)` rounded up to 16 from
    /// the top of the brk heap, growing it with `brk(end + round_up(need +
    /// 128 KiB, 4096))`; at or above, its own `mmap(NULL, round_up(len +
    /// 16, 4096), RW, MAP_PRIVATE|MAP_ANONYMOUS)`. malloc writes the chunk
    /// headers (the size word of an mmapped chunk; the new top chunk's
    /// header) as glibc does; with `touch` one write per page of the block
    /// follows. Nothing is freed. `prot`, `flags`, `fd`, `offset` and
    /// `unmap` are ignored.
    Malloc,
    /// A trace replay: the calls of [`ReplayCall`]s given at spawn, one per
    /// iteration, each made through the workload's own `syscall` site (so
    /// trapped where the platform traps) and timed alone. `len`, `prot`,
    /// `flags`, `fd`, `offset`, `touch` and `unmap` are ignored.
    Replay,
}

/// An address that is never mapped and that every platform refuses: above
/// the largest user address of x86_64 (2^56 with 5-level paging). A
/// replayed address the translation cannot place in the application range
/// becomes `FOREIGN_BASE` plus its low 48 bits (page offset kept), so the
/// call fails as it fails on inproc (outside the sentry's range) and never
/// reaches memory of this program.
pub const FOREIGN_BASE: u64 = 1 << 57;

/// `addr` moved out of every address space (see [`FOREIGN_BASE`]).
pub fn foreign(addr: u64) -> u64 {
    FOREIGN_BASE | (addr & 0x0000_ffff_ffff_ffff)
}

/// An address argument of a [`ReplayCall`] computed in the stub from the
/// result of an earlier call of the same replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relocation {
    /// Index (in the replay's call list) of the earlier call whose result
    /// is the base; must be below the call's own index.
    pub base: usize,
    /// Added to the base (wrapping); the argument's value in the call is
    /// ignored.
    pub offset: u64,
    /// Used instead when the base call failed, or the computed range fails
    /// its check.
    pub fallback: u64,
    /// `true`: the range `[value, value + length)` must lie in the
    /// application range (length: argument 1 for argument 0, argument 2 for
    /// argument 4). `false` (a `brk` address): the value must not be below
    /// the base.
    pub in_app_range: bool,
}

/// One call of a replay (see [`Shape::Replay`]): `nr` is one of `mmap`,
/// `munmap`, `mprotect`, `brk`, `mremap` (the stub refuses any other with
/// `ENOSYS` without making it); `reloc[0]` computes argument 0 (the
/// address), `reloc[1]` argument 4 (mremap's new address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayCall {
    /// System call number.
    pub nr: i64,
    /// Arguments (an address literal must be 0 or [`foreign`]).
    pub args: [u64; 6],
    /// Relocated address arguments.
    pub reloc: [Option<Relocation>; 2],
}

/// The stub's loop: `iterations` times the [`Shape`] (by default
/// `mmap(addr, len, prot, flags, fd, offset)`, then optionally one write
/// per page of `pattern ^ page address`, then optionally `munmap`). Each
/// step is timed with `rdtsc`, and so is the whole loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// What each iteration does.
    pub shape: Shape,
    /// Iterations (at most [`MAX_ITERATIONS`]).
    pub iterations: u64,
    /// mmap's address argument (0 for "anywhere"; with `MAP_FIXED` it
    /// must lie in the application range).
    pub addr: u64,
    /// Bytes per mapping or malloc (non-zero; an mmap rounds it up to a
    /// page, a touch writes every page it overlaps).
    pub len: u64,
    /// `PROT_*`.
    pub prot: i32,
    /// `MAP_*`.
    pub flags: i32,
    /// File descriptor (the stub inherits the sentry's descriptors).
    pub fd: i32,
    /// File offset.
    pub offset: u64,
    /// Write one word per page after each mmap.
    pub touch: bool,
    /// munmap after each mmap.
    pub unmap: bool,
    /// Written values are `pattern ^ page address`.
    pub pattern: u64,
}

impl Workload {
    /// Private anonymous read-write mappings of `len` bytes.
    pub fn anon(iterations: u64, len: u64) -> Workload {
        Workload {
            shape: Shape::Mmap,
            iterations,
            addr: 0,
            len,
            prot: libc::PROT_READ | libc::PROT_WRITE,
            flags: libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            fd: -1,
            offset: 0,
            touch: false,
            unmap: false,
            pattern: 0x5e47_7a9f_0000_0000,
        }
    }

    pub(super) fn validate(&self) -> Result<(), TrapError> {
        let bad = |what: &str| Err(TrapError::Workload(what.to_string()));
        if self.iterations == 0 || self.iterations > MAX_ITERATIONS {
            return bad("iterations must be between 1 and 2^22");
        }
        if self.shape == Shape::Replay {
            return Ok(());
        }
        if self.len == 0 || self.len > APP_LEN {
            return bad("len must be non-zero and at most the application range");
        }
        let fixed = self.flags & libc::MAP_FIXED != 0;
        let in_range = self.addr >= APP_BASE
            && self
                .addr
                .checked_add(self.len)
                .is_some_and(|e| e <= APP_BASE + APP_LEN);
        if fixed && !in_range {
            return bad("a MAP_FIXED address must lie in the application range");
        }
        Ok(())
    }
}
