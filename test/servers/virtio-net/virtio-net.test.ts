import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as dgram from "node:dgram"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Bus from "../../../src/bus/Bus.js"
import type { GuestRam } from "../../../src/kernel/MemoryLayout.js"
import { type DeviceServer, DeviceServers } from "../../../src/servers/DeviceServer.js"
import * as PciBusServer from "../../../src/servers/pci/PciBusServer.js"
import * as V from "../../../src/servers/virtio/VirtioConstants.js"
import type { NetBackend } from "../../../src/servers/virtio-net/NetBackend.js"
import {
  F_MAC,
  F_STATUS,
  MAX_FRAME,
  MAX_PENDING_RX,
  NET_HDR_SIZE,
  type VirtioNetDevice
} from "../../../src/servers/virtio-net/VirtioNetDevice.js"
import { defaultMac, parseVirtioNetOptions } from "../../../src/servers/virtio-net/VirtioNetOptions.js"
import { attachNetDevice } from "../../../src/servers/virtio-net/VirtioNetServer.js"
import { VirtioNetState } from "../../../src/servers/virtio-net/VirtioNetState.js"
import { cfgRead, slot, testRam, withPci } from "../pci/PciTestMachine.js"
import { baseServices } from "../pci/PciTestMachine.js"
import { until } from "../virtio/DeviceWait.js"
import { assertHostileTablesNeverThrow, GuestQueue } from "../virtio/GuestQueue.js"
import { DEVICE_CFG, VirtioDriver } from "../virtio/VirtioDriver.js"

const NET = 4
const RXQ = 0x1000
const TXQ = 0x6000
const RX_DATA = 0x10000
const TX_DATA = 0x40000
const MAC = "52:54:00:12:34:56"

/** A backend held in memory: what the device sent, and a way to deliver frames to it. */
const memoryNet = () => {
  const sent: Array<Uint8Array> = []
  const listeners = new Set<(frame: Uint8Array) => void>()
  const backend: NetBackend = {
    kind: "none",
    send: (frame) => {
      sent.push(frame)
      return true
    },
    onFrame: (l) => {
      listeners.add(l)
      return () => void listeners.delete(l)
    },
    close: () => listeners.clear()
  }
  return { backend, sent, deliver: (frame: Uint8Array) => listeners.forEach((l) => l(frame)) }
}

interface Rig {
  readonly driver: VirtioDriver
  readonly bytes: Uint8Array
  readonly net: ReturnType<typeof memoryNet>
  readonly device: VirtioNetDevice
  readonly server: DeviceServer
}

const withNet = <A>(body: (r: Rig) => A | Promise<A>, ram: GuestRam = testRam(4 << 20), mac = MAC) => {
  const base = baseServices(ram)
  const netBackend = memoryNet()
  const holder: { device?: VirtioNetDevice } = {}
  const layer = Layer.scopedDiscard(
    Effect.map(attachNetDevice({ bus: 0, slot: NET, function: 0 }, netBackend.backend, mac), (d) => void (holder.device = d))
  ).pipe(Layer.provide(PciBusServer.layer({ memoryBytes: ram.size })), Layer.provideMerge(base.layer))
  return Effect.scoped(
    Effect.gen(function* () {
      const bus = yield* Bus.Bus
      const server = (yield* DeviceServers).find((s) => s.kind === "virtio-net")
      if (server === undefined || holder.device === undefined) return yield* Effect.die("no virtio-net")
      const rig: Rig = { driver: new VirtioDriver(bus, ram, NET), bytes: ram.regions[0].bytes, net: netBackend, device: holder.device, server }
      return yield* Effect.promise(async () => body(rig))
    }).pipe(Effect.provide(layer))
  )
}

const start = (d: VirtioDriver, wanted: bigint = F_MAC | F_STATUS | V.F_EVENT_IDX | V.F_INDIRECT_DESC) => {
  if (!d.negotiate(wanted)) throw new Error("FEATURES_OK refused")
  const rx = d.setupQueue(0, RXQ)
  const tx = d.setupQueue(1, TXQ)
  d.driverOk()
  return { rx, tx }
}

