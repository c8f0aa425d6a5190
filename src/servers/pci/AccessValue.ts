/**
 * Values as the Bus hands them to handlers: numbers up to 4 bytes, bigints
 * for 8. KVM never gives anything else, but a handler must not throw on a
 * stray double either (BigInt(1.5) would), so conversions go through here.
 */
export const bitsOf = (value: number | bigint): bigint => (typeof value === "bigint" ? BigInt.asUintN(64, value) : BigInt(value >>> 0))

/** The low 32 bits as an unsigned number. */
export const low32 = (value: number | bigint): number => (typeof value === "bigint" ? Number(value & 0xffffffffn) : value >>> 0)
