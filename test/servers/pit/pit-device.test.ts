import { describe, expect, it } from "@effect/vitest"
import { nsForTicks, PIT_HZ, ticksIn } from "../../../src/servers/pit/PitChannel.js"
import { PitDevice } from "../../../src/servers/pit/PitDevice.js"
import { controlWord, LATCH_100HZ, program } from "./PitTestKit.js"

const MS = 1_000_000
const LATCH = 0x00
const readWord = (pit: PitDevice, channel: number, nowNs: number) => pit.read(channel, nowNs) | (pit.read(channel, nowNs) << 8)
const latchAndRead = (pit: PitDevice, channel: number, nowNs: number) => {
  pit.write(3, (channel << 6) | LATCH, nowNs)
  return readWord(pit, channel, nowNs)
}

describe("8254: clock arithmetic", () => {
  it("converts between ns and PIT clocks exactly, even after years of uptime", () => {
    expect(ticksIn(1e9)).toBe(PIT_HZ)
    expect(ticksIn(nsForTicks(LATCH_100HZ))).toBe(LATCH_100HZ)
    expect(ticksIn(nsForTicks(LATCH_100HZ) - 1)).toBe(LATCH_100HZ - 1)
    const years = 3 * 365 * 86_400e9 + 123_456_789
    expect(ticksIn(years)).toBe(3 * 365 * 86_400 * PIT_HZ + Math.floor((123_456_789 * PIT_HZ) / 1e9))
  })
})

describe("8254: reading the count", () => {
  it("a latched count decreases with time, one count per 838 ns clock", () => {
    const pit = new PitDevice(0)
    program(pit, 0, 2, LATCH_100HZ, 0)
    expect(latchAndRead(pit, 0, 1 * MS)).toBe(LATCH_100HZ - ticksIn(1 * MS))
    expect(latchAndRead(pit, 0, 2 * MS)).toBe(LATCH_100HZ - ticksIn(2 * MS))
    expect(latchAndRead(pit, 0, 12 * MS)).toBe(LATCH_100HZ - (ticksIn(12 * MS) - LATCH_100HZ))
  })

  it("a latch holds its value until read, and a second latch command before then is ignored", () => {
    const pit = new PitDevice(0)
    program(pit, 0, 2, LATCH_100HZ, 0)
    pit.write(3, LATCH, 1 * MS)
    pit.write(3, LATCH, 3 * MS)
    expect(readWord(pit, 0, 5 * MS)).toBe(LATCH_100HZ - ticksIn(1 * MS))
  })

  it("LSB-then-MSB reads alternate through the flip-flop, which a control word resets", () => {
    const pit = new PitDevice(0)
    program(pit, 2, 0, 0x1234, 0)
    expect(pit.read(2, 0)).toBe(0x34)
    pit.write(3, controlWord(2, 0), 0)
    expect(pit.read(2, 0)).toBe(0x34) // stopped at its last value; LSB first again
    expect(pit.read(2, 0)).toBe(0x12)
  })

  it("LSB-only and MSB-only access read and write one byte", () => {
    const pit = new PitDevice(0)
    pit.write(3, 0x80 | 0x10 | (2 << 1), 0) // channel 2, LSB only, mode 2
    pit.write(2, 0x55, 0)
    expect(pit.read(2, 0)).toBe(0x55)
    expect(pit.read(2, 0)).toBe(0x55)
    pit.write(3, 0x80 | 0x20 | (2 << 1), 0) // MSB only
    pit.write(2, 0x12, 0)
    expect(pit.read(2, 0)).toBe(0x12)
    pit.write(3, 0x80, 0) // a latch in MSB-only access holds one byte
    expect(pit.read(2, 0)).toBe(0x12)
  })

  it("a count of 0 is 65536", () => {
    const pit = new PitDevice(0)
    program(pit, 0, 2, 0, 0)
    expect(latchAndRead(pit, 0, 0)).toBe(0)
    expect(latchAndRead(pit, 0, nsForTicks(1))).toBe(0xffff)
    expect(pit.nextRise(0, 0)).toBe(nsForTicks(65536))
  })
})

