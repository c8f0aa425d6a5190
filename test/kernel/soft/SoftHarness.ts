import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { CpuBackend, type CpuBackendService, type InlineIo } from "../../../src/kernel/Cpu.js"
import { CpuInterrupts, type CpuInterruptsSlot } from "../../../src/kernel/CpuInterrupts.js"
import { GuestMemory } from "../../../src/kernel/GuestMemory.js"
import type { GuestRam } from "../../../src/kernel/MemoryLayout.js"
import { loadNativeSoft } from "../../../src/kernel/soft/NativeSoft.js"
import * as SoftBackend from "../../../src/kernel/soft/SoftBackend.js"
import type { MmioExit, PioExit, VcpuExit } from "../../../src/kernel/VcpuExit.js"
import { loadKernel } from "../../../src/loader/KernelLoader.js"
import { CurrentVcpu, type CurrentVcpuService } from "../../../src/servers/CurrentVcpu.js"
import { DeviceClock, type DeviceClockService } from "../../../src/servers/DeviceClock.js"

const here = fileURLToPath(new URL(".", import.meta.url))
const guestsDir = join(here, "../../guests")
export const guestPath = (name: string) => join(guestsDir, "build", name)

/** Whether the soft CPU can run here (addon built, self-test passed). */
export const softAvailable = (): boolean => {
  const native = Effect.runSync(Effect.option(loadNativeSoft))
  return native._tag === "Some" && native.value.info().ok
}

export interface SoftServices {
  readonly backend: CpuBackendService
  readonly ram: GuestRam
  readonly clock: DeviceClockService
  readonly interrupts: CpuInterruptsSlot
  readonly current: CurrentVcpuService
  readonly code: SoftBackend.SoftCodeCacheService
}

/** Builds the soft backend in the current scope. */
export const buildSoft = (options: SoftBackend.SoftBackendOptions): Effect.Effect<SoftServices, SoftBackend.SoftBackendError, Scope.Scope> =>
  Effect.map(Layer.build(SoftBackend.layer(options)), (ctx) => ({
    backend: Context.get(ctx, CpuBackend),
    ram: Context.get(ctx, GuestMemory),
    clock: Context.get(ctx, DeviceClock),
    interrupts: Context.get(ctx, CpuInterrupts),
    current: Context.get(ctx, CurrentVcpu),
    code: Context.get(ctx, SoftBackend.SoftCodeCache)
  }))

/** Loads an ELF guest (PVH or ELF64) into RAM and sets vCPU 0's boot state, as the machine does. */
export const boot = (soft: SoftServices, path: string, cmdline = "") =>
  Effect.gen(function*() {
    const plan = yield* loadKernel({ path, image: readFileSync(path), ram: soft.ram, cmdline })
    const bsp = soft.backend.vcpus[0]
    yield* bsp.setSregs(plan.applySregs(yield* bsp.getSregs()))
    yield* bsp.setRegs(plan.regs)
    return plan
  })

/** COM1 output and the ACPI power-off port, handled by the test itself; everything else is unclaimed. */
export class Console {
  output = ""
  poweredOff = false
  pioExits = 0
  mmioExits = 0
  /** Set by an extra handler to end the run right after the access (io returns false). */
  stopNow = false
  /** Extra handling before the defaults; true when handled. */
  extraPio: ((exit: PioExit) => boolean) | undefined
  extraMmio: ((exit: MmioExit) => boolean) | undefined

  readonly io: InlineIo = (exit) => {
    if (exit._tag === "PioExit") {
      this.pioExits++
      if (this.extraPio?.(exit)) return !this.stopNow
      if (exit.direction === "out") {
        if (exit.port === 0x3f8) this.output += String.fromCharCode(exit.value(0))
        else if (exit.port === 0x404) {
          this.poweredOff = true
          return false
        }
      } else {
        exit.reply(0, exit.port === 0x3fd ? 0x60 : 0xffffffff)
      }
      return true
    }
    this.mmioExits++
    if (this.extraMmio?.(exit)) return !this.stopNow
    if (!exit.isWrite) exit.reply(exit.size === 8 ? 0xffff_ffff_ffff_ffffn : 0xffffffff)
    return true
  }
}

/** Runs vCPU 0 (every vCPU) until the guest stops: powered off, or any exit but Interrupted. */
export const runUntilStopped = (soft: SoftServices, console: Console, options: { sliceMs?: number; maxMs?: number } = {}): VcpuExit => {
  const bsp = soft.backend.vcpus[0]
  const end = performance.now() + (options.maxMs ?? 60_000)
  for (;;) {
    const exit = bsp.run(options.sliceMs ?? 50, console.io)
    if (exit._tag !== "Interrupted" || console.poweredOff || performance.now() > end) return exit
  }
}

/** GUEST_CFLAGS of test/guests/Makefile: the same freestanding CPL3/CPL0 code model as the kit. */
const GUEST_CFLAGS = [
  "-std=gnu11", "-O2", "-m64", "-march=x86-64", "-mtune=generic", "-ffreestanding", "-fno-builtin", "-nostdlib", "-fno-pic", "-fno-pie",
  "-mgeneral-regs-only", "-mno-sse", "-mno-mmx", "-mno-red-zone", "-mcmodel=small", "-fno-stack-protector", "-fcf-protection=none",
  "-fno-asynchronous-unwind-tables", "-fno-tree-loop-distribute-patterns", "-Wall", "-Wextra"
]

/**
 * Builds a guest of this directory (guests/<name>.c, plus guests/<name>.S
 * when present) on the test-guest kit (test/guests/common, whose objects
 * `make -C test/guests` built), into a temporary directory -> its path.
 */
export const buildKitGuest = (name: string): string => {
  const objDir = join(guestsDir, "build/obj/common")
  if (!existsSync(objDir)) execFileSync("make", ["-s", "-C", guestsDir], { stdio: "inherit" })
  const common = readdirSync(objDir).filter((f) => f.endsWith(".o") && !["virtio-pci.o", "lapic.o"].includes(f)).map((f) => join(objDir, f))
  const out = mkdtempSync(join(tmpdir(), "soft-guest-"))
  const src = join(here, "guests")
  const objects: Array<string> = []
  for (const ext of [".c", ".S"]) {
    const file = join(src, name + ext)
    if (!existsSync(file)) continue
    const obj = join(out, `${name}${ext === ".c" ? "" : "-asm"}.o`)
    execFileSync("gcc", [...GUEST_CFLAGS, `-I${join(guestsDir, "common")}`, `-I${guestsDir}`, "-c", "-o", obj, file], { stdio: "inherit" })
    objects.push(obj)
  }
  const elf = join(out, `${name}.elf`)
  execFileSync("ld", ["-nostdlib", "-static", "-z", "noexecstack", "-z", "max-page-size=0x1000", "-T", join(guestsDir, "common/guest.ld"), "-o", elf, ...objects, ...common], { stdio: "inherit" })
  return elf
}
