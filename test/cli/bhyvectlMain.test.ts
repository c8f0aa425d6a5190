import * as Effect from "effect/Effect"
import { describe, expect, it } from "@effect/vitest"
import { createServer } from "node:net"
import { join } from "node:path"
import { bhyvectlUsage } from "../../src/cli/BhyvectlArgs.js"
import { type BhyvectlIo, bhyvectlMain } from "../../src/cli/BhyvectlMain.js"
import { Busy, RequestFailed } from "../../src/control/ControlFailure.js"
import type { ControlRequest } from "../../src/control/ControlRequest.js"
import { type ControlHandler, makeControlServer } from "../../src/control/ControlServer.js"
import type { ControlPathEnvironment } from "../../src/control/ControlSocketPath.js"
import { answer, fakeHandler, statusResult } from "../control/fakeHandler.js"
import { tempDir, tempEnvironment } from "../control/helpers.js"

interface Run {
  readonly status: number
  readonly stdout: string
  readonly stderr: string
}

const run = (env: ControlPathEnvironment, argv: ReadonlyArray<string>, extra: Partial<BhyvectlIo> = {}) =>
  Effect.promise(async (): Promise<Run> => {
    let stdout = ""
    let stderr = ""
    const status = await bhyvectlMain(argv, {
      stdout: (t) => {
        stdout += t
      },
      stderr: (t) => {
        stderr += t
      },
      cwd: "/work/here",
      environment: env,
      ...extra
    })
    return { status, stdout, stderr }
  })

/** A test server for VM "vm1" whose fake handler records what it was asked. */
const recordingServer = (env: ControlPathEnvironment, handler: ControlHandler = fakeHandler) =>
  Effect.gen(function*() {
    const seen: Array<ControlRequest> = []
    const server = yield* makeControlServer({ name: "vm1", environment: env, shutdownGraceMs: 50 }, (request) => {
      seen.push(request)
      return handler(request)
    })
    return { seen, path: server.path }
  })

describe("bhyvectl", () => {
  it.scopedLive("prints its help and exits 0", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      expect(yield* run(env, ["--help"])).toEqual({ status: 0, stdout: bhyvectlUsage, stderr: "" })
    }))

  it.scopedLive("exits 1 with 'bhyvectl: <why>' on a usage error", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      expect(yield* run(env, ["--vm=vm1"])).toEqual({
        status: 1,
        stdout: "",
        stderr: "bhyvectl: no action given: use one of --checkpoint, --suspend, --destroy, --pause, --resume, " +
          "--status (see bhyvectl --help)\n"
      })
    }))

  it.scopedLive("sends each action to the VM found by name and exits 0 silently on success", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const { seen } = yield* recordingServer(env)
      for (const argv of [
        ["--vm=vm1", "--checkpoint=snap.ckp"],
        ["--vm=vm1", "--suspend", "/abs/s"],
        ["--vm=vm1", "--pause"],
        ["--vm=vm1", "--resume"],
        ["--vm=vm1", "--destroy"]
      ]) {
        expect(yield* run(env, argv)).toEqual({ status: 0, stdout: "", stderr: "" })
      }
      expect(seen).toEqual([
        { _tag: "Checkpoint", path: "/work/here/snap.ckp" },
        { _tag: "Suspend", path: "/abs/s" },
        { _tag: "Pause" },
        { _tag: "Resume" },
        { _tag: "Destroy" }
      ])
    }))

  it.scopedLive("prints a status summary, or the reply as JSON", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      yield* recordingServer(env)
      const human = yield* run(env, ["--vm=vm1", "--status"])
      expect(human).toEqual({
        status: 0,
        stdout: "vm1: running\n  machine: cpus=1 memory=67108864\n  devices: com1 (uart), rtc\n",
        stderr: ""
      })
      const json = yield* run(env, ["--vm=vm1", "--status", "--json"])
      expect(json.status).toBe(0)
      expect(JSON.parse(json.stdout)).toEqual(statusResult)
    }))

  it.scopedLive("talks to an explicit --socket instead of looking the VM up", () =>
    Effect.gen(function*() {
      const { root, env } = yield* tempEnvironment()
      const server = yield* makeControlServer({ name: "other", socketPath: join(root, "s"), environment: env }, fakeHandler)
      expect((yield* run(env, ["--vm=vm1", "--pause", "--socket=s"], { cwd: root })).status).toBe(0)
      expect((yield* run(env, ["--vm=vm1", "--pause", `--socket=${server.path}`])).status).toBe(0)
      // Looked up by name, vm1 does not exist.
      expect((yield* run(env, ["--vm=vm1", "--pause"])).status).toBe(1)
    }))

  it.scopedLive("exits 1 and prints bhyve's reason when bhyve replies with a failure", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const handler: ControlHandler = (request) =>
        request._tag === "Checkpoint"
          ? Effect.fail(new RequestFailed({ request: "Checkpoint", reason: "No space left on device", step: "writing memory" }))
          : request._tag === "Pause"
          ? Effect.fail(new Busy({ running: "Suspend" }))
          : fakeHandler(request)
      yield* recordingServer(env, handler)
      expect(yield* run(env, ["--vm=vm1", "--checkpoint=/s"])).toEqual({
        status: 1,
        stdout: "",
        stderr: "bhyvectl: checkpoint failed at writing memory: No space left on device\n"
      })
      expect((yield* run(env, ["--vm=vm1", "--pause"])).stderr).toBe(
        "bhyvectl: busy: a suspend request is in progress; try again when it has finished\n"
      )
    }))

  it.scopedLive("exits 1 when there is no such VM, naming where it looked", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const result = yield* run(env, ["--vm=ghost", "--status"])
      expect(result.status).toBe(1)
      expect(result.stderr).toBe(
        `bhyvectl: no VM named ghost is running (no control socket at ${join(env.systemDir, "ghost")}, ` +
          `${join(env.tmpDir, `bhyve-${env.uid}`, "ghost")})\n`
      )
    }))

  it.scopedLive("exits 1 when bhyve does not reply in time", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      const stuck: ControlHandler = (request) => (request._tag === "Status" ? fakeHandler(request) : Effect.never)
      const { path } = yield* recordingServer(env, stuck)
      expect((yield* run(env, ["--vm=vm1", "--pause"], { timeoutMs: 100 })).stderr).toBe(
        `bhyvectl: no reply to the pause request within 100 ms (control socket ${path})\n`
      )
    }))

  it.scopedLive("reports bhyve's 'timed out' reply when bhyve's deadline passes first", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      yield* makeControlServer({ name: "vm1", environment: env, deadlineMs: 50 }, (r) =>
        r._tag === "Checkpoint" ? Effect.never : Effect.succeed(answer(r)))
      expect(yield* run(env, ["--vm=vm1", "--checkpoint=/s"])).toEqual({
        status: 1,
        stdout: "",
        stderr: "bhyvectl: checkpoint failed: timed out after 50 ms\n"
      })
    }))

  it.scopedLive("exits 1 on a reply that is not the protocol", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = join(dir, "liar.sock")
      const liar = createServer((socket) => socket.end("HTTP/1.1 400 Bad Request\n"))
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => {
          liar.listen(path, () => resume(Effect.void))
        }),
        () => Effect.sync(() => liar.close())
      )
      const { env } = yield* tempEnvironment()
      const result = yield* run(env, ["--vm=vm1", "--status", `--socket=${path}`])
      expect(result.status).toBe(1)
      expect(result.stderr).toMatch(new RegExp(`^bhyvectl: bad reply on control socket ${path}: not JSON`))
    }))
})
