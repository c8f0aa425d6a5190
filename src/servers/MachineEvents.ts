import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

/** Why the guest asked to stop; maps onto bhyve(8)'s exit status. */
export type StopRequest = "poweroff" | "reset" | "halt"

/**
 * How a device tells the machine that the guest asked to power off or
 * reset. Devices call `request` from their exit handlers (synchronously);
 * the vCPU loop stops after the current exit has been answered.
 */
export interface MachineEventSink {
  readonly request: (reason: StopRequest, source: string) => void
  /** First request made, if any. */
  readonly pending: () => { readonly reason: StopRequest; readonly source: string } | undefined
  readonly clear: () => void
}

export class MachineEvents extends Context.Tag("bhyve-ts/MachineEvents")<MachineEvents, MachineEventSink>() {}

export const makeMachineEvents = (): MachineEventSink => {
  let first: { reason: StopRequest; source: string } | undefined
  return {
    request: (reason, source) => {
      first ??= { reason, source }
    },
    pending: () => first,
    clear: () => {
      first = undefined
    }
  }
}

export const layerMachineEvents: Layer.Layer<MachineEvents> = Layer.sync(MachineEvents, makeMachineEvents)
