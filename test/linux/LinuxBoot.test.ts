/**
 * The unmodified Debian kernel and the kit's initramfs (test/linux/README.md)
 * on the software CPU, through `bhyve` processes as a user runs them: what
 * reaches COM1, exit statuses, timekeeping, the virtio devices as Linux's
 * own drivers use them, and suspend/restore of a running Linux.
 *
 * Each boot is started once, on first use, and shared by the tests that read
 * its log (a boot costs 3-7 s of CPU on this 2-core machine). Boots run one
 * after another: each keeps a core busy, and the timekeeping test measures
 * host time.
 *
 * Every test skips, with the kit's reason, when the Debian packages could not
 * be had; nothing else skips.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { createHash, randomBytes } from "node:crypto"
import { join } from "node:path"
import { connectWhenListening, runBhyvectl } from "../support/BhyveProcess.js"
import { type Bhyve, KERNEL_TROUBLE, linuxBootArgs, LinuxTestRuns, makeExt2Image, once, trouble, WATCHDOG_VERDICT, watchdogSkewNs } from "../support/LinuxConsole.js"
import { linuxGuest, MARKER, skipReason } from "../support/LinuxGuest.js"

const guest = await linuxGuest()
const artifacts = guest.available ? guest.artifacts : undefined
const title = (s: string) => `${s}${skipReason(guest)}`

/** Control sockets, snapshots (about 80 MB each) and disk images. */
const runs = new LinuxTestRuns("linux")
const scratch = () => runs.scratch()

type BootOptions = Omit<Parameters<typeof linuxBootArgs>[1], "name" | "controlSocket"> & { readonly what: string }

const startLinux = (o: BootOptions): { readonly vm: Bhyve; readonly dir: string; readonly name: string } => {
  const dir = scratch()
  const name = runs.vmName(o.what)
  const vm = runs.start(linuxBootArgs(artifacts!, { ...o, name, controlSocket: join(dir, "ctl") }))
  return { vm, dir, name }
}

/** Boots per configuration, for the summary printed at the end. */
const timings: Array<string> = []
const recordTiming = (what: string, vm: Bhyve) => {
  const at = (p: RegExp) => {
    const l = vm.find(p)
    return l === undefined ? "-" : `${(l.atMs / 1000).toFixed(2)} s`
  }
  timings.push(`${what}: "Run /init" ${at(/Run \/init as init process/)}, init marker ${at(new RegExp(`^${MARKER}$`))}`)
}

/** A booted guest that ended (by itself, or killed once it had printed what its tests read). */
interface Boot {
  readonly vm: Bhyve
  readonly status: number | null | "timeout"
}

/** vmlinux (PVH), 1 vCPU, counting: kept until `count 7`, so the timekeeping test has 6 s of lines and the clocksource watchdog has run a dozen times. */
const pvh1 = once(async (): Promise<Boot> => {
  const { vm } = startLinux({ what: "pvh1", cpus: 1, kernel: "vmlinux", run: "counter" })
  try {
    await vm.waitLine(/^count 7$/, 60_000)
  } finally {
    recordTiming("vmlinux (PVH), 1 vCPU", vm)
    vm.kill()
  }
  return { vm, status: await vm.exit(5_000) }
})

/** vmlinux (PVH), 2 vCPUs, powering off. */
const pvh2 = once(async (): Promise<Boot> => {
  const { vm } = startLinux({ what: "pvh2", cpus: 2, kernel: "vmlinux", run: "poweroff" })
  const status = await vm.exit(60_000)
  recordTiming("vmlinux (PVH), 2 vCPUs", vm)
  return { vm, status }
})

/** bzImage (64-bit boot protocol), 2 vCPUs, rebooting. */
const bz2 = once(async (): Promise<Boot> => {
  const { vm } = startLinux({ what: "bz2", cpus: 2, kernel: "bzImage", run: "reboot" })
  const status = await vm.exit(60_000)
  recordTiming("bzImage (64-bit boot protocol), 2 vCPUs", vm)
  return { vm, status }
})

