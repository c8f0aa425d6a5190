/**
 * What smp.elf prints last: the sum mod 2^64 of compute_step(COMPUTE_H0, i)
 * for i in [0, steps) (test/guests/compute-hash.h), in 32-bit halves.
 * Independent of how many CPUs share the work.
 */
export const smpReference = (steps: number): string => {
  const H0_HI = 0xcbf29ce4
  const H0_LO = 0x84222325
  const TWO32 = 4294967296
  let sumHi = 0
  let sumLo = 0
  for (let i = 0; i < steps; i++) {
    let hi = H0_HI
    let lo = (H0_LO ^ i) >>> 0
    for (let j = 0; j <= 600; j++) {
      if (j < 600) {
        lo = (lo ^ ((lo >>> 29) | (hi << 3))) >>> 0 // x ^= x >> 29
        hi = (hi ^ (hi >>> 29)) >>> 0
      } else {
        hi = (hi ^ H0_HI) >>> 0 // h ^ x
        lo = (lo ^ H0_LO) >>> 0
      }
      // * 0x100000001b3 = (x << 40) + x * 0x1b3, mod 2^64
      const t = lo * 0x1b3
      hi = (hi * 0x1b3 + Math.floor(t / TWO32) + ((lo << 8) >>> 0)) >>> 0
      lo = t >>> 0
      if (j < 600) {
        const l = lo + j
        lo = l >>> 0
        if (l >= TWO32) hi = (hi + 1) >>> 0
      }
    }
    const s = sumLo + lo
    sumLo = s >>> 0
    sumHi = (sumHi + hi + (s >= TWO32 ? 1 : 0)) >>> 0
  }
  return sumHi.toString(16).padStart(8, "0") + sumLo.toString(16).padStart(8, "0")
}

/** Everything smp.elf prints for `cpus` and `steps`. */
export const expectedOutput = (cpus: number, steps: number) =>
  [`smp cpus=${cpus}`, ...Array.from({ length: cpus - 1 }, (_, i) => `cpu ${i + 1} up`), `smp done ${smpReference(steps)}`]
    .map((l) => `${l}\n`)
    .join("")
