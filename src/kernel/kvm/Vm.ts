import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { IoctlFd } from "./Ioctl.js"
import { IRQCHIP, STRUCT_SIZE } from "./KvmIoctls.js"
import type { KvmError } from "../KvmError.js"
import { KvmSystem } from "./KvmSystem.js"

/** Addresses KVM needs for its real-mode helpers on Intel; placed just below the BIOS area at 4 GiB, as QEMU does. */
const TSS_ADDR = 0xfffb_d000
const IDENTITY_MAP_ADDR = 0xfffb_c000
/** KVM_PIT_SPEAKER_DUMMY: port 0x61 is emulated in-kernel too. */
const PIT_SPEAKER_DUMMY = 1

export type IrqchipId = keyof typeof IRQCHIP

export interface VmHandle {
  readonly fd: IoctlFd
  /** KVM_IRQ_LINE: drives a GSI (PIC and IOAPIC pins) high or low. Not on a hot path that can fail: errors are reported. */
  readonly irqLine: (line: number, level: boolean) => Effect.Effect<void, KvmError>
  /** The same ioctl as a plain call for device exit handlers; returns 0 or -errno. */
  readonly irqLineSync: (line: number, level: boolean) => number
  readonly getIrqchip: (chip: IrqchipId) => Effect.Effect<Uint8Array, KvmError>
  readonly setIrqchip: (chip: IrqchipId, state: Uint8Array) => Effect.Effect<void, KvmError>
  readonly getPit2: Effect.Effect<Uint8Array, KvmError>
  readonly setPit2: (state: Uint8Array) => Effect.Effect<void, KvmError>
  readonly getClock: Effect.Effect<Uint8Array, KvmError>
  readonly setClock: (state: Uint8Array) => Effect.Effect<void, KvmError>
}

/** One KVM virtual machine with its in-kernel irqchip (PIC, IOAPIC, LAPICs) and PIT. */
export class Vm extends Context.Tag("bhyve-ts/Vm")<Vm, VmHandle>() {}

const create: Effect.Effect<VmHandle, KvmError, KvmSystem | Scope.Scope> = Effect.gen(function*() {
  const kvm = yield* KvmSystem
  const fd = yield* Effect.acquireRelease(
    Effect.map(kvm.device.value("CREATE_VM", 0), (vmfd) => new IoctlFd(kvm.native, vmfd, "VM")),
    (vm) => vm.close()
  )
  yield* fd.value("SET_TSS_ADDR", TSS_ADDR)
  const identity = new Uint8Array(8)
  new DataView(identity.buffer).setBigUint64(0, BigInt(IDENTITY_MAP_ADDR), true)
  yield* fd.set("SET_IDENTITY_MAP_ADDR", identity)
  yield* fd.value("CREATE_IRQCHIP", 0)
  const pitConfig = new Uint8Array(64)
  new DataView(pitConfig.buffer).setUint32(0, PIT_SPEAKER_DUMMY, true)
  yield* fd.set("CREATE_PIT2", pitConfig)

  const irqLevel = new Uint8Array(8)
  const irqView = new DataView(irqLevel.buffer)
  const irqLineSync = (line: number, level: boolean) => {
    irqView.setUint32(0, line, true)
    irqView.setUint32(4, level ? 1 : 0, true)
    return kvm.native.ioctlBuffer(fd.fd, 0x4008ae61, irqLevel)
  }
  const chipStruct = (chip: IrqchipId) => {
    const bytes = new Uint8Array(STRUCT_SIZE.irqchip)
    new DataView(bytes.buffer).setUint32(0, IRQCHIP[chip], true)
    return bytes
  }
  return {
    fd,
    irqLine: (line, level) =>
      Effect.suspend(() => {
        const bytes = new Uint8Array(8)
        const v = new DataView(bytes.buffer)
        v.setUint32(0, line, true)
        v.setUint32(4, level ? 1 : 0, true)
        return fd.set("IRQ_LINE", bytes)
      }),
    irqLineSync,
    getIrqchip: (chip) =>
      Effect.suspend(() => {
        const bytes = chipStruct(chip)
        return Effect.as(fd.buffer("GET_IRQCHIP", bytes), bytes)
      }),
    setIrqchip: (chip, state) =>
      Effect.suspend(() => {
        const bytes = new Uint8Array(state)
        new DataView(bytes.buffer).setUint32(0, IRQCHIP[chip], true)
        return fd.set("SET_IRQCHIP", bytes)
      }),
    getPit2: fd.get("GET_PIT2", STRUCT_SIZE.pitState2),
    setPit2: (state) => fd.set("SET_PIT2", state),
    getClock: fd.get("GET_CLOCK", STRUCT_SIZE.clockData),
    setClock: (state) => fd.set("SET_CLOCK", state)
  }
})

export const layer: Layer.Layer<Vm, KvmError, KvmSystem> = Layer.scoped(Vm, create)
