/**
 * virtio-net between two Debian Linux guests on the software CPU: two
 * `bhyve` processes whose virtio-net devices name each other's socket
 * (`unix=LOCAL:PEER`), each booting the kit's initramfs with
 * `bhyvets.run=net`. Each guest's own virtio_net driver brings eth0 up with
 * a static address, waits for the peer to answer ARP (it boots on its own),
 * pings it 3 times, once with a full 1500-byte packet and 300 times in a
 * burst, prints its neighbour entry, then stays up until it has answered the
 * peer's 304 echo requests (bhyvets.answer=304) and powers off.
 *
 * The pair is started once and shared by the tests that read its logs. One
 * vCPU each: the two guests then keep the machine's two cores busy, no more.
 * Skips, with the kit's reason, only when the Debian packages could not be had.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Bhyve, KERNEL_TROUBLE, linuxBootArgs, once } from "../support/LinuxConsole.js"
import { linuxGuest, MARKER, skipReason } from "../support/LinuxGuest.js"

const guest = await linuxGuest()
const title = (s: string) => `${s}${skipReason(guest)}`

interface Host {
  readonly name: string
  readonly ip: string
  readonly mac: string
}

const A: Host = { name: "a", ip: "10.0.2.1", mac: "02:00:00:00:00:0a" }
const B: Host = { name: "b", ip: "10.0.2.2", mac: "02:00:00:00:00:0b" }
/** The clocksource watchdog marking a clocksource unstable (why it is left out: at the kernel-warning test). */
const CLOCKSOURCE_VERDICT = /clocksource: timekeeping watchdog on CPU\d+: Marking clocksource '[\w-]+' as unstable/
/** Echo requests each guest sends: `ping -c 3`, one full-size, a burst of 300. */
const ECHOES = 304

const dir = guest.available ? mkdtempSync(join(tmpdir(), "bhyve-linux-net-")) : ""
const sockets = (h: Host) => join(dir, `${h.name}.sock`)

const startGuest = (self: Host, peer: Host, cmdline = `bhyvets.answer=${ECHOES}`): Bhyve => {
  if (!guest.available) throw new Error("no Linux guest")
  return new Bhyve(linuxBootArgs(guest.artifacts, {
    name: `linux-net-${self.name}-${process.pid}`,
    controlSocket: join(dir, `${self.name}.ctl`),
    cpus: 1,
    memory: "256M",
    kernel: "vmlinux",
    run: "net",
    cmdline: `bhyvets.ip=${self.ip}/24 bhyvets.peer=${peer.ip} ${cmdline}`,
    flags: ["-s", "0,hostbridge", "-s", `3,virtio-net,unix=${sockets(self)}:${sockets(peer)},mac=${self.mac}`, "-s", "31,lpc"]
  }))
}

interface Ended {
  readonly vm: Bhyve
  readonly status: number | null | "timeout"
}

/** Both guests, started together, run to their end (each waits up to 60 s for the other's ARP and its pings). */
const ran = once(async () => {
  const started = performance.now()
  const [a, b] = await Promise.all([startGuest(A, B), startGuest(B, A)].map(async (vm): Promise<Ended> => ({ vm, status: await vm.exit(240_000) })))
  return { a, b, seconds: (performance.now() - started) / 1000 }
})
let ranOnce = false

const each = async () => {
  ranOnce = true
  const { a, b } = await ran()
  return [{ self: A, peer: B, ...a }, { self: B, peer: A, ...b }]
}

const texts = (vm: Bhyve) => vm.lines.map((l) => l.text)

afterAll(async () => {
  if (ranOnce) {
    const { a, b, seconds } = await ran()
    const pings = (vm: Bhyve) => texts(vm).filter((t) => /^(PING|\d+ bytes from|\d+ packets transmitted)|^bhyve-ts-init: (neighbour|net|answered)/.test(t))
    console.log(`Two Linux guests over virtio-net (unix datagrams), ${seconds.toFixed(1)} s from spawn to both exits:\n` +
      `  ${A.ip}:\n    ${pings(a.vm).join("\n    ")}\n  ${B.ip}:\n    ${pings(b.vm).join("\n    ")}`)
  }
  if (dir !== "") rmSync(dir, { recursive: true, force: true })
})

