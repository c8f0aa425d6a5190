import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { copyFileSync, readFileSync, truncateSync, utimesSync, writeFileSync } from "node:fs"
import { open } from "node:fs/promises"
import { diskIdentity, identityMismatch } from "../../../src/servers/virtio-blk/DiskIdentity.js"
import * as C from "../../../src/servers/virtio-blk/VirtioBlkConfig.js"
import * as Q from "../../../src/servers/virtio-blk/VirtioBlkRequest.js"
import { defaultSerial } from "../../../src/servers/virtio-blk/VirtioBlkServer.js"
import * as V from "../../../src/servers/virtio/VirtioConstants.js"
import { DATA, IMAGE_BYTES, makeImage, removeImages, RINGS, submit, withBlk } from "./BlkTestRig.js"
import { until } from "./DeviceWait.js"
import { DEVICE_CFG } from "./VirtioDriver.js"

afterAll(removeImages)

const DISCARD_FEATURES = V.F_EVENT_IDX | V.F_INDIRECT_DESC | C.F_FLUSH | C.F_DISCARD

/** Discard segments written at `at`: [sector, count, flags] each. */
const discardSegments = (bytes: Uint8Array, at: number, segments: ReadonlyArray<readonly [number, number, number]>) => {
  const view = new DataView(bytes.buffer, bytes.byteOffset)
  segments.forEach(([sector, count, flags], i) => {
    view.setBigUint64(at + 16 * i, BigInt(sector), true)
    view.setUint32(at + 16 * i + 8, count, true)
    view.setUint32(at + 16 * i + 12, flags, true)
  })
  return { addr: at, len: 16 * segments.length }
}

describe("virtio-blk configuration", () => {
  it.effect("offers flush, block size, topology, seg_max and discard, and not read-only", () => {
    const path = makeImage()
    return withBlk(path, async ({ driver }) => {
      const f = driver.deviceFeatures()
      for (const bit of [C.F_FLUSH, C.F_BLK_SIZE, C.F_TOPOLOGY, C.F_SEG_MAX, C.F_DISCARD]) expect(f & bit).toBe(bit)
      expect(f & C.F_RO).toBe(0n)
    })
  })

  it.effect("config space gives capacity in 512-byte sectors, seg_max and a 512-byte block by default", () =>
    withBlk(makeImage(), async ({ driver }) => {
      expect(driver.read(DEVICE_CFG, 8)).toBe(BigInt(IMAGE_BYTES / 512))
      expect(driver.num(DEVICE_CFG + 0x0c)).toBe(C.SEG_MAX)
      expect(driver.num(DEVICE_CFG + 0x14)).toBe(512)
    }))

  it.effect("sectorsize=4096/8192 sets blk_size, the physical block exponent and the discard alignment", () =>
    withBlk(`${makeImage()},sectorsize=4096/8192`, async ({ driver }) => {
      expect(driver.num(DEVICE_CFG + 0x14)).toBe(4096)
      expect(driver.num(DEVICE_CFG + 0x18, 1)).toBe(1)
      expect(driver.num(DEVICE_CFG + 0x2c)).toBe(8)
    }))

  it.effect("a ro image is offered read-only and without discard", () =>
    withBlk(`${makeImage()},ro`, async ({ driver }) => {
      const f = driver.deviceFeatures()
      expect(f & C.F_RO).toBe(C.F_RO)
      expect(f & C.F_DISCARD).toBe(0n)
    }))

  it.effect("announces the disk's identity (path, size, fingerprint) for the snapshot manifest", () => {
    const path = makeImage()
    return withBlk(path, async ({ server }) => {
      expect(server.config).toMatchObject({ address: "0:5:0", path, sizeBytes: IMAGE_BYTES, readOnly: false, sectorSize: 512 })
      expect(String(server.config?.sha256)).toMatch(/^[0-9a-f]{64}$/)
    })
  })
})

