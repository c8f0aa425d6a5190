import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { readFileSync } from "node:fs"
import { BenchFailure } from "./Benchmark.js"

/** Between reads of the file. Untimed waits only: the guest's own thread is this one, between slices. */
const POLL_MS = 10

const read = (path: string) => {
  try {
    return readFileSync(path, "latin1")
  } catch {
    return ""
  }
}

/**
 * Waits until the COM1 output file `path` holds a line matching `wanted`
 * past its first `after` characters, and returns the whole output. Fails as soon as the guest stops (the fiber
 * running it ends), prints a line matching `fatal`, or after `timeoutMs`.
 */
export const waitForLine = <A, E>(
  what: string,
  path: string,
  wanted: RegExp,
  fatal: RegExp,
  running: Fiber.Fiber<A, E>,
  timeoutMs: number,
  after = 0
): Effect.Effect<string, BenchFailure> =>
  Effect.gen(function*() {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const text = read(path)
      const bad = fatal.exec(text)
      if (bad !== null) return yield* new BenchFailure({ what, reason: `guest printed "${bad[0]}"` })
      if (wanted.test(text.slice(after))) return text
      const ended = yield* Fiber.poll(running)
      if (Option.isSome(ended)) return yield* new BenchFailure({ what, reason: `guest stopped before ${wanted}: ${JSON.stringify(ended.value)}` })
      if (performance.now() > deadline) return yield* new BenchFailure({ what, reason: `no ${wanted} within ${timeoutMs} ms; output ends ${JSON.stringify(text.slice(-80))}` })
      yield* Effect.sleep(POLL_MS)
    }
  })
