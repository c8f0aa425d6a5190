/**
 * A set of the 256 interrupt vectors, as a LAPIC keeps its IRR, ISR and
 * TMR: eight 32-bit words, word 0 holding vectors 0-31 (the register page
 * shows word i at offset base + 0x10 * i). Plain functions over a
 * Uint32Array so the interrupt path never allocates.
 */
export type VectorSet = Uint32Array

export const VECTOR_SET_WORDS = 8

export const make = (): VectorSet => new Uint32Array(VECTOR_SET_WORDS)

export const has = (set: VectorSet, vector: number): boolean => (set[vector >>> 5] & (1 << (vector & 31))) !== 0

export const add = (set: VectorSet, vector: number): void => {
  set[vector >>> 5] |= 1 << (vector & 31)
}

export const remove = (set: VectorSet, vector: number): void => {
  set[vector >>> 5] &= ~(1 << (vector & 31))
}

/** The highest vector in the set, or -1 when it is empty. */
export const highest = (set: VectorSet): number => {
  for (let w = VECTOR_SET_WORDS - 1; w >= 0; w--) {
    const word = set[w]
    if (word !== 0) return (w << 5) + 31 - Math.clz32(word)
  }
  return -1
}

export const clear = (set: VectorSet): void => {
  set.fill(0)
}