describe("virtio-blk requests", () => {
  it.effect("a read copies the sectors into the guest's buffer and returns data + status bytes", () =>
    withBlk(makeImage(), async ({ driver, bytes }) => {
      const q = driver.start(RINGS)
      const status = submit(q, bytes, { type: Q.T_IN, sector: 3, data: [{ addr: DATA, len: 1024 }] })
      driver.notify()
      await until(() => q.usedIdx === 1)
      expect(bytes[status]).toBe(Q.S_OK)
      expect(q.takeUsed()).toEqual([{ id: 0, len: 1025 }])
      expect(bytes.subarray(DATA, DATA + 512).every((b) => b === 3)).toBe(true)
      expect(bytes.subarray(DATA + 512, DATA + 1024).every((b) => b === 4)).toBe(true)
    }))

  it.effect("a write lands in the image file", () => {
    const path = makeImage()
    return withBlk(path, async ({ driver, bytes }) => {
      const q = driver.start(RINGS)
      bytes.fill(0xab, DATA, DATA + 512)
      const status = submit(q, bytes, { type: Q.T_OUT, sector: 10, data: [{ addr: DATA, len: 512 }] })
      driver.notify()
      await until(() => q.usedIdx === 1)
      expect(bytes[status]).toBe(Q.S_OK)
      expect(q.takeUsed()[0].len).toBe(1)
      expect(readFileSync(path).subarray(10 * 512, 11 * 512).every((b) => b === 0xab)).toBe(true)
    })
  })

  it.effect("headers and data split across descriptors are read as one stream", () =>
    withBlk(makeImage(), async ({ driver, bytes }) => {
      const q = driver.start(RINGS)
      const status = submit(q, bytes, { type: Q.T_IN, sector: 7, splitHeader: true, data: [{ addr: DATA, len: 100 }, { addr: DATA + 0x1000, len: 412 }] })
      driver.notify()
      await until(() => q.usedIdx === 1)
      expect(bytes[status]).toBe(Q.S_OK)
      expect(bytes[DATA + 99]).toBe(7)
      expect(bytes[DATA + 0x1000 + 411]).toBe(7)
    }))

  it.effect("flush succeeds", () =>
    withBlk(makeImage(), async ({ driver, bytes }) => {
      const q = driver.start(RINGS, C.F_FLUSH)
      const status = submit(q, bytes, { type: Q.T_FLUSH })
      driver.notify()
      await until(() => q.usedIdx === 1)
      expect(bytes[status]).toBe(Q.S_OK)
    }))

  it.effect("get-id returns bhyve's default id derived from the path", () => {
    const path = makeImage()
    return withBlk(path, async ({ driver, bytes }) => {
      const q = driver.start(RINGS)
      const status = submit(q, bytes, { type: Q.T_GET_ID, data: [{ addr: DATA, len: 20 }] })
      driver.notify()
      await until(() => q.usedIdx === 1)
      expect(bytes[status]).toBe(Q.S_OK)
      expect(Buffer.from(bytes.subarray(DATA, DATA + 20)).toString("latin1")).toBe(defaultSerial(path))
      expect(defaultSerial(path)).toMatch(/^BHYVE-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}$/)
    })
  })

  it.effect("get-id returns ser= when given, NUL-terminated", () =>
    withBlk(`${makeImage()},ser=DISK42`, async ({ driver, bytes }) => {
      const q = driver.start(RINGS)
      bytes.fill(0xee, DATA, DATA + 20)
      submit(q, bytes, { type: Q.T_GET_ID, data: [{ addr: DATA, len: 20 }] })
      driver.notify()
      await until(() => q.usedIdx === 1)
      expect(Buffer.from(bytes.subarray(DATA, DATA + 7)).toString("latin1")).toBe("DISK42\0")
    }))

  it.effect("discard of sectors inside the disk succeeds", () =>
    withBlk(makeImage(), async ({ driver, bytes }) => {
      const q = driver.start(RINGS, DISCARD_FEATURES)
      const status = submit(q, bytes, { type: Q.T_DISCARD, data: [discardSegments(bytes, DATA, [[0, 8, 0], [100, 16, 1]])] })
      driver.notify()
      await until(() => q.usedIdx === 1)
      expect(bytes[status]).toBe(Q.S_OK)
    }))

  it.effect("discard past the end of the disk is an I/O error", () =>
    withBlk(makeImage(), async ({ driver, bytes }) => {
      const q = driver.start(RINGS, DISCARD_FEATURES)
      const status = submit(q, bytes, { type: Q.T_DISCARD, data: [discardSegments(bytes, DATA, [[IMAGE_BYTES / 512 - 4, 8, 0]])] })
      driver.notify()
      await until(() => q.usedIdx === 1)
      expect(bytes[status]).toBe(Q.S_IOERR)
    }))

  it.effect("with nodelete, discard is unsupported", () =>
    withBlk(`${makeImage()},nodelete`, async ({ driver, bytes }) => {
      expect(driver.deviceFeatures() & C.F_DISCARD).toBe(0n)
      const q = driver.start(RINGS)
      const status = submit(q, bytes, { type: Q.T_DISCARD, data: [discardSegments(bytes, DATA, [[0, 8, 0]])] })
      driver.notify()
      await until(() => q.usedIdx === 1)
      expect(bytes[status]).toBe(Q.S_UNSUPP)
    }))

  it.effect("a ro disk refuses writes with IOERR and leaves the image alone, but reads", () => {
    const path = makeImage()
    return withBlk(`${path},ro`, async ({ driver, bytes }) => {
      const q = driver.start(RINGS)
      bytes.fill(0xcd, DATA, DATA + 512)
      const write = submit(q, bytes, { type: Q.T_OUT, sector: 1, data: [{ addr: DATA, len: 512 }] })
      const read = submit(q, bytes, { type: Q.T_IN, sector: 2, data: [{ addr: DATA + 0x1000, len: 512 }] })
      driver.notify()
      await until(() => q.usedIdx === 2)
      expect(bytes[write]).toBe(Q.S_IOERR)
      expect(bytes[read]).toBe(Q.S_OK)
      expect(readFileSync(path)[512]).toBe(1)
    })
  })

  it.effect("a read past the end of the disk, or of a partial sector, is an I/O error", () =>
    withBlk(makeImage(), async ({ driver, bytes }) => {
      const q = driver.start(RINGS)
      const past = submit(q, bytes, { type: Q.T_IN, sector: IMAGE_BYTES / 512 - 1, data: [{ addr: DATA, len: 1024 }] })
      const partial = submit(q, bytes, { type: Q.T_IN, sector: 0, data: [{ addr: DATA, len: 100 }] })
      const huge = submit(q, bytes, { type: Q.T_IN, sector: 2 ** 60, data: [{ addr: DATA, len: 512 }] })
      driver.notify()
      await until(() => q.usedIdx === 3)
      expect([bytes[past], bytes[partial], bytes[huge]]).toEqual([Q.S_IOERR, Q.S_IOERR, Q.S_IOERR])
    }))

  it.effect("an unknown request type is unsupported", () =>
    withBlk(makeImage(), async ({ driver, bytes }) => {
      const q = driver.start(RINGS)
      const status = submit(q, bytes, { type: 99 })
      driver.notify()
      await until(() => q.usedIdx === 1)
      expect(bytes[status]).toBe(Q.S_UNSUPP)
    }))

  it.effect("a request without a status byte is given back with length 0 and reported once", () =>
    withBlk(makeImage(), async ({ driver, bytes, reports }) => {
      const q = driver.start(RINGS)
      submit(q, bytes, { type: Q.T_IN, noStatus: true })
      submit(q, bytes, { type: Q.T_IN, noStatus: true })
      driver.notify()
      expect(q.takeUsed()).toEqual([{ id: 0, len: 0 }, { id: 1, len: 0 }])
      expect(reports.filter((r) => r.includes("without a writable status byte"))).toHaveLength(1)
    }))

  it.effect("without FLUSH negotiated, a write is made durable before it completes (write-through)", () => {
    const path = makeImage()
    return withBlk(path, async ({ driver, bytes }) => {
      const q = driver.start(RINGS, 0n)
      bytes.fill(0x5e, DATA, DATA + 512)
      const status = submit(q, bytes, { type: Q.T_OUT, sector: 0, data: [{ addr: DATA, len: 512 }] })
      driver.notify()
      await until(() => q.usedIdx === 1)
      expect(bytes[status]).toBe(Q.S_OK)
      expect(readFileSync(path)[0]).toBe(0x5e)
    })
  })

  it.effect("the fingerprint taken at quiesce follows the guest's writes", () => {
    const path = makeImage()
    return withBlk(path, async ({ driver, bytes, server }) => {
      const before = server.config?.sha256
      const q = driver.start(RINGS)
      bytes.fill(0x77, DATA, DATA + 512)
      submit(q, bytes, { type: Q.T_OUT, sector: 0, data: [{ addr: DATA, len: 512 }] })
      driver.notify()
      if (server.quiesce !== undefined) await Effect.runPromise(server.quiesce)
      expect(server.config?.sha256).not.toBe(before)
    })
  })

  it.effect("an image that cannot be opened fails the machine's build with DiskOpenFailed", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(withBlk("/nonexistent/disk.img", async () => {}))
      expect(error).toMatchObject({ _tag: "DiskOpenFailed", reason: "ENOENT" })
      expect(String(error.message)).toBe("disk image /nonexistent/disk.img: ENOENT")
    }))

  it.effect("a directory is not a disk image", () => {
    const dir = makeImage().replace(/\/disk\.img$/, "")
    return Effect.gen(function* () {
      expect(yield* Effect.flip(withBlk(`${dir},ro`, async () => {}))).toMatchObject({ _tag: "DiskOpenFailed", reason: "not a regular file" })
      expect(yield* Effect.flip(withBlk(dir, async () => {}))).toMatchObject({ _tag: "DiskOpenFailed", reason: "EISDIR" })
    })
  })
})

describe("disk identity", () => {
  it("matches a faithful copy, whatever its mtime; not a different or resized image", async () => {
    const path = makeImage()
    const identify = async (p: string) => {
      const h = await open(p, "r")
      try {
        return await diskIdentity(h, p)
      } finally {
        await h.close()
      }
    }
    const original = await identify(path)
    const copy = `${path}.copy`
    copyFileSync(path, copy)
    utimesSync(copy, new Date(0), new Date(0))
    expect(identityMismatch(original, await identify(copy))).toBeUndefined()
    const other = makeImage()
    writeFileSync(other, Buffer.alloc(IMAGE_BYTES, 1))
    expect(identityMismatch(original, await identify(other))).toContain("fingerprint differs")
    truncateSync(copy, IMAGE_BYTES / 2)
    expect(identityMismatch(original, await identify(copy))).toContain(`is ${IMAGE_BYTES / 2} bytes`)
  })
})
