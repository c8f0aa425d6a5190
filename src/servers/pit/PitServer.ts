import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Bus from "../../bus/Bus.js"
import type { BadRange, BusConflict } from "../../bus/BusErrors.js"
import { type CancelTimer, DeviceClock } from "../DeviceClock.js"
import { announce, type DeviceServers } from "../DeviceServer.js"
import { InterruptController } from "../InterruptController.js"
import * as PitBusAdapter from "./PitBusAdapter.js"
import { PitDevice } from "./PitDevice.js"
import { PIT_STATE_VERSION, PitState } from "./PitState.js"

export const PIT_BASE = 0x40
export const PORT_B = 0x61
export const PIT_IRQ = 0

/**
 * At most one IRQ 0 edge per 200 µs, as KVM's in-kernel PIT bounds its
 * period (min_timer_period_us): a guest that programs a tiny count cannot
 * make the runner stop for a timer every few instructions.
 */
export const MIN_EDGE_INTERVAL_NS = 200_000

/**
 * The 8254 on ports 0x40-0x43 and port 0x61, with channel 0's OUT on ISA
 * IRQ 0. Nothing ticks: the device computes counts from the DeviceClock, and
 * one timer stands at the next rising edge of OUT 0. Each edge is a pulse
 * (the line up and straight down), which the edge-triggered IRQ 0 input
 * latches; QEMU drives the line at OUT's level instead, which needs two
 * timers per period and loses the edge when a callback comes late.
 * A late callback delivers one edge and re-arms on the period grid after
 * now: missed ticks are lost, as on real hardware, never bunched.
 */
export const layer: Layer.Layer<never, BusConflict | BadRange, Bus.Bus | DeviceServers | InterruptController | DeviceClock> =
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const line = (yield* InterruptController).line(PIT_IRQ)
      const clock = yield* DeviceClock
      const now = () => clock.nowNs()
      const device = new PitDevice(now())

      let cancel: CancelTimer | undefined
      let dueAt = Infinity
      let lastEdgeNs = -Infinity
      const edge = () => {
        line.set(true)
        line.set(false)
        lastEdgeNs = now()
      }
      const disarm = () => {
        cancel?.()
        cancel = undefined
        dueAt = Infinity
      }
      const arm = () => {
        disarm()
        const next = device.nextRise(0, now())
        if (next === undefined) return
        dueAt = Math.max(next, lastEdgeNs + MIN_EDGE_INTERVAL_NS)
        cancel = clock.schedule(dueAt, fire)
      }
      // The device has not changed since `arm` (every write re-arms), so the edge it scheduled is due.
      const fire = () => {
        cancel = undefined
        dueAt = Infinity
        edge()
        arm()
      }
      /**
       * A guest write: the edge that fell due before it is delivered first
       * (the runner may not have reached a boundary yet), then a write that
       * raises OUT 0 at once (a control word whose mode starts OUT high)
       * gives its edge, as the real chip's would, and the timer follows the
       * new programming.
       */
      const runWrite: PitBusAdapter.RunWrite = (apply) => {
        const at = now()
        if (dueAt <= at) {
          disarm()
          edge()
        }
        const before = device.out(0, at)
        apply(at)
        if (!before && device.out(0, at)) edge()
        arm()
      }

      yield* Effect.acquireRelease(
        Effect.sync(() => {
          line.set(false)
          arm()
        }),
        () => Effect.sync(disarm)
      )
      yield* Bus.registerPio("pit", PIT_BASE, PitBusAdapter.PORT_COUNT, PitBusAdapter.counters(device, now, runWrite))
      yield* Bus.registerPio("pit", PORT_B, 1, PitBusAdapter.portB(device, now, runWrite))
      yield* announce({
        id: "pit",
        kind: "i8254",
        config: { base: PIT_BASE, portB: PORT_B, irq: PIT_IRQ },
        stateVersion: PIT_STATE_VERSION,
        stateSchema: PitState,
        save: () => device.save(now()),
        restore: (state) => {
          disarm()
          device.restore(state, now())
          // Edges before the save were delivered then; the rate bound starts afresh on this clock.
          lastEdgeNs = -Infinity
          arm()
        }
      })
    })
  )
