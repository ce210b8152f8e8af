//! Start-up frames trimmed from flamegraphs: the ~15 frames every Rust
//! stack carries between the thread's root and the program's own code
//! (`[libc.so.6];main;std::rt::lang_start_internal;...;
//! __rust_begin_short_backtrace;call_once<...>`, and the same under
//! `clone3;start_thread;...` for spawned threads), and the C/C++ ones
//! (`_start;__libc_start_main;__libc_start_call_main` above `main`,
//! `clone3;start_thread` above a thread's function).
//!
//! Trimming is done at rendering only: the bundle's folded files stay
//! complete. The root frame (the thread name) is kept, and a stack that
//! is start-up code and nothing else (a sample taken while starting) is
//! left whole.

use std::borrow::Cow;

use bundle::folded::FoldedStacks;

/// The last frame of Rust's start-up code (main thread and spawned threads
/// alike): what follows is the program's `main` or the thread's closure,
/// possibly behind `call_once` shims.
const RUST_START_END: &str = "__rust_begin_short_backtrace";

/// Frames of the C run-time's start-up and thread start.
fn is_c_startup(frame: &str) -> bool {
    matches!(
        frame,
        "_start"
            | "__libc_start_main"
            | "__libc_start_main_impl"
            | "__libc_start_call_main"
            | "_dl_start_user"
            | "clone"
            | "clone3"
            | "start_thread"
    ) || frame.starts_with("__libc_start_main@")
        // An unnamed frame of the C library or the loader at the base.
        || (frame.starts_with('[') && (frame.contains("libc.so") || frame.contains("ld-linux")))
}

/// A `call_once` shim between Rust's start-up and the program's code.
fn is_call_once_shim(frame: &str) -> bool {
    frame.starts_with("call_once<")
        || frame.starts_with("core::ops::function::FnOnce::call_once")
        || (frame.starts_with('<') && frame.ends_with(">::call_once"))
}

/// `stack` (frames joined by ';', root first) without its start-up frames;
/// borrowed unchanged when there are none.
pub fn trim_startup(stack: &str) -> Cow<'_, str> {
    let Some((root, rest)) = stack.split_once(';') else {
        return Cow::Borrowed(stack);
    };
    // Quick reject without splitting: most stacks of a large profile have
    // neither kind of start-up frame.
    let first = rest.split(';').next().unwrap_or(rest);
    if !rest.contains(RUST_START_END) && !is_c_startup(first) {
        return Cow::Borrowed(stack);
    }
    let frames: Vec<&str> = rest.split(';').collect();
    let keep_from = match frames.iter().position(|f| f.contains(RUST_START_END)) {
        Some(i) => {
            let mut j = i + 1;
            while j + 1 < frames.len() && is_call_once_shim(frames[j]) {
                j += 1;
            }
            j
        }
        None => frames.iter().take_while(|f| is_c_startup(f)).count(),
    };
    if keep_from == 0 || keep_from >= frames.len() {
        return Cow::Borrowed(stack);
    }
    let mut out = String::with_capacity(stack.len());
    out.push_str(root);
    for f in &frames[keep_from..] {
        out.push(';');
        out.push_str(f);
    }
    Cow::Owned(out)
}

/// A folded line (`stack weight`) without its start-up frames.
pub fn trim_startup_line(line: &str) -> Cow<'_, str> {
    let Some((stack, weight)) = line.trim_end().rsplit_once(' ') else {
        return Cow::Borrowed(line);
    };
    match trim_startup(stack) {
        Cow::Borrowed(_) => Cow::Borrowed(line),
        Cow::Owned(s) => Cow::Owned(format!("{s} {weight}")),
    }
}

/// `stacks` without start-up frames, and whether any was trimmed.
pub fn trim_startup_stacks(stacks: &FoldedStacks) -> (FoldedStacks, bool) {
    let mut out = FoldedStacks::new();
    let mut trimmed = false;
    for (s, w) in stacks.iter() {
        let t = trim_startup(s);
        trimmed |= matches!(t, Cow::Owned(_));
        out.add_joined(t.into_owned(), w);
    }
    (out, trimmed)
}

/// What a subtitle says when start-up frames were trimmed.
pub const TRIMMED_NOTE: &str = "start-up frames trimmed (--keep-startup keeps them)";

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of every stack of `sentryprof run` today (its own main
    /// thread), as perf folded it.
    const RUST_MAIN: &str = "sentryprof;[libc.so.6];main;std::rt::lang_start_internal;std::panic::catch_unwind::<std::rt::lang_start_internal::{closure#0}, isize>;std::panicking::catch_unwind::<isize, std::rt::lang_start_internal::{closure#0}>;std::panicking::catch_unwind::do_call::<std::rt::lang_start_internal::{closure#0}, isize>;std::rt::lang_start_internal::{closure#0};std::panic::catch_unwind::<&dyn core::ops::function::Fn<(), Output = i32> + core::marker::Sync + core::panic::unwind_safe::RefUnwindSafe, i32>;<&dyn core::ops::function::Fn<(), Output = i32> + core::marker::Sync + core::panic::unwind_safe::RefUnwindSafe as core::ops::function::FnOnce<()>>::call_once;{closure#0}<std::process::ExitCode>;__rust_begin_short_backtrace<fn() -> std::process::ExitCode, std::process::ExitCode>;call_once<fn() -> std::process::ExitCode, ()>";

    #[test]
    fn rust_main_and_threads_keep_the_root_and_the_program() {
        let s = format!("{RUST_MAIN};main;dispatch;run;find_available");
        assert_eq!(
            trim_startup(&s),
            "sentryprof;main;dispatch;run;find_available"
        );
        let t = "worker;[libc.so.6];clone3;start_thread;std::sys::pal::unix::thread::Thread::new::thread_start;<alloc::boxed::Box<F> as core::ops::function::FnOnce<A>>::call_once;std::sys::backtrace::__rust_begin_short_backtrace;drain;read_ring";
        assert_eq!(trim_startup(t), "worker;drain;read_ring");
    }

    #[test]
    fn c_and_cpp_startup_is_trimmed_to_main() {
        let s = "a.out;_start;__libc_start_main@@GLIBC_2.34;__libc_start_call_main;main;Foo::bar()";
        assert_eq!(trim_startup(s), "a.out;main;Foo::bar()");
        assert_eq!(
            trim_startup("a.out;[libc.so.6];clone3;start_thread;worker;spin"),
            "a.out;worker;spin"
        );
    }

    #[test]
    fn other_stacks_and_pure_startup_stay_whole() {
        for s in [
            "a;b;c",
            "single",
            "a.out;_start;__libc_start_main",
            "x;__rust_begin_short_backtrace<f>",
            "x;main;_start;y",
        ] {
            assert!(matches!(trim_startup(s), Cow::Borrowed(_)), "{s}");
        }
        assert_eq!(
            trim_startup_line("a.out;_start;main;f 12"),
            "a.out;main;f 12"
        );
        let f = FoldedStacks::parse("p;_start;main;f 2\np;main;f 3\np;g 1\n", "t").unwrap();
        let (t, trimmed) = trim_startup_stacks(&f);
        assert!(trimmed);
        assert_eq!(t.to_text(), "p;g 1\np;main;f 5\n");
    }
}
