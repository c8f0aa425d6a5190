/**
 * The listening end of a VM's control socket, as a scoped resource: acquired,
 * it answers requests with `handler` (under RequestGate's rules: one at a
 * time, Status always, a deadline each); released, it stops listening,
 * lets requests in progress finish for a short grace period (so the reply to
 * a Destroy or Suspend still gets out), answers any left "bhyve is shutting
 * down", closes the connections and removes the socket file.
 *
 * Handlers that end the VM (Destroy, Suspend) should return once the stop is
 * under way and let the caller close this scope afterwards; a handler that
 * waits for the scope to close would wait out the grace period and its
 * client would be told "shutting down" instead of "done".
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import { chmodSync, lstatSync, unlinkSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { type ControlConnection, serveConnection } from "./ControlConnection.js"
import { BadRequest, RequestFailed } from "./ControlFailure.js"
import {
  type ControlReply,
  decodeRequestLine,
  defaultDeadlineMs,
  encodeReplyLine,
  MAX_REQUEST_LINE_BYTES
} from "./ControlProtocol.js"
import type { ControlRequest } from "./ControlRequest.js"
import {
  type ControlPathEnvironment,
  ControlPathError,
  controlPathEnvironment,
  prepareControlSocketPath
} from "./ControlSocketPath.js"
import { authorizePeer } from "./PeerAuthorization.js"
import { type ControlHandler, makeRequestGate, type RequestGate } from "./RequestGate.js"
import { probeSocket } from "./SocketProbe.js"

export type { ControlHandler } from "./RequestGate.js"

export interface ControlServerOptions {
  /** The VM's name; the socket is found by it. */
  readonly name: string
  /** An explicit socket path (bhyve's `-o control.socket=PATH`) instead of the directory search. */
  readonly socketPath?: string | undefined
  /** Per-request deadline; defaults to defaultDeadlineMs (5 min for snapshots, 30 s otherwise). */
  readonly deadlineMs?: number | ((request: ControlRequest) => number) | undefined
  /** On release, how long requests in progress may take to finish before being cut off. Default 2000. */
  readonly shutdownGraceMs?: number | undefined
  /** Where the directory search looks; defaults to the real system. */
  readonly environment?: ControlPathEnvironment | undefined
}

export interface ControlServer {
  readonly name: string
  /** The socket bhyvectl connects to. */
  readonly path: string
}

/** Another live bhyve answers on this VM's control socket. */
export class VmAlreadyRunning extends Data.TaggedError("VmAlreadyRunning")<{
  readonly name: string
  readonly path: string
}> {
  override get message(): string {
    return `a VM named ${this.name} is already running (control socket ${this.path})`
  }
}

/** The socket could not be set up for a reason other than another VM holding it. */
export class ControlListenError extends Data.TaggedError("ControlListenError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot listen on control socket ${this.path}: ${this.reason}`
  }
}

export type ControlServerError = ControlPathError | VmAlreadyRunning | ControlListenError

/** A client may have this many request lines waiting for replies before it is cut off. */
const MAX_QUEUED_LINES = 32
/** After the grace period: how long flushing the last replies and closing connections may take. */
const CLOSE_TIMEOUT_MS = 1_000

const errnoCode = (e: unknown): string =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : String(e)

/** The reply line for `reply`; if it cannot be encoded, a failure that says so (which always can). */
const replyLine = (request: ControlRequest | undefined, reply: ControlReply): string =>
  Either.getOrElse(encodeReplyLine(reply), (reason) => {
    const why = `internal error: the reply cannot be sent: ${reason}`
    const failure = request === undefined ? new BadRequest({ reason: why }) : new RequestFailed({ request: request._tag, reason: why })
    return Either.getOrElse(encodeReplyLine(Either.left(failure)), () => `{"v":1,"ok":false,"error":{"_tag":"BadRequest","reason":"internal error"}}\n`)
  })

const respondTo = <R>(gate: RequestGate<R>, line: string): Effect.Effect<string, never, R> =>
  Either.match(decodeRequestLine(line), {
    onLeft: (bad) => Effect.succeed(replyLine(undefined, Either.left(bad))),
    onRight: (request) => Effect.map(gate.serve(request), (reply) => replyLine(request, reply))
  })

const listenOnce = (server: Server, path: string): Effect.Effect<void, unknown> =>
  Effect.async<void, unknown>((resume) => {
    const onError = (e: unknown) => {
      server.off("listening", onListening)
      resume(Effect.fail(e))
    }
    const onListening = () => {
      server.off("error", onError)
      resume(Effect.void)
    }
    server.once("error", onError)
    server.once("listening", onListening)
    server.listen(path)
  })

/**
 * Something already has the path. A live server means the VM runs already;
 * a socket nobody answers on is a leftover from a bhyve that died, and is
 * removed. Anything else is left alone.
 */
const reclaim = (path: string, name: string): Effect.Effect<void, VmAlreadyRunning | ControlListenError> =>
  Effect.gen(function*() {
    const st = lstatSync(path, { throwIfNoEntry: false })
    if (st === undefined) return
    if (!st.isSocket()) return yield* new ControlListenError({ path, reason: "it exists and is not a socket; not removing it" })
    const probe = yield* probeSocket(path)
    switch (probe._tag) {
      case "Listening":
        return yield* new VmAlreadyRunning({ name, path })
      case "Absent":
        return
      case "Unknown":
        return yield* new ControlListenError({ path, reason: `cannot tell whether it is in use (${probe.code})` })
      case "Stale":
        // Between the probe and this unlink another bhyve could take the path; the window is
        // tiny, and the alternative (never replacing stale sockets) strands every crashed VM's name.
        try {
          unlinkSync(path)
        } catch (e) {
          if (errnoCode(e) !== "ENOENT") {
            return yield* new ControlListenError({ path, reason: `cannot remove the stale socket (${errnoCode(e)})` })
          }
        }
    }
  })

