import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

/**
 * Which vCPU made the access being handled. Exits are handled on the
 * vCPU's own thread while it waits, so the answer is exact for the
 * duration of a handler. Only per-CPU devices need it: the local APIC,
 * whose one MMIO page at 0xFEE00000 is a different device for each vCPU.
 */
export interface CurrentVcpuService {
  readonly current: () => number
  readonly count: number
}

export class CurrentVcpu extends Context.Tag("bhyve-ts/CurrentVcpu")<CurrentVcpu, CurrentVcpuService>() {}

/** For tests: a vCPU index the test sets. */
export const makeSettableVcpu = (count: number) => {
  const state = { index: 0 }
  return { count, current: () => state.index, set: (i: number) => void (state.index = i) }
}

export const layer = (service: CurrentVcpuService): Layer.Layer<CurrentVcpu> => Layer.succeed(CurrentVcpu, service)
