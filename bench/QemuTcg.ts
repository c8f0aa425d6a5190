import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * QEMU with its software CPU (TCG) as the baseline for bhyve-ts's software
 * CPU: the same PVH guest ELF booted with `-kernel` (QEMU 7.2 recognises
 * the PVH note and enters it through its linuxboot option ROM, after
 * SeaBIOS: firmware time QEMU pays and bhyve does not, included in its
 * figures), COM1 on stdout.
 *
 * - `-fw_cfg name=etc/sercon-port,file=<2 zero bytes>` turns off SeaBIOS's
 *   serial console, which would otherwise print its banner and escape codes
 *   on the same COM1 before the guest runs: QEMU's first stdout byte is
 *   then the guest's, as bhyve's is. (QEMU warns about the name on stderr;
 *   harmless.)
 * - The guests power off with `outw 0x3400, 0x404` (bhyve's ACPI PM
 *   control); QEMU's PIIX4 PM sits at 0x600, so that write would go
 *   nowhere and the guest would spin in its power-off loop.
 *   `-device isa-debug-exit,iobase=0x404,iosize=2` makes it end QEMU at
 *   once with status (0x3400 << 1 | 1) & 0xff = 1, the same status bhyve
 *   exits with on a power-off.
 * - `-monitor none`, stdin /dev/null: nothing else on stdio.
 */
export const QEMU = "qemu-system-x86_64"
export const QEMU_INSTALL = "apt-get install qemu-system-x86"
/** QEMU's exit status through isa-debug-exit for the guests' power-off write. */
export const QEMU_POWERED_OFF = 1

/** The version line of the QEMU on PATH, or why it cannot be run (and how to get it). */
export const probeQemu: Effect.Effect<{ readonly version: string } | { readonly missing: string }> = Effect.sync(() => {
  const r = spawnSync(QEMU, ["--version"], { stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 })
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code
    return { missing: code === "ENOENT" ? `${QEMU} not found: ${QEMU_INSTALL}` : `${QEMU} --version: ${r.error.message} (${QEMU_INSTALL})` }
  }
  if (r.status !== 0) return { missing: `${QEMU} --version exited ${r.status ?? r.signal}: ${r.stderr.toString().trim()} (${QEMU_INSTALL})` }
  return { version: r.stdout.toString().split("\n")[0].trim() }
})

export interface QemuGuest {
  readonly kernel: string
  readonly cmdline: string
  readonly memoryMib: number
}

/** The fw_cfg file that turns SeaBIOS's serial console off, for the life of the scope. */
export const serconOff = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-bench-qemu-"))
    const file = join(dir, "sercon-port")
    // etc/sercon-port is read as a little-endian integer: 0 = no serial console.
    writeFileSync(file, Buffer.alloc(2))
    return { dir, file }
  }),
  ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map(({ file }) => file))

/** Memory, COM1 alone on stdio, and the power-off port: what every QEMU run of our guests has. */
export const qemuGuestBasics = (memoryMib: number): ReadonlyArray<string> => [
  "-m", `${memoryMib}M`,
  "-nographic",
  "-nodefaults",
  "-monitor", "none",
  "-serial", "stdio",
  "-no-reboot",
  "-device", "isa-debug-exit,iobase=0x404,iosize=2"
]

/** The whole command line after `qemu-system-x86_64`. */
export const qemuArgs = (sercon: string, guest: QemuGuest): ReadonlyArray<string> => [
  "-accel", "tcg",
  "-M", "pc",
  ...qemuGuestBasics(guest.memoryMib),
  "-fw_cfg", `name=etc/sercon-port,file=${sercon}`,
  "-kernel", guest.kernel,
  "-append", guest.cmdline
]

/** A command line as one could paste it into a shell. */
export const pastable = (args: ReadonlyArray<string>): string =>
  [QEMU, ...args].map((a) => (/[\s<>']/.test(a) ? `'${a.replace(/'/g, "'\\''")}'` : a)).join(" ")

/** For the report: the command line as one could paste it (the sercon file's path shown as a placeholder). */
export const qemuCommand = (guest: QemuGuest): string => pastable(qemuArgs("<2-zero-byte file>", guest))
