import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { GuestMemory, mapRamRegion, type RamBacking } from "../GuestMemory.js"
import type { KvmError, NativeAddonMissing } from "../KvmError.js"
import { type GuestRam, ramRegions, type RamRegion } from "../MemoryLayout.js"
import { STRUCT_SIZE } from "./KvmIoctls.js"
import { KvmSystem } from "./KvmSystem.js"
import { Vm } from "./Vm.js"

/** One RAM region's host memory registered as a KVM memory slot. */
const slotRegion = (region: RamRegion, backing: RamBacking | undefined) =>
  Effect.gen(function*() {
    const { native } = yield* KvmSystem
    const vm = yield* Vm
    const buffer = yield* mapRamRegion(region, backing)
    const slot = (size: number) => {
      const bytes = new Uint8Array(STRUCT_SIZE.memoryRegion)
      const v = new DataView(bytes.buffer)
      v.setUint32(0, region.slot, true)
      v.setUint32(4, 0, true)
      v.setBigUint64(8, BigInt(region.gpa), true)
      v.setBigUint64(16, BigInt(size), true)
      v.setBigUint64(24, native.addressOf(buffer), true)
      return bytes
    }
    // The slot is deleted (size 0) before the mapping goes away.
    yield* Effect.acquireRelease(vm.fd.set("SET_USER_MEMORY_REGION", slot(region.size)), () =>
      Effect.ignore(vm.fd.set("SET_USER_MEMORY_REGION", slot(0))))
    return { ...region, bytes: new Uint8Array(buffer) }
  })

export const make = (
  bytes: number,
  backing?: RamBacking
): Effect.Effect<GuestRam, KvmError | NativeAddonMissing, KvmSystem | Vm | Scope.Scope> =>
  Effect.map(Effect.forEach(ramRegions(bytes), (r) => slotRegion(r, backing)), (regions) => ({ size: bytes, regions }))

export const layer = (bytes: number, backing?: RamBacking): Layer.Layer<GuestMemory, KvmError | NativeAddonMissing, KvmSystem | Vm> =>
  Layer.scoped(GuestMemory, make(bytes, backing))
