import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { existsSync } from "node:fs"
import { join } from "node:path"
import type { CpuBackendName } from "../src/kernel/Cpu.js"
import { buildLinuxGuest, type LinuxGuestArtifacts } from "../test/linux/LinuxGuestBuild.js"
import { MARKER } from "../test/linux/InitScript.js"
import { BenchFailure, type Benchmark, notMeasured, type Row, type Samples } from "./Benchmark.js"
import { probeHostCpu } from "./HostCpu.js"
import { BHYVE_CLI, ROOT } from "./Paths.js"
import { type ProcessRun, runProcess } from "./ProcessClock.js"
import { probeQemu, QEMU, qemuArgs, serconOff } from "./QemuTcg.js"

/**
 * Debian's kernel and the Linux test kit's initramfs (test/linux/README.md)
 * booted to init's marker line, as whole processes timed from their spawn
 * (ProcessClock.ts), on both boot paths:
 * - vmlinux (the ELF inside the bzImage) entered through its PVH note, the
 *   initramfs as a PVH module; QEMU boots the same ELF through its PVH
 *   support (SeaBIOS, then its linuxboot option ROM);
 * - the bzImage through the Linux 64-bit boot protocol; QEMU through its
 *   usual bzImage path (SeaBIOS, then the kernel's own real-mode setup).
 * bhyve-ts runs on the software CPU against QEMU TCG, 1 vCPU and 512 MiB
 * each, alternating runs, each killed at the marker. Each run must show
 * the kernel's banner before the marker (COM1 from the first line).
 *
 * Linux on KVM: measured only where KVM runs guests AND a first trial boot
 * reaches the marker within KVM_TRIAL_MS. On kvm_pvm (paravirtual KVM
 * without VT-x/AMD-V, which emulates CPL0 code and cannot emulate
 * everything a stock kernel runs) the trial fails and the row says how.
 */
const REPS = 3
const MEMORY_MIB = 512
const CMDLINE = "console=ttyS0 bhyvets.run=poweroff"
/** Seen first on COM1 by the kernel's console: the line that proves COM1 shows the kernel from its start. */
const BANNER = /Linux version /
/** Per run: either boots the bzImage in 6-16 s here, however loaded the machine; a run this long has hung. */
const RUN_TIMEOUT_MS = 180_000
/**
 * One KVM trial of the PVH path: a KVM that runs Linux reaches the marker
 * in a second or two. kvm_pvm here emulates the kernel's CPL0 code at ~2 M
 * instructions/s and stops at a `lock cmpxchg16b` with an emulation
 * failure after 45-110 s (depending on load); the trial does not wait for
 * that, and reports how far COM1 got.
 */
const KVM_TRIAL_MS = 60_000
const TARGET_RATIO = 1.0
const LINUX_CACHE = join(ROOT, "test/linux/cache")
const BUILD_COMMAND = "bash test/linux/build-linux-guest.sh"

type BootPath = "vmlinux" | "bzImage"
const PATHS: ReadonlyArray<{ readonly path: BootPath; readonly id: string; readonly label: string }> = [
  { path: "vmlinux", id: "pvh", label: "vmlinux via PVH" },
  { path: "bzImage", id: "bzimage", label: "bzImage, 64-bit boot protocol" }
]

const kernelOf = (kit: LinuxGuestArtifacts, path: BootPath) => (path === "vmlinux" ? kit.vmlinux : kit.bzImage)

const bhyveArgs = (kit: LinuxGuestArtifacts, path: BootPath, backend: CpuBackendName): ReadonlyArray<string> => [
  BHYVE_CLI,
  "-o", `cpu.backend=${backend}`,
  "-c", "1",
  "-m", `${MEMORY_MIB}M`,
  "-l", "com1,stdio",
  "-o", `boot.kernel=${kernelOf(kit, path)}`,
  "-o", `boot.initrd=${kit.initramfs}`,
  "-o", `boot.cmdline=${CMDLINE}`,
  `linuxbench-${process.pid}`
]

const qemuLinuxArgs = (sercon: string, kit: LinuxGuestArtifacts, path: BootPath): ReadonlyArray<string> => [
  ...qemuArgs(sercon, { kernel: kernelOf(kit, path), cmdline: CMDLINE, memoryMib: MEMORY_MIB }),
  "-initrd", kit.initramfs
]

const shell = (command: string, args: ReadonlyArray<string>) =>
  [command, ...args].map((a) => (/[\s<>]/.test(a) ? `'${a}'` : a)).join(" ")

