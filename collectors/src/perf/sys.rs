//! The unsafe edge of perf_event_open: building the attribute struct,
//! opening events, their ioctls and reads, and mapping the ring buffer.
//! Everything above this module is safe code.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use pe::bindings as b;
use perf_event_open_sys as pe;

/// Which counter an event counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `cycles` (PERF_COUNT_HW_CPU_CYCLES).
    HwCycles,
    /// `instructions` (PERF_COUNT_HW_INSTRUCTIONS).
    HwInstructions,
    /// `cpu-clock` (PERF_COUNT_SW_CPU_CLOCK), a timer: works without a PMU.
    SwCpuClock,
}

/// Sampling part of an event: by frequency, with call chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSpec {
    /// Samples per second asked of the kernel (it adapts the period).
    pub frequency_hz: u64,
    /// Stamp samples with `CLOCK_MONOTONIC` (`use_clockid`), the clock the
    /// platforms stamp their boundary windows with; else perf's own clock.
    pub monotonic_clock: bool,
    /// Bytes of user stack copied into each sample (a multiple of 8; at
    /// most [`USER_STACK_BYTES`]; 0: none).
    pub user_stack_bytes: u32,
}

/// The sample fields every sampling event here asks for, in the order the
/// kernel writes them: ip, pid/tid, time, period, callchain, the user
/// registers [`USER_REGS`] and a copy of the user stack (for DWARF
/// unwinding where the frame-pointer chain breaks).
pub const SAMPLE_TYPE: u64 = (b::PERF_SAMPLE_IP
    | b::PERF_SAMPLE_TID
    | b::PERF_SAMPLE_TIME
    | b::PERF_SAMPLE_PERIOD
    | b::PERF_SAMPLE_CALLCHAIN
    | b::PERF_SAMPLE_REGS_USER
    | b::PERF_SAMPLE_STACK_USER) as u64;

/// User registers sampled (x86-64 `perf_regs.h` bits, written in bit
/// order): bp (6), sp (7), ip (8): what an unwinder starts from.
pub const USER_REGS: u64 = (1 << 6) | (1 << 7) | (1 << 8);

/// Bytes of user stack copied into each sample, from the sampled sp up
/// (less where the ring buffer is small: see [`SampleSpec`]).
pub const USER_STACK_BYTES: u32 = 8192;

/// Everything needed to open one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSpec {
    pub kind: EventKind,
    /// None: a counting event.
    pub sample: Option<SampleSpec>,
    pub exclude_kernel: bool,
    /// Count only while in a guest (`:G`).
    pub exclude_host: bool,
    /// Count only while in the host (`:H`).
    pub exclude_guest: bool,
    /// Follow threads and children created after the open.
    pub inherit: bool,
    /// Start disabled (enable with [`enable`] or `enable_on_exec`).
    pub disabled: bool,
    pub enable_on_exec: bool,
    /// Also emit MMAP2 (with data mappings), COMM and FORK/EXIT records.
    pub side_band: bool,
    /// Opened for every task of a CPU (pid -1, see [`open`]) to sample one
    /// process tree: FORK/EXIT records (to follow the tree), no samples of
    /// the idle task, no `inherit` (it only applies to per-task events).
    pub cpu_wide: bool,
}

impl EventSpec {
    /// A counting event of `kind` on the task it is opened for, enabled
    /// at open, counting kernel, host and guest alike: what a site changes
    /// with struct update syntax (`EventSpec { disabled: true,
    /// ..EventSpec::new(kind) }`).
    pub fn new(kind: EventKind) -> Self {
        Self {
            kind,
            sample: None,
            exclude_kernel: false,
            exclude_host: false,
            exclude_guest: false,
            inherit: false,
            disabled: false,
            enable_on_exec: false,
            side_band: false,
            cpu_wide: false,
        }
    }

