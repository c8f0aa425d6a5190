import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { STRUCT_SIZE } from "./KvmIoctls.js"
import { KvmError } from "./KvmError.js"
import { KvmSystem } from "./KvmSystem.js"
import { type GuestRam, ramRegions, type RamRegion } from "./MemoryLayout.js"
import { Vm } from "./Vm.js"

/** Guest RAM: anonymous shared mappings registered as KVM memory slots. */
export class GuestMemory extends Context.Tag("bhyve-ts/GuestMemory")<GuestMemory, GuestRam>() {}

const mapRegion = (region: RamRegion) =>
  Effect.gen(function*() {
    const { native } = yield* KvmSystem
    const vm = yield* Vm
    const buffer = yield* Effect.acquireRelease(
      Effect.suspend(() => {
        const mapped = native.mapAnonymous(region.size)
        return typeof mapped === "number"
          ? Effect.fail(new KvmError({ operation: "mmap of guest RAM", errno: -mapped, detail: `${region.size} bytes` }))
          : Effect.succeed(mapped)
      }),
      (b) => Effect.sync(() => native.unmap(b))
    )
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

export const make = (bytes: number): Effect.Effect<GuestRam, KvmError, KvmSystem | Vm | Scope.Scope> =>
  Effect.map(Effect.forEach(ramRegions(bytes), mapRegion), (regions) => ({ size: bytes, regions }))

export const layer = (bytes: number): Layer.Layer<GuestMemory, KvmError, KvmSystem | Vm> =>
  Layer.scoped(GuestMemory, make(bytes))
