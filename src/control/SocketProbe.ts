import * as Effect from "effect/Effect"
import { connect } from "node:net"

/** What is at a UNIX socket path, as far as connecting to it can tell. */
export type ProbeResult =
  | { readonly _tag: "Listening" }
  /** A socket file that nobody listens on: its server died without removing it. */
  | { readonly _tag: "Stale" }
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Unknown"; readonly code: string }

/**
 * Connects to `path` and hangs up at once. A connect that neither succeeds
 * nor fails within `timeoutMs` counts as listening: something holds the
 * socket (a full backlog, a stopped process), and deleting it would be
 * worse than refusing to start.
 */
export const probeSocket = (path: string, timeoutMs = 1_000): Effect.Effect<ProbeResult> =>
  Effect.async<ProbeResult>((resume) => {
    const socket = connect(path)
    const done = (result: ProbeResult) => {
      clearTimeout(timer)
      socket.destroy()
      resume(Effect.succeed(result))
    }
    const timer = setTimeout(() => done({ _tag: "Listening" }), timeoutMs)
    socket.once("connect", () => done({ _tag: "Listening" }))
    socket.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ECONNREFUSED") done({ _tag: "Stale" })
      else if (e.code === "ENOENT") done({ _tag: "Absent" })
      else done({ _tag: "Unknown", code: e.code ?? e.message })
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      socket.destroy()
    })
  })
