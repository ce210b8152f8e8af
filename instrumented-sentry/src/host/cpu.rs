//! CPU facts read with CPUID: the vendor and the hypervisor leaf.
//! (The time-stamp counter is read and calibrated by the probes module.)

/// Whether this CPU is AMD's (its hypercall instruction is `vmmcall`).
pub fn cpu_is_amd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let r = core::arch::x86_64::__cpuid(0);
        // "AuthenticAMD": EBX "Auth", EDX "enti", ECX "cAMD".
        r.ebx == 0x6874_7541 && r.edx == 0x6974_6e65 && r.ecx == 0x444d_4163
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
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
