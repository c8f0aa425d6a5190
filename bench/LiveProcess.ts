import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { BenchFailure } from "./Benchmark.js"
import type { StampedLine } from "./LineClock.js"

/**
 * A child process that keeps running while the bench talks to it (a guest
 * under bhyve or QEMU), its stdout lines stamped with performance.now() as
 * their chunk reaches this event loop, readable at any time. The bench is
 * otherwise idle while it waits, so a stamp lags the child's write by a
 * pipe wake-up; a chunk holding several lines stamps them all alike.
 */
export interface LiveProcess {
  readonly spawnedAt: number
  readonly lines: () => ReadonlyArray<StampedLine>
  readonly stderr: () => string
  /** The exit status, or the signal's name; undefined while it runs. */
  readonly exited: () => number | string | undefined
  /**
   * The first line from index `from` on that `wanted` matches. Fails after
   * `timeoutMs`, when a line matches `fatal`, or when the process exits first.
   */
  readonly waitForLine: (what: string, wanted: RegExp, timeoutMs: number, from?: number) => Effect.Effect<StampedLine & { readonly index: number }, BenchFailure>
  /** Resolves once the process has exited (after `kill` or by itself), within `timeoutMs`. */
  readonly waitForExit: (what: string, timeoutMs: number) => Effect.Effect<number | string, BenchFailure>
}

/** How often waitForLine looks again: its answers are stamps taken on arrival, so this only bounds how late it notices. */
const POLL_MS = 2

const tail = (process: LiveProcess) =>
  `stdout ends ${JSON.stringify(process.lines().slice(-3).map((l) => l.text))}; stderr: ${process.stderr().trim().slice(-400)}`

/** Spawns the command for the life of the scope; closing the scope SIGKILLs it if it still runs. */
export const spawnLive = (command: string, args: ReadonlyArray<string>, fatal: RegExp, env?: NodeJS.ProcessEnv) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const lines: Array<StampedLine> = []
      let current = ""
      let stderr = ""
      let exited: number | string | undefined
      let spawnError: string | undefined
      const spawnedAt = performance.now()
      const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env })
      child.stdout.on("data", (chunk: Buffer) => {
        const at = performance.now()
        for (const ch of chunk.toString("latin1")) {
          if (ch === "\n") {
            lines.push({ text: current, at })
            current = ""
          } else {
            current += ch
          }
        }
      })
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8")
      })
      child.on("error", (e) => {
        spawnError = e.message
        exited ??= "spawn failed"
      })
      // "close": both pipes have been drained by then, so every line is in.
      child.on("close", (status, signal) => {
        exited = status ?? signal ?? "unknown"
      })
      const live: LiveProcess = {
        spawnedAt,
        lines: () => lines,
        stderr: () => (spawnError === undefined ? stderr : `${spawnError}\n${stderr}`),
        exited: () => exited,
        waitForLine: (what, wanted, timeoutMs, from = 0) =>
          Effect.gen(function*() {
            const deadline = performance.now() + timeoutMs
            let next = from
            for (;;) {
              for (; next < lines.length; next++) {
                const line = lines[next]
                if (fatal.test(line.text)) return yield* new BenchFailure({ what, reason: `${command} printed "${line.text}"` })
                if (wanted.test(line.text)) return { ...line, index: next }
              }
              if (exited !== undefined) return yield* new BenchFailure({ what, reason: `${command} exited (${exited}) before ${wanted}; ${tail(live)}` })
              if (performance.now() > deadline) return yield* new BenchFailure({ what, reason: `no ${wanted} within ${timeoutMs} ms; ${tail(live)}` })
              yield* Effect.sleep(POLL_MS)
            }
          }),
        waitForExit: (what, timeoutMs) =>
          Effect.gen(function*() {
            const deadline = performance.now() + timeoutMs
            while (exited === undefined) {
              if (performance.now() > deadline) return yield* new BenchFailure({ what, reason: `still running after ${timeoutMs} ms; ${tail(live)}` })
              yield* Effect.sleep(POLL_MS * 5)
            }
            return exited
          })
      }
      return { live, child }
    }),
    ({ child }) => Effect.sync(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
  ).pipe(Effect.map(({ live }) => live))