describe("8254: writing the count", () => {
  it("in LSB-then-MSB access the count loads only with its second byte", () => {
    const pit = new PitDevice(0)
    pit.write(3, controlWord(0, 2), 0)
    pit.write(0, 0x00, 0)
    expect(pit.nextRise(0, 0)).toBeUndefined()
    pit.write(0, 0x10, 0)
    expect(pit.nextRise(0, 0)).toBe(nsForTicks(0x1000))
  })

  it("a control word between the two bytes resets the write flip-flop", () => {
    const pit = new PitDevice(0)
    pit.write(3, controlWord(0, 2), 0)
    pit.write(0, 0xff, 0)
    pit.write(3, controlWord(0, 2), 0)
    pit.write(0, 0x34, 0)
    pit.write(0, 0x12, 0)
    expect(latchAndRead(pit, 0, 0)).toBe(0x1234)
  })

  it("in mode 0 the first byte stops the count and drops OUT until the second", () => {
    const pit = new PitDevice(0)
    program(pit, 0, 0, 100, 0)
    expect(pit.out(0, 1 * MS)).toBe(true)
    pit.write(0, 0x00, 1 * MS)
    expect(pit.out(0, 2 * MS)).toBe(false)
    pit.write(0, 0x01, 2 * MS)
    expect(pit.nextRise(0, 2 * MS)).toBe(2 * MS + nsForTicks(0x100))
  })

  it("BCD mode is refused as binary: no crash, status reports binary", () => {
    const pit = new PitDevice(0)
    pit.write(3, controlWord(0, 2) | 1, 0)
    pit.write(0, 0x00, 0)
    pit.write(0, 0x10, 0)
    expect(latchAndRead(pit, 0, 0)).toBe(0x1000)
    pit.write(3, 0xe2, 0) // read-back status of channel 0
    expect(pit.read(0, 0) & 1).toBe(0)
  })

  it("modes 6 and 7 count as modes 2 and 3", () => {
    const pit = new PitDevice(0)
    program(pit, 0, 6, 1000, 0)
    expect(pit.nextRise(0, nsForTicks(1000))).toBe(nsForTicks(2000))
    program(pit, 0, 7, 1000, 0)
    expect(pit.out(0, nsForTicks(499))).toBe(true)
    expect(pit.out(0, nsForTicks(500))).toBe(false)
  })
})

describe("8254: read-back command", () => {
  it("latches status: OUT, null count until a count is written, access and mode", () => {
    const pit = new PitDevice(0)
    pit.write(3, controlWord(2, 3), 0)
    pit.write(3, 0xe8, 0) // read-back, status only, channel 2
    expect(pit.read(2, 0)).toBe(0x80 | 0x40 | 0x30 | (3 << 1))
    pit.write(2, 0x00, 0)
    pit.write(2, 0x10, 0)
    pit.write(3, 0xe8, 0)
    expect(pit.read(2, 0)).toBe(0x80 | 0x30 | (3 << 1))
  })

  it("latching status and count together reads status first, then the count", () => {
    const pit = new PitDevice(0)
    program(pit, 1, 0, 500, 0)
    pit.write(3, 0xc4, nsForTicks(100)) // read-back count and status of channel 1
    expect(pit.read(1, 5 * MS)).toBe(0x30 | (0 << 1)) // OUT low: no terminal count yet at the latch
    expect(readWord(pit, 1, 5 * MS)).toBe(400)
  })
})

describe("8254: channel 2 and port 0x61", () => {
  it("bit 5 follows channel 2's OUT in mode 0 once GATE2 is set, as Linux's TSC calibration polls it", () => {
    const pit = new PitDevice(0)
    pit.writePortB(0x01, 0)
    program(pit, 2, 0, 1193, 0)
    expect(pit.readPortB(nsForTicks(1193) - 1) & 0x20).toBe(0)
    expect(pit.readPortB(nsForTicks(1193)) & 0x20).toBe(0x20)
  })

  it("with GATE2 low a mode 0 count does not run; raising it starts the count", () => {
    const pit = new PitDevice(0)
    program(pit, 2, 0, 1193, 0)
    expect(pit.readPortB(10 * MS) & 0x20).toBe(0)
    pit.writePortB(0x01, 10 * MS)
    expect(pit.readPortB(10 * MS + nsForTicks(1193) - 1) & 0x20).toBe(0)
    expect(pit.readPortB(10 * MS + nsForTicks(1193)) & 0x20).toBe(0x20)
  })

  it("port 0x61 reads back GATE2 and the speaker bits, and bit 4 toggles on every read", () => {
    const pit = new PitDevice(0)
    pit.writePortB(0xff, 0)
    const a = pit.readPortB(0)
    const b = pit.readPortB(0)
    expect(a & 0x0f).toBe(0x0f)
    expect(a & 0xc0).toBe(0)
    expect((a ^ b) & 0x10).toBe(0x10)
  })

  it("mode 1 waits for a rising GATE2, then holds OUT low for the count", () => {
    const pit = new PitDevice(0)
    program(pit, 2, 1, 1000, 0)
    expect(pit.readPortB(5 * MS) & 0x20).toBe(0x20)
    pit.writePortB(0x01, 5 * MS)
    expect(pit.readPortB(5 * MS) & 0x20).toBe(0)
    expect(pit.readPortB(5 * MS + nsForTicks(1000)) & 0x20).toBe(0x20)
  })
})
