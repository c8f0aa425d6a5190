import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Bus from "../../src/bus/Bus.js"
import { layerDeviceServers } from "../../src/servers/DeviceServer.js"
import { layerRecording, makeRecordingController } from "../../src/servers/InterruptController.js"
import * as SerialBackends from "../../src/servers/serial-backend/SerialBackends.js"
import type { StdinLike } from "../../src/servers/serial-backend/StdioBackend.js"
import * as R from "../../src/servers/uart/UartRegisters.js"
import * as UartServer from "../../src/servers/uart/UartServer.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "bhyve-ts-serial-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const connect = (socketPath: string) =>
  Effect.acquireRelease(
    Effect.async<net.Socket, Error>((resume) => {
      const client = net.connect(socketPath)
      client.once("connect", () => resume(Effect.succeed(client)))
      client.once("error", (error) => resume(Effect.fail(error)))
    }),
    (client) => Effect.sync(() => client.destroy())
  )

/** Collects what a client receives until it has `length` bytes. */
const receive = (client: net.Socket, length: number) =>
  Effect.async<string>((resume) => {
    let text = ""
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1")
      if (text.length >= length) {
        client.off("data", onData)
        resume(Effect.succeed(text))
      }
    }
    client.on("data", onData)
  }).pipe(Effect.timeout("5 seconds"))

/** Retries `check` until it returns a value, with real sleeps (socket I/O happens on the event loop). */
const eventually = <A>(check: () => A | undefined) =>
  Effect.gen(function* () {
    for (let i = 0; i < 500; i++) {
      const value = check()
      if (value !== undefined) return value
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error("condition never held"))
  })

describe("memory backend", () => {
  it("collects output and delivers pushed input", () => {
    const backend = SerialBackends.makeMemory()
    const seen: Array<number> = []
    backend.onInput((bytes) => seen.push(...bytes))
    backend.write(Uint8Array.of(0x68, 0x69))
    backend.push("ok")
    expect(backend.outputText()).toBe("hi")
    expect(seen).toEqual([0x6f, 0x6b])
  })

  it("keeps input that arrives before anyone listens", () => {
    const backend = SerialBackends.makeMemory()
    backend.push("early")
    const seen: Array<number> = []
    backend.onInput((bytes) => seen.push(...bytes))
    expect(String.fromCharCode(...seen)).toBe("early")
  })

  it.scoped("is closed when its scope ends", () =>
    Effect.gen(function* () {
      const backend = yield* Effect.scoped(SerialBackends.memory())
      expect(backend.closed()).toBe(true)
    }))
})

describe("file backend", () => {
  it.scoped("writes output to a new file with mode 0600", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "console.log")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const backend = yield* SerialBackends.file(file)
          backend.write(new TextEncoder().encode("boot ok\n"))
        })
      )
      expect(fs.readFileSync(file, "utf8")).toBe("boot ok\n")
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    }))

  it.scoped("truncates an existing file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "console.log")
      fs.writeFileSync(file, "old contents")
      yield* Effect.scoped(SerialBackends.file(file))
      expect(fs.readFileSync(file, "utf8")).toBe("")
    }))

  it.scoped("fails with the path and reason when the file cannot be created", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "missing", "console.log")
      const exit = yield* Effect.exit(SerialBackends.file(file))
      expect(exit).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "SerialBackendError", path: file })))
    }))
})

