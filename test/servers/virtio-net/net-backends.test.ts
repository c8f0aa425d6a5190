import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import { accessSync, constants, existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loadNativeKvm, type NativeKvm } from "../../../src/kernel/NativeKvm.js"
import type { NetBackend } from "../../../src/servers/virtio-net/NetBackend.js"
import { tap } from "../../../src/servers/virtio-net/TapBackend.js"
import { unixDatagram } from "../../../src/servers/virtio-net/UnixDatagramBackend.js"

const native = Effect.orDie(loadNativeKvm)
const reports: Array<string> = []
const report = (m: string) => void reports.push(m)

const unix = (n: NativeKvm, localPath: string, peerPath: string) => unixDatagram({ native: n, localPath, peerPath, report })

/** The next frame a backend receives (or undefined after `ms`). */
const nextFrame = (backend: NetBackend, ms = 3000, accept: (f: Uint8Array) => boolean = () => true) =>
  Effect.async<Uint8Array | undefined>((resume) => {
    const timer = setTimeout(() => {
      off()
      resume(Effect.succeed(undefined))
    }, ms)
    const off = backend.onFrame((frame) => {
      if (!accept(frame)) return
      clearTimeout(timer)
      off()
      resume(Effect.succeed(Uint8Array.from(frame)))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      off()
    })
  })

const frame = (fill: number, length = 60) => new Uint8Array(length).fill(fill)

describe("virtio-net unix datagram backend", () => {
  const dir = mkdtempSync(join(tmpdir(), "bhyve-unix-net-"))

  it.scoped("delivers each frame whole, both ways", () =>
    Effect.gen(function* () {
      const n = yield* native
      const a = yield* unix(n, join(dir, "1a"), join(dir, "1b"))
      const b = yield* unix(n, join(dir, "1b"), join(dir, "1a"))
      const toB = nextFrame(b)
      expect(a.send(frame(0xab, 1514))).toBe(true)
      expect(yield* toB).toEqual(frame(0xab, 1514))
      const toA = nextFrame(a)
      expect(b.send(frame(0xcd))).toBe(true)
      expect(yield* toA).toEqual(frame(0xcd))
    }))

  it.scoped("drops frames while the peer is absent, as a wire would, and reports nothing", () =>
    Effect.gen(function* () {
      const n = yield* native
      const before = reports.length
      const a = yield* unix(n, join(dir, "2a"), join(dir, "2b"))
      expect(a.send(frame(1))).toBe(false)
      const b = yield* unix(n, join(dir, "2b"), join(dir, "2a"))
      const received = nextFrame(b)
      expect(a.send(frame(2))).toBe(true)
      expect((yield* received)?.[0]).toBe(2)
      expect(reports.length).toBe(before)
    }))

  it.effect("removes its socket file when the machine ends", () =>
    Effect.gen(function* () {
      const n = yield* native
      const path = join(dir, "3a")
      const scope = yield* Scope.make()
      yield* Scope.extend(unix(n, path, join(dir, "3b")), scope)
      expect(existsSync(path)).toBe(true)
      yield* Scope.close(scope, Exit.void)
      expect(existsSync(path)).toBe(false)
    }))

  it.scoped("takes over a stale socket file that nobody is bound to", () =>
    Effect.gen(function* () {
      const n = yield* native
      const path = join(dir, "4a")
      // A socket file left by a process that died: bound once, then its fd closed without unlinking.
      const fd = n.unixDatagramSocket()
      expect(n.unixBind(fd, path)).toBe(0)
      n.close(fd)
      const a = yield* unix(n, path, join(dir, "4b"))
      expect(a.kind).toBe("unix")
    }))

  it.scoped("refuses a socket another process is bound to, and a path that is not a socket", () =>
    Effect.gen(function* () {
      const n = yield* native
      const live = join(dir, "5a")
      yield* unix(n, live, join(dir, "5b"))
      const taken = yield* Effect.flip(unix(n, live, join(dir, "5c")))
      expect(taken.message).toBe(`virtio-net backend unix=${live}:${join(dir, "5c")}: ${live} is in use by another process`)
      const file = join(dir, "5f")
      writeFileSync(file, "not a socket")
      const notSocket = yield* Effect.flip(unix(n, file, join(dir, "5c")))
      expect(notSocket.reason).toBe(`${file} exists and is not a socket`)
    }))
})

const tapUsable = (() => {
  try {
    accessSync("/dev/net/tun", constants.R_OK | constants.W_OK)
    execFileSync("ip", ["-V"], { stdio: "ignore" })
    return process.getuid?.() === 0
  } catch {
    return false
  }
})()
if (!tapUsable) console.log("skipping the tap backend test: needs root, /dev/net/tun and iproute2's ip")

/** An ARP request (who has `target`, tell `sender`) from `mac`, broadcast. */
const arpRequest = (mac: ReadonlyArray<number>, sender: ReadonlyArray<number>, target: ReadonlyArray<number>) =>
  Uint8Array.from([
    ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff], ...mac, 0x08, 0x06,
    0, 1, 8, 0, 6, 4, 0, 1, ...mac, ...sender, 0, 0, 0, 0, 0, 0, ...target,
    ...new Array<number>(18).fill(0)
  ])

describe.skipIf(!tapUsable)("virtio-net tap backend", () => {
  it.scoped("a frame written to the tap reaches the host's stack, and its reply comes back", () =>
    Effect.gen(function* () {
      const n = yield* native
      const name = `bhtap${process.pid % 10000}`
      const backend = yield* tap({ native: n, name, report })
      const net = [10, 213, (process.pid >> 8) & 0xff, process.pid & 0xfc]
      const host = [...net.slice(0, 3), net[3] + 1]
      const guest = [...net.slice(0, 3), net[3] + 2]
      execFileSync("ip", ["addr", "add", `${host.join(".")}/30`, "dev", name])
      execFileSync("ip", ["link", "set", name, "up"])
      const mac = [0x02, 0, 0, 0x12, 0x34, 0x56]
      const isArpReply = (f: Uint8Array) => f[12] === 0x08 && f[13] === 0x06 && f[21] === 2
      const reply = nextFrame(backend, 5000, isArpReply)
      expect(backend.send(arpRequest(mac, guest, host))).toBe(true)
      const got = (yield* reply) ?? new Uint8Array(0)
      expect(got.length, "no ARP reply from the host").toBeGreaterThan(0)
      // The reply is addressed to our MAC and says who has the host's address.
      expect([...got.subarray(0, 6)]).toEqual(mac)
      expect([...got.subarray(28, 32)]).toEqual(host)
    }))

  it.scoped("a tap interface that is already attached is refused with the reason", () =>
    Effect.gen(function* () {
      const n = yield* native
      const name = `bhtap${process.pid % 10000}b`
      yield* tap({ native: n, name, report })
      const busy = yield* Effect.flip(tap({ native: n, name, report }))
      expect(busy.reason).toBe(`TUNSETIFF ${name}: EBUSY (another process has it open)`)
    }))
})
