import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { DeviceLayer } from "../../src/machine/Machine.js"
import { announce, type DeviceServer } from "../../src/servers/DeviceServer.js"

/**
 * A device server that claims no I/O and exists only to misbehave during a
 * save, one way at a time, so a test can check that the save protocol
 * survives each way a device can fail it:
 *
 * - `quiesce-fails`: quiesce fails with a reason (a typed failure)
 * - `quiesce-dies`: quiesce dies (a defect: a bug in the device)
 * - `quiesce-hangs`: quiesce never answers (only a deadline ends it)
 * - `save-throws`: `save()` throws while the state is collected
 * - `resume-dies`: `resumeWork` dies after the save (a bug on the way out)
 * - `unsupported`: the device declares that its state cannot be saved
 *
 * `fault` can be changed while the machine runs; `calls` counts what the
 * save protocol asked of the device.
 */
export type DeviceFault = "none" | "quiesce-fails" | "quiesce-dies" | "quiesce-hangs" | "save-throws" | "resume-dies" | "unsupported"

export const FaultyState = Schema.Struct({ saves: Schema.Int })
export type FaultyState = typeof FaultyState.Type

export interface FaultyDeviceCalls {
  quiesce: number
  save: number
  restore: number
  resumeWork: number
}

export interface FaultyDevice {
  readonly id: string
  /** What the device does wrong on the next save. */
  fault: DeviceFault
  readonly calls: FaultyDeviceCalls
  /** Announces the server for the life of the machine. */
  readonly layer: DeviceLayer
}

export const make = (id = "faulty", fault: DeviceFault = "none"): FaultyDevice => {
  const calls: FaultyDeviceCalls = { quiesce: 0, save: 0, restore: 0, resumeWork: 0 }
  let saves = 0
  const self: FaultyDevice = {
    id,
    fault,
    calls,
    layer: Layer.scopedDiscard(Effect.suspend(() => announce(server)))
  }
  const server: DeviceServer<FaultyState, FaultyState> = {
    id,
    kind: "faulty-test-device",
    stateVersion: 1,
    stateSchema: FaultyState,
    config: { purpose: "fault injection" },
    save: () => {
      calls.save++
      if (self.fault === "save-throws") throw new Error(`${id}: save() threw on purpose`)
      return { saves: ++saves }
    },
    restore: (state) => {
      calls.restore++
      saves = state.saves
    },
    quiesce: Effect.suspend(() => {
      calls.quiesce++
      switch (self.fault) {
        case "quiesce-fails":
          return Effect.fail(`${id}: quiesce failed on purpose`)
        case "quiesce-dies":
          return Effect.die(new Error(`${id}: quiesce died on purpose`))
        case "quiesce-hangs":
          return Effect.never
        default:
          return Effect.void
      }
    }),
    resumeWork: Effect.suspend(() => {
      calls.resumeWork++
      return self.fault === "resume-dies" ? Effect.die(new Error(`${id}: resumeWork died on purpose`)) : Effect.void
    }),
    get unsupported() {
      return self.fault === "unsupported" ? "its state lives in a host resource that cannot be captured" : undefined
    }
  }
  return self
}