    fn to_attr(self) -> b::perf_event_attr {
        let mut attr = b::perf_event_attr {
            size: std::mem::size_of::<b::perf_event_attr>() as u32,
            ..Default::default()
        };
        let (ty, config) = match self.kind {
            EventKind::HwCycles => (b::PERF_TYPE_HARDWARE, b::PERF_COUNT_HW_CPU_CYCLES),
            EventKind::HwInstructions => (b::PERF_TYPE_HARDWARE, b::PERF_COUNT_HW_INSTRUCTIONS),
            EventKind::SwCpuClock => (b::PERF_TYPE_SOFTWARE, b::PERF_COUNT_SW_CPU_CLOCK),
        };
        attr.type_ = ty;
        attr.config = config as u64;
        match self.sample {
            Some(s) => {
                attr.__bindgen_anon_1.sample_freq = s.frequency_hz;
                attr.set_freq(1);
                attr.sample_type = SAMPLE_TYPE;
                attr.sample_regs_user = USER_REGS;
                attr.sample_stack_user = s.user_stack_bytes.min(USER_STACK_BYTES) & !7;
                if s.monotonic_clock {
                    attr.set_use_clockid(1);
                    attr.clockid = libc::CLOCK_MONOTONIC;
                }
                // Side-band records carry pid, tid and time too, so records
                // of several CPU buffers can be put back in order.
                attr.set_sample_id_all(1);
                // No wake-up per N samples: nothing polls these fds (the
                // drain thread reads on its own interval, see
                // `sampler::drain_interval`), and each wake-up is an
                // IRQ-work self-interrupt on the sampled CPU. With
                // `wakeup_events` 0 the kernel wakes only every half buffer.
                attr.__bindgen_anon_2.wakeup_events = 0;
            }
            None => {
                attr.read_format =
                    (b::PERF_FORMAT_TOTAL_TIME_ENABLED | b::PERF_FORMAT_TOTAL_TIME_RUNNING) as u64;
            }
        }
        attr.set_disabled(u64::from(self.disabled));
        attr.set_inherit(u64::from(self.inherit && !self.cpu_wide));
        if self.cpu_wide {
            attr.set_task(1);
            attr.set_exclude_idle(1);
        }
        attr.set_enable_on_exec(u64::from(self.enable_on_exec));
        attr.set_exclude_kernel(u64::from(self.exclude_kernel));
        attr.set_exclude_hv(u64::from(self.exclude_kernel));
        attr.set_exclude_host(u64::from(self.exclude_host));
        attr.set_exclude_guest(u64::from(self.exclude_guest));
        if self.side_band {
            attr.set_mmap(1);
            attr.set_mmap2(1);
            attr.set_mmap_data(1);
            attr.set_comm(1);
            attr.set_comm_exec(1);
            attr.set_task(1);
        }
        attr
    }
}

/// Open one event on `pid` (0: this thread; -1: every task, needs `cpu`)
/// and `cpu` (-1: any). The fd is close-on-exec.
pub fn open(spec: &EventSpec, pid: i32, cpu: i32) -> io::Result<OwnedFd> {
    let mut attr = spec.to_attr();
    // SAFETY: `attr` is a fully initialised perf_event_attr whose `size`
    // matches its type; the kernel only reads it during the call. No group
    // fd is passed.
    let fd = unsafe { pe::perf_event_open(&mut attr, pid, cpu, -1, b::PERF_FLAG_FD_CLOEXEC as _) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor returned by the kernel and owned by
    // nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn check(rc: i32) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Start counting / sampling.
pub fn enable(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: ENABLE takes an integer argument; the fd is a perf event fd
    // kept open by the borrow.
    check(unsafe { pe::ioctls::ENABLE(fd.as_raw_fd(), 0) })
}

/// Stop counting / sampling.
pub fn disable(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: as in `enable`.
    check(unsafe { pe::ioctls::DISABLE(fd.as_raw_fd(), 0) })
}

/// Zero a counter.
pub fn reset(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: as in `enable`.
    check(unsafe { pe::ioctls::RESET(fd.as_raw_fd(), 0) })
}

/// One read of a counting event (read_format TOTAL_TIME_ENABLED|RUNNING).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterValue {
    pub value: u64,
    pub time_enabled: u64,
    pub time_running: u64,
}

impl CounterValue {
    /// The value scaled for multiplexing (value * enabled / running).
    pub fn scaled(&self) -> u64 {
        if self.time_running == 0 || self.time_running >= self.time_enabled {
            self.value
        } else {
            (self.value as u128 * self.time_enabled as u128 / self.time_running as u128) as u64
        }
    }
}

/// Read a counting event opened by [`open`] with `sample: None`.
pub fn read_counter(fd: BorrowedFd<'_>) -> io::Result<CounterValue> {
    let mut buf = [0u64; 3];
    // SAFETY: `buf` is 24 writable bytes, exactly what the kernel writes for
    // this read_format; the fd stays open for the call.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), 24) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n != 24 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("perf counter read returned {n} bytes, expected 24"),
        ));
    }
    Ok(CounterValue {
        value: buf[0],
        time_enabled: buf[1],
        time_running: buf[2],
    })
}

