/**
 * Checks the loader's boot protocols with QEMU's TCG as the CPU: loads the
 * Linux guest with src/loader into a RAM buffer, hands QEMU that RAM
 * (-device loader blobs) and a stand-in firmware (trampoline.S) that enters
 * the loader's BootPlan as a vCPU would, and times the guest from QEMU's
 * start to the init marker. Our CPU backends play no part.
 *
 * Usage (through vite-node, see qemu-loader-check.sh):
 *   qemu-loader-check.ts vmlinux|bzImage [RUN] [--smp N] [--mem MiB] [--no-acpi] [--append ARGS] [--show] [--qemu QEMU ARGS...]
 * RUN is bhyvets.run= (default poweroff). Prints one JSON line of timings
 * (seconds from QEMU's start) and the init's lines; exits 0 when the marker was seen.
 * With ACPI tables (the default) the guest sees bhyve's tables, whose PM
 * ports QEMU lacks, and no PCI bus (QEMU's is not bhyve's): device actions
 * (disk, net, rng, console) need --no-acpi, with which Linux probes PCI itself.
 * QEMU is stopped just after the action's result line.
 */
import * as Effect from "effect/Effect"
import { spawn, spawnSync } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { GuestRam } from "../../src/kernel/MemoryLayout.js"
import { BIOS_END, EBDA_START } from "../../src/loader/BootLayout.js"
import { loadKernel } from "../../src/loader/KernelLoader.js"
import { MARKER } from "./InitScript.js"
import { buildLinuxGuest, defaultCacheDir } from "./LinuxGuestBuild.js"

const argv = process.argv.slice(2)
const dashes = argv.indexOf("--qemu")
/** Everything after "--qemu" goes to QEMU as it is (devices for disk, net, rng, console). */
const extraQemu = dashes === -1 ? [] : argv.slice(dashes + 1)
const args = dashes === -1 ? argv : argv.slice(0, dashes)
const flag = (name: string) => args.includes(name)
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name)
  return at === -1 ? fallback : args[at + 1]
}
const positional = args.filter((a, i) => !a.startsWith("--") && !(i > 0 && ["--smp", "--mem", "--append", "--timeout"].includes(args[i - 1])))
const kernel = positional[0] === "bzImage" ? "bzImage" : "vmlinux"
const run = positional[1] ?? "poweroff"
const smp = Number(option("--smp", "1"))
const memMiB = Number(option("--mem", "512"))
const work = join(defaultCacheDir(), "qemu-check")
mkdirSync(work, { recursive: true })

const BIOS_BASE = 0xf0000
const TRAMPOLINE = 0xff000
const PARAMS = 0xffe00
const CHUNK = 1 << 20

