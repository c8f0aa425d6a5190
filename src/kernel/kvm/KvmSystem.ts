import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { IoctlFd } from "./Ioctl.js"
import { CAP, KVM_API_VERSION } from "./KvmIoctls.js"
import { KvmError, KvmUnavailable, type NativeAddonMissing } from "../KvmError.js"
import { loadNativeKvm, type NativeKvm } from "../NativeKvm.js"

export interface KvmSystemInfo {
  readonly native: NativeKvm
  readonly device: IoctlFd
  readonly vcpuMmapSize: number
  /** struct kvm_cpuid2 as KVM_GET_SUPPORTED_CPUID filled it. */
  readonly supportedCpuid: Uint8Array
  /** Every MSR KVM can save and restore (KVM_GET_MSR_INDEX_LIST). */
  readonly msrIndices: ReadonlyArray<number>
  readonly xsaveSize: number
  readonly checkExtension: (cap: number) => Effect.Effect<number, KvmError>
}

/** An open /dev/kvm. */
export class KvmSystem extends Context.Tag("bhyve-ts/KvmSystem")<KvmSystem, KvmSystemInfo>() {}

export const DEFAULT_KVM_PATH = "/dev/kvm"

/** Calls a sizing ioctl with a growing buffer until the kernel stops saying E2BIG. */
const growing = (
  device: IoctlFd,
  name: "GET_SUPPORTED_CPUID" | "GET_MSR_INDEX_LIST",
  headerBytes: number,
  entryBytes: number
) =>
  Effect.gen(function*() {
    for (let count = 64; count <= 4096; count *= 2) {
      const bytes = new Uint8Array(headerBytes + count * entryBytes)
      new DataView(bytes.buffer).setUint32(0, count, true)
      const result = yield* Effect.either(device.buffer(name, bytes))
      if (result._tag === "Right") return bytes
      if (result.left.errno !== 7 /* E2BIG */) return yield* result.left
    }
    return yield* new KvmError({ operation: `KVM_${name}`, errno: 7, detail: "more than 4096 entries" })
  })

const open = (path: string): Effect.Effect<KvmSystemInfo, KvmError | KvmUnavailable | NativeAddonMissing, Scope.Scope> =>
  Effect.gen(function*() {
    const native = yield* loadNativeKvm
    const device = yield* Effect.acquireRelease(
      Effect.suspend(() => {
        const fd = native.open(path)
        return fd < 0 ? Effect.fail(new KvmUnavailable({ path, errno: -fd })) : Effect.succeed(new IoctlFd(native, fd, path))
      }),
      (d) => d.close()
    )
    const version = yield* device.value("GET_API_VERSION", 0)
    if (version !== KVM_API_VERSION) {
      return yield* new KvmError({ operation: "KVM_GET_API_VERSION", errno: 0, detail: `API version ${version}, need ${KVM_API_VERSION}` })
    }
    const vcpuMmapSize = yield* device.value("GET_VCPU_MMAP_SIZE", 0)
    const supportedCpuid = yield* growing(device, "GET_SUPPORTED_CPUID", 8, 40)
    const msrList = yield* growing(device, "GET_MSR_INDEX_LIST", 4, 4)
    const msrView = new DataView(msrList.buffer)
    const msrIndices = Array.from({ length: msrView.getUint32(0, true) }, (_, i) => msrView.getUint32(4 + i * 4, true))
    const checkExtension = (cap: number) => device.value("CHECK_EXTENSION", cap)
    const xsave2 = yield* checkExtension(CAP.XSAVE2)
    for (const [name, cap] of [["IRQCHIP", CAP.IRQCHIP], ["PIT2", CAP.PIT2], ["IMMEDIATE_EXIT", CAP.IMMEDIATE_EXIT]] as const) {
      if ((yield* checkExtension(cap)) <= 0) {
        return yield* new KvmError({ operation: "KVM_CHECK_EXTENSION", errno: 95, detail: `KVM_CAP_${name} is required` })
      }
    }
    return {
      native,
      device,
      vcpuMmapSize,
      supportedCpuid,
      msrIndices,
      xsaveSize: Math.max(xsave2, 4096),
      checkExtension
    }
  })

export const layer = (path: string = DEFAULT_KVM_PATH) => Layer.scoped(KvmSystem, open(path))
