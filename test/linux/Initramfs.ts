/**
 * The guest's initramfs: busybox and its applet links, /init, the kernel
 * modules at /lib/modules/NAME.ko, and the directories and /dev/console
 * node the kernel needs before devtmpfs is mounted (it opens /dev/console
 * for init's stdin/stdout itself).
 */
import { gzipSync } from "node:zlib"
import { type CpioEntry, writeCpio } from "./Cpio.js"
import { APPLETS, initScript, type ModuleAction } from "./InitScript.js"
import type { KernelModule } from "./KernelModules.js"

export interface InitramfsContents {
  readonly busybox: Uint8Array
  /** Every module any action needs, each after its dependencies. */
  readonly modules: ReadonlyArray<KernelModule>
  /** Per action, the module names to load in order. */
  readonly actionModules: Readonly<Record<ModuleAction, ReadonlyArray<string>>>
}

const DIRS = ["bin", "dev", "proc", "sys", "mnt", "tmp", "lib", "lib/modules"]

export const initramfsEntries = (c: InitramfsContents): ReadonlyArray<CpioEntry> => [
  ...DIRS.map((path): CpioEntry => ({ type: "dir", path })),
  { type: "chardev", path: "dev/console", major: 5, minor: 1 },
  { type: "chardev", path: "dev/null", major: 1, minor: 3, mode: 0o666 },
  { type: "file", path: "bin/busybox", data: c.busybox, mode: 0o755 },
  ...APPLETS.map((a): CpioEntry => ({ type: "symlink", path: `bin/${a}`, target: "busybox" })),
  ...c.modules.map((m): CpioEntry => ({ type: "file", path: `lib/modules/${m.name}.ko`, data: m.ko })),
  { type: "file", path: "init", data: new TextEncoder().encode(initScript(c.actionModules)), mode: 0o755 }
]

/** The gzip-compressed newc archive. */
export const buildInitramfs = (c: InitramfsContents): Uint8Array => new Uint8Array(gzipSync(writeCpio(initramfsEntries(c)), { level: 6 }))
