import * as Layer from "effect/Layer"
import * as GuestMemory from "./GuestMemory.js"
import * as KvmSystem from "./KvmSystem.js"
import * as Vcpus from "./Vcpus.js"
import * as Vm from "./Vm.js"

export interface KernelOptions {
  readonly cpus: number
  readonly memoryBytes: number
  readonly kvmPath?: string
  /** Guest RAM mapped from a snapshot's RAM file (lazy restore) instead of fresh memory. */
  readonly ramBacking?: GuestMemory.RamBacking
}

/**
 * /dev/kvm, one VM with its irqchip and PIT, guest RAM and vCPUs, each a
 * scoped resource: closing the scope stops using and releases them in
 * reverse order (vCPUs, RAM slots and mappings, VM fd, /dev/kvm).
 */
export const layer = (options: KernelOptions) => {
  const system = KvmSystem.layer(options.kvmPath)
  const vm = Vm.layer.pipe(Layer.provideMerge(system))
  return Layer.mergeAll(GuestMemory.layer(options.memoryBytes, options.ramBacking), Vcpus.layer(options.cpus)).pipe(Layer.provideMerge(vm))
}
