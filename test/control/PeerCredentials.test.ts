import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { spawn, spawnSync } from "node:child_process"
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync } from "node:fs"
import { connect, createServer, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { vi } from "vitest"
import { makeControlServer } from "../../src/control/ControlServer.js"
import { decidePeer, makePeerAuthorizer, ROOT_UID, socketFd } from "../../src/control/PeerAuthorization.js"
import { loadNativeKvm, type NativeKvm } from "../../src/kernel/NativeKvm.js"
import { fakeHandler, statusResult } from "./fakeHandler.js"
import { decodeReply, rawExchange, requestLine } from "./helpers.js"

/*
 * The control socket refuses other users by what the kernel says about the
 * peer (SO_PEERCRED through the native addon), not only by file modes.
 */

const OWNER = 1000
const fakeSocket = (fd: unknown) => ({ _handle: { fd } }) as unknown as Socket

describe("peer decisions", () => {
  it("the owner and root are let in; any other uid, or a peer that cannot be identified, is not", () => {
    expect(decidePeer(OWNER, { pid: 10, uid: OWNER, gid: 5 }).allowed).toBe(true)
    expect(decidePeer(OWNER, { pid: 11, uid: ROOT_UID, gid: 0 }).allowed).toBe(true)
    expect(decidePeer(OWNER, { pid: 12, uid: 1001, gid: OWNER })).toEqual({
      allowed: false,
      reason: "uid 1001 (pid 12) is neither the VM's owner (uid 1000) nor root"
    })
    expect(decidePeer(OWNER, -95)).toEqual({ allowed: false, reason: "cannot identify the peer (SO_PEERCRED failed: EOPNOTSUPP)" })
    expect(decidePeer(OWNER, undefined).allowed).toBe(false)
  })

  it("the authorizer logs one line per refusal and none for the owner", () => {
    const log: Array<string> = []
    const byFd = new Map([[7, { pid: 70, uid: OWNER, gid: 1 }], [8, { pid: 80, uid: 4242, gid: 1 }]])
    const authorize = makePeerAuthorizer({ ownerUid: OWNER, credentials: (fd) => byFd.get(fd) ?? -9, log: (l) => log.push(l) })
    expect(authorize(fakeSocket(7))).toBe(true)
    expect(authorize(fakeSocket(8))).toBe(false)
    expect(authorize(fakeSocket(9))).toBe(false)
    expect(authorize(fakeSocket(undefined))).toBe(false)
    expect(authorize(fakeSocket(-1))).toBe(false)
    expect(log).toEqual([
      "control socket: refused a connection: uid 4242 (pid 80) is neither the VM's owner (uid 1000) nor root",
      "control socket: refused a connection: cannot identify the peer (SO_PEERCRED failed: EBADF)",
      "control socket: refused a connection: cannot identify the peer (the socket has no file descriptor)",
      "control socket: refused a connection: cannot identify the peer (the socket has no file descriptor)"
    ])
  })

  it("without the addon's peerCredentials it falls back to file modes, and says so once", () => {
    const log: Array<string> = []
    const authorize = makePeerAuthorizer({ ownerUid: OWNER, credentials: undefined, log: (l) => log.push(l) })
    expect(authorize(fakeSocket(7))).toBe(true)
    expect(authorize(fakeSocket(8))).toBe(true)
    expect(log).toHaveLength(1)
    expect(log[0]).toMatch(/peer credentials are unavailable/)
  })
})

const native: NativeKvm | string = Either.getOrElse(
  Either.map(Effect.runSync(Effect.either(loadNativeKvm)), (n) => (typeof n.peerCredentials === "function" ? n : "the addon has no peerCredentials (rebuild it)")),
  (e) => `no native addon: ${e.message}`
)
if (typeof native === "string") console.warn(`SO_PEERCRED tests skipped: ${native}`)

/** Connects to a fresh Unix socket server in this process; resolves with the server side's socket. */
const connectedPair = (path: string) =>
  new Promise<{ readonly server: ReturnType<typeof createServer>; readonly accepted: Socket; readonly client: Socket }>((resolve) => {
    const server = createServer((accepted) => resolve({ server, accepted, client }))
    let client: Socket
    server.listen(path, () => {
      client = connect(path)
    })
  })

describe.skipIf(typeof native === "string")("native peerCredentials (SO_PEERCRED)", () => {
  it("names this process for a connection it made to itself; -errno for an fd that is not a connected socket", async () => {
    const n = native as NativeKvm
    const dir = mkdtempSync(join(tmpdir(), "peercred-"))
    try {
      const { server, accepted, client } = await connectedPair(join(dir, "s"))
      const fd = socketFd(accepted)
      expect(fd).toBeDefined()
      expect(n.peerCredentials(fd ?? -1)).toEqual({ pid: process.pid, uid: process.geteuid?.(), gid: process.getegid?.() })
      client.destroy()
      accepted.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      const file = openSync(join(dir, "f"), "w")
      expect(n.peerCredentials(file)).toBe(-88) // ENOTSOCK
      closeSync(file)
      expect(n.peerCredentials(1_000_000)).toBe(-9) // EBADF
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

/** Why another user cannot be played here, or undefined when it can (root, setpriv, user nobody). */
const otherUserUnavailable = ((): string | undefined => {
  if (typeof native === "string") return native
  if (process.geteuid?.() !== 0) return "not root: cannot run a client as another user"
  if (spawnSync("setpriv", ["--version"]).status !== 0) return "setpriv is not installed"
  const probe = spawnSync("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath, "-e", "process.stdout.write(String(process.getuid()))"], { encoding: "utf8" })
  if (probe.status !== 0 || probe.stdout === "") return `cannot run node as nobody (${probe.stderr.split("\n")[0] || `exit ${probe.status}`})`
  return undefined
})()
if (otherUserUnavailable !== undefined) console.warn(`cross-user control socket test skipped: ${otherUserUnavailable}`)

/** A client run as `nobody`: connects, sends one Status request, reports what came back before the server closed. */
const CLIENT = String.raw`
const net = require("node:net")
const socket = net.connect(process.argv[1])
let data = ""
let error = ""
socket.on("connect", () => socket.write(process.argv[2]))
socket.on("data", (c) => (data += c))
socket.on("error", (e) => (error = e.code || String(e)))
const report = (why) => {
  process.stdout.write(JSON.stringify({ uid: process.getuid(), data, error: why }))
  process.exit(0)
}
socket.on("close", () => report(error))
setTimeout(() => report("timeout"), 5000)
`

const asNobody = (socketPath: string, line: string) =>
  Effect.promise(
    () =>
      new Promise<{ readonly pid: number; readonly uid: number; readonly data: string; readonly error: string }>((resolve, reject) => {
        const child = spawn("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath, "-e", CLIENT, socketPath, line], {
          stdio: ["ignore", "pipe", "pipe"]
        })
        let out = ""
        child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s))
        child.on("error", reject)
        child.on("close", () => {
          try {
            resolve({ pid: child.pid ?? -1, ...(JSON.parse(out) as { uid: number; data: string; error: string }) })
          } catch {
            reject(new Error(`client printed ${JSON.stringify(out)}`))
          }
        })
      })
  )

describe.skipIf(otherUserUnavailable !== undefined)("a control socket other users can reach through the filesystem", () => {
  it.scopedLive("refuses a client running as nobody (with a log line naming it) and serves its owner", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "peercred-"))),
        (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
      )
      const path = join(dir, "ctl")
      const written: Array<string> = []
      const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk))
        return true
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => spy.mockRestore()))
      yield* makeControlServer({ name: "vm1", socketPath: path }, fakeHandler)
      // Take away the filesystem's protection, as a shared directory or a careless chmod would.
      chmodSync(dir, 0o755)
      chmodSync(path, 0o666)
      const line = requestLine({ _tag: "Status" })

      const other = yield* asNobody(path, line)
      expect(other.uid).toBe(65534)
      expect(other.error).not.toBe("timeout")
      expect(other.error).not.toBe("EACCES") // the filesystem let it through: the refusal below is the uid check
      expect(other.data).toBe("")
      const refusals = written.filter((w) => w.includes("refused a connection"))
      expect(refusals).toEqual([
        `bhyve: control socket: refused a connection: uid 65534 (pid ${other.pid}) is neither the VM's owner (uid 0) nor root\n`
      ])

      const replies = yield* rawExchange(path, line)
      expect(replies.map(decodeReply)).toEqual([Either.right(statusResult)])
      expect(written.filter((w) => w.includes("refused a connection"))).toHaveLength(1)
    }))
})
