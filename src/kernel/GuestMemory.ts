import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { STRUCT_SIZE } from "./KvmIoctls.js"
import { KvmError } from "./KvmError.js"
import { KvmSystem } from "./KvmSystem.js"
import { type GuestRam, ramRegions, type RamRegion } from "./MemoryLayout.js"
import { Vm } from "./Vm.js"

/** Guest RAM: private mappings (anonymous, or of a snapshot's RAM file) registered as KVM memory slots. */
export class GuestMemory extends Context.Tag("bhyve-ts/GuestMemory")<GuestMemory, GuestRam>() {}

/**
 * Guest RAM taken from a file instead of fresh anonymous memory: each
 * region is a private (copy-on-write) mapping of the file at the region's
 * offset, so pages are read only when the guest or a device touches them.
 */
export interface RamBacking {
  readonly fd: number
  /** For messages. */
  readonly path: string
  /** Where the region at this guest-physical address starts in the file (page aligned). */
  readonly offsetOf: (gpa: number) => number | undefined
}

const mapRegion = (region: RamRegion, backing: RamBacking | undefined) =>
  Effect.gen(function*() {
    const { native } = yield* KvmSystem
    const vm = yield* Vm
    const buffer = yield* Effect.acquireRelease(
      Effect.suspend(() => {
        const offset = backing?.offsetOf(region.gpa)
        if (backing !== undefined && offset === undefined) {
          return Effect.fail(new KvmError({ operation: "mmap of guest RAM", errno: 22, detail: `${backing.path} has no region at 0x${region.gpa.toString(16)}` }))
        }
        const mapped = backing === undefined || offset === undefined
          ? native.mapAnonymous(region.size)
          : native.mapFilePrivate(backing.fd, region.size, offset)
        const what = backing === undefined ? `${region.size} bytes` : `${region.size} bytes of ${backing.path} at ${offset}`
        return typeof mapped === "number"
          ? Effect.fail(new KvmError({ operation: "mmap of guest RAM", errno: -mapped, detail: what }))
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

export const make = (bytes: number, backing?: RamBacking): Effect.Effect<GuestRam, KvmError, KvmSystem | Vm | Scope.Scope> =>
  Effect.map(Effect.forEach(ramRegions(bytes), (r) => mapRegion(r, backing)), (regions) => ({ size: bytes, regions }))

export const layer = (bytes: number, backing?: RamBacking): Layer.Layer<GuestMemory, KvmError, KvmSystem | Vm> =>
  Layer.scoped(GuestMemory, make(bytes, backing))