/// The mmap'd ring buffer of a sampling event: one metadata page followed by
/// `2^n` data pages. The kernel writes records and advances `data_head`; we
/// read up to it and advance `data_tail`.
#[derive(Debug)]
pub struct RingBuffer {
    base: NonNull<u8>,
    map_len: usize,
    data_offset: usize,
    data_size: usize,
}

// SAFETY: the mapping is owned by this value and only read through it
// (plus the atomics of the metadata page, which are made for sharing with
// the kernel); moving it to another thread is sound.
unsafe impl Send for RingBuffer {}

impl RingBuffer {
    /// Map the ring buffer of `fd` with `data_pages` data pages (a power of
    /// two).
    pub fn map(fd: BorrowedFd<'_>, data_pages: usize) -> io::Result<Self> {
        if !data_pages.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ring buffer pages must be a power of two, got {data_pages}"),
            ));
        }
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = if page > 0 { page as usize } else { 4096 };
        let map_len = page * (data_pages + 1);
        // SAFETY: a fresh shared mapping of a perf event fd; no existing
        // memory is touched. The result is checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        let mut ring = RingBuffer {
            base,
            map_len,
            data_offset: page,
            data_size: page * data_pages,
        };
        // Kernels since 4.1 publish where the data area is.
        let meta = ring.meta();
        // SAFETY: `meta` points at the metadata page we just mapped; these
        // fields are written once by the kernel at mmap time.
        let (off, size) = unsafe { ((*meta).data_offset, (*meta).data_size) };
        if size != 0 {
            let (off, size) = (off as usize, size as usize);
            if off + size > map_len || !size.is_power_of_two() {
                return Err(io::Error::other(format!(
                    "perf ring buffer layout out of bounds (offset {off}, size {size})"
                )));
            }
            ring.data_offset = off;
            ring.data_size = size;
        }
        Ok(ring)
    }

    fn meta(&self) -> *mut b::perf_event_mmap_page {
        self.base.as_ptr().cast()
    }

    fn head_atomic(&self) -> &AtomicU64 {
        let off = std::mem::offset_of!(b::perf_event_mmap_page, data_head);
        // SAFETY: `data_head` is an 8-byte aligned u64 inside the mapped
        // metadata page, alive as long as `self`; the kernel updates it
        // concurrently, so it is only accessed atomically.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(off).cast()) }
    }

    fn tail_atomic(&self) -> &AtomicU64 {
        let off = std::mem::offset_of!(b::perf_event_mmap_page, data_tail);
        // SAFETY: as in `head_atomic`, for `data_tail`.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(off).cast()) }
    }

    /// Bytes the kernel has written so far (monotonic). Acquire: the records
    /// up to it are visible after this load.
    pub fn head(&self) -> u64 {
        self.head_atomic().load(Ordering::Acquire)
    }

    /// Bytes consumed so far.
    pub fn tail(&self) -> u64 {
        self.tail_atomic().load(Ordering::Relaxed)
    }

    /// Hand bytes up to `tail` back to the kernel. Release: our reads of
    /// them happen before the kernel may overwrite them.
    pub fn set_tail(&self, tail: u64) {
        self.tail_atomic().store(tail, Ordering::Release);
    }

    /// Size of the data area in bytes (a power of two).
    pub fn data_size(&self) -> usize {
        self.data_size
    }

    /// Copy `out.len()` bytes starting at stream position `pos`, wrapping
    /// around the end of the data area.
    ///
    /// Preconditions: `out.len() <= data_size` and the bytes lie between the
    /// current tail and head.
    pub fn copy_out(&self, pos: u64, out: &mut [u8]) {
        let len = out.len().min(self.data_size);
        let start = (pos as usize) & (self.data_size - 1);
        let first = len.min(self.data_size - start);
        // SAFETY: `start + first <= data_size` and `len - first <= data_size`,
        // so both source ranges lie inside the mapped data area; `out` is a
        // distinct Rust buffer of at least `len` bytes.
        unsafe {
            let data = self.base.as_ptr().add(self.data_offset);
            std::ptr::copy_nonoverlapping(data.add(start), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(data, out.as_mut_ptr().add(first), len - first);
        }
    }
}

impl Drop for RingBuffer {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `map`, which no
        // reference outlives (all borrows end with `self`).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.map_len);
        }
    }
}
