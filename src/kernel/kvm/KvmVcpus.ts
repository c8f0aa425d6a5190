import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { KvmError } from "../KvmError.js"
import { KvmSystem } from "./KvmSystem.js"
import { createVcpu, type KvmVcpu } from "./KvmVcpu.js"
import { Vm } from "./Vm.js"

/** The machine's vCPUs, index = APIC ID. */
export class KvmVcpus extends Context.Tag("bhyve-ts/KvmVcpus")<KvmVcpus, ReadonlyArray<KvmVcpu>>() {}

export const layer = (count: number): Layer.Layer<KvmVcpus, KvmError, KvmSystem | Vm> =>
  Layer.scoped(
    KvmVcpus,
    Effect.gen(function*() {
      const kvm = yield* KvmSystem
      const vm = yield* Vm
      return yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), (id) => createVcpu(kvm, vm, id, count))
    })
  )
