import * as Effect from "effect/Effect"
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loadNativeKvm, type NativeKvm } from "../src/kernel/NativeKvm.js"
import type { CpuBackendName } from "../src/kernel/Cpu.js"
import { BenchFailure, type Benchmark, describe, present, type Row } from "./Benchmark.js"
import { backendArgs, probeHostCpu } from "./HostCpu.js"
import { spanMs } from "./LineClock.js"
import { BHYVE_CLI, GUESTS } from "./Paths.js"
import { expectStatus, runProcess } from "./ProcessClock.js"

/**
 * Device round trips through the whole `bhyve` process, against what the
 * host does for the same work with nothing in between, in this same run:
 * - virtio-blk: vblk.elf with one 512-byte request in flight at a time
 *   (batch=1), timed between its `written 512` and `written 2048` lines
 *   (1536 writes); baseline: 1536 synchronous 512-byte pwrites to an image.
 * - virtio-net: two vnet.elf guests on a unix datagram link, ping-pong of
 *   60-byte frames timed between `ping 20 ok` and `ping 220 ok`; baseline:
 *   the same frames echoed between two AF_UNIX datagram sockets through the
 *   addon's packet reader threads (the host half of that path, no guest).
 * No targets: these rows show where the time goes, not a promise.
 * bhyve runs with cpu.backend=kvm where /dev/kvm works, else =soft.
 */
const REPS = 3
const BLK_FROM = 512
const BLK_TO = 2048
const NET_FROM = 20
const NET_TO = 220
const NET_COUNT = 240
const BHYVE_POWERED_OFF = 1

/** The first and last lines a guest printed, for a failure's reason. */
const said = (lines: ReadonlyArray<{ readonly text: string }>) =>
  `COM1 said ${JSON.stringify(lines.slice(0, 3).map((l) => l.text))}${lines.length > 3 ? ` ... ${JSON.stringify(lines.slice(-2).map((l) => l.text))}` : ""}`

const bhyve = (backend: CpuBackendName, args: ReadonlyArray<string>) =>
  [BHYVE_CLI, ...backendArgs(backend), "-c", "1", "-s", "0,hostbridge", "-s", "31,lpc", "-l", "com1,stdio", ...args]

const blkOnce = (backend: CpuBackendName, dir: string, i: number) =>
  Effect.gen(function*() {
    const what = "vblk batch=1"
    const image = join(dir, `blk${i}.img`)
    yield* Effect.sync(() => {
      writeFileSync(image, "")
      truncateSync(image, 8 << 20)
    })
    const run = yield* Effect.flatMap(
      runProcess(process.execPath, bhyve(backend, ["-m", "64M", "-s", `2,virtio-blk,${image}`, "-o", `boot.kernel=${GUESTS.vblk}`,
        "-o", `boot.cmdline=sectors=${BLK_TO} batch=1 mode=write`, `bench-blk-${i}`])),
      (r) => expectStatus(r, BHYVE_POWERED_OFF, what)
    )
    const ms = yield* present(spanMs(run.stdoutLines, `written ${BLK_FROM}`, `written ${BLK_TO}`), what, `no written lines; ${said(run.stdoutLines)}`)
    return (ms * 1000) / (BLK_TO - BLK_FROM)
  })

const pwriteOnce = (dir: string) =>
  Effect.sync(() => {
    const fd = openSync(join(dir, "pwrite.img"), "w")
    const sector = new Uint8Array(512).fill(0x5a)
    const n = BLK_TO - BLK_FROM
    const t0 = performance.now()
    for (let s = 0; s < n; s++) writeSync(fd, sector, 0, 512, s * 512)
    const us = ((performance.now() - t0) * 1000) / n
    closeSync(fd)
    return us
  })

