import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { describe, expect, it } from "@effect/vitest"
import { existsSync, linkSync, lstatSync, renameSync, statSync, writeFileSync } from "node:fs"
import { connect, createServer } from "node:net"
import { dirname } from "node:path"
import { sendControlRequest } from "../../src/control/ControlClient.js"
import { BadRequest, Busy, RequestFailed } from "../../src/control/ControlFailure.js"
import type { ControlRequest } from "../../src/control/ControlRequest.js"
import type { ControlPathEnvironment } from "../../src/control/ControlSocketPath.js"
import { prepareControlSocketPath } from "../../src/control/ControlSocketPath.js"
import {
  type ControlHandler,
  type ControlServerOptions,
  makeControlServer
} from "../../src/control/ControlServer.js"
import { answer, fakeHandler, statusResult } from "./fakeHandler.js"
import { decodeReply, rawExchange, requestLine, tempEnvironment } from "./helpers.js"

const serve = (env: ControlPathEnvironment, handler: ControlHandler = fakeHandler, options: Partial<ControlServerOptions> = {}) =>
  makeControlServer({ name: "vm1", environment: env, ...options }, handler)

const ask = <Req extends ControlRequest>(env: ControlPathEnvironment, request: Req) =>
  sendControlRequest({ name: "vm1" }, request, { environment: env, timeoutMs: 5_000 })

/** A handler whose Checkpoint blocks until released, to hold the server busy. */
const blockingHandler = Effect.gen(function*() {
  const started = yield* Deferred.make<void>()
  const release = yield* Deferred.make<void>()
  const completed = yield* Deferred.make<void>()
  const handler: ControlHandler = (request) =>
    request._tag === "Checkpoint"
      ? Deferred.succeed(started, undefined).pipe(
        Effect.zipRight(Deferred.await(release)),
        Effect.zipRight(Deferred.succeed(completed, undefined)),
        Effect.as(answer(request))
      )
      : fakeHandler(request)
  return { handler, started, release, completed }
})

/** A socket file nobody listens on, as a bhyve killed with SIGKILL leaves behind. */
const makeStaleSocket = (path: string) =>
  Effect.promise(async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(path, resolve))
    linkSync(path, `${path}.keep`)
    await new Promise<void>((resolve) => server.close(() => resolve()))
    renameSync(`${path}.keep`, path)
  })

