import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Bus from "../../bus/Bus.js"
import type { BadRange, BusConflict } from "../../bus/BusErrors.js"
import { announce, type DeviceServers } from "../DeviceServer.js"
import { InterruptController } from "../InterruptController.js"
import type { SerialBackendHandle } from "../serial-backend/SerialBackend.js"
import * as UartBusAdapter from "./UartBusAdapter.js"
import { UartDevice } from "./UartDevice.js"
import { UartInputQueue } from "./UartInputQueue.js"
import { REGISTER_COUNT } from "./UartRegisters.js"
import { UART_STATE_VERSION, UartState } from "./UartState.js"

/** The PC's standard COM ports. */
export const PORTS = {
  com1: { base: 0x3f8, irq: 4 },
  com2: { base: 0x2f8, irq: 3 }
} as const

export interface UartOptions {
  readonly id: keyof typeof PORTS
  readonly backend: SerialBackendHandle
  /** Host input held while the guest's FIFO is full; beyond it, input is dropped. */
  readonly inputLimit?: number
}

/**
 * A COM port: the 16550A on its eight ports, its interrupt line driven at
 * the device's level after every access and every input, output to the
 * backend as the guest writes it, input from the backend through a holding
 * queue so that a full FIFO does not lose bytes.
 */
export const layer = (
  options: UartOptions
): Layer.Layer<never, BusConflict | BadRange, Bus.Bus | DeviceServers | InterruptController> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const { base, irq } = PORTS[options.id]
      const line = (yield* InterruptController).line(irq)
      const device = new UartDevice()
      const pending = new UartInputQueue(options.inputLimit)
      const backend = options.backend

      // Only level changes reach the line: each one is an ioctl in the real machine.
      let level = false
      const drive = (want: boolean) => {
        if (want !== level) {
          level = want
          line.set(want)
        }
      }
      const sync = () => {
        pending.deliverTo(device)
        drive(device.interruptPending())
      }
      const transmit = (byte: number) => backend.write(Uint8Array.of(byte))

      yield* Effect.acquireRelease(Effect.sync(() => line.set(false)), () => Effect.sync(() => drive(false)))
      yield* Bus.registerPio(options.id, base, REGISTER_COUNT, UartBusAdapter.make(device, transmit, sync))
      yield* Effect.acquireRelease(
        Effect.sync(() =>
          backend.onInput((bytes) => {
            pending.push(bytes)
            sync()
          })
        ),
        (unsubscribe) => Effect.sync(unsubscribe)
      )
      yield* announce({
        id: options.id,
        kind: "uart16550",
        config: { base, irq, backend: backend.kind },
        stateVersion: UART_STATE_VERSION,
        stateSchema: UartState,
        save: () => device.save(),
        restore: (state) => {
          device.restore(state)
          sync()
        }
      })
    })
  )
