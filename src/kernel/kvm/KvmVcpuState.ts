import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { STRUCT_SIZE } from "./KvmIoctls.js"
import { KvmError } from "../KvmError.js"
import type { KvmVcpu } from "./KvmVcpu.js"
import * as ChunkCodec from "../../snapshot/format/ChunkCodec.js"
import { Bytes } from "../../snapshot/format/Bytes.js"
import { Bit, FixedBytes, U16, U32, U64, U8 } from "../../snapshot/KernelStateSchemas.js"

const Regs = Schema.Struct({
  rax: U64, rbx: U64, rcx: U64, rdx: U64, rsi: U64, rdi: U64, rsp: U64, rbp: U64,
  r8: U64, r9: U64, r10: U64, r11: U64, r12: U64, r13: U64, r14: U64, r15: U64,
  rip: U64, rflags: U64
}).annotations({ identifier: "Regs" })

const Segment = Schema.Struct({
  base: U64, limit: U32, selector: U16, type: U8.pipe(Schema.between(0, 15)),
  present: Bit, dpl: U8.pipe(Schema.between(0, 3)), db: Bit, s: Bit, l: Bit, g: Bit, avl: Bit, unusable: Bit
}).annotations({ identifier: "Segment" })

const DescriptorTable = Schema.Struct({ base: U64, limit: U16 }).annotations({ identifier: "DescriptorTable" })

const Sregs = Schema.Struct({
  cs: Segment, ds: Segment, es: Segment, fs: Segment, gs: Segment, ss: Segment, tr: Segment, ldt: Segment,
  gdt: DescriptorTable, idt: DescriptorTable,
  cr0: U64, cr2: U64, cr3: U64, cr4: U64, cr8: U64, efer: U64, apicBase: U64,
  interruptBitmap: Schema.Tuple(U64, U64, U64, U64)
}).annotations({ identifier: "Sregs" })

const Msr = Schema.Struct({ index: U32, value: U64 })

/**
 * The MP states an x86 KVM has (RUNNABLE 0, UNINITIALIZED 1, INIT_RECEIVED 2,
 * HALTED 3, SIPI_RECEIVED 4, AP_RESET_HOLD 9); 5-8 are s390's and 10 arm64's,
 * which x86's KVM_SET_MP_STATE refuses. Narrower than the 0..10 this accepted
 * before, with the same stored form: VCPU_STATE_VERSION stays 1.
 */
export const X86_MP_STATES: ReadonlyArray<number> = [0, 1, 2, 3, 4, 9]
const MpState = Schema.Int.pipe(
  Schema.filter((n) => X86_MP_STATES.includes(n) || `${n} is not an x86 KVM_MP_STATE (expected one of ${X86_MP_STATES.join(", ")})`)
)

/** 4 KiB, or a larger multiple of 4 KiB where KVM_CAP_XSAVE2 says so (AMX). */
const XsaveArea = Bytes(64 * 4096).pipe(
  Schema.filter((b) => (b.length >= 4096 && b.length % 4096 === 0) || `kvm_xsave must be a multiple of 4096 bytes, got ${b.length}`)
).annotations({ identifier: "XsaveArea" })

export const VcpuState = Schema.Struct({
  id: Schema.Int.pipe(Schema.between(0, 1023)),
  regs: Regs,
  sregs: Sregs,
  // XSAVE holds the x87/SSE state too, so KVM_GET_FPU is not saved separately.
  xsave: XsaveArea,
  xcrs: FixedBytes(STRUCT_SIZE.xcrs, "kvm_xcrs"),
  msrs: Schema.Array(Msr).pipe(Schema.maxItems(4096)),
  lapic: FixedBytes(STRUCT_SIZE.lapic, "kvm_lapic_state"),
  events: FixedBytes(STRUCT_SIZE.vcpuEvents, "kvm_vcpu_events"),
  mpState: MpState,
  debugRegs: FixedBytes(STRUCT_SIZE.debugregs, "kvm_debugregs")
}).annotations({ identifier: "VcpuState" })
export type VcpuState = typeof VcpuState.Type

export const VCPU_STATE_VERSION = 1
export const vcpuCodec = ChunkCodec.make({ kind: "vcpu", schemaId: "x86-vcpu", version: VCPU_STATE_VERSION, schema: VcpuState })

/** MSR_IA32_TSC_DEADLINE is set after the LAPIC, whose timer mode decides whether it means anything (QEMU does the same). */
const TSC_DEADLINE = 0x6e0

/** Everything KVM keeps for a vCPU. The vCPU must be paused with its pending I/O applied. */
export const collectVcpu = (vcpu: KvmVcpu): Effect.Effect<VcpuState, KvmError> =>
  Effect.all({
    id: Effect.succeed(vcpu.id),
    regs: vcpu.getRegs(),
    sregs: vcpu.getSregs(),
    xsave: vcpu.getXsave(),
    xcrs: vcpu.getXcrs(),
    msrs: vcpu.getMsrs(),
    lapic: vcpu.getLapic(),
    events: vcpu.getEvents(),
    mpState: vcpu.getMpState(),
    debugRegs: vcpu.getDebugRegs()
  })

/** Puts a saved state into a fresh vCPU, in the order QEMU and Firecracker use. */
export const restoreVcpu = (vcpu: KvmVcpu, state: VcpuState): Effect.Effect<void, KvmError> =>
  Effect.gen(function*() {
    if (state.id !== vcpu.id) {
      // The chunk is named vcpu/<index>; a state saved from another vCPU (its LAPIC ID, its MP state) must not land here.
      return yield* new KvmError({ operation: `restore of vCPU ${vcpu.id}`, errno: 22, detail: `chunk vcpu/${vcpu.id} holds vCPU ${state.id}'s state` })
    }
    if (state.xsave.length !== vcpu.xsaveBytes) {
      return yield* new KvmError({
        operation: `restore of vCPU ${vcpu.id}`,
        errno: 22,
        detail: `chunk vcpu/${vcpu.id}: saved XSAVE area is ${state.xsave.length} bytes, this host uses ${vcpu.xsaveBytes}`
      })
    }
    yield* vcpu.setRegs(state.regs)
    yield* vcpu.setXsave(state.xsave)
    yield* vcpu.setXcrs(state.xcrs)
    yield* vcpu.setSregs({ ...state.sregs, interruptBitmap: [...state.sregs.interruptBitmap] })
    yield* vcpu.setMsrs(state.msrs.filter((m) => m.index !== TSC_DEADLINE))
    yield* vcpu.setMpState(state.mpState)
    yield* vcpu.setLapic(state.lapic)
    yield* vcpu.setMsrs(state.msrs.filter((m) => m.index === TSC_DEADLINE))
    yield* vcpu.setEvents(state.events)
    yield* vcpu.setDebugRegs(state.debugRegs)
  })
