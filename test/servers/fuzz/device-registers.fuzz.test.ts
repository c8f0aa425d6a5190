import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, FastCheck } from "effect"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as DeviceClock from "../../../src/servers/DeviceClock.js"
import { makeTimerQueue } from "../../../src/servers/DeviceClock.js"
import * as Bus from "../../../src/bus/Bus.js"
import { type DeviceServer, DeviceServers, layerDeviceServers } from "../../../src/servers/DeviceServer.js"
import { layerRecording, makeRecordingController } from "../../../src/servers/InterruptController.js"
import { layerMachineEvents, MachineEvents } from "../../../src/servers/MachineEvents.js"
import * as PmServer from "../../../src/servers/pm/PmServer.js"
import { PowerButton } from "../../../src/servers/pm/PowerButton.js"
import * as ResetServer from "../../../src/servers/reset/ResetServer.js"
import * as RtcServer from "../../../src/servers/rtc/RtcServer.js"
import { OFFSET_LIMIT_MS, RtcState, TIME_LIMIT_MS } from "../../../src/servers/rtc/RtcState.js"
import { makeMemory, type MemoryBackend } from "../../../src/servers/serial-backend/MemoryBackend.js"
import * as Uart from "../../../src/servers/uart/UartServer.js"
import * as ChunkCodec from "../../../src/snapshot/format/ChunkCodec.js"
import type { ChunkEntry } from "../../../src/snapshot/format/Manifest.js"

/*
 * Every legacy device server, wired to one bus exactly as a machine wires
 * them (bus adapters, interrupt lines, machine events), driven by random
 * sequences of port accesses, clock jumps, host input, power-button presses
 * and save/restore round trips, with a fixed seed. After every step: nothing
 * threw, a read returned a value of the access's width, the step took
 * bounded time (an RTC state the device could be restored into once made a
 * read loop forever, see RtcState.TIME_LIMIT_MS), and every server's save()
 * still encodes under its own schema (a save must never fail because of
 * what the guest did).
 */

const SEED = 20261126

const allOnes = (size: 1 | 2 | 4) => (size === 4 ? 0xffffffff : (1 << (size * 8)) - 1)

/** Every claimed port and its neighbours: the edges are where adapters go wrong. */
const PORTS: ReadonlyArray<number> = [
  ...[0x3f7, 0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff], // COM1 (0x400 is PM1_STS)
  ...[0x2f7, 0x2f8, 0x2f9, 0x2fa, 0x2fb, 0x2fc, 0x2fd, 0x2fe, 0x2ff, 0x300], // COM2
  ...[0x6f, 0x70, 0x71, 0x72], // RTC
  ...[0x400, 0x401, 0x402, 0x403, 0x404, 0x405, 0x406, 0x407, 0x408, 0x409, 0x40a, 0x40b, 0x40c], // PM1a_EVT, PM1a_CNT, PM_TMR
  ...[0xcf8, 0xcf9, 0xcfa], // reset control
  ...[0x5f, 0x60, 0x61, 0x63, 0x64, 0x65] // i8042
]

type Op =
  | { readonly kind: "access"; readonly port: number; readonly size: 1 | 2 | 4; readonly write: boolean; readonly value: number }
  | { readonly kind: "tick"; readonly ms: number }
  | { readonly kind: "input"; readonly com: "com1" | "com2"; readonly bytes: Uint8Array }
  | { readonly kind: "button" }
  | { readonly kind: "snapshot" }

const value = FastCheck.oneof(
  FastCheck.integer({ min: 0, max: 0xff }),
  FastCheck.integer({ min: 0, max: 0xffffffff }),
  FastCheck.constantFrom(0, 0xff, 0xffff, 0xffffffff, 0x80, 0x2000 | (5 << 10), 0xfe, 0x60, 0xd1, 0x04, 0x06),
  FastCheck.integer(),
  FastCheck.double()
)