/** The log from `Linux version` to the init's CPU count, in order. */
const expectBootedToInit = (vm: Bhyve, cpus: number) => {
  const a = artifacts!
  const texts = vm.lines.map((l) => l.text)
  // The kernel's first message is the first line: nothing before it was lost or garbled.
  expect(texts[0], vm.log().slice(0, 500)).toMatch(new RegExp(`^\\[\\s*0\\.0+\\] Linux version ${a.release.replaceAll(".", "\\.")} `))
  const marker = texts.indexOf(MARKER)
  expect(marker, vm.log().slice(-2000)).toBeGreaterThan(0)
  expect(texts.slice(0, marker).some((t) => /\] Run \/init as init process$/.test(t))).toBe(true)
  expect(texts[marker + 1]).toBe(`bhyve-ts-init: release ${a.release}`)
  expect(texts[marker + 2]).toBe(`bhyve-ts-init: cpus ${cpus}`)
}

afterAll(async () => {
  await runs.release()
  if (timings.length > 0) console.log(`Linux boots on the software CPU, from process start:\n  ${timings.join("\n  ")}`)
})

describe(title("Debian's Linux on the software CPU, through bhyve"), () => {
  describe("booting", () => {
    it.skipIf(!guest.available)("vmlinux through PVH, 1 vCPU: the kernel's messages from `Linux version`, then init's marker, release and 1 CPU", async () => {
      expectBootedToInit((await pvh1()).vm, 1)
    }, 90_000)

    it.skipIf(!guest.available)("vmlinux through PVH, 2 vCPUs (MADT, INIT/SIPI): the same, with 2 CPUs", async () => {
      const { vm } = await pvh2()
      expectBootedToInit(vm, 2)
      expect(vm.find(/smp: Brought up 1 node, 2 CPUs$/)?.text).toBeDefined()
    }, 90_000)

    it.skipIf(!guest.available)("bzImage through the 64-bit boot protocol, 2 vCPUs: the same", async () => {
      expectBootedToInit((await bz2()).vm, 2)
    }, 90_000)

    it.skipIf(!guest.available)("no kernel warning, BUG, lockup, unstable clocksource or call trace in any boot", async () => {
      for (const boot of [pvh1, pvh2, bz2]) {
        const { vm } = await boot()
        expect(trouble(vm), vm.args.join(" ")).toBeUndefined()
      }
    }, 180_000)
  })

  describe("power", () => {
    it.skipIf(!guest.available)("bhyvets.run=poweroff: the kernel powers down through ACPI S5 and bhyve exits 1", async () => {
      const { vm, status } = await pvh2()
      expect(vm.find(/\] reboot: Power down$/)).toBeDefined()
      expect(status).toBe(1)
    }, 90_000)

    it.skipIf(!guest.available)("bhyvets.run=reboot: the kernel restarts the machine and bhyve exits 0", async () => {
      const { vm, status } = await bz2()
      expect(vm.find(/\] reboot: Restarting system$/)).toBeDefined()
      expect(status).toBe(0)
    }, 90_000)

    it.skipIf(!guest.available)("1 vCPU: what init writes just before `poweroff -f` reaches COM1 before the kernel's `Power down`", async () => {
      const { vm } = startLinux({ what: "off1", cpus: 1, kernel: "vmlinux", run: "poweroff" })
      expect(await vm.exit(60_000)).toBe(1)
      recordTiming("vmlinux (PVH), 1 vCPU, poweroff", vm)
      const texts = vm.lines.map((l) => l.text)
      const down = texts.findIndex((t) => /\] reboot: Power down$/.test(t))
      expect(down).toBeGreaterThan(0)
      // Linux's 8250 driver sends user output from its THRE interrupt (the kernel's own messages are polled),
      // raised by the IER write under the port lock, IF clear. One vCPU has no quantum to end its run: an
      // interrupt that waits for IF must end the run once IF is set, or it waits for the next run boundary,
      // the LAPIC timer, whose higher vector goes first, and so on until the guest idles or powers off.
      expect(texts.slice(0, down).filter((t) => t.startsWith("bhyve-ts-init: ")), vm.log().slice(-1500)).toEqual([
        MARKER,
        `bhyve-ts-init: release ${artifacts!.release}`,
        "bhyve-ts-init: cpus 1",
        "bhyve-ts-init: poweroff"
      ])
    }, 90_000)
  })

  it.skipIf(!guest.available)("timekeeping: `count N` lines, one per guest second, come one per host second (5 s within 10 %)", async () => {
    const { vm } = await pvh1()
    const counts = vm.counts()
    expect(counts.map((c) => c.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    // From count 1 (count 0 follows init's start-up) to count 6: five guest seconds.
    const hostMs = counts[6].atMs - counts[1].atMs
    timings.push(`count 1 -> count 6 (5 guest seconds): ${hostMs.toFixed(0)} ms of host time`)
    expect(hostMs).toBeGreaterThan(4_500)
    expect(hostMs).toBeLessThan(5_500)
  }, 90_000)

  // Two vCPUs, whose runs the scheduler cuts every millisecond: on one, the
  // lines init prints just before `poweroff -f` can be lost (the 1-vCPU
  // power-off test above), and those lines are what these tests read.
  describe("virtio devices, with Linux's drivers (2 vCPUs)", () => {
    const pci = (...devices: Array<string>) => ["-s", "0,hostbridge", ...devices.flatMap((d) => ["-s", d]), "-s", "31,lpc"]

    it.skipIf(!guest.available)("virtio-rnd: /dev/hwrng gives 16 bytes (run=rng)", async () => {
      const { vm } = startLinux({ what: "rng", cpus: 2, kernel: "vmlinux", run: "rng", flags: pci("3,virtio-rnd") })
      expect(await vm.exit(60_000), vm.log().slice(-1500)).toBe(1)
      expect(vm.find(/^bhyve-ts-init: rng_current /)?.text).toMatch(/^bhyve-ts-init: rng_current virtio_rng\.\d+$/)
      const bytes = vm.find(/^bhyve-ts-init: rng /)?.text.slice("bhyve-ts-init: rng ".length)
      expect(bytes).toMatch(/^[0-9a-f]{32}$/)
      // 16 random bytes are all zero with probability 2^-128: the device filled the buffer.
      expect(bytes).not.toBe("0".repeat(32))
      expect(vm.find(/^bhyve-ts-init: rng ok$/)).toBeDefined()
    }, 90_000)

    it.skipIf(!guest.available)("virtio-console: a line written to /dev/hvc0 comes out of the port's socket (run=console)", async () => {
      const socket = join(scratch(), "console.sock")
      const { vm } = startLinux({ what: "cons", cpus: 2, kernel: "vmlinux", run: "console", flags: pci(`4,virtio-console,port1=${socket}`) })
      // Connected before the guest writes: a port with no client drops its output.
      const client = await connectWhenListening(socket)
      let received = ""
      client.setEncoding("utf8").on("data", (s: string) => (received += s))
      try {
        expect(await vm.exit(60_000), vm.log().slice(-1500)).toBe(1)
        expect(vm.find(/^bhyve-ts-init: console /)?.text).toBe("bhyve-ts-init: console ok")
        expect(received.replaceAll("\r", "")).toBe("bhyve-ts-init: hello hvc0\n")
      } finally {
        client.destroy()
      }
    }, 90_000)

    it.skipIf(!guest.available)("virtio-blk: Linux mounts an ext2 image made here and reads a file with the host's sha256 (run=disk)", async () => {
      const content = randomBytes(300_000)
      const image = join(scratch(), "disk.img")
      expect(makeExt2Image(image, { "data/blob.bin": content, readme: "not the file\n" }).error).toBeUndefined()
      const { vm } = startLinux({
        what: "disk", cpus: 2, kernel: "vmlinux", run: "disk", cmdline: "bhyvets.file=data/blob.bin",
        flags: pci(`5,virtio-blk,${image}`)
      })
      expect(await vm.exit(60_000), vm.log().slice(-1500)).toBe(1)
      const sha = createHash("sha256").update(content).digest("hex")
      expect(vm.find(/^bhyve-ts-init: sha256 /)?.text).toBe(`bhyve-ts-init: sha256 ${sha} data/blob.bin`)
      expect(vm.find(/^bhyve-ts-init: disk /)?.text).toBe("bhyve-ts-init: disk ok")
    }, 90_000)
  })

  describe("suspend with bhyvectl, restore with bhyve -r, of a running Linux (1 vCPU)", () => {
    /** The original ran to `count 3` and was suspended; the restored machine ran until 4 more count lines (or 30 s). */
    const suspended = once(async () => {
      const { vm, dir, name } = startLinux({ what: "snap", cpus: 1, kernel: "vmlinux", run: "counter" })
      const snapshot = join(dir, "linux.snap")
      await vm.waitLine(/^count 3$/, 60_000)
      const ctl = runBhyvectl([`--vm=${name}`, `--socket=${join(dir, "ctl")}`, `--suspend=${snapshot}`])
      const originalStatus = await vm.exit(30_000)
      const restored = runs.start(["-r", snapshot])
      try {
        await restored.waitLine(/^count \d+$/, 30_000)
        const first = restored.counts()[0].n
        await restored.waitLine(new RegExp(`^count ${first + 3}$`), 30_000)
      } finally {
        restored.kill()
      }
      return { original: vm, ctl, originalStatus, restored }
    })

    it.skipIf(!guest.available)("bhyvectl --suspend succeeds once the snapshot is complete, and bhyve exits 0", async () => {
      const { ctl, originalStatus } = await suspended()
      expect(ctl.stderr).toBe("")
      expect(ctl.status).toBe(0)
      expect(originalStatus).toBe(0)
    }, 120_000)

    it.skipIf(!guest.available)("the restored counter goes on from the next number: no repeat, no gap beyond one", async () => {
      const { original, restored } = await suspended()
      const last = original.counts().at(-1)!.n
      expect(last).toBeGreaterThanOrEqual(3)
      const first = restored.counts()[0].n
      expect(first).toBeGreaterThan(last)
      expect(first).toBeLessThanOrEqual(last + 2)
      // Nothing of the original's boot is printed again.
      expect(restored.find(/Linux version|bhyve-ts-init/)).toBeUndefined()
    }, 120_000)

    it.skipIf(!guest.available)("the restored guest keeps counting, one line a second", async () => {
      const { restored } = await suspended()
      const counts = restored.counts()
      expect(counts.length).toBeGreaterThanOrEqual(4)
      counts.forEach((c, i) => expect(c.n).toBe(counts[0].n + i))
      const perLine = (counts[3].atMs - counts[0].atMs) / 3
      timings.push(`after the restore: ${perLine.toFixed(0)} ms of host time per count line`)
      expect(perLine).toBeGreaterThan(800)
      expect(perLine).toBeLessThan(1_200)
    }, 120_000)

    it.skipIf(!guest.available)("no kernel warning, BUG, lockup or call trace after the restore", async () => {
      const { restored } = await suspended()
      expect(restored.lines.find((l) => KERNEL_TROUBLE.test(l.text) && !WATCHDOG_VERDICT.test(l.text))?.text, restored.log()).toBeUndefined()
    }, 120_000)

    // The clocksource watchdog compares the TSC with the ACPI PM timer every half second. Both count the
    // one machine clock, which stands still while the machine is paused for the save and is restored once,
    // so the watchdog finds nothing to say (23 ms apart with separate clocks read one after another, under
    // 0.5 ms but now and then past Linux's tolerance when read at one instant; 0 now).
    it.skipIf(!guest.available)("across the restore the TSC and the ACPI PM timer agree: the clocksource watchdog never complains", async () => {
      const { restored } = await suspended()
      expect(restored.find(WATCHDOG_VERDICT)?.text, `skew ${watchdogSkewNs(restored.log())} ns\n${restored.log()}`).toBeUndefined()
      expect(trouble(restored), restored.log()).toBeUndefined()
    }, 120_000)
  })

  describe("pause and resume with bhyvectl, of a running Linux (1 vCPU)", () => {
    /** Paused for 3 s after `count 2`, resumed, then run until 3 more count lines. */
    const paused = once(async () => {
      const { vm, dir, name } = startLinux({ what: "pause", cpus: 1, kernel: "vmlinux", run: "counter" })
      const ctl = (what: string) => runBhyvectl([`--vm=${name}`, `--socket=${join(dir, "ctl")}`, what])
      try {
        await vm.waitLine(/^count 2$/, 60_000)
        const pause = ctl("--pause")
        // Lines printed before the pause arrive within this first second; none after it.
        await new Promise((r) => setTimeout(r, 1_000))
        const atPause = vm.counts().at(-1)!.n
        await new Promise((r) => setTimeout(r, 2_000))
        const duringPause = vm.counts().at(-1)!.n
        const resume = ctl("--resume")
        await vm.waitLine(new RegExp(`^count ${atPause + 3}$`), 30_000)
        return { vm, pause, resume, atPause, duringPause }
      } finally {
        vm.kill()
      }
    })

    it.skipIf(!guest.available)("the counter goes on from where it stopped, and the kernel prints no warning (soft lockup, clocksource)", async () => {
      const { vm, pause, resume, atPause, duringPause } = await paused()
      expect([pause.status, pause.stderr, resume.status, resume.stderr]).toEqual([0, "", 0, ""])
      expect(duringPause).toBe(atPause)
      const after = vm.counts().filter((c) => c.n > atPause)
      expect(after.length).toBeGreaterThanOrEqual(3)
      after.forEach((c, i) => expect(c.n).toBe(atPause + 1 + i))
      expect(trouble(vm), vm.log()).toBeUndefined()
    }, 120_000)
  })
})
