import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"
import { BenchFailure, describe } from "./Benchmark.js"

/**
 * The host's TSC rate in kHz, which a guest of QEMU reads through rdtsc
 * (KVM passes the host's TSC through unscaled; TCG's rdtsc is the host's
 * rdtsc). Linux reports it as "cpu MHz" when the TSC is constant and its
 * rate known (flags constant_tsc and tsc_known_freq), as on the project's
 * machines; anything else fails rather than guessing a tick period.
 */
export const hostTscKhz: Effect.Effect<number, BenchFailure> = Effect.gen(function*() {
  const what = "host TSC rate"
  const cpuinfo = yield* Effect.try({
    try: () => readFileSync("/proc/cpuinfo", "utf8"),
    catch: (e) => new BenchFailure({ what, reason: `/proc/cpuinfo: ${describe(e)}` })
  })
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1].split(/\s+/) ?? []
  const mhz = Number(/^cpu MHz\s*:\s*([0-9.]+)$/m.exec(cpuinfo)?.[1])
  if (!flags.includes("constant_tsc") || !flags.includes("tsc_known_freq") || !(mhz > 0)) {
    return yield* new BenchFailure({ what, reason: "/proc/cpuinfo names no known constant TSC rate (flags constant_tsc, tsc_known_freq and cpu MHz)" })
  }
  return mhz * 1000
})
