import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Q from "../../../src/servers/virtio-blk/VirtioBlkRequest.js"
import { hasPendingIo } from "../../../src/servers/virtio/PendingIo.js"
import * as V from "../../../src/servers/virtio/VirtioConstants.js"
import type { BlockBackend } from "../../../src/servers/virtio-blk/BlockBackend.js"
import { DATA, gatedBackend, RINGS, submit, withBackend } from "./BlkTestRig.js"
import { until } from "./DeviceWait.js"
import { CC } from "./VirtioDriver.js"

const settle = () => new Promise((resolve) => setTimeout(resolve, 20))

describe("virtio-blk I/O in flight", () => {
  it.effect("requests run in parallel: eight reads are all started before any completes", () => {
    const gate = gatedBackend()
    return withBackend(gate.backend, async ({ driver, bytes }, device) => {
      const q = driver.start(RINGS)
      const statuses = Array.from({ length: 8 }, (_, i) => submit(q, bytes, { type: Q.T_IN, sector: i, data: [{ addr: DATA + 512 * i, len: 512 }] }))
      driver.notify()
      await settle()
      expect(gate.started()).toBe(8)
      expect(device.pendingIo()).toBe(8)
      expect(q.usedIdx).toBe(0)
      gate.release()
      await until(() => q.usedIdx === 8)
      expect(statuses.map((s) => bytes[s])).toEqual(Array(8).fill(Q.S_OK))
      expect(device.pendingIo()).toBe(0)
    })
  })

  it.effect("the device server exposes pendingIo for the run loop", () => {
    const gate = gatedBackend()
    return withBackend(gate.backend, async ({ driver, bytes, server }) => {
      const q = driver.start(RINGS)
      submit(q, bytes, { type: Q.T_FLUSH })
      driver.notify()
      expect(hasPendingIo(server) ? server.pendingIo() : -1).toBe(1)
      gate.release()
      await until(() => q.usedIdx === 1)
      expect(hasPendingIo(server) ? server.pendingIo() : -1).toBe(0)
    })
  })

  it.effect("quiesce waits for every request in flight to complete", () => {
    const gate = gatedBackend()
    return withBackend(gate.backend, async ({ driver, bytes, server }) => {
      const q = driver.start(RINGS)
      submit(q, bytes, { type: Q.T_OUT, sector: 1, data: [{ addr: DATA, len: 512 }] })
      submit(q, bytes, { type: Q.T_IN, sector: 2, data: [{ addr: DATA + 512, len: 512 }] })
      driver.notify()
      const quiesce = server.quiesce ?? Effect.void
      const fiber = Effect.runFork(quiesce)
      await settle()
      expect(fiber.unsafePoll()).toBeNull()
      gate.release()
      const exit = await Effect.runPromise(Fiber.await(fiber))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(q.usedIdx).toBe(2)
    })
  })

  it.effect("quiesce with nothing in flight finishes at once", () =>
    withBackend(gatedBackend().backend, async ({ server }) => {
      await Effect.runPromise(server.quiesce ?? Effect.void)
    }))

  it.effect("a request completing after the driver reset the device writes neither status nor used ring", () => {
    const gate = gatedBackend()
    return withBackend(gate.backend, async ({ driver, bytes }, device) => {
      const q = driver.start(RINGS)
      const status = submit(q, bytes, { type: Q.T_IN, sector: 0, data: [{ addr: DATA, len: 512 }] })
      driver.notify()
      driver.write(CC.status, 1, 0)
      gate.release()
      await until(() => device.pendingIo() === 0)
      expect(bytes[status]).toBe(0xff)
      expect(q.usedIdx).toBe(0)
    })
  })

  it.effect("a backend failure becomes an I/O error status, reported once", () => {
    const failing: BlockBackend = {
      sizeBytes: 1 << 20,
      readOnly: false,
      read: () => Promise.reject(new Error("EIO")),
      write: () => Promise.reject(new Error("EIO")),
      flush: () => Promise.resolve()
    }
    return withBackend(failing, async ({ driver, bytes, reports }) => {
      const q = driver.start(RINGS)
      const a = submit(q, bytes, { type: Q.T_IN, sector: 0, data: [{ addr: DATA, len: 512 }] })
      const b = submit(q, bytes, { type: Q.T_OUT, sector: 0, data: [{ addr: DATA, len: 512 }] })
      driver.notify()
      await until(() => q.usedIdx === 2)
      expect([bytes[a], bytes[b]]).toEqual([Q.S_IOERR, Q.S_IOERR])
      expect(reports.filter((r) => r.includes("I/O error: EIO"))).toHaveLength(1)
    })
  })

  it.effect("a backend that throws instead of rejecting is an I/O error too", () => {
    const throwing: BlockBackend = {
      sizeBytes: 1 << 20,
      readOnly: false,
      read: () => {
        throw new Error("boom")
      },
      write: () => Promise.resolve(),
      flush: () => Promise.resolve()
    }
    return withBackend(throwing, async ({ driver, bytes }) => {
      const q = driver.start(RINGS)
      const s = submit(q, bytes, { type: Q.T_IN, sector: 0, data: [{ addr: DATA, len: 512 }] })
      driver.notify()
      await until(() => q.usedIdx === 1)
      expect(bytes[s]).toBe(Q.S_IOERR)
    })
  })

  it.effect("asynchronous completions interrupt the driver (INTx, ISR bit 0)", () => {
    const gate = gatedBackend()
    return withBackend(gate.backend, async ({ driver, bytes }) => {
      const q = driver.start(RINGS, 0n)
      submit(q, bytes, { type: Q.T_FLUSH })
      driver.notify()
      expect(driver.readIsr()).toBe(0)
      gate.release()
      await until(() => q.usedIdx === 1)
      expect(driver.readIsr()).toBe(V.ISR_QUEUE)
    })
  })
})
