//! CPU affinity of this process's threads and its children: what the
//! placements of the kvm vCPU thread (`kvm::vmm::vcpu_thread`) and of the
//! trap platforms' stub (`runners::trap::placement`) are built from.

/// The CPU set of thread `tid` (0: the calling thread), `None` if it
/// cannot be read.
pub fn thread_cpus(tid: libc::pid_t) -> Option<libc::cpu_set_t> {
    // SAFETY: `cpu_set_t` is plain data; zeroed is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a writable `cpu_set_t` of the size passed.
    let r =
        unsafe { libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    (r == 0).then_some(set)
}

/// The CPUs in `set`, in ascending order.
pub fn cpus_of(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `set` is a valid set and `c` is below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, set) })
        .collect()
}

/// The first two CPUs the calling thread may run on, `None` with fewer.
pub fn first_two_cpus() -> Option<(usize, usize)> {
    match cpus_of(&thread_cpus(0)?)[..] {
        [a, b, ..] => Some((a, b)),
        _ => None,
    }
}

/// CPUs the calling thread may run on (1 if its set cannot be read).
pub fn usable_cpus() -> usize {
    thread_cpus(0).map_or(1, |set| {
        // SAFETY: `set` was filled in by the kernel.
        (unsafe { libc::CPU_COUNT(&set) }).max(1) as usize
    })
}

/// Sets the CPU set of `tid` (0: the calling thread, or a thread or child
/// of this process); false if refused.
pub fn set_affinity(tid: libc::pid_t, set: &libc::cpu_set_t) -> bool {
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; the kernel
    // only reads it.
    unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), set) == 0 }
}

/// The set holding `cpu` alone.
pub fn one_cpu(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: zeroed is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` comes from a set the kernel returned, so it is below
    // CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

/// The calling thread pinned to one CPU until this is dropped, when its
/// former set is restored (on that thread, whichever thread drops it).
pub struct ThreadPin {
    tid: libc::pid_t,
    former: libc::cpu_set_t,
}

impl ThreadPin {
    /// Pins the calling thread to `cpu`; `None` if its set cannot be read
    /// or set.
    pub fn pin_here(cpu: usize) -> Option<Self> {
        let former = thread_cpus(0)?;
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        set_affinity(0, &one_cpu(cpu)).then_some(Self { tid, former })
    }
}

impl Drop for ThreadPin {
    fn drop(&mut self) {
        // If the thread has exited the call fails harmlessly.
        set_affinity(self.tid, &self.former);
    }
}

impl std::fmt::Debug for ThreadPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPin").field("tid", &self.tid).finish()
    }
}
