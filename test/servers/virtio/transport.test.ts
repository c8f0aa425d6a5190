import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { AccessSize } from "../../../src/bus/DeviceHandlers.js"
import { makeRecordingMsiSink } from "../../../src/servers/pci/MsiSink.js"
import { reportOnce } from "../../../src/servers/pci/ReportOnce.js"
import { makeVirtioRnd } from "../../../src/servers/virtio-rnd/VirtioRndDevice.js"
import { makeVirtioPci } from "../../../src/servers/virtio/VirtioPciFunction.js"
import { VirtioPciState } from "../../../src/servers/virtio/VirtioPciState.js"
import * as V from "../../../src/servers/virtio/VirtioConstants.js"
import { cfgRead, cfgWrite, slot, testRam, withPci } from "../pci/PciTestMachine.js"
import { DATA } from "./GuestQueue.js"
import { CC, VirtioDriver } from "./VirtioDriver.js"

const RND = 4
const LINE = 17 // INTA# of slot 4
const RINGS = 0x1000

/** A machine with virtio-rnd at slot 4 and a driver for it. */
const withRnd = (body: (d: VirtioDriver, m: Parameters<Parameters<typeof withPci>[1]>[1]) => void) =>
  withPci([slot(RND, "virtio-rnd")], (bus, m) => body(new VirtioDriver(bus, m.ram, RND), m))

const line = (m: Parameters<Parameters<typeof withPci>[1]>[1]) => m.controller.lines.get(LINE)?.level ?? false

describe("virtio PCI identity", () => {
  it.effect("a modern-only device: 0x1AF4:0x1040+id, revision 1, subsystem id = device id", () =>
    withRnd((d) => {
      expect(cfgRead(d.bus, RND, 0x00)).toBe(0x1044_1af4)
      expect(cfgRead(d.bus, RND, 0x08, 1)).toBe(1)
      expect(cfgRead(d.bus, RND, 0x2c)).toBe(0x0004_1af4)
    }))
})

describe("virtio feature negotiation", () => {
  it.effect("the device offers VERSION_1, EVENT_IDX and INDIRECT_DESC", () =>
    withRnd((d) => {
      expect(d.deviceFeatures()).toBe(V.F_VERSION_1 | V.F_EVENT_IDX | V.F_INDIRECT_DESC)
    }))

  it.effect("FEATURES_OK stays clear when the driver does not accept VERSION_1", () =>
    withRnd((d) => {
      d.write(CC.status, 1, V.STATUS_ACKNOWLEDGE | V.STATUS_DRIVER)
      d.write(CC.driverFeatureSelect, 4, 0)
      d.write(CC.driverFeature, 4, 1 << 29)
      d.write(CC.status, 1, V.STATUS_ACKNOWLEDGE | V.STATUS_DRIVER | V.STATUS_FEATURES_OK)
      expect(d.status & V.STATUS_FEATURES_OK).toBe(0)
    }))

  it.effect("FEATURES_OK stays clear when the driver asks for a feature the device did not offer", () =>
    withRnd((d) => {
      d.write(CC.status, 1, V.STATUS_ACKNOWLEDGE | V.STATUS_DRIVER)
      d.write(CC.driverFeatureSelect, 4, 1)
      d.write(CC.driverFeature, 4, 1) // VERSION_1
      d.write(CC.driverFeatureSelect, 4, 0)
      d.write(CC.driverFeature, 4, 1 << 5) // not offered
      d.write(CC.status, 1, V.STATUS_ACKNOWLEDGE | V.STATUS_DRIVER | V.STATUS_FEATURES_OK)
      expect(d.status & V.STATUS_FEATURES_OK).toBe(0)
    }))

  it.effect("the driver's features are frozen once FEATURES_OK is set", () =>
    withRnd((d) => {
      d.negotiate(V.F_EVENT_IDX)
      d.write(CC.driverFeatureSelect, 4, 0)
      d.write(CC.driverFeature, 4, 0)
      expect(d.num(CC.driverFeature)).toBe(1 << 29)
    }))
})

describe("virtio device status", () => {
  it.effect("writing 0 resets the device: status, features and queues", () =>
    withRnd((d) => {
      d.start(RINGS)
      d.write(CC.status, 1, 0)
      expect(d.status).toBe(0)
      expect(d.num(CC.queueEnable, 2)).toBe(0)
      d.write(CC.driverFeatureSelect, 4, 1)
      expect(d.num(CC.driverFeature)).toBe(0)
    }))

  it.effect("the driver cannot set DEVICE_NEEDS_RESET", () =>
    withRnd((d) => {
      d.write(CC.status, 1, V.STATUS_ACKNOWLEDGE | V.STATUS_DEVICE_NEEDS_RESET)
      expect(d.status).toBe(V.STATUS_ACKNOWLEDGE)
    }))

  it.effect("DRIVER_OK without FEATURES_OK leaves the device needing a reset", () =>
    withRnd((d, m) => {
      d.write(CC.status, 1, V.STATUS_ACKNOWLEDGE | V.STATUS_DRIVER | V.STATUS_DRIVER_OK)
      expect(d.status & V.STATUS_DEVICE_NEEDS_RESET).toBe(V.STATUS_DEVICE_NEEDS_RESET)
      expect(m.reports.some((r) => r.includes("DRIVER_OK without FEATURES_OK"))).toBe(true)
    }))
})

