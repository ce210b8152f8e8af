//! Kernel frames of folded stacks that do not say so. `record` names host
//! kernel frames with a `_[k]` suffix (kallsyms), but `perf script` text
//! folded as `inferno-collapse-perf` folds it (sentryprof's `import
//! perf-script`, or a `.folded` file made elsewhere) leaves them bare:
//! `python3;main;__libc_write;entry_SYSCALL_64_after_hwframe;do_syscall_64;ksys_write`.
//! The kernel part of such a stack starts at a kernel entry point (a system
//! call, exception or interrupt entry, a kernel thread's start) and runs to
//! the leaf: those frames are given the `_[k]` suffix, as
//! `inferno-collapse-perf --kernel` would name them, so they are drawn in
//! the kernel colour.

use std::borrow::Cow;

use bundle::{GUEST_FRAME_SUFFIX, KERNEL_FRAME_SUFFIX};

/// Frame names (prefixes) where the kernel part of a stack begins: x86-64
/// and arm64 entry code, kernel thread starts, and the name perf gives an
/// unresolved kernel address.
pub const KERNEL_ENTRY_PREFIXES: [&str; 13] = [
    "entry_SYSCALL",
    "entry_SYSENTER",
    "entry_INT80",
    "asm_exc_",
    "asm_sysvec_",
    "asm_common_interrupt",
    "ret_from_fork",
    "secondary_startup_64",
    "common_startup_64",
    "x86_64_start_kernel",
    "el0t_64_",
    "el1h_64_",
    "[kernel.kallsyms]",
];

/// Short needles that every name of [`KERNEL_ENTRY_PREFIXES`] contains:
/// the quick test of a whole text (few scans instead of one per prefix).
const NEEDLES: [&str; 7] = [
    "entry_",
    "asm_",
    "ret_from_fork",
    "startup_64",
    "start_kernel",
    "_64_",
    "[kernel.kallsyms]",
];

fn is_entry(frame: &str) -> bool {
    KERNEL_ENTRY_PREFIXES.iter().any(|p| frame.starts_with(p))
}

/// Whether `frame` already says where it ran (`_[k]`, `_[g]`, or an
/// inferno annotation such as `_[i]`, `_[j]`, `_[w]`).
fn annotated(frame: &str) -> bool {
    frame.ends_with(KERNEL_FRAME_SUFFIX)
        || frame.ends_with(GUEST_FRAME_SUFFIX)
        || matches!(frame.as_bytes(), [.., b'_', b'[', _, b']'])
}

/// One folded line with its kernel part suffixed; None when it has none.
fn mark_line(line: &str) -> Option<String> {
    let (stack, weight) = line.rsplit_once(' ')?;
    let frames: Vec<&str> = stack.split(';').collect();
    let first = frames.iter().position(|f| is_entry(f))?;
    let mut out = String::with_capacity(line.len() + 4 * (frames.len() - first));
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(f);
        if i >= first && !annotated(f) {
            out.push_str(KERNEL_FRAME_SUFFIX);
        }
    }
    out.push(' ');
    out.push_str(weight);
    Some(out)
}

/// Folded text with the kernel part of every stack suffixed `_[k]`; the
/// text itself (no copy) when no stack passes through a kernel entry point.
pub fn mark_kernel_frames(text: &str) -> Cow<'_, str> {
    if !NEEDLES.iter().any(|p| text.contains(p)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.lines() {
        match mark_line(line.trim_end()) {
            Some(marked) => out.push_str(&marked),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_part_starts_at_an_entry_point() {
        let text =
            "py;main;__libc_write;entry_SYSCALL_64_after_hwframe;do_syscall_64;ksys_write 5\n\
                    py;main;compute 7\n\
                    swapper;secondary_startup_64_no_verify;cpu_startup_entry;do_idle 3\n\
                    a;asm_exc_page_fault;exc_page_fault_[k] 2\n";
        let marked = mark_kernel_frames(text);
        assert_eq!(
            marked,
            "py;main;__libc_write;entry_SYSCALL_64_after_hwframe_[k];do_syscall_64_[k];ksys_write_[k] 5\n\
             py;main;compute 7\n\
             swapper;secondary_startup_64_no_verify_[k];cpu_startup_entry_[k];do_idle_[k] 3\n\
             a;asm_exc_page_fault_[k];exc_page_fault_[k] 2\n"
        );
        let user = "a;b 1\nc 2\n";
        assert!(matches!(mark_kernel_frames(user), Cow::Borrowed(_)));
    }
}