const text = (line: string) => line.replace(/\r$/, "")
const isMarker = (line: string) => text(line) === MARKER

/** ms from spawn to the marker, after checking the kernel's banner came first. */
const markerMs = (what: string) => (run: ProcessRun): Effect.Effect<number, BenchFailure> =>
  Effect.gen(function*() {
    const lines = run.stdoutLines.map((l) => text(l.text))
    const tail = () => `; COM1 ends ${JSON.stringify(lines.slice(-3))}; status ${run.status}; stderr: ${run.stderr.trim().split("\n").slice(-2).join(" | ")}`
    const marker = run.stdoutLines.findIndex((l) => isMarker(l.text))
    if (marker < 0) return yield* new BenchFailure({ what, reason: `no "${MARKER}" line${tail()}` })
    if (!lines.slice(0, marker).some((l) => BANNER.test(l))) {
      return yield* new BenchFailure({ what, reason: `no kernel banner (${BANNER.source}) before "${MARKER}"${tail()}` })
    }
    return run.stdoutLines[marker].at - run.spawnedAt
  })

const bootOnce = (what: string, command: string, args: ReadonlyArray<string>, timeoutMs: number) =>
  Effect.flatMap(Effect.suspend(() => runProcess(command, args, { stopAt: isMarker, timeoutMs })), markerMs(what))

const bhyveOnce = (kit: LinuxGuestArtifacts, path: BootPath, backend: CpuBackendName, timeoutMs = RUN_TIMEOUT_MS) =>
  bootOnce(`bhyve (${backend}) ${path}`, process.execPath, bhyveArgs(kit, path, backend), timeoutMs)

const qemuOnce = (sercon: string, kit: LinuxGuestArtifacts, path: BootPath) =>
  bootOnce(`QEMU TCG ${path}`, QEMU, qemuLinuxArgs(sercon, kit, path), RUN_TIMEOUT_MS)

/** bhyve's own stderr lines, without its once-per-port notes about unclaimed I/O. */
const bhyveErrors = (stderr: string) => stderr.split("\n").filter((l) => l.trim() !== "" && !l.includes("no device claims it"))

/**
 * Why this host's KVM is not measured, or undefined when a trial boot of
 * vmlinux reached the marker. The trial adds earlyprintk so that a kernel
 * that dies early still says how far it got.
 */
const kvmRunsLinux = (kit: LinuxGuestArtifacts): Effect.Effect<string | undefined, BenchFailure> =>
  Effect.gen(function*() {
    const host = yield* probeHostCpu
    if (host.kvmUnusable !== undefined) return `needs KVM: ${host.kvmUnusable}`
    const pvm = existsSync("/sys/module/kvm_pvm") ? "KVM here is kvm_pvm (paravirtual, no VT-x/AMD-V: it emulates the kernel's CPL0 code); " : ""
    process.stderr.write(`bench:   KVM trial: vmlinux on cpu.backend=kvm, at most ${KVM_TRIAL_MS / 1000} s\n`)
    let lastLine = ""
    const args = bhyveArgs(kit, "vmlinux", "kvm").map((a) => (a === `boot.cmdline=${CMDLINE}` ? `boot.cmdline=${CMDLINE} earlyprintk=serial,ttyS0` : a))
    const t0 = performance.now()
    const trial = yield* runProcess(process.execPath, args, {
      stopAt: (line) => {
        if (text(line) !== "") lastLine = text(line)
        return isMarker(line)
      }
    }).pipe(Effect.timeoutOption(KVM_TRIAL_MS))
    const seconds = ((performance.now() - t0) / 1000).toFixed(0)
    const com1 = lastLine === "" ? "COM1 printed nothing" : `COM1's last line ${JSON.stringify(lastLine)}`
    if (Option.isNone(trial)) return `${pvm}a trial boot of vmlinux reached no "${MARKER}" within ${seconds} s; ${com1}`
    if (trial.value.stopped) return undefined
    const said = bhyveErrors(trial.value.stderr).slice(-1)[0] ?? "no message"
    return `${pvm}a trial boot of vmlinux ended after ${seconds} s with exit status ${trial.value.status} before "${MARKER}": ${said}; ${com1}`
  })

const kvmRowWithout = (reason: string): Row => ({
  id: "linux.kvm",
  label: "Linux on KVM: spawn -> init's marker",
  unit: "ms",
  subject: notMeasured("bhyve CLI (kvm)", reason)
})

