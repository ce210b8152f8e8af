//! How the stub is trapped: [`Mechanism`].

/// How the stub is trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// No trapping: the loop's calls reach the host kernel.
    Native,
    /// `PTRACE_SYSEMU`.
    Ptrace,
    /// seccomp `SECCOMP_RET_TRAP` and a SIGSYS handler.
    Systrap,
}

impl Mechanism {
    /// The platform name (`native`, `ptrace`, `systrap`).
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Native => "native",
            Mechanism::Ptrace => "ptrace",
            Mechanism::Systrap => "systrap",
        }
    }
}