/** An Ethernet frame of `length` bytes from `src` (to broadcast), its payload filled with `fill`. */
const frame = (length: number, fill: number, src = [2, 0, 0, 0, 0, 1]): Uint8Array => {
  const f = new Uint8Array(length).fill(fill)
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...src, 0x08, 0x00])
  return f
}

/** Puts `f` behind a zero virtio_net_hdr at `at` and makes it available on `tx` (header and frame in separate descriptors). */
const transmit = (tx: GuestQueue, bytes: Uint8Array, at: number, f: Uint8Array) => {
  bytes.fill(0, at, at + NET_HDR_SIZE)
  bytes.set(f, at + 0x100)
  tx.add([{ addr: at, len: NET_HDR_SIZE }, { addr: at + 0x100, len: f.length }])
}

const postRx = (rx: GuestQueue, at: number, len = NET_HDR_SIZE + MAX_FRAME) => rx.add([{ addr: at, len, write: true }])

const throughJson = <A, I>(schema: Schema.Schema<A, I>, value: unknown): A =>
  Schema.decodeUnknownSync(schema)(JSON.parse(JSON.stringify(Schema.encodeUnknownSync(schema)(value))))

describe("virtio-net", () => {
  it.effect("is a virtio 1.x NIC: PCI 0x1AF4:0x1041, MAC and STATUS, no offloads", () =>
    withNet(({ driver }) => {
      expect(cfgRead(driver.bus, NET, 2, 2)).toBe(0x1041)
      expect(cfgRead(driver.bus, NET, 0x0a, 2)).toBe(0x0200)
      const features = driver.deviceFeatures()
      expect(features & (F_MAC | F_STATUS | V.F_VERSION_1)).toBe(F_MAC | F_STATUS | V.F_VERSION_1)
      // CSUM, GUEST_CSUM, GUEST/HOST TSO and UFO, MRG_RXBUF, CTRL_VQ, MQ: none offered.
      for (const bit of [0n, 1n, 7n, 8n, 10n, 11n, 14n, 15n, 17n, 22n]) expect(features & (1n << bit)).toBe(0n)
      expect(driver.negotiate(F_MAC | F_STATUS)).toBe(true)
      const mac = Array.from({ length: 6 }, (_, i) => driver.num(DEVICE_CFG + i, 1).toString(16).padStart(2, "0")).join(":")
      expect(mac).toBe(MAC)
      expect(driver.num(DEVICE_CFG + 6, 2)).toBe(1) // VIRTIO_NET_S_LINK_UP
    }))

  it.effect("sends each transmitted frame without its header, and returns the chains", () =>
    withNet(({ driver, bytes, net, device }) => {
      const { tx } = start(driver)
      const a = frame(60, 0xaa)
      const b = frame(MAX_FRAME, 0xbb)
      transmit(tx, bytes, TX_DATA, a)
      transmit(tx, bytes, TX_DATA + 0x1000, b)
      driver.notify(1)
      expect(net.sent).toEqual([a, b])
      expect(tx.takeUsed()).toEqual([{ id: 0, len: 0 }, { id: 2, len: 0 }])
      expect(device.counters()).toEqual({ txFrames: 2, txDropped: 0, rxFrames: 0, rxDropped: 0 })
    }))

  it.effect("drops (and counts) transmits shorter than a header plus an Ethernet header, or longer than a frame", () =>
    withNet(({ driver, bytes, net, device }) => {
      const { tx } = start(driver)
      tx.add([{ addr: TX_DATA, len: 8 }])
      transmit(tx, bytes, TX_DATA + 0x1000, frame(MAX_FRAME + 1, 1))
      driver.notify(1)
      expect(net.sent).toEqual([])
      expect(tx.takeUsed().length).toBe(2)
      expect(device.counters().txDropped).toBe(2)
    }))

  it.effect("puts received frames in posted buffers behind a virtio_net_hdr (num_buffers 1)", () =>
    withNet(({ driver, bytes, net }) => {
      const { rx } = start(driver)
      postRx(rx, RX_DATA)
      driver.notify(0)
      const f = frame(64, 0x5a)
      bytes.fill(0xee, RX_DATA, RX_DATA + NET_HDR_SIZE)
      net.deliver(f)
      expect(rx.takeUsed()).toEqual([{ id: 0, len: NET_HDR_SIZE + 64 }])
      expect([...bytes.subarray(RX_DATA, RX_DATA + NET_HDR_SIZE)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])
      expect(bytes.subarray(RX_DATA + NET_HDR_SIZE, RX_DATA + NET_HDR_SIZE + 64)).toEqual(f)
    }))

  it.effect("a frame split over several receive descriptors", () =>
    withNet(({ driver, bytes, net }) => {
      const { rx } = start(driver)
      rx.add([{ addr: RX_DATA, len: NET_HDR_SIZE, write: true }, { addr: RX_DATA + 0x100, len: 40, write: true }, { addr: RX_DATA + 0x200, len: 2000, write: true }])
      driver.notify(0)
      const f = frame(100, 0x33)
      net.deliver(f)
      expect(rx.takeUsed()).toEqual([{ id: 0, len: NET_HDR_SIZE + 100 }])
      const got = new Uint8Array(100)
      got.set(bytes.subarray(RX_DATA + 0x100, RX_DATA + 0x100 + 40))
      got.set(bytes.subarray(RX_DATA + 0x200, RX_DATA + 0x200 + 60), 40)
      expect(got).toEqual(f)
    }))

  it.effect("holds frames while the guest has no buffers; delivers them later; drops (counted) beyond the bound", () =>
    withNet(({ driver, bytes, net, device }) => {
      const { rx } = start(driver)
      for (let i = 0; i < MAX_PENDING_RX + 5; i++) net.deliver(frame(60, i & 0xff))
      expect(device.pendingRx()).toBe(MAX_PENDING_RX)
      expect(device.counters().rxDropped).toBe(5)
      for (let i = 0; i < 4; i++) postRx(rx, RX_DATA + 0x800 * i)
      driver.notify(0)
      expect(rx.takeUsed().map((u) => u.len)).toEqual([72, 72, 72, 72])
      for (let i = 0; i < 4; i++) expect(bytes[RX_DATA + 0x800 * i + NET_HDR_SIZE + 20]).toBe(i)
      expect(device.pendingRx()).toBe(MAX_PENDING_RX - 4)
      expect(device.counters().rxFrames).toBe(4)
    }))

  it.effect("a receive buffer too small for the frame comes back empty and the frame is dropped", () =>
    withNet(({ driver, net, device }) => {
      const { rx } = start(driver)
      postRx(rx, RX_DATA, 40)
      postRx(rx, RX_DATA + 0x1000)
      driver.notify(0)
      net.deliver(frame(100, 1))
      net.deliver(frame(100, 2))
      expect(rx.takeUsed()).toEqual([{ id: 0, len: 0 }, { id: 1, len: NET_HDR_SIZE + 100 }])
      expect(device.counters()).toMatchObject({ rxFrames: 1, rxDropped: 1 })
    }))

  it.effect("save, encode, decode, restore: transport, MAC and counters carry over; pending frames count as dropped", () =>
    Effect.gen(function* () {
      const ram = testRam(4 << 20)
      const saved = yield* withNet(({ driver, bytes, net, server }) => {
        const { tx } = start(driver)
        transmit(tx, bytes, TX_DATA, frame(60, 1))
        driver.notify(1)
        net.deliver(frame(60, 2))
        net.deliver(frame(60, 3))
        return throughJson(VirtioNetState, server.save())
      }, ram)
      expect(saved.mac).toBe(MAC)
      expect(saved.counters).toEqual({ txFrames: 1, txDropped: 0, rxFrames: 0, rxDropped: 2 })
      const copy = testRam(4 << 20)
      copy.regions[0].bytes.set(ram.regions[0].bytes)
      // Configured with another MAC: the guest keeps the one its driver read.
      yield* withNet(({ driver, bytes, net, server, device }) => {
        server.restore(saved)
        expect(driver.status).toBe(0x0f)
        expect(driver.num(DEVICE_CFG + 5, 1)).toBe(0x56)
        expect(device.pendingRx()).toBe(0)
        const tx = new GuestQueue(copy, TXQ, 256)
        tx.setAvailIdx(1)
        transmit(tx, bytes, TX_DATA + 0x1000, frame(70, 4))
        driver.notify(1)
        expect(net.sent.length).toBe(1)
        expect(tx.usedIdx).toBe(2)
        expect(device.counters().txFrames).toBe(2)
      }, copy, "52:54:00:00:00:01")
    }))

  it("refuses a state with a malformed MAC", () => {
    const bad = { virtio: {}, mac: "zz", counters: { txFrames: 0, txDropped: 0, rxFrames: 0, rxDropped: 0 } }
    expect(Either.isLeft(Schema.decodeUnknownEither(VirtioNetState)(bad))).toBe(true)
  })

  it.effect("random descriptor tables on both queues never throw", () =>
    withNet(({ driver, bytes, net }) =>
      assertHostileTablesNeverThrow({
        maxNext: 300,
        start: () => start(driver),
        notify: (queue) => driver.notify(queue),
        poke: () => net.deliver(frame(60, 9)),
        clear: () => bytes.fill(0, RXQ, TXQ + 0x3000),
        seed: 4711
      })))

  const links: ReadonlyArray<readonly [string, () => Promise<readonly [string, string]>]> = [
    ["the UDP backend on loopback", async () => {
      const [pa, pb] = await freePorts(2)
      return [`udp=${pa}:${pb}`, `udp=${pb}:${pa}`] as const
    }],
    ["the unix datagram backend", async () => {
      const dir = mkdtempSync(join(tmpdir(), "bhyve-net-"))
      return [`unix=${dir}/a.sock:${dir}/b.sock`, `unix=${dir}/b.sock:${dir}/a.sock`] as const
    }]
  ]

  it.effect.each(links)("two NICs linked by %s exchange frames both ways", ([, link]) =>
    Effect.gen(function* () {
      const [la, lb] = yield* Effect.promise(link)
      const slots = [slot(4, "virtio-net", `${la},mac=02:00:00:00:00:0a`), slot(5, "virtio-net", `mac=02:00:00:00:00:0b,${lb}`)]
      yield* withPci(slots, async (bus, m) => {
        const bytes = m.ram.regions[0].bytes
        const a = new VirtioDriver(bus, m.ram, 4)
        const b = new VirtioDriver(bus, m.ram, 5)
        const bring = (d: VirtioDriver, base: number) => {
          if (!d.negotiate(F_MAC | F_STATUS | V.F_EVENT_IDX)) throw new Error("FEATURES_OK refused")
          const rx = d.setupQueue(0, base)
          const tx = d.setupQueue(1, base + 0x5000)
          d.driverOk()
          return { rx, tx }
        }
        const qa = bring(a, 0x10000)
        const qb = bring(b, 0x20000)
        postRx(qa.rx, 0x100000)
        postRx(qb.rx, 0x200000)
        a.notify(0)
        b.notify(0)
        const fa = frame(60, 0xa1, [2, 0, 0, 0, 0, 0x0a])
        transmit(qa.tx, bytes, 0x300000, fa)
        a.notify(1)
        await until(() => qb.rx.usedIdx === 1)
        expect(bytes.subarray(0x200000 + NET_HDR_SIZE, 0x200000 + NET_HDR_SIZE + 60)).toEqual(fa)
        const fb = frame(1514, 0xb2, [2, 0, 0, 0, 0, 0x0b])
        transmit(qb.tx, bytes, 0x310000, fb)
        b.notify(1)
        await until(() => qa.rx.usedIdx === 1)
        expect(qa.rx.takeUsed()).toEqual([{ id: 0, len: NET_HDR_SIZE + 1514 }])
        expect(bytes.subarray(0x100000 + NET_HDR_SIZE, 0x100000 + NET_HDR_SIZE + 1514)).toEqual(fb)
      })
    }))

  it.effect("the UDP backend ignores datagrams from anyone but its peer", () =>
    Effect.gen(function* () {
      const [pa, pb] = yield* Effect.promise(() => freePorts(2))
      yield* withPci([slot(4, "virtio-net", `udp=${pa}:${pb}`)], async (bus, m) => {
        const d = new VirtioDriver(bus, m.ram, 4)
        const { rx } = start(d)
        postRx(rx, RX_DATA)
        d.notify(0)
        const stranger = dgram.createSocket("udp4")
        await new Promise<void>((resolve) => stranger.send(frame(60, 1), pa, "127.0.0.1", () => resolve()))
        const peer = dgram.createSocket("udp4")
        await new Promise<void>((resolve) => peer.bind(pb, "127.0.0.1", () => resolve()))
        await new Promise<void>((resolve) => peer.send(frame(60, 2), pa, "127.0.0.1", () => resolve()))
        await until(() => rx.usedIdx === 1)
        expect(m.ram.regions[0].bytes[RX_DATA + NET_HDR_SIZE + 20]).toBe(2)
        stranger.close()
        peer.close()
      })
    }))
})