const netOnce = (backend: CpuBackendName, dir: string, i: number) =>
  Effect.gen(function*() {
    const what = "vnet ping-pong"
    const a = join(dir, `a${i}.sock`)
    const b = join(dir, `b${i}.sock`)
    const vm = (role: "ping" | "pong", local: string, peer: string, mac: string, extra: string) =>
      runProcess(process.execPath, bhyve(backend, ["-m", "64M", "-s", `3,virtio-net,unix=${local}:${peer},mac=${mac}`,
        "-o", `boot.kernel=${GUESTS.vnet}`, "-o", `boot.cmdline=role=${role} count=${NET_COUNT} linger=500 ${extra}`,
        "-o", `control.socket=${join(dir, `${role}${i}.ctl`)}`, `bench-${role}-${i}`]))
    const [, ping] = yield* Effect.all([
      Effect.flatMap(vm("pong", b, a, "02:00:00:00:be:02", ""), (r) => expectStatus(r, BHYVE_POWERED_OFF, `${what} pong`)),
      // The pinger re-sends until the ponger is up, so the two may start together.
      Effect.flatMap(vm("ping", a, b, "02:00:00:00:be:01", "peer=02:00:00:00:be:02 timeout=50 tries=1000"), (r) => expectStatus(r, BHYVE_POWERED_OFF, `${what} ping`))
    ], { concurrency: 2 })
    const ms = yield* present(spanMs(ping.stdoutLines, `ping ${NET_FROM} ok`, `ping ${NET_TO} ok`), what, `no ping lines; ${said(ping.stdoutLines)}`)
    return (ms * 1000) / (NET_TO - NET_FROM)
  })

/** 60-byte frames bounced between two AF_UNIX datagram sockets, each read by the addon's packet reader thread. */
const hostEchoOnce = (native: NativeKvm, dir: string, i: number) =>
  Effect.async<number, BenchFailure>((resume) => {
    const pa = join(dir, `ha${i}.sock`)
    const pb = join(dir, `hb${i}.sock`)
    const fa = native.unixDatagramSocket()
    const fb = native.unixDatagramSocket()
    if (fa < 0 || fb < 0 || native.unixBind(fa, pa) < 0 || native.unixBind(fb, pb) < 0) {
      resume(Effect.fail(new BenchFailure({ what: "host echo", reason: "cannot bind the sockets" })))
      return
    }
    const frame = new Uint8Array(60)
    const rounds = NET_TO - NET_FROM
    let done = 0
    let t0 = 0
    const readers: Array<number> = []
    const finish = (result: Effect.Effect<number, BenchFailure>) => {
      for (const r of readers) native.packetReaderStop(r)
      native.close(fa)
      native.close(fb)
      resume(result)
    }
    readers.push(native.packetReaderStart(fb, (f) => f !== undefined && native.unixSendTo(fb, pa, f)))
    readers.push(native.packetReaderStart(fa, (f) => {
      if (f === undefined) return
      if (++done === rounds) return finish(Effect.succeed(((performance.now() - t0) * 1000) / rounds))
      native.unixSendTo(fa, pb, frame)
    }))
    t0 = performance.now()
    native.unixSendTo(fa, pb, frame)
  })

export const benchmark: Benchmark = {
  name: `virtio-blk and virtio-net round trips through bhyve (${REPS} runs each)`,
  run: Effect.gen(function*() {
    const host = yield* probeHostCpu
    const native = yield* Effect.mapError(loadNativeKvm, (e) => new BenchFailure({ what: "native addon", reason: describe(e) }))
    const dir = mkdtempSync(join(tmpdir(), "bhyve-bench-virtio-"))
    const blk: Array<number> = []
    const pwrite: Array<number> = []
    const net: Array<number> = []
    const echo: Array<number> = []
    for (let i = 0; i < REPS; i++) {
      blk.push(yield* blkOnce(host.backend, dir, i))
      pwrite.push(yield* pwriteOnce(dir))
      net.push(yield* netOnce(host.backend, dir, i))
      echo.push(yield* hostEchoOnce(native, dir, i))
    }
    yield* Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    const rows: ReadonlyArray<Row> = [
      {
        id: "virtio.blk.request",
        label: "virtio-blk 512-byte write, one in flight (vblk)",
        unit: "us/request",
        subject: { label: `bhyve CLI (${host.backend})`, values: blk },
        baseline: { label: "host pwrite", values: pwrite }
      },
      {
        id: "virtio.net.rtt",
        label: "virtio-net 60-byte ping-pong, two VMs on a unix link",
        unit: "us/round trip",
        subject: { label: `bhyve CLI x2 (${host.backend})`, values: net },
        baseline: { label: "host socket echo", values: echo }
      }
    ]
    return rows
  })
}
