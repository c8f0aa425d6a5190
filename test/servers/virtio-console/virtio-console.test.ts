import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { mkdtempSync, rmSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Bus from "../../../src/bus/Bus.js"
import type { GuestRam } from "../../../src/kernel/MemoryLayout.js"
import { type DeviceServer, DeviceServers } from "../../../src/servers/DeviceServer.js"
import * as PciBusServer from "../../../src/servers/pci/PciBusServer.js"
import { makeMemory, type MemoryBackend } from "../../../src/servers/serial-backend/MemoryBackend.js"
import * as V from "../../../src/servers/virtio/VirtioConstants.js"
import { F_EMERG_WRITE, MAX_PENDING_INPUT, type VirtioConsoleDevice } from "../../../src/servers/virtio-console/VirtioConsoleDevice.js"
import { parseVirtioConsoleOptions } from "../../../src/servers/virtio-console/VirtioConsoleOptions.js"
import { attachConsoleDevice } from "../../../src/servers/virtio-console/VirtioConsoleServer.js"
import { VirtioConsoleState } from "../../../src/servers/virtio-console/VirtioConsoleState.js"
import { baseServices, cfgRead, slot, testRam, withPci } from "../pci/PciTestMachine.js"
import { until } from "../virtio/DeviceWait.js"
import { assertHostileTablesNeverThrow, GuestQueue } from "../virtio/GuestQueue.js"
import { DEVICE_CFG, VirtioDriver } from "../virtio/VirtioDriver.js"

const CON = 4
const RXQ = 0x1000
const TXQ = 0x3000
const RX_DATA = 0x10000
const TX_DATA = 0x20000

interface Rig {
  readonly driver: VirtioDriver
  readonly bytes: Uint8Array
  readonly backend: MemoryBackend
  readonly device: VirtioConsoleDevice
  readonly server: DeviceServer
}

/** virtio-console at slot 4 over a memory backend, in a machine over `ram`. */
const withConsole = <A>(body: (r: Rig) => A | Promise<A>, ram: GuestRam = testRam(4 << 20), backend: MemoryBackend = makeMemory()) => {
  const base = baseServices(ram)
  const holder: { device?: VirtioConsoleDevice } = {}
  const layer = Layer.scopedDiscard(
    Effect.map(attachConsoleDevice({ bus: 0, slot: CON, function: 0 }, backend), (d) => void (holder.device = d))
  ).pipe(Layer.provide(PciBusServer.layer({ memoryBytes: ram.size })), Layer.provideMerge(base.layer))
  return Effect.scoped(
    Effect.gen(function* () {
      const bus = yield* Bus.Bus
      const server = (yield* DeviceServers).find((s) => s.kind === "virtio-console")
      if (server === undefined || holder.device === undefined) return yield* Effect.die("no virtio-console")
      const driver = new VirtioDriver(bus, ram, CON)
      const rig: Rig = { driver, bytes: ram.regions[0].bytes, backend, device: holder.device, server }
      return yield* Effect.promise(async () => body(rig))
    }).pipe(Effect.provide(layer))
  )
}

/** Bring-up with both queues. */
const start = (d: VirtioDriver, wanted: bigint = V.F_EVENT_IDX | V.F_INDIRECT_DESC) => {
  if (!d.negotiate(wanted)) throw new Error("FEATURES_OK refused")
  const rx = d.setupQueue(0, RXQ)
  const tx = d.setupQueue(1, TXQ)
  d.driverOk()
  return { rx, tx }
}

const text = (s: string) => new TextEncoder().encode(s)
const decode = (b: Uint8Array) => new TextDecoder().decode(b)

const throughJson = <A, I>(schema: Schema.Schema<A, I>, value: unknown): A =>
  Schema.decodeUnknownSync(schema)(JSON.parse(JSON.stringify(Schema.encodeUnknownSync(schema)(value))))

describe("virtio-console", () => {
  it.effect("is a virtio 1.x console: PCI 0x1AF4:0x1043, one port, EMERG_WRITE, no multiport", () =>
    withConsole(({ driver }) => {
      expect(cfgRead(driver.bus, CON, 0, 2)).toBe(0x1af4)
      expect(cfgRead(driver.bus, CON, 2, 2)).toBe(0x1043)
      const features = driver.deviceFeatures()
      expect(features & F_EMERG_WRITE).toBe(F_EMERG_WRITE)
      expect(features & V.F_VERSION_1).toBe(V.F_VERSION_1)
      expect(features & 0b11n).toBe(0n) // neither F_SIZE nor F_MULTIPORT
      expect(driver.negotiate(F_EMERG_WRITE)).toBe(true)
      expect(driver.num(DEVICE_CFG + 4, 4)).toBe(1)
      expect(driver.num(0x12, 2)).toBe(2)
    }))

  it.effect("writes the guest's transmit buffers to the backend, in order, and returns them", () =>
    withConsole(({ driver, bytes, backend }) => {
      const { tx } = start(driver)
      bytes.set(text("hello, "), TX_DATA)
      bytes.set(text("world"), TX_DATA + 0x100)
      tx.add([{ addr: TX_DATA, len: 7 }, { addr: TX_DATA + 0x100, len: 5 }])
      bytes.set(text("!\n"), TX_DATA + 0x200)
      tx.add([{ addr: TX_DATA + 0x200, len: 2 }])
      driver.notify(1)
      expect(backend.outputText()).toBe("hello, world!\n")
      expect(tx.takeUsed()).toEqual([{ id: 0, len: 0 }, { id: 2, len: 0 }])
    }))

  it.effect("an emergency write puts one character out", () =>
    withConsole(({ driver, backend }) => {
      driver.write(DEVICE_CFG + 8, 4, 0x58)
      expect(backend.outputText()).toBe("X")
    }))

  it.effect("delivers host input into posted receive buffers", () =>
    withConsole(({ driver, bytes, backend }) => {
      const { rx } = start(driver)
      rx.add([{ addr: RX_DATA, len: 16, write: true }])
      driver.notify(0)
      backend.push("abc")
      expect(rx.takeUsed()).toEqual([{ id: 0, len: 3 }])
      expect(decode(bytes.subarray(RX_DATA, RX_DATA + 3))).toBe("abc")
    }))

  it.effect("holds input while the guest has no buffers, then delivers it across as many as it takes", () =>
    withConsole(({ driver, bytes, backend, device }) => {
      backend.push("typed early ")
      const { rx } = start(driver)
      backend.push("and more")
      expect(decode(device.pendingInput())).toBe("typed early and more")
      rx.add([{ addr: RX_DATA, len: 8, write: true }])
      rx.add([{ addr: RX_DATA + 0x100, len: 8, write: true }, { addr: RX_DATA + 0x200, len: 8, write: true }])
      driver.notify(0)
      expect(rx.takeUsed()).toEqual([{ id: 0, len: 8 }, { id: 1, len: 12 }])
      expect(decode(bytes.subarray(RX_DATA, RX_DATA + 8))).toBe("typed ea")
      expect(decode(bytes.subarray(RX_DATA + 0x100, RX_DATA + 0x108)) + decode(bytes.subarray(RX_DATA + 0x200, RX_DATA + 0x204))).toBe(
        "rly and more"
      )
      expect(device.pendingInput().length).toBe(0)
      // Nothing pending: a new buffer stays with the device until input comes.
      rx.add([{ addr: RX_DATA + 0x300, len: 8, write: true }])
      driver.notify(0)
      expect(rx.takeUsed()).toEqual([])
      backend.push("z")
      expect(rx.takeUsed()).toEqual([{ id: 3, len: 1 }])
    }))

  it.effect("holds at most MAX_PENDING_INPUT bytes; the excess is dropped and counted", () =>
    withConsole(({ backend, device }) => {
      backend.push(new Uint8Array(MAX_PENDING_INPUT - 10).fill(0x41))
      backend.push(new Uint8Array(30).fill(0x42))
      expect(device.pendingInput().length).toBe(MAX_PENDING_INPUT)
      expect(device.dropped()).toBe(20)
    }))

  it.effect("pending input survives a driver reset", () =>
    withConsole(({ driver, bytes, backend }) => {
      start(driver)
      backend.push("kept")
      driver.write(0x14, 1, 0)
      const { rx } = start(driver)
      rx.add([{ addr: RX_DATA, len: 16, write: true }])
      driver.notify(0)
      expect(rx.takeUsed()).toEqual([{ id: 0, len: 4 }])
      expect(decode(bytes.subarray(RX_DATA, RX_DATA + 4))).toBe("kept")
    }))

  it.effect("save, encode, decode, restore: the transport and the pending input carry over", () =>
    Effect.gen(function* () {
      const ram = testRam(4 << 20)
      const saved = yield* withConsole(({ driver, backend, server }) => {
        const { tx } = start(driver)
        tx.add([{ addr: TX_DATA, len: 1 }])
        driver.notify(1)
        backend.push("pending")
        return throughJson(VirtioConsoleState, server.save())
      }, ram)
      expect(decode(saved.pendingInput)).toBe("pending")
      const copy = testRam(4 << 20)
      copy.regions[0].bytes.set(ram.regions[0].bytes)
      yield* withConsole(({ driver, bytes, server, device }) => {
        server.restore(saved)
        expect(driver.status).toBe(0x0f)
        expect(decode(device.pendingInput())).toBe("pending")
        const rx = new GuestQueue(copy, RXQ, 64)
        rx.add([{ addr: RX_DATA, len: 16, write: true }])
        driver.notify(0)
        expect(rx.takeUsed()).toEqual([{ id: 0, len: 7 }])
        expect(decode(bytes.subarray(RX_DATA, RX_DATA + 7))).toBe("pending")
        // The transmit queue goes on where it was.
        const tx = new GuestQueue(copy, TXQ, 64)
        tx.setAvailIdx(1)
        tx.add([{ addr: TX_DATA, len: 1 }])
        driver.notify(1)
        expect(tx.usedIdx).toBe(2)
      }, copy)
    }))

  it("refuses a saved state with more pending input than the device holds", () => {
    const tooMuch = { virtio: {}, pendingInput: Buffer.alloc(MAX_PENDING_INPUT + 1).toString("base64") }
    expect(Either.isLeft(Schema.decodeUnknownEither(VirtioConsoleState)(tooMuch))).toBe(true)
  })

  it.effect("a chain outside RAM breaks the device (NEEDS_RESET), it does not throw", () =>
    withConsole(({ driver, backend }) => {
      const { tx } = start(driver)
      tx.add([{ addr: (4 << 20) - 4, len: 64 }])
      driver.notify(1)
      expect(driver.status & V.STATUS_DEVICE_NEEDS_RESET).toBe(V.STATUS_DEVICE_NEEDS_RESET)
      backend.push("ignored while broken")
      expect(backend.outputText()).toBe("")
    }))

  it.effect("random descriptor tables on both queues never throw", () =>
    withConsole(({ driver, bytes, backend }) =>
      assertHostileTablesNeverThrow({
        maxNext: 70,
        start: () => start(driver),
        notify: (queue) => driver.notify(queue),
        poke: () => backend.push("x"),
        clear: () => bytes.fill(0, RXQ, TXQ + 0x2000),
        seed: 31337
      })))

  it.effect("-s 4,virtio-console,port1=PATH serves the console on a UNIX socket", () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-ts-con-"))
    const path = join(dir, "vm.console")
    return withPci([slot(CON, "virtio-console", `port1=${path}`)], async (bus, m) => {
      const driver = new VirtioDriver(bus, m.ram, CON)
      const bytes = m.ram.regions[0].bytes
      const { rx, tx } = start(driver)
      rx.add([{ addr: RX_DATA, len: 64, write: true }])
      driver.notify(0)
      const client = net.connect(path)
      const received: Array<Buffer> = []
      client.on("data", (b: Buffer) => received.push(b))
      await new Promise<void>((resolve) => client.once("connect", () => resolve()))
      client.write("ls\n")
      await until(() => rx.usedIdx === 1)
      expect(decode(bytes.subarray(RX_DATA, RX_DATA + 3))).toBe("ls\n")
      bytes.set(text("login: "), TX_DATA)
      tx.add([{ addr: TX_DATA, len: 7 }])
      driver.notify(1)
      await until(() => Buffer.concat(received).toString() === "login: ")
      client.destroy()
    }).pipe(Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true }))))
  })
})

