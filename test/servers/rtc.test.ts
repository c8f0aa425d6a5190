import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Bus from "../../src/bus/Bus.js"
import { DeviceServers, layerDeviceServers } from "../../src/servers/DeviceServer.js"
import { layerRecording, makeRecordingController } from "../../src/servers/InterruptController.js"
import * as RtcBusAdapter from "../../src/servers/rtc/RtcBusAdapter.js"
import { RtcDevice } from "../../src/servers/rtc/RtcDevice.js"
import * as R from "../../src/servers/rtc/RtcRegisters.js"
import * as RtcServer from "../../src/servers/rtc/RtcServer.js"
import { RtcState } from "../../src/servers/rtc/RtcState.js"

const MiB = 1024 * 1024
const GiB = 1024 * MiB

/** Thursday 29 February 2024, 13:45:30.000 UTC. */
const START = Date.UTC(2024, 1, 29, 13, 45, 30)

const setup = (options: { lowmem?: number; highmem?: number } = {}) => {
  const clock = { now: START }
  const rtc = RtcDevice.create({ clock: () => clock.now, lowmem: options.lowmem ?? 64 * MiB, highmem: options.highmem ?? 0 })
  const read = (cell: number) => {
    rtc.writeIndex(cell)
    return rtc.readData()
  }
  const write = (cell: number, value: number) => {
    rtc.writeIndex(cell)
    rtc.writeData(value)
  }
  return { rtc, clock, read, write }
}

const timeCells = (read: (cell: number) => number) =>
  [R.SECONDS, R.MINUTES, R.HOURS, R.DAY_OF_WEEK, R.DAY_OF_MONTH, R.MONTH, R.YEAR, R.CENTURY].map(read)

describe("RTC: time format", () => {
  it("reads the clock in BCD, 24-hour, by default", () => {
    const { read } = setup()
    expect(timeCells(read)).toEqual([0x30, 0x45, 0x13, 0x05, 0x29, 0x02, 0x24, 0x20])
  })

  it("reads binary when register B bit 2 is set", () => {
    const { read, write } = setup()
    write(R.REG_B, R.B_24H | R.B_BINARY)
    expect(timeCells(read)).toEqual([30, 45, 13, 5, 29, 2, 24, 20])
  })

  it("reads 12-hour time with bit 7 for PM when register B bit 1 is clear", () => {
    const { read, write } = setup()
    write(R.REG_B, 0)
    expect(read(R.HOURS)).toBe(0x81)
  })

  it("shows midnight as 12 AM in 12-hour mode", () => {
    const { read, write, clock } = setup()
    clock.now = Date.UTC(2024, 0, 1, 0, 5, 0)
    write(R.REG_B, 0)
    expect(read(R.HOURS)).toBe(0x12)
  })
})

describe("RTC: running time", () => {
  it("advances with the injected clock", () => {
    const { read, clock } = setup()
    clock.now += 61_000
    expect(read(R.SECONDS)).toBe(0x31)
    expect(read(R.MINUTES)).toBe(0x46)
  })

  it("a time set by the guest under SET runs on from there with the host clock", () => {
    const { read, write, clock } = setup()
    write(R.REG_B, R.B_SET | R.B_24H)
    write(R.SECONDS, 0x58)
    write(R.MINUTES, 0x59)
    write(R.HOURS, 0x23)
    write(R.DAY_OF_MONTH, 0x31)
    write(R.MONTH, 0x12)
    write(R.YEAR, 0x99)
    write(R.CENTURY, 0x19)
    write(R.REG_B, R.B_24H)
    clock.now += 5_000
    // Saturday 1 January 2000 00:00:03 (day of week 7: Sunday is 1).
    expect(timeCells(read)).toEqual([0x03, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20])
  })

  it("a single field written without SET takes effect at once and keeps running", () => {
    const { read, write, clock } = setup()
    write(R.MINUTES, 0x10)
    clock.now += 2_000
    expect(read(R.MINUTES)).toBe(0x10)
    expect(read(R.SECONDS)).toBe(0x32)
    expect(read(R.HOURS)).toBe(0x13)
  })

  it("holds the time while SET is on", () => {
    const { read, write, clock } = setup()
    write(R.REG_B, R.B_SET | R.B_24H)
    clock.now += 10_000
    expect(read(R.SECONDS)).toBe(0x30)
  })

  it("sets UIP in register A only during the last 244 us of a second", () => {
    const { read, clock } = setup()
    expect(read(R.REG_A) & R.A_UIP).toBe(0)
    clock.now = START + 999.9
    expect(read(R.REG_A)).toBe(R.A_RESET | R.A_UIP)
  })
})

describe("RTC: status registers", () => {
  it("register D reports valid RAM and time", () => {
    expect(setup().read(R.REG_D)).toBe(R.D_VRT)
  })

  it("register C is cleared by reading it", () => {
    const { read, clock } = setup()
    clock.now += 1_000
    expect(read(R.REG_C) & R.C_UF).toBe(R.C_UF)
    expect(read(R.REG_C)).toBe(0)
  })

  it("raises IRQF for the periodic flag only when PIE is enabled", () => {
    const { rtc, read, write, clock } = setup()
    clock.now += 1
    read(R.SECONDS)
    expect(rtc.interruptPending()).toBe(false)
    write(R.REG_B, R.B_24H | R.B_PIE)
    expect(rtc.interruptPending()).toBe(true)
    expect(read(R.REG_C)).toBe(R.C_IRQF | R.C_PF)
    expect(rtc.interruptPending()).toBe(false)
  })

  it("flags the alarm when its time has passed since the last look", () => {
    const { read, write, clock } = setup()
    write(R.SECONDS_ALARM, 0x32)
    write(R.MINUTES_ALARM, 0x45)
    write(R.HOURS_ALARM, 0xc0) // any hour
    write(R.REG_B, R.B_24H | R.B_AIE)
    read(R.REG_C)
    clock.now += 5_000
    expect(read(R.REG_C) & (R.C_IRQF | R.C_AF)).toBe(R.C_IRQF | R.C_AF)
  })
})

