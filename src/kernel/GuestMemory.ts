import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { KvmError, type NativeAddonMissing } from "./KvmError.js"
import { type GuestRam, type RamRegion } from "./MemoryLayout.js"
import { loadNativeKvm } from "./NativeKvm.js"

/** Guest RAM: private host mappings (anonymous, or of a snapshot's RAM file) that the CPU backend executes on. */
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

/**
 * The host memory behind one RAM region, unmapped when the scope closes.
 * Both backends use it: KVM registers it as a memory slot, the software
 * CPU maps it into its engines (uc_mem_map_ptr), so fresh RAM and a lazily
 * restored RAM file serve either one the same way.
 */
export const mapRamRegion = (
  region: RamRegion,
  backing: RamBacking | undefined
): Effect.Effect<ArrayBuffer, KvmError | NativeAddonMissing, Scope.Scope> =>
  Effect.flatMap(loadNativeKvm, (native) =>
    Effect.acquireRelease(
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
    ))
