/**
 * Snapshots of a running Debian Linux on the software CPU, through `bhyve`
 * and `bhyvectl` processes as a user runs them (issue 11, item 4; the plain
 * suspend/restore is in LinuxBoot.test.ts):
 *
 * - `bhyvectl --checkpoint` while init counts, then the original and a copy
 *   restored from the checkpoint run side by side, each counting on from
 *   where it was, the copy mounting its own copy of the virtio-blk disk
 *   (`-s` moves the image at the restore);
 * - a 1 GiB guest suspended mid-count comes back with `-o snapshot.ram=map`
 *   (guest RAM a copy-on-write mapping of the RAM file), also with
 *   verify=state, with a copying restore and with the default (lazy), each
 *   timed from spawn to the guest running and to its next line.
 *
 * The kernel may not print a warning in any of them, the clocksource
 * watchdog's verdict on the TSC included: the TSC and the ACPI PM timer
 * count one machine clock, which a snapshot saves and restores once.
 *
 * Every test skips, with the kit's reason, when the Debian packages could not
 * be had; nothing else skips.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { copyFileSync, readdirSync, readlinkSync } from "node:fs"
import { join } from "node:path"
import { bhyvectlBin } from "../support/BhyveProcess.js"
import { type Bhyve, linuxBootArgs, type LinuxBootOptions, LinuxTestRuns, makeExt2Image, once, trouble, WATCHDOG_SKIPPED_ROUND, watchdogSkewNs } from "../support/LinuxConsole.js"
import { linuxGuest, skipReason } from "../support/LinuxGuest.js"

const guest = await linuxGuest()
const artifacts = guest.available ? guest.artifacts : undefined
const title = (s: string) => `${s}${skipReason(guest)}`

/** Control sockets, snapshots (a 1 GiB guest's RAM file is about 90 MB on disk) and disk images. */
const runs = new LinuxTestRuns("linux-snap")

const startLinux = (dir: string, o: Omit<LinuxBootOptions, "name" | "controlSocket" | "kernel"> & { readonly what: string }) => {
  const name = runs.vmName(o.what)
  return { name, vm: runs.start(linuxBootArgs(artifacts!, { ...o, name, kernel: "vmlinux", controlSocket: join(dir, "ctl") })) }
}

/**
 * `bhyvectl` without blocking this process: the COM1 lines of the guests
 * keep arriving (and get their true arrival times) while it runs.
 */
const bhyvectl = (args: ReadonlyArray<string>) =>
  new Promise<{ readonly status: number; readonly stderr: string }>((resolve) => {
    execFile(process.execPath, [bhyvectlBin, ...args], { timeout: 60_000 }, (error, _stdout, stderr) => {
      resolve({ status: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stderr })
    })
  })

