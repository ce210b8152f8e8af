//! The VMM guest sampler's stacks (instruction pointers from the kvm
//! platform's frame-pointer walk) named with the guest symbol map and
//! folded under the one guest root, [`GUEST_ROOT`]:
//! `[guest];_start_[g];main_[g];a_[g];b_[g]`. A chain the walk could not
//! finish gets [`BROKEN_GUEST_STACK`] right after the root, so it never
//! merges with a whole one.

use bundle::folded::FoldedStacks;
use instrumented_sentry::platform::kvm::vmm::guest_unwind::GuestStack;

pub use crate::stack_fold::GUEST_ROOT;
use crate::symbolize::{guest_frame_name, GuestSymbolMap};

/// The frame that stands, after the root, in front of a broken chain.
pub const BROKEN_GUEST_STACK: &str = "[broken guest stack]";

/// The frame that stands, after the root, in front of a hardware
/// `cycles:HG` guest sample of the vCPU thread, so PMU samples are told
/// apart from the VMM sampler's: `[guest];[cycles:G];b_[g]`.
pub const PMU_GUEST_SAMPLE: &str = "[cycles:G]";

/// One guest stack's frames, outermost first, from [`GUEST_ROOT`] to the
/// leaf. The leaf's RIP is named as is; return addresses one byte back
/// (inside the call instruction, so a call that ends a function still
/// names its caller).
pub fn guest_frames(stack: &GuestStack, map: &GuestSymbolMap) -> Vec<String> {
    let mut frames = Vec::with_capacity(stack.pcs.len() + 2);
    frames.push(GUEST_ROOT.to_string());
    if stack.broken.is_some() {
        frames.push(BROKEN_GUEST_STACK.to_string());
    }
    for (i, &pc) in stack.pcs.iter().enumerate().rev() {
        let at = if i == 0 { pc } else { pc.wrapping_sub(1) };
        frames.push(guest_frame_name(Some(map), at));
    }
    frames
}

/// The sampler's stacks folded, each sample weighing `weight` (the
/// sampling period in the unit of the folded file it joins: nanoseconds
/// beside cpu-clock samples).
pub fn fold_guest_stacks(
    stacks: &[(GuestStack, u64)],
    map: &GuestSymbolMap,
    weight: u64,
) -> FoldedStacks {
    let mut out = FoldedStacks::new();
    for (stack, n) in stacks {
        out.add_frames(&guest_frames(stack, map), n.saturating_mul(weight));
    }
    out
}

/// The vCPU thread's guest-mode cycles samples (one address each: perf
/// gives no guest chains) named with the same map and folded under
/// `[guest];[cycles:G]`, each weighing `weight`.
pub fn fold_pmu_guest_ips(ips: &[(u64, u64)], map: &GuestSymbolMap, weight: u64) -> FoldedStacks {
    let mut out = FoldedStacks::new();
    for &(ip, n) in ips {
        let frames = [
            GUEST_ROOT.to_string(),
            PMU_GUEST_SAMPLE.to_string(),
            guest_frame_name(Some(map), ip),
        ];
        out.add_frames(&frames, n.saturating_mul(weight));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use instrumented_sentry::platform::kvm::vmm::guest_unwind::BrokenChain;

    fn map() -> GuestSymbolMap {
        GuestSymbolMap::new([
            (0x100, 0x110, "_start".to_string()),
            (0x110, 0x120, "main".to_string()),
            (0x120, 0x130, "a".to_string()),
            (0x130, 0x140, "b".to_string()),
        ])
    }

    #[test]
    fn a_whole_stack_is_named_outermost_first_under_the_root() {
        // Leaf in b; return addresses just past the calls in a, main, _start.
        let s = GuestStack {
            pcs: vec![0x135, 0x128, 0x118, 0x10a],
            broken: None,
        };
        assert_eq!(
            guest_frames(&s, &map()).join(";"),
            "[guest];_start_[g];main_[g];a_[g];b_[g]"
        );
    }

    #[test]
    fn a_broken_stack_carries_the_marker_and_unknown_pcs_their_address() {
        let s = GuestStack {
            pcs: vec![0x135, 0x9999],
            broken: Some(BrokenChain::Unmapped),
        };
        let folded = fold_guest_stacks(&[(s, 3)], &map(), 1000);
        let lines: Vec<_> = folded.iter().collect();
        assert_eq!(
            lines,
            vec![(
                "[guest];[broken guest stack];[guest 0x9998]_[g];b_[g]",
                3000
            )]
        );
    }

    #[test]
    fn pmu_guest_samples_fold_under_their_own_marker() {
        let f = fold_pmu_guest_ips(&[(0x135, 3), (0x112, 1)], &map(), 10);
        let text = f.to_text();
        assert!(text.contains("[guest];[cycles:G];b_[g] 30"), "{text}");
        assert!(text.contains("[guest];[cycles:G];main_[g] 10"), "{text}");
    }
}