const rowsWithout = (reason: string): ReadonlyArray<Row> => [
  ...PATHS.map(({ id, label }): Row => ({
    id: `linux.${id}`,
    label: `Linux: spawn -> init's marker (${label})`,
    unit: "ms",
    subject: notMeasured("bhyve CLI (soft)", reason),
    baseline: notMeasured("QEMU TCG", reason),
    targetRatio: TARGET_RATIO
  })),
  kvmRowWithout(reason)
]

export const benchmark: Benchmark = {
  name: `linux-boot: Debian kernel to init's marker, vmlinux/PVH and bzImage, soft CPU vs QEMU TCG (x${REPS}, alternating)`,
  run: Effect.scoped(Effect.gen(function*() {
    const log = (line: string) => process.stderr.write(`bench:   ${line}\n`)
    const built = yield* Effect.either(buildLinuxGuest(LINUX_CACHE))
    if (Either.isLeft(built)) {
      const reason = `the Linux kit could not be built (${BUILD_COMMAND}): ${built.left.message}`
      log(reason)
      return rowsWithout(reason)
    }
    const kit = built.right
    const qemu = yield* probeQemu
    const sercon = "version" in qemu ? yield* serconOff : undefined
    log("version" in qemu ? `baseline: ${qemu.version}` : `baseline: ${qemu.missing}`)
    log(`kernel ${kit.release} (${kit.kernelPackage}), ${MEMORY_MIB} MiB, 1 vCPU, cmdline "${CMDLINE}"`)
    for (const { path } of PATHS) {
      log(`${path}: ${shell("node", bhyveArgs(kit, path, "soft"))}`)
      if (sercon !== undefined) log(`${path}: ${shell(QEMU, qemuLinuxArgs("<2-zero-byte file>", kit, path))}`)
    }

    // Untimed: the page cache holds node, the CLI, the addon, the kernel, the initramfs and QEMU's firmware before anything is timed.
    yield* bhyveOnce(kit, "vmlinux", "soft")
    if (sercon !== undefined) yield* qemuOnce(sercon, kit, "vmlinux")

    const soft: Record<BootPath, Array<number>> = { vmlinux: [], bzImage: [] }
    const tcg: Record<BootPath, Array<number>> = { vmlinux: [], bzImage: [] }
    for (const { path } of PATHS) {
      for (let i = 0; i < REPS; i++) {
        soft[path].push(yield* bhyveOnce(kit, path, "soft"))
        if (sercon !== undefined) tcg[path].push(yield* qemuOnce(sercon, kit, path))
      }
    }

    const kvmUnmeasured = yield* kvmRunsLinux(kit)
    const kvm: Record<BootPath, Array<number>> = { vmlinux: [], bzImage: [] }
    if (kvmUnmeasured === undefined) {
      for (const { path } of PATHS) {
        for (let i = 0; i < REPS; i++) kvm[path].push(yield* bhyveOnce(kit, path, "kvm"))
      }
    }

    const qemuSide = (values: ReadonlyArray<number>): Samples =>
      "version" in qemu ? { label: "QEMU TCG", values } : notMeasured("QEMU TCG", qemu.missing)
    const firmware = "QEMU's figure includes SeaBIOS and its option ROM, bhyve's Node's start-up"
    const softRows: ReadonlyArray<Row> = PATHS.map(({ path, id, label }) => ({
      id: `linux.${id}`,
      label: `Linux: spawn -> init's marker (${label})`,
      unit: "ms",
      subject: { label: "bhyve CLI (soft)", values: soft[path] },
      baseline: qemuSide(tcg[path]),
      targetRatio: TARGET_RATIO,
      note: `${kit.release}, ${MEMORY_MIB} MiB, 1 vCPU, killed at "${MARKER}"; ${firmware}`
    }))
    const kvmRows: ReadonlyArray<Row> = kvmUnmeasured === undefined
      ? PATHS.map(({ path, id, label }) => ({
        id: `linux.kvm.${id}`,
        label: `Linux on KVM: spawn -> init's marker (${label})`,
        unit: "ms",
        subject: { label: "bhyve CLI (kvm)", values: kvm[path] },
        baseline: qemuSide(tcg[path]),
        note: "context, no target: KVM against QEMU's software CPU"
      }))
      : [kvmRowWithout(kvmUnmeasured)]
    return [...softRows, ...kvmRows]
  }))
}

