import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CpuBackend, type CpuBackendService, type CpuStatePart } from "../Cpu.js"
import type { RamBacking } from "../GuestMemory.js"
import { KvmError } from "../KvmError.js"
import * as WriteTrackingUffd from "../WriteTrackingUffd.js"
import * as KvmApThreads from "./KvmApThreads.js"
import * as KvmGuestMemory from "./KvmGuestMemory.js"
import * as KvmInterruptController from "./KvmInterruptController.js"
import * as KvmMsiRoutes from "./KvmMsiRoutes.js"
import { KvmSystem } from "./KvmSystem.js"
import * as KvmSystemLayer from "./KvmSystem.js"
import { KvmVcpus } from "./KvmVcpus.js"
import * as KvmVcpusLayer from "./KvmVcpus.js"
import { collectVcpu, restoreVcpu, VCPU_STATE_VERSION, VcpuState } from "./KvmVcpuState.js"
import { collectVm, restoreVm, VM_STATE_VERSION, VmState } from "./KvmVmState.js"
import { watchEventLoop } from "./EventLoopWatch.js"
import { Vm } from "./Vm.js"
import * as VmLayer from "./Vm.js"

export interface KvmBackendOptions {
  readonly cpus: number
  readonly memoryBytes: number
  readonly kvmPath?: string
  /** Guest RAM mapped from a snapshot's RAM file (lazy restore) instead of fresh memory. */
  readonly ramBacking?: RamBacking
}

/** The VM-wide irqchip/PIT/clock state, then each vCPU's, as KVM keeps them (chunks "vm", "vcpu/<i>"). */
const stateParts = (): Effect.Effect<ReadonlyArray<CpuStatePart>, never, Vm | KvmVcpus> =>
  Effect.gen(function*() {
    const vm = yield* Vm
    const vcpus = yield* KvmVcpus
    const vmPart: CpuStatePart<VmState, typeof VmState.Encoded> = {
      id: "vm",
      kind: "vm",
      schemaId: "x86-kvm-vm",
      version: VM_STATE_VERSION,
      schema: VmState,
      save: () => collectVm(vm),
      restore: (state) => restoreVm(vm, state)
    }
    const vcpuParts = vcpus.map((vcpu): CpuStatePart<VcpuState, typeof VcpuState.Encoded> => ({
      id: `vcpu/${vcpu.id}`,
      kind: "vcpu",
      schemaId: "x86-vcpu",
      version: VCPU_STATE_VERSION,
      schema: VcpuState,
      save: () => collectVcpu(vcpu),
      restore: (state) => restoreVcpu(vcpu, state)
    }))
    return [vmPart, ...vcpuParts] as ReadonlyArray<CpuStatePart>
  })

const backend = Layer.effect(
  CpuBackend,
  Effect.gen(function*() {
    const kvm = yield* KvmSystem
    const vcpus = yield* KvmVcpus
    const [bsp] = vcpus
    if (vcpus.length > 1 && !KvmApThreads.hasApThreads(kvm.native)) {
      return yield* new KvmError({ operation: "starting AP threads", errno: 38, detail: "the native addon has no AP threads; rebuild it (npm install)" })
    }
    return {
      name: "kvm",
      description: "KVM (/dev/kvm)",
      vcpus,
      irqchip: "in-kernel",
      apThreads: KvmApThreads.make(kvm.native, bsp, vcpus),
      watchEventLoop: watchEventLoop(kvm.native, bsp),
      stateParts: yield* stateParts()
    } satisfies CpuBackendService
  })
)

/**
 * /dev/kvm, one VM with its irqchip and PIT, guest RAM and vCPUs, each a
 * scoped resource: closing the scope stops using and releases them in
 * reverse order (vCPUs, RAM slots and mappings, VM fd, /dev/kvm). Provides
 * the CPU backend, guest memory, and the in-kernel irqchip's interrupt
 * lines and MSI routes.
 */
export const layer = (options: KvmBackendOptions) => {
  const system = KvmSystemLayer.layer(options.kvmPath)
  const vm = VmLayer.layer.pipe(Layer.provideMerge(system))
  const kernel = Layer.mergeAll(KvmGuestMemory.layer(options.memoryBytes, options.ramBacking), KvmVcpusLayer.layer(options.cpus)).pipe(
    Layer.provideMerge(vm)
  )
  // Write tracking of guest RAM (background checkpoints): userfaultfd, as on the software CPU.
  const tracking = WriteTrackingUffd.layer({ privateFileRam: options.ramBacking !== undefined })
  return Layer.mergeAll(backend, KvmInterruptController.layer(), KvmMsiRoutes.layer(), tracking).pipe(Layer.provideMerge(kernel))
}

/** The KVM services a test of the KVM layer itself may look at. */
export const kvmParts = (context: Context.Context<Vm | KvmVcpus>) => ({ vm: Context.get(context, Vm), vcpus: Context.get(context, KvmVcpus) })