const op: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  {
    weight: 12,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("access" as const),
      port: FastCheck.oneof({ weight: 9, arbitrary: FastCheck.constantFrom(...PORTS) }, { weight: 1, arbitrary: FastCheck.integer({ min: 0, max: 0xffff }) }),
      size: FastCheck.constantFrom(1 as const, 2 as const, 4 as const),
      write: FastCheck.boolean(),
      value
    })
  },
  {
    weight: 2,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("tick" as const),
      // Up to a few days: the RTC's alarm scan covers at most one day per access.
      ms: FastCheck.oneof(FastCheck.integer({ min: 0, max: 2_000 }), FastCheck.integer({ min: 0, max: 4 * 86_400_000 }))
    })
  },
  {
    weight: 1,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("input" as const),
      com: FastCheck.constantFrom("com1" as const, "com2" as const),
      bytes: FastCheck.uint8Array({ minLength: 1, maxLength: 40 })
    })
  },
  { weight: 1, arbitrary: FastCheck.constant({ kind: "button" as const }) },
  { weight: 1, arbitrary: FastCheck.constant({ kind: "snapshot" as const }) }
)

interface Rig {
  readonly bus: Bus.BusRouter
  readonly servers: ReadonlyArray<DeviceServer>
  readonly clock: { now: number }
  readonly serial: { readonly com1: MemoryBackend; readonly com2: MemoryBackend }
  readonly press: () => void
  readonly events: MachineEvents["Type"]
}

/** The devices `bhyve -l com1,... -l com2,...` builds, with one manual clock for the RTC (wall) and the PM timer (monotonic). */
const withRig = <A>(body: (rig: Rig) => A): A => {
  const clock = { now: Date.UTC(2026, 10, 26, 12, 0, 0) }
  const serial = { com1: makeMemory(), com2: makeMemory() }
  const base = Layer.mergeAll(
    Bus.layer({ report: () => {} }),
    layerDeviceServers,
    layerRecording(makeRecordingController()),
    layerMachineEvents,
    DeviceClock.layer(makeTimerQueue(() => clock.now * 1e6))
  )
  const devices = Layer.mergeAll(
    RtcServer.layer({ lowmem: 64 * 1024 * 1024, highmem: 0, clock: () => clock.now }),
    PmServer.layer(),
    ResetServer.layer,
    Uart.layer({ id: "com1", backend: serial.com1 }),
    Uart.layer({ id: "com2", backend: serial.com2 })
  ).pipe(Layer.provideMerge(base))
  return Effect.runSync(
    Effect.scoped(
      Effect.gen(function* () {
        const context = yield* Layer.build(devices)
        return body({
          bus: Context.get(context, Bus.Bus),
          servers: [...Context.get(context, DeviceServers)],
          clock,
          serial,
          press: Context.get(context, PowerButton).press,
          events: Context.get(context, MachineEvents)
        })
      })
    )
  )
}

const entryFor = (codec: ChunkCodec.ChunkCodec<unknown>, id: string): ChunkEntry => ({
  id,
  kind: codec.kind,
  schema: codec.schemaId,
  version: codec.version,
  offset: 96,
  length: 0,
  sha256: "0".repeat(64)
})

/** What a snapshot does with one server's state: encode, JSON bytes, strict decode, restore. */
const roundTrip = (server: DeviceServer) => {
  const codec = ChunkCodec.fromDeviceServer(server)
  const id = `device/${server.id}`
  const chunk = Effect.runSync(ChunkCodec.encodeChunk(codec, id, server.save()))
  server.restore(Effect.runSync(ChunkCodec.decodeChunk(codec, entryFor(codec, id), chunk.payload)))
}

/** The step budget: a runaway loop, not speed, is what this catches; generous for a loaded host. */
const STEP_MS = 5_000

const step = (rig: Rig, o: Op): void => {
  switch (o.kind) {
    case "access":
      if (o.write) rig.bus.pioWrite(o.port, o.size, o.value)
      else {
        const v = rig.bus.pioRead(o.port, o.size)
        expect(Number.isInteger(v) && v >= 0 && v <= allOnes(o.size), `read of ${o.size} at 0x${o.port.toString(16)} gave ${v}`).toBe(true)
      }
      return
    case "tick":
      rig.clock.now += o.ms
      return
    case "input":
      rig.serial[o.com].push(o.bytes)
      return
    case "button":
      rig.press()
      return
    case "snapshot":
      for (const server of rig.servers) roundTrip(server)
      return
  }
}

