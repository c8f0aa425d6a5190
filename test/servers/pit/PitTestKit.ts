import * as Layer from "effect/Layer"
import * as Bus from "../../../src/bus/Bus.js"
import * as DeviceClock from "../../../src/servers/DeviceClock.js"
import { layerDeviceServers } from "../../../src/servers/DeviceServer.js"
import { InterruptController, makeRecordingController } from "../../../src/servers/InterruptController.js"
import type { PitDevice } from "../../../src/servers/pit/PitDevice.js"
import * as PitServer from "../../../src/servers/pit/PitServer.js"

export const CONTROL_PORT = 0x43
export const PORT_B = 0x61

/** Control word: channel, LSB-then-MSB access, mode, binary. */
export const controlWord = (channel: number, mode: number) => (channel << 6) | 0x30 | (mode << 1)

/** The 10 ms count Linux programs for HZ=100 (PIT_LATCH). */
export const LATCH_100HZ = 11932

/** Programs a channel on a device directly, as a guest's three outb would. */
export const program = (pit: PitDevice, channel: number, mode: number, count: number, nowNs: number) => {
  pit.write(3, controlWord(channel, mode), nowNs)
  pit.write(channel, count & 0xff, nowNs)
  pit.write(channel, (count >> 8) & 0xff, nowNs)
}

/** Programs a channel through the bus. */
export const programBus = (bus: Bus.BusRouter, channel: number, mode: number, count: number) => {
  bus.pioWrite(CONTROL_PORT, 1, controlWord(channel, mode))
  bus.pioWrite(0x40 + channel, 1, count & 0xff)
  bus.pioWrite(0x40 + channel, 1, (count >> 8) & 0xff)
}

/**
 * A machine with just the PIT: a bus, the device server list, recording
 * interrupt lines that also note when IRQ 0 rose, and the given clock
 * (a manual one by default).
 */
export const machine = <C extends DeviceClock.DeviceClockService>(clock: C) => {
  const controller = makeRecordingController()
  const edges: Array<number> = []
  const lines = Layer.succeed(InterruptController, {
    line: (n: number) => {
      const recording = controller.line(n)
      return {
        line: n,
        set: (level: boolean) => {
          recording.set(level)
          if (n === PitServer.PIT_IRQ && level) edges.push(clock.nowNs())
        }
      }
    }
  })
  const layer = PitServer.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(Bus.layer({ report: () => {} }), layerDeviceServers, lines, DeviceClock.layer(clock)))
  )
  return { clock, controller, edges, layer }
}