describe(title("virtio-net between two Debian Linux guests over the unix datagram backend"), () => {
  it.skipIf(!guest.available)("each guest's virtio_net driver brings up eth0 with the MAC given on -s and a 1500-byte MTU", async () => {
    for (const { self, vm } of await each()) {
      expect(texts(vm), vm.log().slice(-1500)).toContain(MARKER)
      expect(vm.find(/^bhyve-ts-init: eth0 /)?.text, vm.log().slice(-1500)).toBe(`bhyve-ts-init: eth0 ${self.mac} mtu 1500`)
    }
  }, 300_000)

  it.skipIf(!guest.available)("ping -c 3 each way: every echo request answered, 0% loss", async () => {
    for (const { peer, vm } of await each()) {
      const log = vm.log().slice(-2500)
      for (const seq of [0, 1, 2]) expect(vm.find(new RegExp(`^64 bytes from ${peer.ip}: seq=${seq} ttl=64 `)), log).toBeDefined()
      expect(texts(vm), log).toContain("3 packets transmitted, 3 packets received, 0% packet loss")
    }
  }, 300_000)

  it.skipIf(!guest.available)("a full-size frame (a 1500-byte IP packet) crosses each way", async () => {
    for (const { peer, vm } of await each()) {
      const log = vm.log().slice(-2500)
      expect(vm.find(new RegExp(`^1480 bytes from ${peer.ip}: seq=0 ttl=64 `)), log).toBeDefined()
      expect(texts(vm), log).toContain("1 packets transmitted, 1 packets received, 0% packet loss")
    }
  }, 300_000)

  it.skipIf(!guest.available)("a burst of 300 pings each way, each sent as the last is answered (the 256-entry rings wrap): none lost", async () => {
    for (const { vm } of await each()) {
      expect(texts(vm), vm.log().slice(-2500)).toContain("300 packets transmitted, 300 packets received, 0% packet loss")
    }
  }, 300_000)

  // The entry's state depends on timing: made REACHABLE by its own ARP request, or STALE by the peer's request and
  // then DELAY/PROBE while the kernel waits to confirm it (ICMP replies confirm nothing). Any of them holds the MAC ARP carried.
  it.skipIf(!guest.available)("ARP: each guest's kernel has learned the peer's MAC as a valid neighbour entry", async () => {
    for (const { peer, vm } of await each()) {
      expect(vm.find(/^bhyve-ts-init: neighbour /)?.text, vm.log().slice(-2500))
        .toMatch(new RegExp(`^bhyve-ts-init: neighbour ${peer.ip.replaceAll(".", "\\.")} lladdr ${peer.mac} .*(REACHABLE|STALE|DELAY|PROBE)$`))
    }
  }, 300_000)

  it.skipIf(!guest.available)("each answers all of the peer's echo requests, reports net ok and powers off (bhyve exits 1)", async () => {
    for (const { vm, status } of await each()) {
      const log = vm.log().slice(-2500)
      expect(vm.find(/^bhyve-ts-init: net /)?.text, log).toBe("bhyve-ts-init: net ok")
      expect(vm.find(/^bhyve-ts-init: answered /)?.text, log).toBe(`bhyve-ts-init: answered ${ECHOES} echo requests`)
      expect(vm.find(/\] reboot: Power down$/), log).toBeDefined()
      expect(status, vm.stderr).toBe(1)
    }
  }, 300_000)

  // The clocksource watchdog's verdict is left to LinuxBoot.test.ts, which judges clocks: here two guests share the
  // two cores with whatever else runs, and a vCPU thread kept off a core for a few hundred ms during boot loses
  // timer ticks, so jiffies fall behind the TSC and the watchdog marks 'tsc-early' unstable (seen at load 22), a
  // timer matter that says nothing about the network. Every other warning still fails this test.
  it.skipIf(!guest.available)("no kernel warning, BUG, lockup, call trace or virtio_net queue failure in either guest", async () => {
    for (const { vm } of await each()) {
      expect(vm.lines.find((l) => KERNEL_TROUBLE.test(l.text) && !CLOCKSOURCE_VERDICT.test(l.text))?.text, vm.log()).toBeUndefined()
      expect(vm.find(/net eth0: .*(failure|error|timed out)/i)?.text, vm.log()).toBeUndefined()
    }
  }, 300_000)

  it.skipIf(!guest.available)("a guest whose peer's socket has nobody bound to it gets no ARP reply, says so and powers off", async () => {
    await ran()
    const lonely: Host = { name: "lonely", ip: "10.0.3.1", mac: "02:00:00:00:00:0c" }
    const nobody: Host = { name: "nobody", ip: "10.0.3.2", mac: "02:00:00:00:00:0d" }
    const vm = startGuest(lonely, nobody, "bhyvets.arpwait=3")
    expect(await vm.exit(120_000), vm.log().slice(-1500)).toBe(1)
    expect(vm.find(/^bhyve-ts-init: net /)?.text).toBe(`bhyve-ts-init: net failed: no ARP reply from ${nobody.ip} in 3 s`)
    expect(vm.find(/^PING /)).toBeUndefined()
  }, 150_000)
})