const run = (rig: Rig, ops: ReadonlyArray<Op>) => {
  for (const [i, o] of ops.entries()) {
    const started = performance.now()
    step(rig, o)
    const took = performance.now() - started
    expect(took, `step ${i} (${JSON.stringify(o)}) took ${took.toFixed(1)} ms`).toBeLessThan(STEP_MS)
    // A reset or power-off request is the machine's business; the devices carry on.
    rig.events.clear()
    for (const server of rig.servers) {
      const encoded = Schema.encodeEither(server.stateSchema)(server.save())
      expect(Either.isRight(encoded), `${server.id} after step ${i} (${JSON.stringify(o)}): ${String(Either.isLeft(encoded) ? encoded.left : "")}`).toBe(true)
    }
  }
}

/** A random state that decodes under the server's own schema: what a crafted (re-sealed) chunk can make a restore install. */
const hostileState = (server: DeviceServer): FastCheck.Arbitrary<unknown> => Arbitrary.make(server.stateSchema)

describe("device servers under random register traffic (fixed seed)", () => {
  it("all six servers: no throw, reads of the access width, bounded steps, save() always encodes", () => {
    const servers = withRig((rig) => rig.servers.map((s) => `${s.id}:${s.kind}`).sort())
    expect(servers).toEqual(["com1:uart16550", "com2:uart16550", "i8042:i8042", "pm:acpi-pm", "reset-cf9:reset-control", "rtc:mc146818"])
    FastCheck.assert(
      FastCheck.property(FastCheck.array(op, { minLength: 1, maxLength: 120 }), (ops) => withRig((rig) => run(rig, ops))),
      { seed: SEED, numRuns: 300 }
    )
  })

  it("starting from any state a chunk can decode to (restored through the codec), the same holds", () => {
    const schemas = withRig((rig) => rig.servers.map((s) => hostileState(s)))
    FastCheck.assert(
      FastCheck.property(FastCheck.tuple(...schemas), FastCheck.array(op, { minLength: 1, maxLength: 60 }), (states, ops) =>
        withRig((rig) => {
          rig.servers.forEach((server, i) => {
            const codec = ChunkCodec.fromDeviceServer(server)
            const id = `device/${server.id}`
            const payload = Effect.runSync(ChunkCodec.encodeChunk(codec, id, states[i])).payload
            server.restore(Effect.runSync(ChunkCodec.decodeChunk(codec, entryFor(codec, id), payload)))
          })
          run(rig, ops)
        })),
      { seed: SEED, numRuns: 300 }
    )
  })

  it("the RTC refuses the times that used to hang it: the bound is what keeps the alarm scan finite", () => {
    const rtc = withRig((rig) => {
      const server = rig.servers.find((s) => s.id === "rtc")
      return server === undefined ? undefined : Schema.encodeSync(RtcState)(server.save() as RtcState)
    })
    expect(rtc).toBeDefined()
    const decode = Schema.decodeUnknownEither(RtcState)
    for (const ms of [1e300, -1e300, 2 ** 63, TIME_LIMIT_MS * 1.01]) {
      expect(Either.isLeft(decode({ ...rtc, offsetMs: ms })), `offsetMs ${ms}`).toBe(true)
      expect(Either.isLeft(decode({ ...rtc, lastTickMs: ms })), `lastTickMs ${ms}`).toBe(true)
    }
    expect(Either.isLeft(decode({ ...rtc, offsetMs: OFFSET_LIMIT_MS * 1.01 }))).toBe(true)
    // The extremes still allowed run in bounded time: a day of alarm candidates at most per access.
    withRig((rig) => {
      const server = rig.servers.find((s) => s.id === "rtc")
      if (server === undefined) throw new Error("no rtc")
      for (const [offsetMs, lastTickMs] of [[OFFSET_LIMIT_MS, -TIME_LIMIT_MS], [-OFFSET_LIMIT_MS, TIME_LIMIT_MS]]) {
        const state = Schema.decodeUnknownSync(RtcState)({ ...rtc, offsetMs, lastTickMs })
        server.restore(state)
        run(rig, [
          { kind: "access", port: 0x70, size: 1, write: true, value: 0x00 },
          { kind: "access", port: 0x71, size: 1, write: false, value: 0 },
          { kind: "tick", ms: 86_400_000 },
          { kind: "access", port: 0x71, size: 1, write: false, value: 0 }
        ])
      }
    })
  })
})
