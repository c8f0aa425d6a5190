/** ioctl request numbers from linux/kvm.h (x86-64), checked against the C header. */
export const KVM = {
  GET_API_VERSION: 0xae00,
  CREATE_VM: 0xae01,
  GET_MSR_INDEX_LIST: 0xc004ae02,
  CHECK_EXTENSION: 0xae03,
  GET_VCPU_MMAP_SIZE: 0xae04,
  GET_SUPPORTED_CPUID: 0xc008ae05,
  SET_USER_MEMORY_REGION: 0x4020ae46,
  SET_TSS_ADDR: 0xae47,
  SET_IDENTITY_MAP_ADDR: 0x4008ae48,
  CREATE_IRQCHIP: 0xae60,
  IRQ_LINE: 0x4008ae61,
  GET_IRQCHIP: 0xc208ae62,
  SET_IRQCHIP: 0x8208ae63,
  CREATE_PIT2: 0x4040ae77,
  GET_PIT2: 0x8070ae9f,
  SET_PIT2: 0x4070aea0,
  SET_CLOCK: 0x4030ae7b,
  GET_CLOCK: 0x8030ae7c,
  CREATE_VCPU: 0xae41,
  GET_REGS: 0x8090ae81,
  SET_REGS: 0x4090ae82,
  GET_SREGS: 0x8138ae83,
  SET_SREGS: 0x4138ae84,
  GET_MSRS: 0xc008ae88,
  SET_MSRS: 0x4008ae89,
  SET_CPUID2: 0x4008ae90,
  GET_LAPIC: 0x8400ae8e,
  SET_LAPIC: 0x4400ae8f,
  GET_FPU: 0x81a0ae8c,
  SET_FPU: 0x41a0ae8d,
  GET_MP_STATE: 0x8004ae98,
  SET_MP_STATE: 0x4004ae99,
  GET_VCPU_EVENTS: 0x8040ae9f,
  SET_VCPU_EVENTS: 0x4040aea0,
  GET_DEBUGREGS: 0x8080aea1,
  SET_DEBUGREGS: 0x4080aea2,
  GET_XSAVE: 0x9000aea4,
  SET_XSAVE: 0x5000aea5,
  GET_XCRS: 0x8188aea6,
  SET_XCRS: 0x4188aea7,
  GET_XSAVE2: 0x9000aecf,
  GET_TSC_KHZ: 0xaea3,
  SET_TSC_KHZ: 0xaea2,
  SET_GSI_ROUTING: 0x4008ae6a,
  IRQFD: 0x4020ae76,
  SIGNAL_MSI: 0x4020aea5
} as const

export type KvmIoctlName = keyof typeof KVM

export const KVM_API_VERSION = 12

export const CAP = {
  IRQCHIP: 0,
  IRQ_ROUTING: 25,
  PIT2: 33,
  IMMEDIATE_EXIT: 136,
  XSAVE2: 208
} as const

/** Sizes of the fixed-size structs passed to the ioctls above. */
export const STRUCT_SIZE = {
  irqchip: 520,
  pitState2: 112,
  clockData: 48,
  lapic: 1024,
  fpu: 416,
  mpState: 4,
  vcpuEvents: 64,
  debugregs: 128,
  xsave: 4096,
  xcrs: 392,
  memoryRegion: 32
} as const

export const EXIT = {
  UNKNOWN: 0,
  DEBUG: 4,
  IO: 2,
  HLT: 5,
  MMIO: 6,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24
} as const

/** KVM_GET/SET_IRQCHIP chip ids. */
export const IRQCHIP = { PIC_MASTER: 0, PIC_SLAVE: 1, IOAPIC: 2 } as const