describe("virtio-console options", () => {
  it("follows bhyve's NAME=PATH, and takes socket=PATH, PATH and stdio", () => {
    expect(parseVirtioConsoleOptions("port1=/tmp/vm.console")).toEqual(
      Either.right({ portName: "port1", backend: { _tag: "socket", path: "/tmp/vm.console" } })
    )
    expect(parseVirtioConsoleOptions("socket=/tmp/c")).toEqual(Either.right({ portName: "port0", backend: { _tag: "socket", path: "/tmp/c" } }))
    expect(parseVirtioConsoleOptions("/tmp/c")).toEqual(Either.right({ portName: "port0", backend: { _tag: "socket", path: "/tmp/c" } }))
    expect(parseVirtioConsoleOptions("stdio")).toEqual(Either.right({ portName: "port0", backend: { _tag: "stdio" } }))
  })

  it("refuses no backend, several ports, and bad names", () => {
    expect(Either.isLeft(parseVirtioConsoleOptions(""))).toBe(true)
    expect(parseVirtioConsoleOptions("port1=/a,port2=/b")).toEqual(Either.left("one port only (no multiport support in bhyve-ts); got 'port1=/a,port2=/b'"))
    expect(Either.isLeft(parseVirtioConsoleOptions("bad name=/a"))).toBe(true)
    expect(Either.isLeft(parseVirtioConsoleOptions("port1="))).toBe(true)
  })
})