describe("virtio-net options", () => {
  const at = { bus: 0, slot: 4, function: 0 }
  it("mac= and udp=LOCALPORT:PEERPORT", () => {
    expect(parseVirtioNetOptions(at, "udp=5000:5001,mac=52:54:00:AB:CD:EF")).toEqual(
      Either.right({ mac: "52:54:00:ab:cd:ef", backend: { _tag: "udp", localPort: 5000, peerPort: 5001 } })
    )
    expect(parseVirtioNetOptions(at, "unix=/tmp/a.sock:/tmp/b.sock")).toEqual(
      Either.right({ mac: defaultMac(at), backend: { _tag: "unix", localPath: "/tmp/a.sock", peerPath: "/tmp/b.sock" } })
    )
    expect(parseVirtioNetOptions(at, "tap0")).toEqual(Either.right({ mac: defaultMac(at), backend: { _tag: "tap", name: "tap0" } }))
    expect(parseVirtioNetOptions(at, "tap=vm-lan.1")).toEqual(Either.right({ mac: defaultMac(at), backend: { _tag: "tap", name: "vm-lan.1" } }))
    expect(parseVirtioNetOptions(at, "")).toEqual(Either.right({ mac: defaultMac(at), backend: { _tag: "none" } }))
  })

  it("the default MAC is stable per slot, unicast and locally administered", () => {
    const mac = defaultMac(at)
    expect(mac).toBe(defaultMac({ bus: 0, slot: 4, function: 0 }))
    expect(mac).not.toBe(defaultMac({ bus: 0, slot: 5, function: 0 }))
    expect(mac.startsWith("02:")).toBe(true)
  })

  it("refuses bad MACs, bad ports and paths, two backends, vmnet and unknown options", () => {
    const long = `/tmp/${"x".repeat(120)}`
    for (const bad of [
      "mac=01:00:5e:00:00:01", "mac=00:00:00:00:00:00", "mac=52:54:00:12:34", "udp=0:1", "udp=1:70000", "udp=5000",
      "unix=/tmp/a.sock", "unix=/tmp/a.sock:", "unix=/tmp/a:b:/c", "unix=/tmp/a.sock:/tmp/a.sock", `unix=${long}:/tmp/b`,
      "tap=", "tap=a/b", "tap=waytoolonginterfacename", "tap0,tap1", "tap0,unix=/a:/b",
      "vmnet1", "foo", "mac=52:54:00:12:34:56,mac=52:54:00:12:34:57"
    ]) {
      expect(Either.isLeft(parseVirtioNetOptions(at, bad)), bad).toBe(true)
    }
    expect(parseVirtioNetOptions(at, "tap0,udp=1:2")).toEqual(Either.left("one backend only (got tap0 and udp=1:2)"))
    expect(parseVirtioNetOptions(at, "vmnet1")).toEqual(
      Either.left("backend 'vmnet1' is not implemented in bhyve-ts (use tapN, unix=LOCALPATH:PEERPATH or udp=LOCALPORT:PEERPORT)")
    )
  })
})

/** Ports free on 127.0.0.1 right now (bound to 0 and released). */
const freePorts = async (n: number): Promise<Array<number>> => {
  const socks = Array.from({ length: n }, () => dgram.createSocket("udp4"))
  const ports = await Promise.all(socks.map((s) => new Promise<number>((resolve) => s.bind(0, "127.0.0.1", () => resolve(s.address().port)))))
  await Promise.all(socks.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  return ports
}

