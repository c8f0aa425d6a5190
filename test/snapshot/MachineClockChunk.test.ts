import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { vcpuCodec } from "../../src/kernel/kvm/KvmVcpuState.js"
import { SOFT_VCPU_STATE_VERSION, SoftVcpuState } from "../../src/kernel/soft/SoftState.js"
import * as ChunkCodec from "../../src/snapshot/format/ChunkCodec.js"
import type { ChunkEntry } from "../../src/snapshot/format/Manifest.js"
import { MACHINE_CLOCK_CHUNK, machineClockCodec, machineClockOfOldSnapshot } from "../../src/snapshot/MachineClockChunk.js"
import { parseStateFile } from "./badinput/StateFile.js"

const entry = (payload: Uint8Array, version = 1): ChunkEntry => ({
  id: MACHINE_CLOCK_CHUNK, kind: "machine", schema: "machine-clock", version, offset: 96, length: payload.length, sha256: "0".repeat(64)
})

const decodeJson = (json: string, version = 1) => {
  const payload = new TextEncoder().encode(json)
  return Effect.runSyncExit(ChunkCodec.decodeChunk(machineClockCodec, entry(payload, version), payload, "vm.snap"))
}

const refusal = (json: string, version = 1) => {
  const exit = decodeJson(json, version)
  if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`${json}: expected a ChunkInvalid, got ${String(exit)}`)
  expect(exit.cause.error._tag).toBe("ChunkInvalid")
  return exit.cause.error.message
}

/** A committed format 1.0 fixture's vCPU 0 chunk, decoded with its own codec. */
const fixtureVcpu = <A, I>(dir: string, codec: ChunkCodec.ChunkCodec<A, I>) => {
  const file = parseStateFile(new Uint8Array(readFileSync(fileURLToPath(new URL(`../fixtures/snapshots/${dir}/compute.snap`, import.meta.url)))))
  const chunk = file.manifest.chunks.find((c) => c.id === "vcpu/0")!
  expect(file.manifest.chunks.some((c) => c.id === MACHINE_CLOCK_CHUNK)).toBe(false)
  return Effect.runSync(ChunkCodec.decodeChunk(codec, chunk, file.chunks.get("vcpu/0")!))
}

describe("the machine/clock chunk", () => {
  it("round-trips the guest nanoseconds", () => {
    const chunk = Effect.runSync(ChunkCodec.encodeChunk(machineClockCodec, MACHINE_CLOCK_CHUNK, { ns: 7_000_000_123 }))
    expect(new TextDecoder().decode(chunk.payload)).toBe(`{"ns":7000000123}`)
    expect(decodeJson(`{"ns":7000000123}`)).toEqual(Exit.succeed({ ns: 7_000_000_123 }))
  })

  it("refuses what no clock reads, saying where: negative, fractional, past 2^53, not a number, an extra field, a newer version", () => {
    expect(refusal(`{"ns":-1}`)).toMatch(/machine\/clock.*\$\.ns/s)
    expect(refusal(`{"ns":1.5}`)).toMatch(/\$\.ns/)
    expect(refusal(`{"ns":9007199254740992}`)).toMatch(/\$\.ns/)
    expect(refusal(`{"ns":"5"}`)).toMatch(/\$\.ns/)
    expect(refusal(`{"ns":5,"offset":1}`)).toMatch(/offset/)
    expect(refusal(`{"ns":5}`, 2)).toMatch(/version 2 is newer than this build reads \(1\)/)
  })

  it("a software-CPU snapshot written before the chunk existed gets the clock from vCPU 0's TSC (1 GHz since power-on)", () => {
    const codec = ChunkCodec.make({ kind: "vcpu", schemaId: "x86-soft-vcpu", version: SOFT_VCPU_STATE_VERSION, schema: SoftVcpuState })
    const vcpu = fixtureVcpu("v1-soft", codec)
    expect(vcpu.msrs.tsc).toBeGreaterThan(0n)
    expect(machineClockOfOldSnapshot([vcpu])).toEqual({ ns: Number(vcpu.msrs.tsc) })
  })

  it("a KVM snapshot written before it (the TSC is the hardware's) starts the clock at 0", () => {
    expect(machineClockOfOldSnapshot([fixtureVcpu("v1", vcpuCodec)])).toEqual({ ns: 0 })
  })
})
