import * as fs from "node:fs"
import * as net from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { makeInputHub } from "./InputHub.js"
import { describeError, errorCode, SerialBackendError, type SerialBackendHandle } from "./SerialBackend.js"

/** Output queued for a client that does not read is capped; beyond it bytes are dropped. */
const MAX_CLIENT_BACKLOG = 1024 * 1024

/**
 * A UNIX stream socket the console is served on (like `socat - UNIX:path`).
 * One client at a time: it gets the output and its input goes to the guest;
 * later connections are refused while it stays. Output with no client is
 * dropped, as on a serial line with nothing plugged in.
 */
export const socket = (path: string): Effect.Effect<SerialBackendHandle, SerialBackendError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function* () {
      yield* clearStale(path)
      const server = yield* listen(path)
      return yield* Effect.try({
        try: () => serve(path, server),
        catch: (error) => {
          server.close()
          return new SerialBackendError({ path, reason: describeError(error) })
        }
      })
    }),
    (handle) => Effect.sync(handle.close)
  )

const fail = (path: string, reason: string) => Effect.fail(new SerialBackendError({ path, reason }))

/** A socket file left by a dead process is replaced; a live one or any other file is an error. */
const clearStale = (path: string): Effect.Effect<void, SerialBackendError> =>
  Effect.suspend(() => {
    let stat: fs.Stats
    try {
      stat = fs.lstatSync(path)
    } catch (error) {
      return errorCode(error) === "ENOENT" ? Effect.void : fail(path, describeError(error))
    }
    if (!stat.isSocket()) return fail(path, "exists and is not a socket")
    return Effect.flatMap(isLive(path), (live) => {
      if (live) return fail(path, "another process is serving this socket")
      try {
        fs.unlinkSync(path)
        return Effect.void
      } catch (error) {
        return fail(path, `cannot remove stale socket: ${describeError(error)}`)
      }
    })
  })

const isLive = (path: string): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const probe = net.connect(path)
    probe.once("connect", () => {
      probe.destroy()
      resume(Effect.succeed(true))
    })
    probe.once("error", () => resume(Effect.succeed(false)))
    return Effect.sync(() => probe.destroy())
  })

const listen = (path: string): Effect.Effect<net.Server, SerialBackendError> =>
  Effect.async<net.Server, SerialBackendError>((resume) => {
    const server = net.createServer()
    const onError = (error: Error) => resume(fail(path, describeError(error)))
    server.once("error", onError)
    server.listen(path, () => {
      server.off("error", onError)
      resume(Effect.succeed(server))
    })
    return Effect.sync(() => server.close())
  })

const serve = (path: string, server: net.Server): SerialBackendHandle => {
  // Narrow the bind-time permissions at once; the directory is the real guard against the brief window.
  fs.chmodSync(path, 0o600)
  const inode = fs.lstatSync(path).ino
  const hub = makeInputHub()
  let client: net.Socket | undefined
  let closed = false

  server.on("error", () => {
    // After listening, errors concern single accepts; the console keeps serving.
  })
  server.on("connection", (conn) => {
    conn.on("error", () => conn.destroy())
    if (client !== undefined || closed) {
      conn.destroy()
      return
    }
    client = conn
    conn.on("data", (chunk: Buffer) => hub.emit(chunk))
    conn.on("close", () => {
      if (client === conn) client = undefined
    })
  })

  return {
    kind: "socket",
    write: (bytes) => {
      const c = client
      if (c === undefined || c.destroyed || c.writableLength > MAX_CLIENT_BACKLOG) return
      c.write(Buffer.from(bytes))
    },
    onInput: hub.subscribe,
    close: () => {
      if (closed) return
      closed = true
      client?.destroy()
      server.close()
      try {
        // Only our own socket: someone may have replaced the path meanwhile.
        if (fs.lstatSync(path).ino === inode) fs.unlinkSync(path)
      } catch {
        // Already gone.
      }
    }
  }
}
