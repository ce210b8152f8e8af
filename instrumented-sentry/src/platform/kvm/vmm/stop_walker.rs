//! The guest sampler's stops handled on the vCPU thread itself: when
//! `KVM_RUN` returns for a tick, the thread that ran the vCPU reads the
//! registers (from the `kvm_run` page, or `KVM_GET_REGS` on its own vCPU:
//! [`StopRegs`]), walks the frame-pointer
//! chain through the guest's user stack, counts the stack and enters the
//! guest again, without waking the sentry's thread (which sleeps on a
//! futex between exits: each wake-up is a cross-CPU wake and, on a loaded
//! host, a wait for the scheduler).
//!
//! The walk reads only the user stack (a fixed range of the system
//! region, mapped linearly, which the VMM maps for the guest and never
//! changes). A chain that leaves it — a frame pointer anywhere else — is
//! not walked here: the stop is handed over to the sentry's thread, whose
//! walk goes through the page tables ([`super::machine::Machine`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::guest_unwind::{unwind, GuestStack};
use super::layout::{sys_gva, USER_STACK_OFF, USER_STACK_TOP_OFF};
use super::sample_timer::TickCounter;
use super::vcpu_thread::{StopHandler, StopRegs};

/// What the vCPU thread counted at the stops it handled.
#[derive(Debug, Default)]
pub struct WalkedStops {
    /// Stops handled here (the guest entered again at once).
    pub stops: u64,
    /// Stacks taken, with the in-run ticks each stands for.
    pub stacks: HashMap<GuestStack, u64>,
    /// Stacks taken.
    pub taken: u64,
    /// In-run ticks they stand for.
    pub samples: u64,
    /// Of those, in broken chains.
    pub broken: u64,
}

/// The stop handler the vCPU thread runs while a sampler is armed.
#[derive(Debug)]
pub struct StopWalker {
    /// Host address of the system region's first byte.
    sys_host: u64,
    ticks: TickCounter,
    /// In-run ticks already answered with a stack (shared with the
    /// sentry's side, which answers ticks delivered at real exits).
    seen: Arc<AtomicU64>,
    out: Arc<Mutex<WalkedStops>>,
}

impl StopWalker {
    /// A walker over the system region mapped at `sys_host`, answering the
    /// in-run ticks of `ticks` not yet in `seen`, counting into `out`.
    ///
    /// # Safety
    /// `sys_host` must be the host address of the live system region
    /// mapping (`SYS_SIZE` bytes) for as long as the walker may run.
    pub unsafe fn new(
        sys_host: u64,
        ticks: TickCounter,
        seen: Arc<AtomicU64>,
        out: Arc<Mutex<WalkedStops>>,
    ) -> Self {
        Self {
            sys_host,
            ticks,
            seen,
            out,
        }
    }

    /// Reads the u64 at `gva` if it lies in the user stack; `Err` where
    /// the chain leaves it.
    fn read_stack(&self, gva: u64) -> Result<Option<u64>, ()> {
        if gva % 8 != 0 {
            return Ok(None);
        }
        let (lo, hi) = (sys_gva(USER_STACK_OFF), sys_gva(USER_STACK_TOP_OFF));
        if gva < lo || gva > hi - 8 {
            return Err(());
        }
        let host = self.sys_host + (gva - sys_gva(0));
        // SAFETY: `host` lies inside the system region mapping (checked
        // range of the user stack; `new`'s contract), 8-aligned; the vCPU
        // is stopped on this very thread, so the guest does not write it
        // meanwhile; volatile: guest memory.
        Ok(Some(unsafe { std::ptr::read_volatile(host as *const u64) }))
    }
}

impl StopHandler for StopWalker {
    fn on_stop(&mut self, regs: &StopRegs) -> bool {
        let now = self.ticks.in_run();
        let ticks = now.saturating_sub(self.seen.load(Ordering::Acquire));
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        if ticks == 0 {
            // A late tick: the guest had not run since it expired.
            out.stops += 1;
            return true;
        }
        let Some([rip, rbp, rsp]) = regs.read() else {
            return false;
        };
        let mut left = false;
        let mut read = |gva: u64| match self.read_stack(gva) {
            Ok(v) => v,
            Err(()) => {
                left = true;
                None
            }
        };
        let stack = unwind(rip, rbp, rsp, &mut read);
        if left {
            return false;
        }
        self.seen.store(now, Ordering::Release);
        out.stops += 1;
        out.taken += 1;
        out.samples += ticks;
        if stack.broken.is_some() {
            out.broken += ticks;
        }
        *out.stacks.entry(stack).or_insert(0) += ticks;
        true
    }
}
