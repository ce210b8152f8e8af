//! `sentryprof completions SHELL` and `sentryprof man`, generated from the
//! clap definitions: every verb `sentryprof --help` lists is in the bash
//! completion script and in the man page.

use std::process::{Command, Output};

fn sentryprof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
        .args(args)
        .output()
        .expect("running sentryprof")
}

/// The verbs of the "Commands:" section of `sentryprof --help`.
fn verbs() -> Vec<String> {
    let help = String::from_utf8(sentryprof(&["--help"]).stdout).unwrap();
    let section = help.split("Commands:").nth(1).expect("a Commands section");
    let verbs: Vec<String> = section
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|v| v != "help")
        .collect();
    assert!(verbs.len() >= 11, "{verbs:?}");
    verbs
}

#[test]
fn bash_completion_and_man_page_name_every_verb() {
    let verbs = verbs();
    for v in ["run", "flamegraph", "report", "completions", "man"] {
        assert!(
            verbs.iter().any(|x| x == v),
            "{v} missing from --help: {verbs:?}"
        );
    }
    let bash = sentryprof(&["completions", "bash"]);
    assert!(bash.status.success());
    let bash = String::from_utf8(bash.stdout).unwrap();
    assert!(
        bash.contains("complete -F _sentryprof"),
        "a bash completion script"
    );
    // The top level's word list: the verbs, as bash completes them.
    let top = bash
        .lines()
        .find(|l| l.contains("opts=\"") && l.contains("flamegraph"))
        .expect("the top-level word list");
    for v in &verbs {
        assert!(
            top.split(['"', ' ']).any(|w| w == v),
            "bash completion lacks {v}: {top}"
        );
    }
    let man = sentryprof(&["man"]);
    assert!(man.status.success());
    let man = String::from_utf8(man.stdout).unwrap();
    assert!(
        man.starts_with(".ie") || man.contains(".TH sentryprof"),
        "roff"
    );
    let subcommands = man
        .split(".SH SUBCOMMANDS")
        .nth(1)
        .expect("a SUBCOMMANDS section");
    for v in &verbs {
        assert!(
            subcommands.contains(&format!("sentryprof\\-{v}")),
            "man page lacks {v}"
        );
    }
    for shell in ["zsh", "fish"] {
        let o = sentryprof(&["completions", shell]);
        assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("flamegraph"));
    }
    let o = sentryprof(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}
