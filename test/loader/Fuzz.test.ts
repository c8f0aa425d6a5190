import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import { loadKernel } from "../../src/loader/KernelLoader.js"
import { elf64Kernel, makeRam, pvhKernel } from "./fixtures.js"

const ram = makeRam()
const TAGS = new Set([
  "NotElf", "UnsupportedElf", "TruncatedElf", "MalformedElf", "SegmentOutsideRam",
  "SegmentOverlapsReserved", "NoEntry", "CmdlineTooLong", "MemmapTooLong", "RamTooSmall"
])

/** Loading either succeeds or fails with a LoaderError; it never throws or dies. */
const neverThrows = (image: Uint8Array) => {
  const exit = Effect.runSyncExit(loadKernel({ path: "fuzz.elf", image, ram, cmdline: "fuzz" }))
  if (Exit.isFailure(exit)) {
    const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    expect(failure === undefined ? `defect: ${String(exit.cause)}` : failure._tag).toSatisfy((t: string) => TAGS.has(t))
  }
}

/** Byte edits, 32-bit word edits (hit header fields more often) and truncation of a valid kernel. */
const mutation = FastCheck.record({
  bytes: FastCheck.array(FastCheck.tuple(FastCheck.nat(), FastCheck.integer({ min: 0, max: 255 })), { maxLength: 8 }),
  words: FastCheck.array(FastCheck.tuple(FastCheck.nat({ max: 80 }), FastCheck.integer({ min: 0, max: 0xffffffff })), { maxLength: 4 }),
  // Truncate one time in five, so most cases reach the deeper checks.
  cut: FastCheck.oneof({ arbitrary: FastCheck.constant(null), weight: 4 }, { arbitrary: FastCheck.nat(), weight: 1 })
})

const mutate = (base: Uint8Array, m: typeof mutation extends FastCheck.Arbitrary<infer T> ? T : never) => {
  const out = base.slice()
  const v = new DataView(out.buffer)
  for (const [at, value] of m.bytes) out[at % out.length] = value
  for (const [word, value] of m.words) if (word * 4 + 4 <= out.length) v.setUint32(word * 4, value, true)
  return m.cut === null ? out : out.subarray(0, m.cut % (out.length + 1))
}

describe("loadKernel never throws", () => {
  it("on random bytes", () => {
    FastCheck.assert(FastCheck.property(FastCheck.uint8Array({ maxLength: 512 }), neverThrows), { numRuns: 500 })
  })

  it("on random headers behind a valid identification, type and machine", () => {
    const header = FastCheck.tuple(
      FastCheck.constantFrom(1, 2), FastCheck.constantFrom(3, 62), FastCheck.uint8Array({ minLength: 0, maxLength: 400 })
    )
    FastCheck.assert(FastCheck.property(header, ([cls, machine, rest]) => {
      neverThrows(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, cls, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, machine, 0, ...rest]))
    }), { numRuns: 1000 })
  })

  it("on mutations of a valid PVH ELF32 kernel", () => {
    const base = pvhKernel()
    FastCheck.assert(FastCheck.property(mutation, (m) => neverThrows(mutate(base, m))), { numRuns: 1000 })
  })

  it("on mutations of a valid ELF64 kernel", () => {
    const base = elf64Kernel()
    FastCheck.assert(FastCheck.property(mutation, (m) => neverThrows(mutate(base, m))), { numRuns: 1000 })
  })
})