describe("virtio queue configuration", () => {
  it.effect("reports one queue of 64; a queue that does not exist has size 0", () =>
    withRnd((d) => {
      expect(d.num(CC.numQueues, 2)).toBe(1)
      expect(d.num(CC.queueSize, 2)).toBe(64)
      d.write(CC.queueSelect, 2, 5)
      expect(d.num(CC.queueSize, 2)).toBe(0)
    }))

  it.effect("the driver may pick a smaller power of two; other sizes are ignored", () =>
    withRnd((d) => {
      d.write(CC.queueSize, 2, 16)
      expect(d.num(CC.queueSize, 2)).toBe(16)
      d.write(CC.queueSize, 2, 100)
      d.write(CC.queueSize, 2, 128)
      expect(d.num(CC.queueSize, 2)).toBe(16)
    }))

  it.effect("queue addresses are 64-bit, written as two dwords or one qword", () =>
    withRnd((d) => {
      d.write(CC.queueDesc, 4, 0x1000)
      d.write(CC.queueDesc + 4, 4, 0x2)
      d.write(CC.queueDriver, 8, 0x3_0000_2000n)
      expect(d.read(CC.queueDesc, 8)).toBe(0x2_0000_1000n)
      expect(d.num(CC.queueDriver + 4)).toBe(3)
    }))

  it.effect("a queue's registers are frozen once it is enabled", () =>
    withRnd((d) => {
      d.negotiate(0n)
      d.setupQueue(0, RINGS, 16)
      d.write(CC.queueSize, 2, 8)
      d.write(CC.queueDesc, 4, 0x8000)
      expect(d.num(CC.queueSize, 2)).toBe(16)
      expect(d.num(CC.queueDesc)).toBe(RINGS)
    }))

  it.effect("enabling a queue whose rings are outside RAM leaves the device needing a reset", () =>
    withRnd((d) => {
      d.negotiate(0n)
      d.write(CC.queueDesc, 8, 0x7_0000_0000n)
      d.write(CC.queueEnable, 2, 1)
      expect(d.status & V.STATUS_DEVICE_NEEDS_RESET).toBe(V.STATUS_DEVICE_NEEDS_RESET)
    }))
})

describe("virtio notifications and interrupts", () => {
  it.effect("before DRIVER_OK a notification consumes nothing", () =>
    withRnd((d) => {
      d.negotiate(0n)
      const q = d.setupQueue(0, RINGS)
      q.add([{ addr: DATA, len: 16, write: true }])
      d.notify()
      expect(q.usedIdx).toBe(0)
    }))

  it.effect("without MSI-X, a completion sets ISR bit 0 and raises INTA#; reading the ISR clears both", () =>
    withRnd((d, m) => {
      const q = d.start(RINGS, 0n)
      q.add([{ addr: DATA, len: 16, write: true }])
      d.notify()
      expect(line(m)).toBe(true)
      expect(cfgRead(d.bus, RND, 0x06, 2) & 0x8).toBe(0x8)
      expect(d.readIsr()).toBe(V.ISR_QUEUE)
      expect(line(m)).toBe(false)
      expect(d.readIsr()).toBe(0)
    }))

  it.effect("INTx disable in the command register takes the pending interrupt off the line", () =>
    withRnd((d, m) => {
      const q = d.start(RINGS, 0n)
      q.add([{ addr: DATA, len: 16, write: true }])
      d.notify()
      cfgWrite(d.bus, RND, 0x04, cfgRead(d.bus, RND, 0x04, 2) | 0x400, 2)
      expect(line(m)).toBe(false)
    }))

  it.effect("with MSI-X enabled, a completion goes to the queue's vector and neither the ISR nor INTx is touched", () =>
    withRnd((d, m) => {
      d.enableMsix()
      d.programVector(1, 0xfee0_0000, 0x41)
      d.negotiate(0n)
      const q = d.setupQueue(0, RINGS, undefined, 1)
      d.driverOk()
      expect(d.num(CC.queueMsixVector, 2)).toBe(1)
      q.add([{ addr: DATA, len: 16, write: true }])
      d.notify()
      expect(m.msi.messages).toEqual([{ address: 0xfee0_0000n, data: 0x41 }])
      expect(d.readIsr()).toBe(0)
      expect(line(m)).toBe(false)
    }))

  it.effect("a vector past the MSI-X table reads back NO_VECTOR, and its queue interrupts nobody", () =>
    withRnd((d, m) => {
      d.enableMsix()
      d.negotiate(0n)
      const q = d.setupQueue(0, RINGS, undefined, 7)
      d.driverOk()
      expect(d.num(CC.queueMsixVector, 2)).toBe(V.NO_VECTOR)
      q.add([{ addr: DATA, len: 16, write: true }])
      d.notify()
      expect(q.usedIdx).toBe(1)
      expect(m.msi.messages).toEqual([])
      expect(line(m)).toBe(false)
    }))

  it.effect("with EVENT_IDX, the device asks to be notified at the next buffer after it drained the ring", () =>
    withRnd((d) => {
      const q = d.start(RINGS, V.F_EVENT_IDX)
      q.add([{ addr: DATA, len: 16, write: true }])
      q.add([{ addr: DATA + 16, len: 16, write: true }])
      d.notify()
      expect(q.availEvent).toBe(2)
    }))

  it.effect("with EVENT_IDX, a completion the driver did not ask about raises nothing", () =>
    withRnd((d, m) => {
      const q = d.start(RINGS, V.F_EVENT_IDX)
      q.setUsedEvent(5)
      q.add([{ addr: DATA, len: 16, write: true }])
      d.notify()
      expect(q.usedIdx).toBe(1)
      expect(line(m)).toBe(false)
    }))
})

