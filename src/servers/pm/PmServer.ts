import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Bus from "../../bus/Bus.js"
import type { BadRange, BusConflict } from "../../bus/BusErrors.js"
import { DeviceClock } from "../DeviceClock.js"
import { announce, type DeviceServers } from "../DeviceServer.js"
import { InterruptController } from "../InterruptController.js"
import { MachineEvents } from "../MachineEvents.js"
import * as PmBusAdapter from "./PmBusAdapter.js"
import { PmDevice } from "./PmDevice.js"
import { PM_STATE_VERSION, PmState } from "./PmState.js"
import { PowerButton } from "./PowerButton.js"

/** bhyve's fixed-hardware addresses, which its FADT advertises. */
export const PM1A_EVT_BASE = 0x400
export const PM1A_CNT_BASE = 0x404
export const PM_TMR_BASE = 0x408
/** The SCI, as bhyve's FADT SCI_INT. */
export const SCI_IRQ = 9

/**
 * ACPI PM1a event/control and the PM timer. A guest power-off (S5) becomes a
 * "poweroff" request to the machine; the SCI line is held while an enabled
 * status bit is set. Provides the machine's PowerButton. The PM timer counts
 * the DeviceClock (the machine clock), as the software CPU's TSC does: a
 * guest comparing the two (Linux's clocksource watchdog) finds them in step,
 * across a pause and a restore too.
 */
export const layer = (): Layer.Layer<PowerButton, BusConflict | BadRange, Bus.Bus | DeviceServers | InterruptController | MachineEvents | DeviceClock> =>
  Layer.scoped(
    PowerButton,
    Effect.gen(function* () {
      const events = yield* MachineEvents
      const sci = (yield* InterruptController).line(SCI_IRQ)
      const clock = yield* DeviceClock
      const device = new PmDevice(() => clock.nowNs() / 1e6)
      let level = false
      const sync = () => {
        const want = device.sciPending()
        if (want !== level) {
          level = want
          sci.set(want)
        }
      }
      yield* Effect.acquireRelease(Effect.sync(() => sci.set(false)), () => Effect.sync(() => (level ? sci.set(false) : undefined)))
      yield* Bus.registerPio("pm", PM1A_EVT_BASE, PmBusAdapter.EVT_LENGTH, PmBusAdapter.event(device, sync))
      yield* Bus.registerPio(
        "pm",
        PM1A_CNT_BASE,
        PmBusAdapter.CNT_LENGTH,
        PmBusAdapter.control(device, (action) => {
          if (action !== undefined) events.request(action, "pm")
        })
      )
      yield* Bus.registerPio("pm", PM_TMR_BASE, PmBusAdapter.TMR_LENGTH, PmBusAdapter.timer(device))
      yield* announce({
        id: "pm",
        kind: "acpi-pm",
        stateVersion: PM_STATE_VERSION,
        stateSchema: PmState,
        save: () => device.save(),
        restore: (state) => {
          device.restore(state)
          sync()
        }
      })
      return {
        press: () => {
          device.pressPowerButton()
          sync()
        }
      }
    })
  )
