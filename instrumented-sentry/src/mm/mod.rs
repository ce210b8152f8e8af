//! The memory manager: VMAs, PMAs, page allocator, syscalls, faults.