describe("ControlServer with ControlClient", () => {
  it.scopedLive("answers each request with its own reply", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      yield* serve(env)
      expect(yield* ask(env, { _tag: "Checkpoint", path: "/snap/a" })).toEqual(answer({ _tag: "Checkpoint", path: "/snap/a" }))
      expect(yield* ask(env, { _tag: "Suspend", path: "/snap/b" })).toMatchObject({ _tag: "Suspend", path: "/snap/b", bytes: 4096 })
      expect(yield* ask(env, { _tag: "Status" })).toEqual(statusResult)
      for (const tag of ["Destroy", "Pause", "Resume"] as const) {
        expect(yield* ask(env, { _tag: tag })).toEqual({ _tag: tag, ok: true })
      }
    }))

  it.scopedLive("answers several requests on one connection in order, garbage included, without stopping", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const server = yield* serve(env)
      const lines = yield* rawExchange(
        server.path,
        requestLine({ _tag: "Pause" }) + "this is not json\n" + `{"v":9}\n` + requestLine({ _tag: "Resume" }) +
          JSON.stringify({ v: 1, request: { _tag: "Status" } }) // last line without a newline, as `printf | nc -U` sends it
      )
      const replies = lines.map(decodeReply)
      expect(replies.map((r) => (r._tag === "Right" ? r.right._tag : r.left._tag))).toEqual([
        "Pause",
        "BadRequest",
        "BadRequest",
        "Resume",
        "Status"
      ])
    }))

  it.scopedLive("answers an over-long line with BadRequest and hangs up", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const server = yield* serve(env)
      const lines = yield* rawExchange(server.path, `${"x".repeat(70_000)}\n${requestLine({ _tag: "Status" })}`)
      expect(lines).toHaveLength(1)
      const reply = decodeReply(lines[0])
      expect(reply._tag === "Left" && reply.left).toEqual(new BadRequest({ reason: "request line longer than 65536 bytes" }))
      expect((yield* ask(env, { _tag: "Status" }))._tag).toBe("Status")
    }))

  it.scopedLive("answers Busy to a second request while one is in progress, but answers Status", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const { handler, release, started } = yield* blockingHandler
      yield* serve(env, handler)
      const checkpoint = yield* Effect.fork(ask(env, { _tag: "Checkpoint", path: "/snap/c" }))
      yield* Deferred.await(started)
      expect(yield* Effect.flip(ask(env, { _tag: "Pause" }))).toEqual(new Busy({ running: "Checkpoint" }))
      expect(yield* Effect.flip(ask(env, { _tag: "Suspend", path: "/s" }))).toEqual(new Busy({ running: "Checkpoint" }))
      expect(yield* ask(env, { _tag: "Status" })).toEqual(statusResult)
      yield* Deferred.succeed(release, undefined)
      expect((yield* Fiber.join(checkpoint)).path).toBe("/snap/c")
      expect(yield* ask(env, { _tag: "Pause" })).toEqual({ _tag: "Pause", ok: true })
    }))

  it.scopedLive("replies 'timed out' at the deadline, interrupts the handler, and stays busy until it has stopped", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const interrupted = yield* Deferred.make<void>()
      const cleanedUp = yield* Deferred.make<void>()
      const handler: ControlHandler = (request) =>
        request._tag === "Checkpoint"
          ? Effect.never.pipe(Effect.onInterrupt(() =>
            // A slow cleanup (removing a half-written snapshot) that the next request must wait out.
            Deferred.succeed(interrupted, undefined).pipe(Effect.zipRight(Deferred.await(cleanedUp)))
          ))
          : fakeHandler(request)
      yield* serve(env, handler, { deadlineMs: (r) => (r._tag === "Checkpoint" ? 100 : 5_000) })
      const failure = yield* Effect.flip(ask(env, { _tag: "Checkpoint", path: "/snap/t" }))
      expect(failure).toEqual(new RequestFailed({ request: "Checkpoint", reason: "timed out after 100 ms" }))
      expect(failure.message).toBe("checkpoint failed: timed out after 100 ms")
      yield* Deferred.await(interrupted)
      expect(yield* Effect.flip(ask(env, { _tag: "Pause" }))).toEqual(new Busy({ running: "Checkpoint" }))
      yield* Deferred.succeed(cleanedUp, undefined)
      yield* Effect.sleep(20)
      expect(yield* ask(env, { _tag: "Pause" })).toEqual({ _tag: "Pause", ok: true })
    }))

  it.scopedLive("turns handler failures, defects and wrong answers into replies", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const handler: ControlHandler = (request) => {
        switch (request._tag) {
          case "Checkpoint":
            return Effect.fail(new RequestFailed({ request: "Checkpoint", reason: "No space left on device", step: "writing memory" }))
          case "Pause":
            return Effect.die(new Error("boom"))
          case "Resume":
            throw new Error("thrown, not failed")
          case "Destroy":
            return Effect.succeed(answer({ _tag: "Pause" }))
          default:
            return fakeHandler(request)
        }
      }
      yield* serve(env, handler)
      expect((yield* Effect.flip(ask(env, { _tag: "Checkpoint", path: "/s" }))).message)
        .toBe("checkpoint failed at writing memory: No space left on device")
      expect((yield* Effect.flip(ask(env, { _tag: "Pause" }))).message).toBe("pause failed: internal error: boom")
      expect((yield* Effect.flip(ask(env, { _tag: "Resume" }))).message).toBe("resume failed: internal error: thrown, not failed")
      expect((yield* Effect.flip(ask(env, { _tag: "Destroy" }))).message)
        .toBe("destroy failed: internal error: bhyve answered a Destroy request with a Pause result")
      expect((yield* ask(env, { _tag: "Status" }))._tag).toBe("Status")
    }))

  it.scopedLive("carries on when a client disconnects mid-request, finishing the request", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const { completed, handler, release, started } = yield* blockingHandler
      const server = yield* serve(env, handler)
      const socket = connect(server.path)
      socket.on("error", () => undefined)
      socket.write(requestLine({ _tag: "Checkpoint", path: "/snap/gone" }))
      yield* Deferred.await(started)
      socket.destroy()
      yield* Effect.sleep(20)
      yield* Deferred.succeed(release, undefined)
      yield* Deferred.await(completed)
      expect(yield* ask(env, { _tag: "Status" })).toEqual(statusResult)
      expect(yield* ask(env, { _tag: "Pause" })).toEqual({ _tag: "Pause", ok: true })
    }))

  it.scopedLive("refuses to start a second server for a running VM, leaving the first alone", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const first = yield* serve(env)
      const error = yield* Effect.flip(serve(env))
      expect(error._tag).toBe("VmAlreadyRunning")
      expect(error.message).toBe(`a VM named vm1 is already running (control socket ${first.path})`)
      expect(yield* ask(env, { _tag: "Status" })).toEqual(statusResult)
    }))

  it.scopedLive("replaces a stale socket left by a bhyve that died", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const path = yield* prepareControlSocketPath({ name: "vm1" }, env)
      yield* makeStaleSocket(path)
      expect(lstatSync(path).isSocket()).toBe(true)
      expect((yield* Effect.flip(ask(env, { _tag: "Status" }))).message)
        .toBe(`no VM named vm1 is running (stale control socket ${path}: nothing is listening)`)
      const server = yield* serve(env)
      expect(server.path).toBe(path)
      expect(yield* ask(env, { _tag: "Status" })).toEqual(statusResult)
    }))

  it.scopedLive("will not remove a file that is not a socket", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const path = yield* prepareControlSocketPath({ name: "vm1" }, env)
      writeFileSync(path, "precious")
      const error = yield* Effect.flip(serve(env))
      expect(error.message).toBe(`cannot listen on control socket ${path}: it exists and is not a socket; not removing it`)
      expect(existsSync(path)).toBe(true)
    }))

  it.scopedLive("makes the socket 0600 in a 0700 directory", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const server = yield* serve(env)
      expect(lstatSync(server.path).isSocket()).toBe(true)
      expect(lstatSync(server.path).mode & 0o777).toBe(0o600)
      expect(statSync(dirname(server.path)).mode & 0o777).toBe(0o700)
    }))

  it.scopedLive("listens on an explicit socket path", () =>
    Effect.gen(function*() {
      const { root, env } = yield* tempEnvironment()
      const server = yield* serve(env, fakeHandler, { socketPath: `${root}/explicit.sock` })
      expect(server.path).toBe(`${root}/explicit.sock`)
      expect(yield* sendControlRequest({ name: "vm1", path: server.path }, { _tag: "Status" })).toEqual(statusResult)
    }))

  it.scopedLive("removes the socket when its scope closes, and clients then find no VM", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(serve(env), scope)
      expect(existsSync(server.path)).toBe(true)
      yield* Scope.close(scope, Exit.void)
      expect(existsSync(server.path)).toBe(false)
      const error = yield* Effect.flip(ask(env, { _tag: "Status" }))
      expect(error._tag).toBe("NoSuchVm")
      // The name is free again.
      yield* serve(env)
      expect((yield* ask(env, { _tag: "Status" }))._tag).toBe("Status")
    }))

  it.scopedLive("on close, lets a request finish within the grace period, then answers the rest 'shutting down'", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const { handler, release, started } = yield* blockingHandler
      const scope = yield* Scope.make()
      yield* Scope.extend(serve(env, handler, { shutdownGraceMs: 200 }), scope)

      // Released during the grace period: the client gets the real result.
      const finished = yield* Effect.fork(ask(env, { _tag: "Checkpoint", path: "/snap/late" }))
      yield* Deferred.await(started)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Effect.sleep(50)
      yield* Deferred.succeed(release, undefined)
      expect((yield* Fiber.join(finished)).path).toBe("/snap/late")
      yield* Fiber.join(closing)

      // Never released: the client is told, rather than left hanging.
      const stuck = yield* blockingHandler
      const scope2 = yield* Scope.make()
      yield* Scope.extend(serve(env, stuck.handler, { shutdownGraceMs: 50 }), scope2)
      const abandoned = yield* Effect.fork(Effect.flip(ask(env, { _tag: "Checkpoint", path: "/snap/x" })))
      yield* Deferred.await(stuck.started)
      yield* Scope.close(scope2, Exit.void)
      expect(yield* Fiber.join(abandoned)).toEqual(new RequestFailed({ request: "Checkpoint", reason: "bhyve is shutting down" }))
    }))

  it.scopedLive("gets a Destroy reply out even when the scope closes right after the handler returns", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const scope = yield* Scope.make()
      const destroyed = yield* Deferred.make<void>()
      const handler: ControlHandler = (request) =>
        request._tag === "Destroy" ? Effect.as(Deferred.succeed(destroyed, undefined), answer(request)) : fakeHandler(request)
      yield* Scope.extend(serve(env, handler), scope)
      const reply = yield* Effect.fork(ask(env, { _tag: "Destroy" }))
      // What bhyve's main does: the machine stops, the server's scope closes.
      yield* Deferred.await(destroyed)
      yield* Scope.close(scope, Exit.void)
      expect(yield* Fiber.join(reply)).toEqual({ _tag: "Destroy", ok: true })
    }))
})
