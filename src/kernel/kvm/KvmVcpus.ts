import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { KvmError } from "./KvmError.js"
import { KvmSystem } from "./KvmSystem.js"
import { createVcpu, type Vcpu } from "./Vcpu.js"
import { Vm } from "./Vm.js"

/** The machine's vCPUs, index = APIC ID. */
export class Vcpus extends Context.Tag("bhyve-ts/Vcpus")<Vcpus, ReadonlyArray<Vcpu>>() {}

export const layer = (count: number): Layer.Layer<Vcpus, KvmError, KvmSystem | Vm> =>
  Layer.scoped(
    Vcpus,
    Effect.gen(function*() {
      const kvm = yield* KvmSystem
      const vm = yield* Vm
      return yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), (id) => createVcpu(kvm, vm, id, count))
    })
  )
