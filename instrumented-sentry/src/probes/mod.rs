//! rdtsc probes around the steps of the mmap path.
