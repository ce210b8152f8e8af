//! Platforms a workload runs on: native (host syscalls), inproc (the sentry in this process), kvm.
