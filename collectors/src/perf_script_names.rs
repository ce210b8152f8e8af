//! The frame names inferno-collapse-perf makes of a `perf script` stack
//! line's symbol and module: offsets stripped, Rust names finished,
//! `[unknown]` named by its module, argument lists dropped, Java inlining
//! split. `perf_script` and `perf_data` name their frames with it.

use std::borrow::Cow;

/// The frames inferno makes of one stack line's symbol and module, pushed
/// leaf first: the `+0x...` offset stripped, a symbol starting with `(`
/// dropped, Rust names finished, `[unknown]` named by its module, argument
/// lists removed, names split on `->` marked `_[i]`. `perf.data` import
/// names its frames through this too, so both imports fold alike.
pub(crate) fn push_frame_names(sym: &str, module: &str, is_java: bool, frames: &mut Vec<String>) {
    let mut sym = sym;
    if let Some(off) = sym.rfind("+0x") {
        if sym[off + 3..].bytes().all(|b| b.is_ascii_hexdigit()) {
            sym = &sym[..off];
        }
    }
    if sym.starts_with('(') {
        return;
    }
    let sym = finish_rust_demangling(sym);
    // Frames of one line, outermost first after the split on "->": the
    // first is the real frame, the others inlined into it.
    let start = frames.len();
    for (i, part) in sym.split("->").enumerate() {
        let mut name = tidy_generic(module_fallback(module, part));
        if is_java && name.starts_with('L') && name.contains('/') {
            name.remove(0);
        }
        if i > 0 && !name.contains("_[i]") {
            name.push_str("_[i]");
        }
        frames.push(name);
    }
    // Stored leaf first: the inlined ones (later in the split) are deeper,
    // so reverse this line's frames.
    frames[start..].reverse();
}

/// `[unknown]` symbols take the module's base name, as perf users expect.
fn module_fallback(module: &str, func: &str) -> String {
    if func != "[unknown]" || module == "[unknown]" {
        return func.to_string();
    }
    let base = &module[module.rfind('/').map(|i| i + 1).unwrap_or(0)..];
    format!("[{base}]")
}

/// Drop a top-level argument list (`f(int)` → `f`) but keep Go method
/// receivers (`pkg.(*T).M`) and C++ `(anonymous namespace)`; `;` → `:`.
fn tidy_generic(func: String) -> String {
    let mut func = if func.contains(';') {
        func.replace(';', ":")
    } else {
        func
    };
    let mut depth: i64 = 0;
    let mut after_dot: Option<usize> = None;
    let mut cut = func.len();
    for (idx, c) in func.char_indices() {
        match c {
            '<' | '{' | '[' => depth += 1,
            '>' | '}' | ']' | ')' => depth -= 1,
            '(' => {
                if depth == 0 {
                    let go_method = after_dot == Some(idx);
                    let anon_ns = func[idx..].starts_with("(anonymous namespace)");
                    if !go_method && !anon_ns {
                        cut = idx;
                        break;
                    }
                }
                depth += 1;
            }
            '.' => after_dot = Some(idx + 1),
            _ => {}
        }
    }
    func.truncate(cut);
    func
}

/// perf sometimes leaves Rust legacy symbols half demangled
/// (`std..fs..File$u20$...::h0123456789abcdef`): finish the job and drop
/// the hash. Names without a trailing `::h<16 hex>`-style hash are returned
/// unchanged.
fn finish_rust_demangling(sym: &str) -> Cow<'_, str> {
    const HASH_LEN: usize = 17; // 'h' + 16 hex digits
    if sym.len() < HASH_LEN || !sym.is_char_boundary(sym.len() - HASH_LEN) {
        return Cow::Borrowed(sym);
    }
    let tail = &sym[sym.len() - HASH_LEN..];
    if !(tail.starts_with('h') && tail[1..].bytes().all(|b| b.is_ascii_hexdigit())) {
        return Cow::Borrowed(sym);
    }
    let mut rest = &sym[..sym.len() - HASH_LEN];
    if let Some(r) = rest.strip_suffix("::") {
        rest = r;
    }
    if rest.starts_with("_$") {
        rest = &rest[1..];
    }
    const ESCAPES: [(&str, &str); 20] = [
        ("$SP$", "@"),
        ("$BP$", "*"),
        ("$RF$", "&"),
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$LP$", "("),
        ("$RP$", ")"),
        ("$C$", ","),
        ("$u7e$", "~"),
        ("$u20$", " "),
        ("$u27$", "'"),
        ("$u3d$", "="),
        ("$u5b$", "["),
        ("$u5d$", "]"),
        ("$u7b$", "{"),
        ("$u7d$", "}"),
        ("$u3b$", ";"),
        ("$u2b$", "+"),
        ("$u21$", "!"),
        ("$u22$", "\""),
    ];
    let mut out = String::with_capacity(rest.len());
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("..") {
            out.push_str("::");
            rest = r;
        } else if let Some(r) = rest.strip_prefix('.') {
            out.push('.');
            rest = r;
        } else if rest.starts_with('$') {
            match ESCAPES.iter().find(|(pat, _)| rest.starts_with(pat)) {
                Some((pat, rep)) => {
                    out.push_str(rep);
                    rest = &rest[pat.len()..];
                }
                None => {
                    out.push_str(rest);
                    break;
                }
            }
        } else {
            let idx = rest.find(['$', '.']).unwrap_or(rest.len());
            out.push_str(&rest[..idx]);
            rest = &rest[idx..];
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_and_cpp_names_are_tidied() {
        assert_eq!(
            finish_rust_demangling("std..fs..File$u20$x::h0123456789abcdef"),
            "std::fs::File x"
        );
        assert_eq!(tidy_generic("foo(int, char)".into()), "foo");
        assert_eq!(
            tidy_generic("net/http.(*Client).Do".into()),
            "net/http.(*Client).Do"
        );
        assert_eq!(tidy_generic("a;b".into()), "a:b");
    }
}
