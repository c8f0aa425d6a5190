import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { decodeReplyLine, type ControlReply } from "../../src/control/ControlProtocol.js"
import type { ControlPathEnvironment } from "../../src/control/ControlSocketPath.js"

/** A scratch directory, removed when the scope closes. Kept short: socket paths must fit in 107 bytes. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "bctl-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/**
 * A path environment inside a scratch directory: "sys" stands for
 * /var/run/bhyve (its parent exists, so it can be created), "run" for
 * $XDG_RUNTIME_DIR and "tmp" for /tmp.
 */
export const tempEnvironment = (
  options: { readonly xdg?: boolean } = {}
): Effect.Effect<{ readonly root: string; readonly env: ControlPathEnvironment }, never, Scope.Scope> =>
  Effect.map(tempDir, (root) => {
    mkdirSync(join(root, "run"), { mode: 0o700 })
    mkdirSync(join(root, "tmp"))
    return {
      root,
      env: {
        systemDir: join(root, "sys"),
        runtimeDir: options.xdg === true ? join(root, "run") : undefined,
        tmpDir: join(root, "tmp"),
        uid: process.getuid?.() ?? 0
      }
    }
  })

/**
 * Writes `text` to the socket, half-closes, and collects every reply line
 * until the server closes: the wire seen from a dumb client (nc -U).
 */
export const rawExchange = (path: string, text: string | Buffer): Effect.Effect<ReadonlyArray<string>> =>
  Effect.async((resume) => {
    const socket = connect(path)
    const chunks: Array<Buffer> = []
    socket.on("connect", () => socket.end(text))
    socket.on("data", (c: Buffer) => chunks.push(c))
    socket.on("error", () => undefined)
    socket.on("close", () => {
      const all = Buffer.concat(chunks).toString("utf8")
      resume(Effect.succeed(all.split("\n").filter((l) => l !== "")))
    })
    return Effect.sync(() => socket.destroy())
  })

export const decodeReply = (line: string): ControlReply =>
  Either.getOrElse(decodeReplyLine(line), (reason) => {
    throw new Error(`undecodable reply ${line}: ${reason}`)
  })

export const requestLine = (request: unknown): string => `${JSON.stringify({ v: 1, request })}\n`
