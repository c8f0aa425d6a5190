import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Bus from "../../bus/Bus.js"
import type { BadRange, BusConflict } from "../../bus/BusErrors.js"
import { announce, type DeviceServers } from "../DeviceServer.js"
import { InterruptController } from "../InterruptController.js"
import * as RtcBusAdapter from "./RtcBusAdapter.js"
import { RtcDevice, type WallClock } from "./RtcDevice.js"
import { RTC_STATE_VERSION, RtcState } from "./RtcState.js"

export const RTC_BASE = 0x70
export const RTC_IRQ = 8

export interface RtcServerOptions {
  /** Guest RAM below and above 4 GiB, in bytes (for the CMOS memory-size cells). */
  readonly lowmem: number
  readonly highmem: number
  /** Host wall clock, ms since the epoch; Date.now by default. */
  readonly clock?: WallClock
}

/**
 * The RTC/CMOS on ports 0x70-0x71. IRQ 8 is an ISA edge interrupt: it is
 * pulsed when register C's IRQF rises, as bhyve's vrtc does; the guest
 * acknowledges by reading C.
 */
export const layer = (
  options: RtcServerOptions
): Layer.Layer<never, BusConflict | BadRange, Bus.Bus | DeviceServers | InterruptController> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const line = (yield* InterruptController).line(RTC_IRQ)
      const clock = options.clock ?? Date.now
      const device = RtcDevice.create({ clock, lowmem: options.lowmem, highmem: options.highmem })
      let irqf = false
      const sync = () => {
        const now = device.interruptPending()
        if (now && !irqf) {
          line.set(true)
          line.set(false)
        }
        irqf = now
      }
      yield* Bus.registerPio("rtc", RTC_BASE, RtcBusAdapter.PORT_COUNT, RtcBusAdapter.make(device, sync))
      yield* announce({
        id: "rtc",
        kind: "mc146818",
        stateVersion: RTC_STATE_VERSION,
        stateSchema: RtcState,
        save: () => device.save(),
        restore: (state) => {
          device.restore(state)
          // A flag pending in the snapshot was already signalled before it was taken.
          irqf = device.interruptPending()
        }
      })
    })
  )
