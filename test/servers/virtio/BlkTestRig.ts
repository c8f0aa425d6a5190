import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Bus from "../../../src/bus/Bus.js"
import { type DeviceServer, DeviceServers } from "../../../src/servers/DeviceServer.js"
import * as PciBusServer from "../../../src/servers/pci/PciBusServer.js"
import * as PciSlots from "../../../src/servers/pci/PciSlots.js"
import type { BlockBackend } from "../../../src/servers/virtio-blk/BlockBackend.js"
import type { VirtioBlkDevice } from "../../../src/servers/virtio-blk/VirtioBlkDevice.js"
import { attachBlockDevice } from "../../../src/servers/virtio-blk/VirtioBlkServer.js"
import { baseServices, slot } from "../pci/PciTestMachine.js"
import type { GuestQueue } from "./GuestQueue.js"
import { VirtioDriver } from "./VirtioDriver.js"

export const BLK = 5
export const RINGS = 0x1000
export const HEADERS = 0x20000
export const STATUS = 0x30000
export const DATA = 0x40000
export const IMAGE_BYTES = 1024 * 1024

const imageDirs: Array<string> = []

/** A raw image in a fresh temp directory whose sector n is filled with byte n & 0xff. */
export const makeImage = (bytes = IMAGE_BYTES): string => {
  const dir = mkdtempSync(join(tmpdir(), "bhyve-ts-blk-"))
  imageDirs.push(dir)
  const path = join(dir, "disk.img")
  const image = new Uint8Array(bytes)
  for (let s = 0; s < bytes / 512; s++) image.fill(s & 0xff, s * 512, (s + 1) * 512)
  writeFileSync(path, image)
  return path
}

/** Removes every image made so far (call after the file's tests). */
export const removeImages = (): void => {
  for (const dir of imageDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
}

export interface BlkRig {
  readonly bus: Bus.BusRouter
  readonly driver: VirtioDriver
  /** Guest RAM. */
  readonly bytes: Uint8Array
  readonly server: DeviceServer
  readonly reports: Array<string>
}

const run = <E>(layer: Layer.Layer<Bus.Bus | DeviceServers, E, never>, base: ReturnType<typeof baseServices>, body: (r: BlkRig) => Promise<void>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const bus = yield* Bus.Bus
      const server = (yield* DeviceServers).find((s) => s.kind === "virtio-blk")
      if (server === undefined) return yield* Effect.die("no virtio-blk server")
      const driver = new VirtioDriver(bus, base.ram, BLK)
      yield* Effect.promise(() => body({ bus, driver, bytes: base.ram.regions[0].bytes, server, reports: base.reports }))
    }).pipe(Effect.provide(layer))
  )

/** virtio-blk as `-s 5,virtio-blk,OPTIONS` makes it. */
export const withBlk = (options: string, body: (r: BlkRig) => Promise<void>) => {
  const base = baseServices()
  const pci = Either.getOrThrow(PciSlots.layer([slot(BLK, "virtio-blk", options)], { memoryBytes: base.ram.size }))
  return run(pci.pipe(Layer.provideMerge(base.layer)), base, body)
}

/** virtio-blk over a backend of the test's choosing (slow, failing...), with the device model at hand. */
export const withBackend = (backend: BlockBackend, body: (r: BlkRig, device: VirtioBlkDevice) => Promise<void>) => {
  const base = baseServices()
  const holder: { device?: VirtioBlkDevice } = {}
  const attach = attachBlockDevice({ bus: 0, slot: BLK, function: 0 }, backend, {
    path: "memory",
    logicalSectorSize: 512,
    physicalSectorSize: 512,
    serial: undefined,
    discard: true
  })
  const layer = Layer.scopedDiscard(Effect.map(attach, (device) => void (holder.device = device))).pipe(
    Layer.provide(PciBusServer.layer({ memoryBytes: base.ram.size })),
    Layer.provideMerge(base.layer)
  )
  return run(layer, base, (r) => {
    if (holder.device === undefined) throw new Error("device not built")
    return body(r, holder.device)
  })
}

/** An in-memory backend whose operations wait at a gate the test opens. */
export const gatedBackend = (sizeBytes = IMAGE_BYTES) => {
  const data = new Uint8Array(sizeBytes)
  let open = false
  const waiting: Array<() => void> = []
  let started = 0
  const gate = () => {
    started++
    return open ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))
  }
  const backend: BlockBackend = {
    sizeBytes,
    readOnly: false,
    read: async (views, position) => {
      await gate()
      let at = position
      for (const v of views) {
        v.set(data.subarray(at, at + v.length))
        at += v.length
      }
    },
    write: async (views, position) => {
      await gate()
      let at = position
      for (const v of views) {
        data.set(v, at)
        at += v.length
      }
    },
    flush: async () => {
      await gate()
    }
  }
  return {
    backend,
    data,
    started: () => started,
    release: () => {
      open = true
      for (const w of waiting.splice(0)) w()
    }
  }
}

export interface Request {
  readonly type: number
  readonly sector?: number
  /** Data buffers (device-writable for reads and GET_ID, readable otherwise). */
  readonly data?: ReadonlyArray<{ readonly addr: number; readonly len: number }>
  /** Put the 16-byte header in two descriptors of 8. */
  readonly splitHeader?: boolean
  /** Leave out the status byte. */
  readonly noStatus?: boolean
}

let requests = 0

/** Writes a request's header and makes its chain available; returns where its status byte is. */
export const submit = (q: GuestQueue, bytes: Uint8Array, r: Request): number => {
  const k = requests++ % 256
  const header = HEADERS + 32 * k
  const status = STATUS + k
  const view = new DataView(bytes.buffer, bytes.byteOffset)
  view.setUint32(header, r.type, true)
  view.setUint32(header + 4, 0, true)
  view.setBigUint64(header + 8, BigInt(r.sector ?? 0), true)
  bytes[status] = 0xff
  const deviceWrites = r.type === 0 || r.type === 8
  q.add([
    ...(r.splitHeader === true ? [{ addr: header, len: 8 }, { addr: header + 8, len: 8 }] : [{ addr: header, len: 16 }]),
    ...(r.data ?? []).map((d) => ({ ...d, write: deviceWrites })),
    ...(r.noStatus === true ? [] : [{ addr: status, len: 1, write: true }])
  ])
  return status
}