/** The stand-in firmware: the loader's tables (0xF0000-0xFFFFF) with the trampoline, its parameters and a reset vector. */
const firmware = (low: Uint8Array, plan: { mode: string; entry: number; regs: { rbx: bigint; rsi: bigint; rsp: bigint }; gdt: { base: bigint; limit: number }; cr3: bigint }) => {
  const obj = join(work, "trampoline.o")
  const elf = join(work, "trampoline.elf")
  const bin = join(work, "trampoline.bin")
  const src = fileURLToPath(new URL("trampoline.S", import.meta.url))
  for (const [cmd, a] of [["gcc", ["-c", "-o", obj, src]], ["ld", ["-o", elf, `-Ttext=0x${TRAMPOLINE.toString(16)}`, "-e", "start", obj]], ["objcopy", ["-O", "binary", "-j", ".text", elf, bin]]] as const) {
    const r = spawnSync(cmd, a, { encoding: "utf8" })
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`)
  }
  const image = low.slice(BIOS_BASE, BIOS_END)
  if (image.subarray(TRAMPOLINE - BIOS_BASE).some((b) => b !== 0)) throw new Error("firmware tables reach the trampoline page")
  image.set(readFileSync(bin), TRAMPOLINE - BIOS_BASE)
  const v = new DataView(image.buffer)
  const p = PARAMS - BIOS_BASE
  v.setUint32(p, plan.mode === "pvh" ? 32 : 64, true)
  v.setUint16(p + 4, plan.gdt.limit, true)
  v.setUint32(p + 6, Number(plan.gdt.base), true)
  v.setUint32(p + 0x0c, Number(plan.cr3), true)
  v.setBigUint64(p + 0x10, BigInt(plan.entry), true)
  v.setBigUint64(p + 0x18, plan.regs.rbx, true)
  v.setBigUint64(p + 0x20, plan.regs.rsi, true)
  v.setBigUint64(p + 0x28, plan.regs.rsp, true)
  // Reset vector F000:FFF0: ljmp $0xf000, $0xf000 (the trampoline).
  image.set([0xea, 0x00, 0xf0, 0x00, 0xf0], 0xfff0)
  return image
}

/** Non-zero 1 MiB chunks of RAM above 1 MiB, coalesced: the blobs QEMU loads. */
const spans = (bytes: Uint8Array) => {
  const out: Array<{ start: number; end: number }> = []
  const zero = new Uint8Array(CHUNK)
  for (let at = BIOS_END; at < bytes.length; at += CHUNK) {
    const chunk = bytes.subarray(at, Math.min(at + CHUNK, bytes.length))
    if (Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).equals(zero.subarray(0, chunk.length))) continue
    const last = out[out.length - 1]
    if (last !== undefined && last.end === at) out[out.length - 1] = { start: last.start, end: at + chunk.length }
    else out.push({ start: at, end: at + chunk.length })
  }
  return out
}

const main = Effect.gen(function* () {
  const guest = yield* buildLinuxGuest()
  const size = memMiB * CHUNK
  const bytes = new Uint8Array(size)
  const ram: GuestRam = { size, regions: [{ slot: 0, gpa: 0, size, bytes }] }
  const plan = yield* loadKernel({
    path: guest[kernel], image: new Uint8Array(readFileSync(guest[kernel])), ram,
    cmdline: `console=ttyS0 ${flag("--no-acpi") ? "acpi=off " : ""}bhyvets.run=${run} ${option("--append", "")}`.trim(),
    initrd: { path: guest.initramfs, image: new Uint8Array(readFileSync(guest.initramfs)) },
    ...(flag("--no-acpi") ? {} : { firmware: { cpus: smp } })
  })
  const sregs = plan.applySregs({
    cs: noSeg, ds: noSeg, es: noSeg, fs: noSeg, gs: noSeg, ss: noSeg, tr: noSeg, ldt: noSeg,
    gdt: { base: 0n, limit: 0 }, idt: { base: 0n, limit: 0 }, cr0: 0n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apicBase: 0n, interruptBitmap: [0n, 0n, 0n, 0n]
  })
  const bios = join(work, "bios.bin")
  writeFileSync(bios, firmware(bytes, { mode: plan.mode, entry: plan.entry, regs: plan.regs, gdt: sregs.gdt, cr3: sregs.cr3 }))
  const blobs = [{ start: 0, end: EBDA_START }, ...spans(bytes)]
  const loaders = blobs.flatMap(({ start, end }, i) => {
    const file = join(work, `ram-${i}.bin`)
    writeFileSync(file, bytes.subarray(start, end))
    return ["-device", `loader,file=${file},addr=0x${start.toString(16)},force-raw=on`]
  })
  return { plan, qemuArgs: ["-accel", "tcg", "-m", `${memMiB}M`, "-smp", String(smp), "-nographic", "-no-reboot", "-bios", bios, ...loaders, ...extraQemu] }
})

const noSeg = { base: 0n, limit: 0, selector: 0, type: 0, present: 0, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 1 }

const { plan, qemuArgs } = Effect.runSync(main)
const started = performance.now()
const q = spawn("qemu-system-x86_64", qemuArgs, { stdio: ["ignore", "pipe", "pipe"] })
let out = ""
const marks: Record<string, number> = {}
const seconds = () => Math.round(performance.now() - started) / 1000
const mark = (name: string, re: RegExp) => {
  if (!(name in marks) && re.test(out)) marks[name] = seconds()
}
q.stdout.setEncoding("utf8").on("data", (s: string) => {
  out += s
  mark("linux", /Linux version/)
  mark("runInit", /Run \/init/)
  mark("marker", new RegExp(MARKER))
  mark("result", /bhyve-ts-init: (poweroff|reboot|\w+ ok|\w+ failed)/)
  if ("result" in marks) setTimeout(() => q.kill(), 300)
})
q.stderr.setEncoding("utf8").on("data", (s: string) => process.stderr.write(s))
const timer = setTimeout(() => q.kill(), Number(option("--timeout", "120")) * 1000)
q.on("exit", () => {
  clearTimeout(timer)
  if (flag("--show")) process.stdout.write(out)
  const lines = out.split("\n").filter((l) => l.startsWith("bhyve-ts-init:")).map((l) => l.trim())
  process.stdout.write(`${JSON.stringify({ kernel, mode: plan.mode, entry: `0x${plan.entry.toString(16)}`, initrd: plan.initrd, marks, lines })}\n`)
  process.exit("marker" in marks ? 0 : 1)
})
