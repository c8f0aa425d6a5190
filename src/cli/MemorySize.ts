import * as Either from "effect/Either"

/**
 * Memory sizes as bhyve(8) reads `-m` and `memory.size` (libvmmapi's
 * vm_parse_memsize): a number with an optional K, M, G or T suffix (either
 * case, powers of 1024). A bare number below 1 MiB counts megabytes, a bare
 * number of 1 MiB or more counts bytes — bhyve keeps that rule for backward
 * compatibility, so "-m 512" and "-m 536870912" are the same size. Hex
 * ("0x200") is accepted as strtoul(3) does; there are no fractions.
 */

export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB
export const TiB = 1024 * GiB

export const DEFAULT_MEMORY_BYTES = 256 * MiB
/** Guest RAM is mapped in 4 KiB pages. */
export const MEMORY_ALIGNMENT = 4 * KiB
/** Room for the real-mode area and a kernel loaded at 1 MiB. */
export const MIN_MEMORY_BYTES = 1 * MiB
export const MAX_MEMORY_BYTES = 1 * TiB

const shifts: Readonly<Record<string, bigint>> = { k: 10n, m: 20n, g: 30n, t: 40n, p: 50n, e: 60n }

/** Shortest exact rendering: 268435456 → "256M", 4097 → "4097 bytes". */
export const formatMemorySize = (bytes: number): string => {
  for (const [suffix, unit] of [["T", TiB], ["G", GiB], ["M", MiB], ["K", KiB]] as const) {
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${suffix}`
  }
  return `${bytes} bytes`
}

/**
 * Parses `text` into a byte count, or explains (without saying where the
 * text came from — the caller knows) why it is not a usable size.
 */
export const parseMemorySize = (text: string): Either.Either<number, string> => {
  if (text === "") return Either.left("missing memory size")
  const match = /^(0[xX][0-9a-fA-F]+|[0-9]+)(.*)$/s.exec(text)
  if (match === null) return Either.left(`'${text}' is not a size (expected a number with an optional K, M, G or T suffix)`)
  const [, digits, suffix] = match
  const value = BigInt(digits)
  let bytes: bigint
  if (suffix === "") {
    bytes = value < BigInt(MiB) ? value * BigInt(MiB) : value
  } else {
    const shift = shifts[suffix.toLowerCase()]
    if (shift === undefined) return Either.left(`unknown size suffix '${suffix}' (expected K, M, G or T)`)
    bytes = value << shift
  }
  if (bytes === 0n) return Either.left("memory size must not be zero")
  if (bytes > BigInt(MAX_MEMORY_BYTES)) {
    return Either.left(`memory size ${text} is larger than the ${formatMemorySize(MAX_MEMORY_BYTES)} limit`)
  }
  const n = Number(bytes)
  if (n < MIN_MEMORY_BYTES) {
    return Either.left(`memory size ${text} is below the ${formatMemorySize(MIN_MEMORY_BYTES)} minimum`)
  }
  if (n % MEMORY_ALIGNMENT !== 0) {
    return Either.left(`memory size ${text} (${n} bytes) is not a multiple of 4K`)
  }
  return Either.right(n)
}
