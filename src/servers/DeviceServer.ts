import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Schema from "effect/Schema"

/**
 * What every device server tells the rest of the machine about itself:
 * who it is, and how its state is saved and restored. The snapshot code
 * knows only this interface, never a device's internals.
 */
export interface DeviceServer<State = unknown, Encoded = unknown> {
  /** Unique within a machine, e.g. "com1", "rtc", "pm". */
  readonly id: string
  /** The device model, e.g. "uart16550". Names the state schema's family. */
  readonly kind: string
  /** Version of `stateSchema`; bumped with a migration whenever the state gains a field. */
  readonly stateVersion: number
  readonly stateSchema: Schema.Schema<State, Encoded>
  /** Current state as a plain value (no live resources). */
  readonly save: () => State
  /** Replaces the device's state; the guest has not run since the save. */
  readonly restore: (state: State) => void
  /** How the device was configured (port, backend binding...), recorded in a snapshot's manifest. */
  readonly config?: { readonly [key: string]: string | number | boolean | null }
  /**
   * Before a save: stop starting new work and finish (or record in the
   * state) the work in flight. Devices whose I/O is synchronous need none.
   */
  readonly quiesce?: Effect.Effect<void, string>
  /** After a checkpoint (or a failed save): take up work again. */
  readonly resumeWork?: Effect.Effect<void>
  /**
   * At a restore: why this device's host side (a disk image, say) is not the
   * one the snapshot recorded in `config`, or undefined when it is.
   */
  readonly restoreConflict?: (recorded: { readonly [key: string]: unknown }) => string | undefined
  /** Set when this device's state cannot be saved: why. A save then fails naming the device. */
  readonly unsupported?: string
}

/** The servers of one machine, in the order their layers were built. */
export class DeviceServers extends Context.Tag("bhyve-ts/DeviceServers")<DeviceServers, Array<DeviceServer>>() {}

export const layerDeviceServers: Layer.Layer<DeviceServers> = Layer.sync(DeviceServers, () => [])

/** Adds a server to the machine's list for the life of the current scope. */
export const announce = <S, E>(server: DeviceServer<S, E>) =>
  Effect.flatMap(DeviceServers, (servers) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        servers.push(server as unknown as DeviceServer)
      }),
      () =>
        Effect.sync(() => {
          const i = servers.indexOf(server as unknown as DeviceServer)
          if (i >= 0) servers.splice(i, 1)
        })
    )
  )
