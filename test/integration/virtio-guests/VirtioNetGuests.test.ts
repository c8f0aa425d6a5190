import { describe, expect, it } from "@effect/vitest"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { besidesBackendNote, type RunningBhyve, runBhyvectl, startBhyve, waitFor } from "../../support/BhyveProcess.js"
import { guestPath } from "../../support/GuestRun.js"

const COUNT = 20
const PING_MAC = "02:00:00:00:b5:01"
const PONG_MAC = "02:00:00:00:b5:02"

type Role = "ping" | "pong"

/** The link: each VM's unix datagram socket in the test's directory, naming the other's. */
const link = (dir: string, role: Role) =>
  role === "ping" ? `unix=${join(dir, "ping.sock")}:${join(dir, "pong.sock")}` : `unix=${join(dir, "pong.sock")}:${join(dir, "ping.sock")}`

const vmName = (dir: string, role: Role) => `vnet-${role}-${dir.slice(-6)}`

const vnetArgs = (dir: string, role: Role, cmdline: string) => [
  "-c", "1", "-m", "64M", "-s", "0,hostbridge",
  "-s", `3,virtio-net,${link(dir, role)},mac=${role === "ping" ? PING_MAC : PONG_MAC}`,
  "-s", "31,lpc", "-l", "com1,stdio",
  "-o", `boot.kernel=${guestPath("vnet.elf")}`, "-o", `boot.cmdline=role=${role} count=${COUNT} ${cmdline}`,
  "-o", `control.socket=${join(dir, `${role}.ctl`)}`, vmName(dir, role)
]

const done = /net done sent (\d+) received (\d+) irqs (\d+)\n$/

/** Every seq 1..COUNT acknowledged, in order, in the pinger's whole output. */
const expectAllPings = (out: string) => {
  const oks = [...out.matchAll(/^ping (\d+) ok$/gm)].map((m) => Number(m[1]))
  expect(oks).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1))
  expect(out).not.toContain("gave up")
}

const doneLine = (out: string) => {
  const m = done.exec(out)
  expect(m, out).not.toBeNull()
  return { sent: Number(m?.[1]), received: Number(m?.[2]), irqs: Number(m?.[3]) }
}

/** Starts the ponger, then the pinger once the ponger's driver is up. */
const startPair = async (dir: string, pingCmdline: string) => {
  const pong = startBhyve(vnetArgs(dir, "pong", ""))
  await waitFor("the ponger's driver", () => pong.stdout().includes("virtio-net at "), 30_000)
  const ping = startBhyve(vnetArgs(dir, "ping", `peer=${PONG_MAC} ${pingCmdline}`))
  return { ping, pong }
}

/** Suspends `vm` with bhyvectl, then restores it with `bhyve -r` in a new process. */
const suspendAndRestore = async (dir: string, vm: RunningBhyve, role: Role) => {
  const snapshot = join(dir, `${role}.snap`)
  const ctl = runBhyvectl([`--vm=${vmName(dir, role)}`, `--socket=${join(dir, `${role}.ctl`)}`, `--suspend=${snapshot}`])
  expect(besidesBackendNote(ctl.stderr)).toBe("")
  expect(ctl.status).toBe(0)
  expect(await vm.exited).toBe(0)
  return startBhyve(["-r", snapshot, "-o", `control.socket=${join(dir, `${role}2.ctl`)}`])
}

describe("vnet.elf: two guests with their own virtio-net driver on a unix datagram link", () => {
  it(`exchange ${COUNT} frames and their echoes; receive interrupts arrive by MSI-X on both`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-vnet-"))
    const { ping, pong } = await startPair(dir, "")
    try {
      const started = performance.now()
      expect(await ping.exited).toBe(1)
      const ms = performance.now() - started
      expect(await pong.exited).toBe(1)
      expect(besidesBackendNote(ping.stderr())).toBe("")
      expect(besidesBackendNote(pong.stderr())).toBe("")
      expect(ping.stdout().startsWith(`virtio-net at 0:3.0 mac ${PING_MAC}\n`)).toBe(true)
      expect(pong.stdout().startsWith(`virtio-net at 0:3.0 mac ${PONG_MAC}\n`)).toBe(true)
      expectAllPings(ping.stdout())
      const pings = doneLine(ping.stdout())
      const pongs = doneLine(pong.stdout())
      // Every frame sent arrived: each request echoed, each echo received.
      expect(pongs.received).toBe(pings.sent)
      expect(pings.received).toBe(pongs.sent)
      expect(pings.irqs).toBeGreaterThan(0)
      expect(pongs.irqs).toBeGreaterThan(0)
      const seqs = new Set([...pong.stdout().matchAll(/^pong (\d+)$/gm)].map((m) => Number(m[1])))
      expect(seqs.size).toBe(COUNT)
      console.log(`vnet: ${COUNT} round trips in ${ms.toFixed(0)} ms (pinger boot included); ping ${JSON.stringify(pings)} pong ${JSON.stringify(pongs)}`)
    } finally {
      ping.kill()
      pong.kill()
    }
  }, 90_000)

  for (const role of ["pong", "ping"] as const) {
    it(`the ${role === "pong" ? "ponger" : "pinger"} suspended mid-exchange and restored with bhyve -r: every seq completes`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `bhyve-vnet-${role}-`))
      // gap: 150 ms between seqs, so the exchange (about 3 s) is still going when the suspend lands (bhyvectl alone takes ~0.5 s to start).
      const { ping, pong } = await startPair(dir, "gap=150 timeout=200 tries=300")
      const vms: Array<RunningBhyve> = [ping, pong]
      try {
        await waitFor("the first echoes", () => ping.stdout().includes("ping 5 ok\n"), 60_000)
        const before = role === "ping" ? ping : pong
        const restored = await suspendAndRestore(dir, before, role)
        vms.push(restored)
        const pingOut = async () => role === "ping" ? ping.stdout() + (await restored.exited, restored.stdout()) : (await ping.exited, ping.stdout())
        const pongOut = async () => role === "pong" ? pong.stdout() + (await restored.exited, restored.stdout()) : (await pong.exited, pong.stdout())
        const pingAll = await pingOut()
        const pongAll = await pongOut()
        expect(await restored.exited).toBe(1)
        expect(await (role === "ping" ? pong : ping).exited).toBe(1)
        expect(besidesBackendNote(restored.stderr())).toBe("")
        expect(before.stdout()).not.toContain("net done")
        expectAllPings(pingAll)
        const pings = doneLine(pingAll)
        const pongs = doneLine(pongAll)
        expect(pings.irqs).toBeGreaterThan(0)
        expect(pongs.irqs).toBeGreaterThan(0)
        const seqs = new Set([...pongAll.matchAll(/^pong (\d+)$/gm)].map((m) => Number(m[1])))
        expect(seqs.size).toBe(COUNT)
        const timeouts = [...pingAll.matchAll(/^net timeout seq (\d+)$/gm)].length
        console.log(`vnet, ${role}er suspended: ${timeouts} timeouts (re-sends); ping ${JSON.stringify(pings)} pong ${JSON.stringify(pongs)}`)
      } finally {
        for (const vm of vms) vm.kill()
      }
    }, 120_000)
  }
})
