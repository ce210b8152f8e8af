//! The terminal browser of result bundles (`sentryprof tui`).
