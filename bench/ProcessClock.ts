import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { BenchFailure } from "./Benchmark.js"
import type { StampedLine } from "./LineClock.js"

/** Timestamps (performance.now(), ms) of one child process, seen from this one. */
export interface ProcessRun {
  readonly spawnedAt: number
  readonly firstByteAt: number | undefined
  readonly exitedAt: number
  readonly stdoutLines: ReadonlyArray<StampedLine>
  readonly stderr: string
  readonly status: number | null
  /** True when `stopAt` matched and the process was killed there (its status is then null). */
  readonly stopped: boolean
}

export interface RunOptions {
  /** Kill the process (SIGKILL) once a stdout line satisfies this: for a guest that never ends by itself. */
  readonly stopAt?: (line: string) => boolean
  /** Kill it and fail after this long (default: no limit). */
  readonly timeoutMs?: number
}

/**
 * Runs a command with stdout and stderr piped and stamps each stdout line
 * as its chunk reaches this event loop. The bench is otherwise idle while
 * it waits, so the stamp lags the child's write by a pipe wake-up only, the
 * same for every process measured this way.
 */
export const runProcess = (command: string, args: ReadonlyArray<string>, options: RunOptions = {}): Effect.Effect<ProcessRun, BenchFailure> =>
  Effect.async<ProcessRun, BenchFailure>((resume) => {
    const stdoutLines: Array<StampedLine> = []
    let current = ""
    let stderr = ""
    let firstByteAt: number | undefined
    let stopped = false
    let timedOut = false
    const spawnedAt = performance.now()
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] })
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, options.timeoutMs)
    child.stdout.on("data", (chunk: Buffer) => {
      const at = performance.now()
      if (firstByteAt === undefined && chunk.length > 0) firstByteAt = at
      for (const ch of chunk.toString("latin1")) {
        if (ch === "\n") {
          stdoutLines.push({ text: current, at })
          if (!stopped && options.stopAt?.(current) === true) {
            stopped = true
            child.kill("SIGKILL")
          }
          current = ""
        } else {
          current += ch
        }
      }
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    child.on("error", (e) => resume(Effect.fail(new BenchFailure({ what: command, reason: e.message }))))
    // "close" rather than "exit": both pipes have been drained by then.
    child.on("close", (status) => {
      const exitedAt = performance.now()
      clearTimeout(timer)
      if (timedOut && !stopped) {
        const tail = JSON.stringify(stdoutLines.slice(-3).map((l) => l.text).join("\n") + current)
        return resume(Effect.fail(new BenchFailure({ what: command, reason: `killed after ${options.timeoutMs} ms; stdout ends ${tail}; stderr: ${stderr.trim()}` })))
      }
      resume(Effect.succeed({ spawnedAt, firstByteAt, exitedAt, stdoutLines, stderr, status, stopped }))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

/** Fails unless the process exited with `expected`. */
export const expectStatus = (run: ProcessRun, expected: number, what: string): Effect.Effect<ProcessRun, BenchFailure> =>
  run.status === expected
    ? Effect.succeed(run)
    : Effect.fail(new BenchFailure({ what, reason: `exit status ${run.status} (expected ${expected}); stderr: ${run.stderr.trim()}` }))