describe("socket backend", () => {
  it.live("sends output to the connected client and drops it when none is", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const socketPath = path.join(dir, "com1.sock")
        const backend = yield* SerialBackends.socket(socketPath)
        backend.write(new TextEncoder().encode("lost"))
        const client = yield* connect(socketPath)
        // The server learns of the client on its next event-loop turn.
        yield* Effect.sleep("50 millis")
        backend.write(new TextEncoder().encode("hello"))
        expect(yield* receive(client, 5)).toBe("hello")
      })
    ))

  it.live("client input reaches the guest through the UART", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const socketPath = path.join(dir, "com1.sock")
        const backend = yield* SerialBackends.socket(socketPath)
        const machine = UartServer.layer({ id: "com1", backend }).pipe(
          Layer.provideMerge(
            Layer.mergeAll(Bus.layer({ report: () => {} }), layerDeviceServers, layerRecording(makeRecordingController()))
          )
        )
        const bus = Context.get(yield* Layer.build(machine), Bus.Bus)
        const client = yield* connect(socketPath)
        client.write("hi")
        let received = ""
        yield* eventually(() => {
          while ((bus.pioRead(0x3f8 + R.REG_LSR, 1) & R.LSR_DR) !== 0) received += String.fromCharCode(bus.pioRead(0x3f8, 1))
          return received.length >= 2 ? received : undefined
        })
        expect(received).toBe("hi")
        bus.pioWrite(0x3f8, 1, 0x21)
        expect(yield* receive(client, 1)).toBe("!")
      })
    ))

  it.live("creates the socket 0600 and removes it on release", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const socketPath = path.join(dir, "com1.sock")
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* SerialBackends.socket(socketPath)
            const stat = fs.lstatSync(socketPath)
            expect(stat.isSocket()).toBe(true)
            expect(stat.mode & 0o777).toBe(0o600)
          })
        )
        expect(fs.existsSync(socketPath)).toBe(false)
      })
    ))

  it.live("refuses a path that holds a regular file", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const socketPath = path.join(dir, "not-a-socket")
        fs.writeFileSync(socketPath, "keep me")
        const error = yield* Effect.flip(SerialBackends.socket(socketPath))
        expect(error).toMatchObject({ _tag: "SerialBackendError", path: socketPath, reason: "exists and is not a socket" })
        expect(fs.readFileSync(socketPath, "utf8")).toBe("keep me")
      })
    ))

  it.live("replaces a stale socket file", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const socketPath = path.join(dir, "com1.sock")
        // A process that dies while serving leaves a socket file nobody answers.
        execFileSync(process.execPath, ["-e", "require('net').createServer().listen(process.argv[1], () => process.exit(0))", socketPath])
        expect(fs.lstatSync(socketPath).isSocket()).toBe(true)
        yield* SerialBackends.socket(socketPath)
        const client = yield* connect(socketPath)
        expect(client.readyState).toBe("open")
      })
    ))

  it.live("refuses a socket another process still serves", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const socketPath = path.join(dir, "com1.sock")
        yield* SerialBackends.socket(socketPath)
        const error = yield* Effect.flip(SerialBackends.socket(socketPath))
        expect(error.reason).toMatch(/another process/)
      })
    ))
})

describe("stdio backend", () => {
  /** A stand-in for process.stdin that records what the backend did to it. */
  const fakeStdin = (isTTY: boolean) => {
    const listeners = new Set<(chunk: Buffer | string) => void>()
    const log: Array<string> = []
    const stdin: StdinLike & { emit: (text: string) => void; log: Array<string> } = {
      isTTY,
      isRaw: false,
      setRawMode: (mode: boolean) => log.push(`raw:${mode}`),
      on: (_event, listener) => listeners.add(listener),
      off: (_event, listener) => listeners.delete(listener),
      resume: () => log.push("resume"),
      pause: () => log.push("pause"),
      ref: () => log.push("ref"),
      unref: () => log.push("unref"),
      emit: (text) => {
        for (const l of listeners) l(Buffer.from(text))
      },
      log
    }
    return stdin
  }

  it.scoped("puts a terminal in raw mode and restores, pauses and unrefs it on release", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const out = fs.openSync(path.join(dir, "out"), "w")
      const stdin = fakeStdin(true)
      yield* Effect.scoped(SerialBackends.stdio({ input: stdin, outputFd: out }))
      fs.closeSync(out)
      expect(stdin.log).toEqual(["raw:true", "ref", "resume", "raw:false", "pause", "unref"])
    }))

  it.scoped("leaves a non-terminal's mode alone", () =>
    Effect.gen(function* () {
      const stdin = fakeStdin(false)
      yield* Effect.scoped(SerialBackends.stdio({ input: stdin, outputFd: 1 }))
      expect(stdin.log.filter((l) => l.startsWith("raw"))).toEqual([])
    }))

  it.scoped("writes output synchronously to its fd and passes input on", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "out")
      const out = fs.openSync(file, "w")
      const stdin = fakeStdin(false)
      const seen: Array<number> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const backend = yield* SerialBackends.stdio({ input: stdin, outputFd: out })
          backend.onInput((bytes) => seen.push(...bytes))
          backend.write(new TextEncoder().encode("console"))
          expect(fs.readFileSync(file, "utf8")).toBe("console")
          stdin.emit("k")
        })
      )
      stdin.emit("after release")
      fs.closeSync(out)
      expect(String.fromCharCode(...seen)).toBe("k")
    }))
})
