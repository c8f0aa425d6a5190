import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Bus from "../../src/bus/Bus.js"
import type { AccessSize } from "../../src/bus/DeviceHandlers.js"
import * as DeviceClock from "../../src/servers/DeviceClock.js"
import { makeTimerQueue } from "../../src/servers/DeviceClock.js"
import { DeviceServers, layerDeviceServers } from "../../src/servers/DeviceServer.js"
import { layerRecording, makeRecordingController } from "../../src/servers/InterruptController.js"
import { layerMachineEvents, MachineEvents } from "../../src/servers/MachineEvents.js"
import * as PmBusAdapter from "../../src/servers/pm/PmBusAdapter.js"
import { PmDevice } from "../../src/servers/pm/PmDevice.js"
import * as PmServer from "../../src/servers/pm/PmServer.js"
import { PmState } from "../../src/servers/pm/PmState.js"
import { PowerButton } from "../../src/servers/pm/PowerButton.js"

const PM1_STS = 0x400
const PM1_EN = 0x402
const PM1_CNT = 0x404
const PM_TMR = 0x408
const SLP_EN = 0x2000
const slpTyp = (t: number) => t << 10

/** Runs `body` against a machine with only the PM server, a manual clock and recording lines. */
const withPm = <A>(
  body: (env: {
    readonly bus: Bus.BusRouter
    readonly events: MachineEvents["Type"]
    readonly clock: { now: number }
    readonly sci: () => boolean
    readonly button: PowerButton["Type"]
  }) => A
) => {
  const controller = makeRecordingController()
  const clock = { now: 1_000 }
  // The clock in ms, as the PM timer's rate is given; the server reads it through the DeviceClock (ns).
  const deviceClock = makeTimerQueue(() => clock.now * 1e6)
  const layer = PmServer.layer().pipe(
    Layer.provideMerge(
      Layer.mergeAll(Bus.layer({ report: () => {} }), layerDeviceServers, layerRecording(controller), layerMachineEvents, DeviceClock.layer(deviceClock))
    )
  )
  return Effect.gen(function* () {
    const bus = yield* Bus.Bus
    const events = yield* MachineEvents
    const button = yield* PowerButton
    return body({ bus, events, clock, button, sci: () => controller.lines.get(PmServer.SCI_IRQ)?.level ?? false })
  }).pipe(Effect.provide(layer))
}

describe("ACPI PM1 control", () => {
  it.effect("SLP_EN with SLP_TYP 5 asks the machine to power off", () =>
    withPm(({ bus, events }) => {
      bus.pioWrite(PM1_CNT, 2, slpTyp(5) | SLP_EN)
      expect(events.pending()).toEqual({ reason: "poweroff", source: "pm" })
    }))

  it.effect("SLP_TYP 5 without SLP_EN only stores the sleep type", () =>
    withPm(({ bus, events }) => {
      bus.pioWrite(PM1_CNT, 2, slpTyp(5))
      expect(events.pending()).toBeUndefined()
      expect(bus.pioRead(PM1_CNT, 2) & 0x1c00).toBe(slpTyp(5))
    }))

  it.effect("SLP_EN with any other sleep type does nothing", () =>
    withPm(({ bus, events }) => {
      for (const t of [0, 1, 2, 3, 4, 6, 7]) bus.pioWrite(PM1_CNT, 2, slpTyp(t) | SLP_EN)
      expect(events.pending()).toBeUndefined()
    }))

  it.effect("a byte write of the high half can request power-off", () =>
    withPm(({ bus, events }) => {
      bus.pioWrite(PM1_CNT + 1, 1, (slpTyp(5) | SLP_EN) >> 8)
      expect(events.pending()?.reason).toBe("poweroff")
    }))

  it.effect("SCI_EN stays set and SLP_EN reads as 0", () =>
    withPm(({ bus }) => {
      expect(bus.pioRead(PM1_CNT, 2) & 1).toBe(1)
      bus.pioWrite(PM1_CNT, 2, slpTyp(3) | SLP_EN)
      expect(bus.pioRead(PM1_CNT, 2)).toBe(slpTyp(3) | 1)
    }))
})

describe("ACPI PM1 events", () => {
  it("PM1_STS bits are cleared by writing 1, and writing 0 leaves them", () => {
    const pm = new PmDevice(() => 0)
    const handler = PmBusAdapter.event(pm, () => {})
    pm.pressPowerButton()
    handler.write(0, 2, 0x0000)
    expect(handler.read(0, 2)).toBe(0x0100)
    handler.write(0, 2, 0x0100)
    expect(handler.read(0, 2)).toBe(0)
  })

  it("PM1_EN keeps only the defined enable bits", () => {
    const pm = new PmDevice(() => 0)
    const handler = PmBusAdapter.event(pm, () => {})
    handler.write(2, 2, 0xffff)
    expect(handler.read(2, 2)).toBe(0x0721)
    expect(handler.read(0, 4)).toBe(0x0721_0000)
  })

  it("the SCI is pending while an enabled status bit is set", () => {
    const pm = new PmDevice(() => 0)
    pm.pressPowerButton()
    expect(pm.sciPending()).toBe(false)
    pm.writeEnable(0x0100, 0xffff)
    expect(pm.sciPending()).toBe(true)
    pm.writeStatus(0x0100, 0xffff)
    expect(pm.sciPending()).toBe(false)
  })

  it.effect("the power button raises IRQ 9 once enabled, until the guest clears its status", () =>
    withPm(({ bus, sci, button }) => {
      button.press()
      expect(sci()).toBe(false)
      bus.pioWrite(PM1_EN, 2, 0x0100)
      expect(sci()).toBe(true)
      bus.pioWrite(PM1_STS, 2, 0x0100)
      expect(sci()).toBe(false)
    }))
})

