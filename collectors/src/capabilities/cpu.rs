//! CPU facts read with instructions: the TSC and the hypervisor CPUID leaf.

use std::time::{Duration, Instant};

/// Read the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no memory effects; every x86_64 CPU has it.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// TSC ticks per second, calibrated against CLOCK_MONOTONIC over `window`.
/// None when the TSC does not advance (not x86_64).
pub fn calibrate_tsc_hz(window: Duration) -> Option<u64> {
    let t0 = Instant::now();
    let c0 = rdtsc();
    while t0.elapsed() < window {
        std::hint::spin_loop();
    }
    let c1 = rdtsc();
    let ns = t0.elapsed().as_nanos();
    if c1 <= c0 || ns == 0 {
        return None;
    }
    Some(((c1 - c0) as u128 * 1_000_000_000 / ns) as u64)
}

/// The hypervisor vendor from CPUID leaf 0x40000000, when CPUID says a
/// hypervisor is present (leaf 1, ECX bit 31).
pub fn cpuid_hypervisor() -> Option<String> {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::__cpuid;
        let leaf1 = __cpuid(1);
        if leaf1.ecx & (1 << 31) == 0 {
            return None;
        }
        let r = __cpuid(0x4000_0000);
        let mut bytes = Vec::with_capacity(12);
        for reg in [r.ebx, r.ecx, r.edx] {
            bytes.extend_from_slice(&reg.to_le_bytes());
        }
        let s: String = String::from_utf8_lossy(&bytes)
            .trim_matches(char::from(0))
            .trim()
            .to_string();
        Some(match s.as_str() {
            "KVMKVMKVM" => "KVM".to_string(),
            "Microsoft Hv" => "Hyper-V".to_string(),
            "VMwareVMware" => "VMware".to_string(),
            "XenVMMXenVMM" => "Xen".to_string(),
            "TCGTCGTCGTCG" => "QEMU TCG".to_string(),
            " lrpepyh  vr" | "bhyve bhyve" => "bhyve".to_string(),
            "" => "unknown (empty CPUID vendor)".to_string(),
            other => other.to_string(),
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}