/** Listens on `path`, replacing a stale socket; returns the socket file's inode. */
const listen = (server: Server, path: string, name: string): Effect.Effect<number, VmAlreadyRunning | ControlListenError> =>
  Effect.gen(function*() {
    const asListenError = (e: unknown) =>
      errnoCode(e) === "EADDRINUSE" ? new VmAlreadyRunning({ name, path }) : new ControlListenError({ path, reason: errnoCode(e) })
    yield* listenOnce(server, path).pipe(
      Effect.catchIf((e) => errnoCode(e) === "EADDRINUSE", () => Effect.zipRight(reclaim(path, name), listenOnce(server, path))),
      Effect.mapError((e) => (e instanceof VmAlreadyRunning || e instanceof ControlListenError ? e : asListenError(e)))
    )
    return yield* Effect.try({
      try: () => {
        // The 0700 directory already keeps others out; 0600 is the second lock (and the only one for an explicit path).
        chmodSync(path, 0o600)
        return lstatSync(path).ino
      },
      catch: (e) => new ControlListenError({ path, reason: `cannot restrict the socket to mode 0600 (${errnoCode(e)})` })
    }).pipe(Effect.tapError(() => Effect.sync(() => server.close())))
  })

/**
 * Waits for `wait` or `ms`, whichever comes first. Interruptible on purpose:
 * this runs in a finalizer, where a timeout could otherwise not cut the wait short.
 */
const waitAtMost = (ms: number, wait: () => Promise<unknown>): Effect.Effect<void> =>
  Effect.promise(wait).pipe(Effect.interruptible, Effect.timeoutOption(ms), Effect.asVoid)

const closed = (connection: ControlConnection): Promise<void> =>
  connection.socket.closed ? Promise.resolve() : new Promise((resolve) => connection.socket.once("close", () => resolve()))

const shutdown = <R>(
  server: Server,
  connections: Set<ControlConnection>,
  gate: RequestGate<R>,
  path: string,
  inode: number,
  graceMs: number
): Effect.Effect<void> =>
  Effect.gen(function*() {
    server.close()
    const drained = () => Promise.all([...connections].map((c) => c.drained()))
    yield* waitAtMost(graceMs, drained)
    yield* gate.stop
    yield* waitAtMost(CLOSE_TIMEOUT_MS, drained)
    for (const c of connections) c.socket.end()
    yield* waitAtMost(CLOSE_TIMEOUT_MS, () => Promise.all([...connections].map(closed)))
    for (const c of connections) c.socket.destroy()
    // Node may have unlinked it already; and if the path now holds another server's socket, it is not ours to remove.
    const st = lstatSync(path, { throwIfNoEntry: false })
    if (st !== undefined && st.ino === inode) {
      yield* Effect.try(() => unlinkSync(path)).pipe(Effect.ignore)
    }
  })

const deadlineFunction = (option: ControlServerOptions["deadlineMs"]): ((request: ControlRequest) => number) =>
  option === undefined ? defaultDeadlineMs : typeof option === "number" ? () => option : option

/**
 * Starts answering on the VM's control socket for as long as the scope
 * lasts. Fails if the path cannot be used or another live VM has it.
 */
export const makeControlServer = <R = never>(
  options: ControlServerOptions,
  handler: ControlHandler<R>
): Effect.Effect<ControlServer, ControlServerError, Scope.Scope | R> =>
  Effect.gen(function*() {
    const env = options.environment ?? controlPathEnvironment()
    const path = yield* prepareControlSocketPath({ name: options.name, path: options.socketPath }, env)
    // Created before the server so that, on release, the server shuts down first and these
    // (which interrupt whatever is still running) are torn down after it.
    const gate = yield* makeRequestGate(handler, deadlineFunction(options.deadlineMs))
    const run = yield* FiberSet.makeRuntimePromise<R, string, never>()
    const overflowReply = replyLine(undefined, Either.left(new BadRequest({ reason: `request line longer than ${MAX_REQUEST_LINE_BYTES} bytes` })))
    const limits = { maxLineBytes: MAX_REQUEST_LINE_BYTES, maxQueuedLines: MAX_QUEUED_LINES, overflowReply }
    const connections = new Set<ControlConnection>()

    const server = createServer({ allowHalfOpen: true }, (socket) => {
      if (!authorizePeer(socket)) {
        socket.destroy()
        return
      }
      const connection = serveConnection(socket, (line) => run(respondTo(gate, line)), limits)
      connections.add(connection)
      socket.once("close", () => connections.delete(connection))
    })
    // Once listening, an accept error (EMFILE) costs that one connection, not the VM.
    server.on("error", () => undefined)

    yield* Effect.acquireRelease(
      listen(server, path, options.name),
      (inode) => shutdown(server, connections, gate, path, inode, options.shutdownGraceMs ?? 2_000)
    )
    return { name: options.name, path }
  })
