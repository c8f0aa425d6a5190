import * as Effect from "effect/Effect"
import type { BenchFailure } from "./Benchmark.js"
import { C_BASELINE } from "./Paths.js"
import { expectStatus, type ProcessRun, runProcess } from "./ProcessClock.js"

/** What pio-baseline reports about itself on stderr. */
export interface CBaselineRun {
  readonly process: ProcessRun
  /** `pio_ns_per_exit=` / `mmio_ns_per_exit=`, present after piobench.elf. */
  readonly pioNsPerExit: number | undefined
  readonly mmioNsPerExit: number | undefined
  /** With -t: each line's time in ms since its first KVM_RUN. */
  readonly stampedLines: ReadonlyArray<{ readonly text: string; readonly ms: number }>
}

const number = (stderr: string, key: string): number | undefined => {
  const m = new RegExp(`${key}=([0-9.]+)`).exec(stderr)
  return m === null ? undefined : Number(m[1])
}

/** `[   1.593 ms] hello: hi`, one per guest line, printed by -t. */
const STAMPED = /^\[\s*([0-9.]+) ms\] (.*)$/

/**
 * Runs the C baseline VMM on a guest; it exits 0 on the guest's power-off.
 * `stamps` adds -t, which prints on stderr from inside its exit loop: used
 * for boot timing only, so the exit-cost runs stay the plain baseline.
 */
export const runCBaseline = (kernel: string, cmdline: string, stamps: boolean): Effect.Effect<CBaselineRun, BenchFailure> =>
  Effect.gen(function*() {
    const what = `pio-baseline ${kernel.split("/").pop()} ${cmdline}`.trim()
    const args = stamps ? ["-t", kernel, cmdline] : [kernel, cmdline]
    const process = yield* Effect.flatMap(runProcess(C_BASELINE, args), (run) => expectStatus(run, 0, what))
    const stampedLines = process.stderr.split("\n").flatMap((line) => {
      const m = STAMPED.exec(line)
      return m === null ? [] : [{ text: m[2], ms: Number(m[1]) }]
    })
    return {
      process,
      pioNsPerExit: number(process.stderr, "pio_ns_per_exit"),
      mmioNsPerExit: number(process.stderr, "mmio_ns_per_exit"),
      stampedLines
    }
  })