describe("a device that meets a malformed chain", () => {
  const loop = (d: VirtioDriver) => {
    const q = d.queues[0]
    q.writeDesc(q.descAddr, 0, DATA, 4, 1, 1)
    q.writeDesc(q.descAddr, 1, DATA, 4, 1, 0)
    q.publish(0)
    d.notify()
    return q
  }

  it.effect("sets DEVICE_NEEDS_RESET, tells the driver with a config interrupt, and reports the reason once", () =>
    withRnd((d, m) => {
      d.start(RINGS, 0n)
      loop(d)
      loop(d)
      expect(d.status & V.STATUS_DEVICE_NEEDS_RESET).toBe(V.STATUS_DEVICE_NEEDS_RESET)
      expect(d.readIsr()).toBe(V.ISR_CONFIG)
      expect(m.reports.filter((r) => r.includes("a loop?"))).toHaveLength(1)
    }))

  it.effect("serves nothing more until reset, then works again", () =>
    withRnd((d) => {
      d.start(RINGS, 0n)
      const q = loop(d)
      q.add([{ addr: DATA, len: 16, write: true }])
      d.notify()
      expect(q.usedIdx).toBe(0)
      const fresh = d.start(RINGS + 0x4000, 0n)
      expect(d.status & V.STATUS_DEVICE_NEEDS_RESET).toBe(0)
      fresh.add([{ addr: DATA, len: 16, write: true }])
      d.notify()
      expect(fresh.takeUsed()).toEqual([{ id: 0, len: 16 }])
    }))
})

describe("a virtio function under random guest accesses", () => {
  it("never throws, whatever the offset, size or value, and always saves a state that encodes (fixed seed)", () => {
    const access = FastCheck.record({
      bar: FastCheck.constantFrom(1, 4),
      offset: FastCheck.oneof(FastCheck.integer({ min: 0, max: 0x3fff }), FastCheck.constantFrom(0x14, 0x1c, 0x3000, 0x1000, 0x2000)),
      size: FastCheck.constantFrom<AccessSize>(1, 2, 4, 8),
      write: FastCheck.boolean(),
      value: FastCheck.oneof(FastCheck.integer({ min: 0, max: 0xffffffff }), FastCheck.double(), FastCheck.bigInt({ min: -1n, max: 2n ** 64n }), FastCheck.constantFrom(0x0f, 0xffff))
    })
    FastCheck.assert(
      FastCheck.property(FastCheck.array(access, { maxLength: 120 }), (accesses) => {
        const ram = testRam(1 << 20)
        const v = makeVirtioPci({ device: makeVirtioRnd(), classCode: 0, ram, msi: makeRecordingMsiSink(), name: "rnd", report: reportOnce(() => {}) })
        for (const a of accesses) {
          const handler = v.bars[a.bar]
          if (a.write) handler?.write(a.offset, a.size, a.value)
          else handler?.read(a.offset, a.size)
        }
        expect(Either.isRight(Schema.encodeEither(VirtioPciState)(v.save()))).toBe(true)
      }),
      { seed: 99, numRuns: 300 }
    )
  })
})
