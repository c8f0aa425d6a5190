/**
 * The CPUID a vCPU sees: KVM's supported set with this vCPU's APIC ID, the
 * logical-processor count, and the hypervisor bit, as Firecracker and
 * QEMU adjust it. struct kvm_cpuid2 { u32 nent; u32 pad; kvm_cpuid_entry2 entries[] }
 * with 40-byte entries { function, index, flags, eax, ebx, ecx, edx, pad[3] }.
 */
export const patchCpuid = (supported: Uint8Array, vcpuId: number, vcpuCount: number): Uint8Array => {
  const bytes = new Uint8Array(supported)
  const v = new DataView(bytes.buffer)
  const count = v.getUint32(0, true)
  for (let i = 0; i < count; i++) {
    const o = 8 + i * 40
    const fn = v.getUint32(o, true)
    if (fn === 1) {
      const ebx = v.getUint32(o + 16, true)
      v.setUint32(o + 16, ((ebx & 0x0000ffff) | ((vcpuCount & 0xff) << 16) | ((vcpuId & 0xff) << 24)) >>> 0, true)
      v.setUint32(o + 20, (v.getUint32(o + 20, true) | 0x8000_0000) >>> 0, true) // ECX bit 31: running under a hypervisor
    } else if (fn === 0xb || fn === 0x1f) {
      v.setUint32(o + 28, vcpuId, true) // EDX: x2APIC ID
    }
  }
  return bytes
}
