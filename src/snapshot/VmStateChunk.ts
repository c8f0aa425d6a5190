import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { STRUCT_SIZE } from "../kernel/KvmIoctls.js"
import type { KvmError } from "../kernel/KvmError.js"
import type { VmHandle } from "../kernel/Vm.js"
import * as ChunkCodec from "./format/ChunkCodec.js"
import { FixedBytes } from "./KernelStateSchemas.js"

/**
 * The VM-wide state KVM emulates in-kernel: both 8259s, the IOAPIC, the
 * 8254 and the KVM clock. Struct kvm_irqchip carries its chip id in its
 * first word; the restore sets it from the field name, not from the bytes.
 */
export const VmState = Schema.Struct({
  picMaster: FixedBytes(STRUCT_SIZE.irqchip, "kvm_irqchip"),
  picSlave: FixedBytes(STRUCT_SIZE.irqchip, "kvm_irqchip"),
  ioapic: FixedBytes(STRUCT_SIZE.irqchip, "kvm_irqchip"),
  pit: FixedBytes(STRUCT_SIZE.pitState2, "kvm_pit_state2"),
  clock: FixedBytes(STRUCT_SIZE.clockData, "kvm_clock_data")
}).annotations({ identifier: "VmState" })
export type VmState = typeof VmState.Type

export const VM_STATE_VERSION = 1
export const vmCodec = ChunkCodec.make({ kind: "vm", schemaId: "x86-kvm-vm", version: VM_STATE_VERSION, schema: VmState })

export const collectVm = (vm: VmHandle): Effect.Effect<VmState, KvmError> =>
  Effect.all({
    picMaster: vm.getIrqchip("PIC_MASTER"),
    picSlave: vm.getIrqchip("PIC_SLAVE"),
    ioapic: vm.getIrqchip("IOAPIC"),
    pit: vm.getPit2,
    clock: vm.getClock
  })

/** KVM_SET_CLOCK takes only the clock value (flags 0): the guest's kvmclock resumes where it was saved. */
const clockValueOnly = (saved: Uint8Array): Uint8Array => {
  const bytes = new Uint8Array(STRUCT_SIZE.clockData)
  bytes.set(saved.subarray(0, 8))
  return bytes
}

export const restoreVm = (vm: VmHandle, state: VmState): Effect.Effect<void, KvmError> =>
  Effect.gen(function*() {
    yield* vm.setIrqchip("PIC_MASTER", state.picMaster)
    yield* vm.setIrqchip("PIC_SLAVE", state.picSlave)
    yield* vm.setIrqchip("IOAPIC", state.ioapic)
    yield* vm.setPit2(state.pit)
    yield* vm.setClock(clockValueOnly(state.clock))
  })