/** The files a process has open (what /proc/PID/fd links to). */
const openFiles = (vm: Bhyve): ReadonlyArray<string> =>
  readdirSync(`/proc/${vm.pid}/fd`).flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/${vm.pid}/fd/${fd}`)]
    } catch {
      return [] // closed since the listing
    }
  })

/** Figures for the summary printed at the end. */
const figures: Array<string> = []

/** What a kernel that should not have warned printed, with the clocksource watchdog's skew when it spoke. */
const expectNoTrouble = (vm: Bhyve) => {
  const skew = watchdogSkewNs(vm.log())
  expect(trouble(vm), `${skew === undefined ? "" : `TSC and acpi_pm ${skew} ns apart\n`}${vm.log().slice(-3000)}`).toBeUndefined()
}

afterAll(async () => {
  await runs.release()
  if (figures.length > 0) console.log(`Linux snapshots on the software CPU:\n  ${figures.join("\n  ")}`)
})

describe(title("Snapshots of a running Debian Linux on the software CPU, through bhyve"), () => {
  // On 2 vCPUs too: the APs' state (and their LAPIC timers) go into the checkpoint and come back in the copy.
  for (const cpus of [1, 2] as const) describe(`bhyvectl --checkpoint, then the original and a copy restored from it run on side by side (${cpus} vCPU${cpus === 1 ? "" : "s"}, virtio-blk)`, () => {
    const FILE = "data/blob.bin"
    const content = randomBytes(300_000)
    const sha = createHash("sha256").update(content).digest("hex")
    const SHA_LINE = `bhyve-ts-init: sha256 ${sha} ${FILE}`

    /**
     * The original counted to 3 (mounting its disk after each count) and was
     * checkpointed; the copy was restored from that while the original ran,
     * and both were kept until each had printed three more count lines
     * (and the copy its disk's checksum) with the other running.
     */
    const checkpointed = once(async () => {
      const dir = runs.scratch()
      const image = join(dir, "disk.img")
      const made = makeExt2Image(image, { [FILE]: content, readme: "not the file\n" })
      if (made.error !== undefined) throw new Error(made.error)
      const { vm: original, name } = startLinux(dir, {
        what: `ckpt${cpus}`, cpus, run: "countdisk", cmdline: `bhyvets.file=${FILE}`,
        flags: ["-s", "0,hostbridge", "-s", `5,virtio-blk,${image}`, "-s", "31,lpc"]
      })
      const snapshot = join(dir, "linux.snap")
      await original.waitLine(/^count 3$/, 90_000)
      const lastBefore = original.counts().at(-1)!.n
      const ctlSentMs = performance.now()
      const ctl = await bhyvectl([`--vm=${name}`, `--socket=${join(dir, "ctl")}`, `--checkpoint=${snapshot}`])
      const ctlRepliedMs = performance.now()
      figures.push(`checkpoint of the 512 MiB Linux on ${cpus} vCPU(s): bhyvectl ${(ctlRepliedMs - ctlSentMs).toFixed(0)} ms from spawn to exit`)
      const lastAtReply = original.counts().at(-1)?.n ?? lastBefore
      // The snapshot names the original's VM and control socket, which it still holds: `-r FILE` alone must not take them.
      const namesake = runs.start(["-r", snapshot])
      const namesakeStatus = await namesake.exit(60_000)
      // Renamed, with a control socket and a writable disk image of its own (the original still has its image open).
      const copyImage = join(dir, "disk-copy.img")
      copyFileSync(image, copyImage)
      let copyOpenFiles: ReadonlyArray<string> = []
      const copy = runs.start([
        "-r", snapshot, "-o", `control.socket=${join(dir, "ctl-copy")}`, "-s", `5,virtio-blk,${copyImage}`, runs.vmName(`ckpt${cpus}-copy`)
      ])
      try {
        const first = (await copy.waitLine(/^count \d+$/, 60_000)).text
        const firstN = Number(first.slice("count ".length))
        await copy.waitLine(new RegExp(`^count ${firstN + 3}$`), 60_000)
        // The check itself is a test below: here only a wait, so the other tests still get their lines.
        await copy.waitLine(new RegExp(`^${SHA_LINE.replaceAll(".", "\\.")}$`), 10_000).catch(() => undefined)
        const originalNow = original.counts().at(-1)!.n
        await original.waitLine(new RegExp(`^count ${originalNow + 1}$`), 30_000)
        copyOpenFiles = openFiles(copy)
        // The original's stall, as its count lines show it: the gap across the checkpoint against its usual period.
        const gaps = original.counts().slice(1).map((c, i) => ({ ms: c.atMs - original.counts()[i].atMs, endMs: original.spawnedAt + c.atMs }))
        const across = gaps.find((g) => g.endMs > ctlSentMs)
        const usual = gaps.filter((g) => g.endMs < ctlSentMs).map((g) => g.ms)
        figures.push(`${cpus} vCPU(s), the original's count lines: ${across?.ms.toFixed(0) ?? "?"} ms apart across the checkpoint, ` +
          `${Math.min(...usual).toFixed(0)}-${Math.max(...usual).toFixed(0)} ms before it`)
      } finally {
        copy.kill()
        original.kill()
      }
      return { original, copy, ctl, lastBefore, lastAtReply, namesake, namesakeStatus, image, copyImage, copyOpenFiles }
    })

    it.skipIf(!guest.available)("bhyvectl --checkpoint succeeds with nothing on stderr", async () => {
      const { ctl } = await checkpointed()
      expect(ctl.stderr).toBe("")
      expect(ctl.status).toBe(0)
    }, 180_000)

    it.skipIf(!guest.available)("bhyve -r of the checkpoint alone, while the original runs, is refused (exit 4): the VM's name and control socket are taken", async () => {
      const { namesake, namesakeStatus } = await checkpointed()
      expect(namesakeStatus).toBe(4)
      expect(namesake.stderr).toMatch(new RegExp(`^bhyve: a VM named linux-ckpt${cpus}-\\d+-\\d+ is already running \\(control socket .*/ctl\\)\\n$`))
      expect(namesake.log()).toBe("")
    }, 180_000)

    it.skipIf(!guest.available)("the original runs on through the checkpoint: every number once, in order, and still counting after the copy started", async () => {
      const { original, copy } = await checkpointed()
      const counts = original.counts()
      counts.forEach((c, i) => expect(c.n, original.log().slice(-1500)).toBe(i))
      const copyStartedMs = copy.spawnedAt - original.spawnedAt
      expect(counts.filter((c) => c.atMs > copyStartedMs).length).toBeGreaterThanOrEqual(3)
    }, 180_000)

    it.skipIf(!guest.available)("the copy counts on from the number after the last the original printed before the checkpoint, and boots nothing again", async () => {
      const { copy, lastBefore, lastAtReply } = await checkpointed()
      const counts = copy.counts()
      // The checkpoint was taken somewhere between the request and the reply.
      expect(counts[0].n).toBeGreaterThan(lastBefore)
      expect(counts[0].n).toBeLessThanOrEqual(lastAtReply + 1)
      counts.forEach((c, i) => expect(c.n).toBe(counts[0].n + i))
      expect(counts.length).toBeGreaterThanOrEqual(4)
      expect(copy.find(/Linux version|bhyve-ts-init: up/)).toBeUndefined()
    }, 180_000)

    it.skipIf(!guest.available)("both count at the same time: the original prints lines while the copy prints its own", async () => {
      const { original, copy } = await checkpointed()
      const copyCounts = copy.counts()
      const from = copy.spawnedAt + copyCounts[0].atMs
      const to = copy.spawnedAt + copyCounts.at(-1)!.atMs
      const overlapping = original.counts().filter((c) => original.spawnedAt + c.atMs >= from && original.spawnedAt + c.atMs <= to)
      expect(overlapping.length, `copy counted ${copyCounts.map((c) => c.n).join(",")}`).toBeGreaterThanOrEqual(2)
    }, 180_000)

    it.skipIf(!guest.available)("the copy, given a copy of the disk image, still mounts its disk and reads the file with the host's sha256, after its second count", async () => {
      const { copy, image, copyImage, copyOpenFiles } = await checkpointed()
      expect(copyOpenFiles).toContain(copyImage)
      expect(copyOpenFiles).not.toContain(image)
      const second = copy.lines.findIndex((l) => l.text === `count ${copy.counts()[1].n}`)
      const after = copy.lines.slice(second).map((l) => l.text)
      expect(after, copy.log().slice(-1500)).toContain(SHA_LINE)
      expect(copy.find(/^bhyve-ts-init: countdisk failed/)?.text).toBeUndefined()
    }, 180_000)

    it.skipIf(!guest.available)("no kernel warning, BUG, lockup, unstable clocksource or call trace in the original", async () => {
      expectNoTrouble((await checkpointed()).original)
    }, 180_000)

    it.skipIf(!guest.available)("no kernel warning, BUG, lockup, unstable clocksource or call trace in the copy", async () => {
      expectNoTrouble((await checkpointed()).copy)
    }, 180_000)
  })

  describe("a 1 GiB Linux suspended mid-count, restored with -o snapshot.ram=map (RAM a copy-on-write mapping of the file) and the other RAM modes (1 vCPU)", () => {
    /** The 1 GiB original, suspended after `count 3`: its snapshot and the last number it printed. */
    const suspended = once(async () => {
      const dir = runs.scratch()
      const { vm, name } = startLinux(dir, { what: "big", cpus: 1, memory: "1G", run: "counter" })
      const snapshot = join(dir, "linux-1g.snap")
      await vm.waitLine(/^count 3$/, 90_000)
      const ctl = await bhyvectl([`--vm=${name}`, `--socket=${join(dir, "ctl")}`, `--suspend=${snapshot}`])
      const status = await vm.exit(60_000)
      return { original: vm, ctl, status, snapshot, last: vm.counts().at(-1)!.n }
    })

    /**
     * `bhyve -r` of the 1 GiB snapshot with `options`, timed from spawn to its
     * first count line, and kept one more second so the clocksource watchdog
     * (every half second) has looked at least twice. The guest was suspended
     * within its `sleep 1`, so the rest of that second is in the time too;
     * cpu.announce's line, written just before the guest runs, splits it.
     */
    const restore = (what: string, options: ReadonlyArray<string>) =>
      once(async () => {
        const { snapshot } = await suspended()
        const vm = runs.start(["-r", snapshot, ...[...options, "cpu.announce=true"].flatMap((o) => ["-o", o])])
        try {
          const line = await vm.waitLine(/^count \d+$/, 60_000)
          const ready = vm.stderrLines.find((l) => / running on /.test(l.text))?.atMs
          figures.push(`1 GiB restore, ${what}: spawn -> guest running ${ready?.toFixed(0) ?? "?"} ms, -> next count line ${line.atMs.toFixed(0)} ms`)
          await vm.waitLine(new RegExp(`^count ${Number(line.text.slice("count ".length)) + 1}$`), 30_000)
          return { vm, line: vm.lines.find((l) => !WATCHDOG_SKIPPED_ROUND.test(l.text)) ?? vm.lines[0] }
        } finally {
          vm.kill()
        }
      })
    const mapped = restore("snapshot.ram=map", ["snapshot.ram=map"])
    // Every RAM block is checked before the guest runs unless verify=state: through the mapping, with map.
    const mappedUnverified = restore("snapshot.ram=map, snapshot.verify=state", ["snapshot.ram=map", "snapshot.verify=state"])
    const copied = restore("snapshot.ram=copy", ["snapshot.ram=copy"])
    const byDefault = restore("the default RAM mode", [])

    it.skipIf(!guest.available)("bhyvectl --suspend of the 1 GiB guest succeeds and bhyve exits 0", async () => {
      const { ctl, status } = await suspended()
      expect(ctl.stderr).toBe("")
      expect(ctl.status).toBe(0)
      expect(status).toBe(0)
    }, 180_000)

    for (const [what, restored] of [
      ["snapshot.ram=map", mapped],
      ["snapshot.ram=map and snapshot.verify=state", mappedUnverified],
      ["snapshot.ram=copy", copied],
      ["the default RAM mode", byDefault]
    ] as const) {
      it.skipIf(!guest.available)(`restored with ${what}: the first line is the next count, and the kernel prints no warning`, async () => {
        const { last } = await suspended()
        const { vm, line } = await restored()
        expectNoTrouble(vm)
        expect(line.text).toBe(`count ${last + 1}`)
      }, 180_000)
    }
  })
})
