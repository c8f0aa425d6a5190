import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Bus from "../../../src/bus/Bus.js"
import type { AccessSize } from "../../../src/bus/DeviceHandlers.js"
import type { GuestRam } from "../../../src/kernel/MemoryLayout.js"
import { DeviceServers } from "../../../src/servers/DeviceServer.js"
import { makeRecordingMsiSink } from "../../../src/servers/pci/MsiSink.js"
import * as PciSlots from "../../../src/servers/pci/PciSlots.js"
import { reportOnce } from "../../../src/servers/pci/ReportOnce.js"
import { makeVirtioRnd } from "../../../src/servers/virtio-rnd/VirtioRndDevice.js"
import { VirtioRndState } from "../../../src/servers/virtio-rnd/VirtioRndState.js"
import { VirtioBlkState } from "../../../src/servers/virtio-blk/VirtioBlkState.js"
import * as Q from "../../../src/servers/virtio-blk/VirtioBlkRequest.js"
import { makeVirtioPci } from "../../../src/servers/virtio/VirtioPciFunction.js"
import { VirtioPciState } from "../../../src/servers/virtio/VirtioPciState.js"
import { baseServices, slot, testRam } from "../pci/PciTestMachine.js"
import { DATA, gatedBackend, RINGS, submit, withBackend } from "./BlkTestRig.js"
import { until } from "./DeviceWait.js"
import { GuestQueue } from "./GuestQueue.js"
import { CC, VirtioDriver } from "./VirtioDriver.js"

/** What a snapshot does with a device's state: encode, JSON text, parse, decode. */
const throughJson = <A, I>(schema: Schema.Schema<A, I>, value: unknown): A =>
  Schema.decodeUnknownSync(schema)(JSON.parse(JSON.stringify(Schema.encodeUnknownSync(schema)(value))))

/** A machine with virtio-rnd at slot 4 over `ram`, for `body` to drive. */
const rndMachine = <A>(ram: GuestRam, body: (bus: Bus.BusRouter, server: { save: () => unknown; restore: (s: unknown) => void }) => A) => {
  const base = baseServices(ram)
  const layer = Either.getOrThrow(PciSlots.layer([slot(4, "virtio-rnd")], { memoryBytes: ram.size })).pipe(Layer.provideMerge(base.layer))
  return Effect.scoped(
    Effect.gen(function* () {
      const bus = yield* Bus.Bus
      const server = (yield* DeviceServers).find((s) => s.kind === "virtio-rnd")
      if (server === undefined) return yield* Effect.die("no virtio-rnd")
      return body(bus, server)
    }).pipe(Effect.provide(layer))
  )
}

describe("virtio state", () => {
  it.effect("virtio-rnd saved mid-session comes back in a new machine and serves the same rings on", () =>
    Effect.gen(function* () {
      const ram = testRam(4 << 20)
      const saved = yield* rndMachine(ram, (bus, server) => {
        const d = new VirtioDriver(bus, ram, 4)
        const q = d.start(RINGS)
        q.add([{ addr: DATA, len: 16, write: true }])
        d.notify()
        return throughJson(VirtioRndState, server.save())
      })
      // The snapshot's RAM goes back too: a copy of the old machine's.
      const copy = testRam(4 << 20)
      copy.regions[0].bytes.set(ram.regions[0].bytes)
      yield* rndMachine(copy, (bus, server) => {
        server.restore(saved)
        const d = new VirtioDriver(bus, copy, 4)
        expect(d.status).toBe(0x0f)
        expect(d.num(CC.queueEnable, 2)).toBe(1)
        // The driver picks up where it was: one chain made available, one used.
        const q = new GuestQueue(copy, RINGS, 64)
        q.setAvailIdx(1)
        q.add([{ addr: DATA + 0x100, len: 8, write: true }])
        d.notify()
        expect(q.usedIdx).toBe(2)
        expect(q.takeUsed()).toEqual([{ id: 0, len: 8 }])
      })
    }))

  it("a transport driven by random register writes survives save, JSON, restore: the copy reads back the same", () => {
    const offsets = [0x00, 0x04, 0x08, 0x0c, 0x10, 0x12, 0x14, 0x15, 0x16, 0x18, 0x1a, 0x1c, 0x1e, 0x20, 0x24, 0x28, 0x2c, 0x30, 0x34]
    const op = FastCheck.record({
      offset: FastCheck.constantFrom(...offsets),
      size: FastCheck.constantFrom<AccessSize>(1, 2, 4),
      value: FastCheck.oneof(FastCheck.integer({ min: 0, max: 0xffffffff }), FastCheck.constantFrom(0, 1, 2, 3, 7, 11, 15, 16, 0x1000))
    })
    const make = () => {
      const ram = testRam(1 << 20)
      return makeVirtioPci({ device: makeVirtioRnd(), classCode: 0, ram, msi: makeRecordingMsiSink(), name: "rnd", report: reportOnce(() => {}) })
    }
    FastCheck.assert(
      FastCheck.property(FastCheck.array(op, { maxLength: 40 }), (ops) => {
        const a = make()
        const bar = a.bars[4]
        for (const o of ops) bar?.write(o.offset, o.size, o.value)
        const b = make()
        b.restore(throughJson(VirtioPciState, a.save()))
        expect(b.save()).toEqual(a.save())
        for (const offset of offsets) expect(b.bars[4]?.read(offset, 4)).toEqual(a.bars[4]?.read(offset, 4))
      }),
      { seed: 424242, numRuns: 200 }
    )
  })

  it.effect("virtio-blk with requests in flight does not encode; once quiesced it does, and restores", () => {
    const gate = gatedBackend()
    return withBackend(gate.backend, async ({ driver, bytes, server }) => {
      const q = driver.start(RINGS)
      submit(q, bytes, { type: Q.T_IN, sector: 0, data: [{ addr: DATA, len: 512 }] })
      driver.notify()
      const busy = Schema.encodeUnknownEither(VirtioBlkState)(server.save())
      expect(Either.isLeft(busy) && busy.left.message.includes("requests were in flight at the save")).toBe(true)
      gate.release()
      if (server.quiesce !== undefined) await Effect.runPromise(server.quiesce)
      const saved = throughJson(VirtioBlkState, server.save())
      expect(saved.inFlight).toBe(0)
      driver.write(CC.status, 1, 0)
      server.restore(saved)
      expect(driver.status).toBe(0x0f)
      const status = submit(q, bytes, { type: Q.T_IN, sector: 1, data: [{ addr: DATA, len: 512 }] })
      driver.notify()
      gate.release()
      await until(() => q.usedIdx === 2)
      expect(bytes[status]).toBe(Q.S_OK)
    })
  })
})
