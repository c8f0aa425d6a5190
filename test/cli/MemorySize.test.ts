import * as Either from "effect/Either"
import { describe, expect, it } from "@effect/vitest"
import { formatMemorySize, GiB, KiB, MiB, parseMemorySize, TiB } from "../../src/cli/MemorySize.js"

const bytes = (text: string) => Either.getOrThrow(parseMemorySize(text))
const reason = (text: string) => Either.getOrThrow(Either.flip(parseMemorySize(text)))

describe("memory sizes as bhyve -m reads them", () => {
  it("K, M, G and T suffixes are powers of 1024", () => {
    expect(bytes("4096K")).toBe(4096 * KiB)
    expect(bytes("64M")).toBe(64 * MiB)
    expect(bytes("2G")).toBe(2 * GiB)
    expect(bytes("1T")).toBe(TiB)
  })

  it("suffixes may be lower case", () => {
    expect(bytes("4096k")).toBe(4096 * KiB)
    expect(bytes("64m")).toBe(64 * MiB)
    expect(bytes("2g")).toBe(2 * GiB)
    expect(bytes("1t")).toBe(TiB)
  })

  it("a bare number below 1M counts megabytes", () => {
    expect(bytes("512")).toBe(512 * MiB)
  })

  it("a bare number of 1M or more counts bytes, as bhyve keeps for compatibility", () => {
    expect(bytes("1048576")).toBe(MiB)
    expect(bytes("536870912")).toBe(512 * MiB)
  })

  it("a hexadecimal number is accepted as strtoul reads it", () => {
    expect(bytes("0x100")).toBe(256 * MiB)
  })

  it("an unknown suffix is named", () => {
    expect(reason("12Q")).toBe("unknown size suffix 'Q' (expected K, M, G or T)")
    expect(reason("512MB")).toBe("unknown size suffix 'MB' (expected K, M, G or T)")
  })

  it("fractions are not sizes", () => {
    expect(reason("1.5G")).toBe("unknown size suffix '.5G' (expected K, M, G or T)")
  })

  it("text without a number is not a size", () => {
    expect(reason("lots")).toBe("'lots' is not a size (expected a number with an optional K, M, G or T suffix)")
  })

  it("an empty size is missing", () => {
    expect(reason("")).toBe("missing memory size")
  })

  it("zero is refused", () => {
    expect(reason("0")).toBe("memory size must not be zero")
    expect(reason("0G")).toBe("memory size must not be zero")
  })

  it("more than 1T is refused", () => {
    expect(reason("1025G")).toBe("memory size 1025G is larger than the 1T limit")
    expect(reason("1P")).toBe("memory size 1P is larger than the 1T limit")
  })

  it("numbers far beyond 2^53 are refused, not rounded", () => {
    expect(reason("99999999999999999999999G")).toBe("memory size 99999999999999999999999G is larger than the 1T limit")
  })

  it("less than 1M is refused", () => {
    expect(reason("512K")).toBe("memory size 512K is below the 1M minimum")
  })

  it("a size that is not a whole number of 4K pages is refused", () => {
    expect(reason("4097K")).toBe("memory size 4097K (4195328 bytes) is not a multiple of 4K")
  })

  it("sizes are formatted with the largest exact suffix", () => {
    expect(formatMemorySize(256 * MiB)).toBe("256M")
    expect(formatMemorySize(1536 * MiB)).toBe("1536M")
    expect(formatMemorySize(4097)).toBe("4097 bytes")
  })
})
