import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Bus } from "../../src/bus/Bus.js"
import type { MachineConfig } from "../../src/machine/MachineConfig.js"
import * as SnapshotFsLive from "../../src/snapshot/format/SnapshotFsLive.js"
import * as MachineSnapshots from "../../src/snapshot/MachineSnapshots.js"
import { guestPath } from "../support/GuestRun.js"

const COM1 = 0x3f8
const [THR, IER, FCR, LCR, MCR, SCR] = [0, 1, 2, 3, 4, 7]

describe("a snapshot keeps a UART's programming", () => {
  it.scoped("divisor latch, IER, scratch, FIFO mode and the bytes waiting in the receive FIFO", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "bhyve-uart-"))
      const config: MachineConfig = {
        name: "uart", cpus: 1, memoryBytes: 16 << 20,
        boot: { kernel: guestPath("hello.elf"), cmdline: "" },
        serial: [{ port: "com1", backend: { _tag: "file", path: join(dir, "a.txt") } }],
        slots: [], strictBus: false, options: {}
      }
      const snapshot = join(dir, "uart.snap")
      yield* Effect.scoped(Effect.gen(function*() {
        const machine = yield* MachineSnapshots.fromConfig(config)
        const bus = Context.get(machine.context, Bus)
        bus.pioWrite(COM1 + LCR, 1, 0x80) // DLAB
        bus.pioWrite(COM1 + 0, 1, 0x0c) // 9600 baud
        bus.pioWrite(COM1 + 1, 1, 0x00)
        bus.pioWrite(COM1 + LCR, 1, 0x1b) // 8 data bits, even parity, DLAB off
        bus.pioWrite(COM1 + FCR, 1, 0x07)
        bus.pioWrite(COM1 + IER, 1, 0x05)
        bus.pioWrite(COM1 + SCR, 1, 0xa5)
        bus.pioWrite(COM1 + MCR, 1, 0x10) // loopback: what the guest sends arrives in its own RX FIFO
        for (const c of "xyz") bus.pioWrite(COM1 + THR, 1, c.charCodeAt(0))
        yield* machine.checkpoint(snapshot)
      }))
      const { machine } = yield* MachineSnapshots.restore({
        path: snapshot,
        overrides: { serial: [{ port: "com1", backend: { _tag: "file", path: join(dir, "b.txt") } }] }
      })
      const bus = Context.get(machine.context, Bus)
      expect(bus.pioRead(COM1 + LCR, 1)).toBe(0x1b)
      expect(bus.pioRead(COM1 + IER, 1)).toBe(0x05)
      expect(bus.pioRead(COM1 + SCR, 1)).toBe(0xa5)
      expect(bus.pioRead(COM1 + MCR, 1)).toBe(0x10)
      expect(bus.pioRead(COM1 + FCR, 1) & 0xc0).toBe(0xc0) // IIR: FIFOs enabled
      const received = [0, 1, 2].map(() => String.fromCharCode(bus.pioRead(COM1 + THR, 1))).join("")
      expect(received).toBe("xyz")
      bus.pioWrite(COM1 + LCR, 1, 0x9b)
      expect(bus.pioRead(COM1 + 0, 1) | (bus.pioRead(COM1 + 1, 1) << 8)).toBe(0x0c)
    }).pipe(Effect.provide(SnapshotFsLive.layer)), 60_000)
})
