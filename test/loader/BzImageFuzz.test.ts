import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import { loadKernel } from "../../src/loader/KernelLoader.js"
import { MIB, writeBzImage } from "./bzImageWriter.js"
import { makeRam } from "./fixtures.js"

const ram = makeRam(32 * MIB)
const base = writeBzImage()

/** Loading a mutated bzImage (with an initrd) succeeds or fails with a LoaderError; it never throws or dies. */
const neverThrows = (image: Uint8Array) => {
  const exit = Effect.runSyncExit(loadKernel({ path: "fuzz.bz", image, ram, cmdline: "fuzz", initrd: { path: "i", image: new Uint8Array(100) } }))
  if (Exit.isFailure(exit)) expect(exit.cause._tag).toBe("Fail")
}

describe("loadKernel never throws on a bzImage", () => {
  it("with header words overwritten and the file cut short", () => {
    const mutation = FastCheck.record({
      // 32-bit words from the boot sector's end through the 2.15 header (0x1f0..0x270).
      words: FastCheck.array(FastCheck.tuple(FastCheck.integer({ min: 0x1f0 / 4, max: 0x26c / 4 }), FastCheck.integer({ min: 0, max: 0xffffffff })), { maxLength: 4 }),
      cut: FastCheck.oneof({ arbitrary: FastCheck.constant(null), weight: 4 }, { arbitrary: FastCheck.nat(), weight: 1 })
    })
    FastCheck.assert(FastCheck.property(mutation, ({ words, cut }) => {
      const out = base.slice()
      const v = new DataView(out.buffer)
      for (const [word, value] of words) v.setUint32(word * 4, value, true)
      v.setUint32(0x202, 0x53726448, true) // keep it a bzImage, so the bzImage path is what is fuzzed
      neverThrows(cut === null ? out : out.subarray(0, Math.max(0x206, cut % (out.length + 1))))
    }), { numRuns: 1500 })
  })
})