describe("RTC: CMOS memory", () => {
  it("keeps NVRAM bytes", () => {
    const { read, write } = setup()
    write(0x40, 0xa5)
    write(0x7f, 0x5a)
    expect([read(0x40), read(0x7f)]).toEqual([0xa5, 0x5a])
  })

  it("drops the NMI-mask bit from the index and remembers it", () => {
    const { rtc, read, write } = setup()
    write(0x41, 0x77)
    rtc.writeIndex(0x80 | 0x41)
    expect(rtc.readData()).toBe(0x77)
    expect(rtc.nmiMask()).toBe(true)
    expect(read(0x41)).toBe(0x77)
    expect(rtc.nmiMask()).toBe(false)
  })

  it("port 0x70 reads all-ones (write-only)", () => {
    expect(setup().rtc.readIndex()).toBe(0xff)
  })

  it("reports memory in the UEFI cells: 64 KiB units above 16 MiB and above 4 GiB", () => {
    const { read } = setup({ lowmem: 2 * GiB, highmem: 4 * GiB })
    expect([read(0x34), read(0x35)]).toEqual([0x00, 0x7f])
    expect([read(0x5b), read(0x5c), read(0x5d)]).toEqual([0x00, 0x00, 0x01])
  })

  it("reports base and extended memory in KiB in the PC BIOS cells, saturating", () => {
    const big = setup({ lowmem: 2 * GiB })
    expect([big.read(0x15), big.read(0x16), big.read(0x17), big.read(0x18)]).toEqual([0x80, 0x02, 0xff, 0xff])
    const small = setup({ lowmem: 8 * MiB })
    expect([small.read(0x17), small.read(0x18), small.read(0x34), small.read(0x35)]).toEqual([0x00, 0x1c, 0, 0])
  })

  it("caps the below-4-GiB count at 0xFFFF", () => {
    const { read } = setup({ lowmem: 4 * GiB + 16 * MiB })
    expect([read(0x34), read(0x35)]).toEqual([0xff, 0xff])
  })
})

describe("RTC state", () => {
  const throughJson = (state: RtcState): RtcState =>
    Schema.decodeUnknownSync(RtcState)(JSON.parse(JSON.stringify(Schema.encodeSync(RtcState)(state))))

  it("round-trips through JSON, and the restored clock keeps the guest's offset", () => {
    const { rtc, write, clock } = setup()
    write(R.HOURS, 0x01)
    write(0x50, 0x42)
    const saved = rtc.save()
    const restored = RtcDevice.fromState(throughJson(saved), () => clock.now + 3_000)
    expect(restored.save()).toEqual({ ...saved })
    restored.writeIndex(R.SECONDS)
    expect(restored.readData()).toBe(0x33)
    restored.writeIndex(R.HOURS)
    expect(restored.readData()).toBe(0x01)
  })

  it("rejects a CMOS image of the wrong size", () => {
    expect(Schema.is(RtcState)({ ...setup().rtc.save(), cmos: [0] })).toBe(false)
  })
})

describe("RTC server", () => {
  it.effect("serves ports 0x70/0x71 and pulses IRQ 8 when an enabled flag rises", () => {
    const controller = makeRecordingController()
    const clock = { now: START }
    const layer = RtcServer.layer({ lowmem: 64 * MiB, highmem: 0, clock: () => clock.now }).pipe(
      Layer.provideMerge(Layer.mergeAll(Bus.layer({ report: () => {} }), layerDeviceServers, layerRecording(controller)))
    )
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      bus.pioWrite(0x70, 1, R.SECONDS)
      expect(bus.pioRead(0x71, 1)).toBe(0x30)
      bus.pioWrite(0x70, 1, R.REG_B)
      bus.pioWrite(0x71, 1, R.B_24H | R.B_UIE)
      clock.now += 1_000
      bus.pioWrite(0x70, 1, R.REG_C)
      expect(bus.pioRead(0x71, 1) & (R.C_IRQF | R.C_UF)).toBe(R.C_IRQF | R.C_UF)
      expect(controller.lines.get(8)?.levels).toEqual([true, false])
      const servers = yield* DeviceServers
      expect(servers.map((s) => s.id)).toEqual(["rtc"])
    }).pipe(Effect.provide(layer))
  })
})

describe("RTC bus adapter", () => {
  it("random accesses never throw and keep the state valid", () => {
    const sizes = [1, 2, 4, 8] as const
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(
          FastCheck.record({
            write: FastCheck.boolean(),
            offset: FastCheck.integer({ min: -1, max: 3 }),
            size: FastCheck.constantFrom(...sizes),
            value: FastCheck.oneof(FastCheck.integer({ min: 0, max: 255 }), FastCheck.integer(), FastCheck.double()),
            advanceMs: FastCheck.integer({ min: 0, max: 100_000 })
          }),
          { maxLength: 80 }
        ),
        (accesses) => {
          const clock = { now: START }
          const rtc = RtcDevice.create({ clock: () => clock.now, lowmem: GiB, highmem: 0 })
          const handler = RtcBusAdapter.make(rtc, () => {})
          for (const a of accesses) {
            clock.now += a.advanceMs
            if (a.write) handler.write(a.offset, a.size, a.value)
            else {
              const v = handler.read(a.offset, a.size)
              expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).toBe(true)
            }
          }
          expect(Schema.is(RtcState)(rtc.save())).toBe(true)
        }
      )
    )
  })
})