describe("ACPI PM timer", () => {
  it.effect("counts at 3.579545 MHz", () =>
    withPm(({ bus, clock }) => {
      const before = bus.pioRead(PM_TMR, 4)
      clock.now += 1
      expect(bus.pioRead(PM_TMR, 4) - before).toBeGreaterThanOrEqual(3579)
      expect(bus.pioRead(PM_TMR, 4) - before).toBeLessThanOrEqual(3580)
    }))

  it("wraps at 24 bits", () => {
    const clock = { now: 0 }
    const pm = new PmDevice(() => clock.now)
    clock.now = 2 ** 24 / 3579.545 + 1
    expect(pm.readTimer()).toBe(Math.floor(clock.now * 3579.545) - 2 ** 24)
    expect(pm.readTimer()).toBeLessThan(2 ** 24)
  })

  it("ignores writes", () => {
    const pm = new PmDevice(() => 5)
    const handler = PmBusAdapter.timer(pm)
    const before = handler.read(0, 4)
    handler.write(0, 4, 0)
    expect(handler.read(0, 4)).toBe(before)
  })

  it("a restored timer continues from the saved count on a different clock", () => {
    const saved = new PmDevice(() => 1234.5).save()
    const json = JSON.parse(JSON.stringify(Schema.encodeSync(PmState)(saved)))
    const clock = { now: 99 }
    const restored = PmDevice.fromState(Schema.decodeUnknownSync(PmState)(json), () => clock.now)
    expect(restored.readTimer()).toBe(saved.timer)
    clock.now += 10
    const elapsed = (restored.readTimer() - saved.timer + 2 ** 24) % 2 ** 24
    expect(elapsed === 35795 || elapsed === 35796).toBe(true)
  })
})

describe("ACPI PM server", () => {
  it.effect("lists itself among the device servers", () => {
    const layer = PmServer.layer().pipe(
      Layer.provideMerge(
        Layer.mergeAll(
          Bus.layer({ report: () => {} }),
          layerDeviceServers,
          layerRecording(makeRecordingController()),
          layerMachineEvents,
          DeviceClock.layer(makeTimerQueue(() => 0))
        )
      )
    )
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      const [pm] = yield* DeviceServers
      expect([pm.id, pm.kind, pm.stateVersion]).toEqual(["pm", "acpi-pm", 1])
      bus.pioWrite(PM1_EN, 2, 0x0100)
      const saved = pm.save()
      bus.pioWrite(PM1_EN, 2, 0)
      pm.restore(saved)
      expect(bus.pioRead(PM1_EN, 2)).toBe(0x0100)
    }).pipe(Effect.provide(layer))
  })
})

describe("ACPI PM bus adapters", () => {
  const sizes: ReadonlyArray<AccessSize> = [1, 2, 4, 8]

  it("reject accesses that leave their block: writes ignored, reads all-ones", () => {
    const pm = new PmDevice(() => 0)
    const cnt = PmBusAdapter.control(pm, () => {})
    cnt.write(0, 4, 0xffffffff)
    expect(pm.readControl()).toBe(1)
    expect(cnt.read(1, 2)).toBe(0xffff)
    expect(PmBusAdapter.event(pm, () => {}).read(3, 2)).toBe(0xffff)
  })

  it("random accesses never throw and keep the state valid", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(
          FastCheck.record({
            block: FastCheck.constantFrom("event" as const, "control" as const, "timer" as const),
            write: FastCheck.boolean(),
            offset: FastCheck.oneof(FastCheck.integer({ min: -2, max: 6 }), FastCheck.double()),
            size: FastCheck.constantFrom(...sizes),
            value: FastCheck.oneof(FastCheck.integer(), FastCheck.double())
          }),
          { maxLength: 60 }
        ),
        (accesses) => {
          const pm = new PmDevice(() => 42)
          const handlers = {
            event: PmBusAdapter.event(pm, () => {}),
            control: PmBusAdapter.control(pm, () => {}),
            timer: PmBusAdapter.timer(pm)
          }
          for (const a of accesses) {
            const h = handlers[a.block]
            if (a.write) h.write(a.offset, a.size, a.value)
            else {
              const v = h.read(a.offset, a.size)
              expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).toBe(true)
            }
          }
          expect(Schema.is(PmState)(pm.save())).toBe(true)
        }
      )
    )
  })
})
