/**
 * Builds the Linux test guest from Debian's packages into a cache
 * directory: bzImage (the package's vmlinuz), vmlinux (the ELF inside it,
 * PVH-bootable) and initramfs.cpio.gz (busybox-static, /init, the virtio and
 * ext4 modules). A stamp records what was built; a run whose recipe matches
 * a stamp younger than a day returns at once without asking apt. The .debs
 * are kept; the unpacked packages are removed once the outputs are written.
 */
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { debianVersion, downloadDeb, extractDeb, GuestUnavailable, resolveKernelPackage } from "./DebianPackages.js"
import { buildInitramfs } from "./Initramfs.js"
import { ACTION_MODULES, APPLETS, initScript, type ModuleAction, OPTIONAL_MODULES } from "./InitScript.js"
import { resolveModules } from "./KernelModules.js"
import { extractVmlinux } from "./Vmlinux.js"

export interface LinuxGuestArtifacts {
  readonly bzImage: string
  readonly vmlinux: string
  readonly initramfs: string
  /** uname -r of the kernel, e.g. 6.1.0-57-amd64. */
  readonly release: string
  readonly kernelPackage: string
  readonly debianVersion: string
  /** Module names in the initramfs, in load order. */
  readonly modules: ReadonlyArray<string>
}

interface Stamp extends LinuxGuestArtifacts {
  readonly recipe: string
  readonly checkedAt: number
}

const BUSYBOX = "busybox-static"
const FRESH_MS = 24 * 3600 * 1000
/** Bump when the build changes in a way the recipe hash below cannot see. */
const BUILD_VERSION = 1

/** What the outputs depend on besides the packages: the init script, applets and module choice. */
export const recipe = (): string => createHash("sha256").update(JSON.stringify({
  BUILD_VERSION, APPLETS, ACTION_MODULES, init: initScript({ disk: [], net: [], rng: [], console: [] })
})).digest("hex").slice(0, 16)

export const defaultCacheDir = () => fileURLToPath(new URL("cache", import.meta.url))

const outputs = (out: string) => ({
  bzImage: join(out, "bzImage"), vmlinux: join(out, "vmlinux"), initramfs: join(out, "initramfs.cpio.gz")
})

const readStamp = (out: string): Stamp | undefined => {
  try {
    const stamp = JSON.parse(readFileSync(join(out, "guest.json"), "utf8")) as Stamp
    const files = outputs(out)
    return stamp.recipe === recipe() && [files.bzImage, files.vmlinux, files.initramfs].every((f) => existsSync(f)) ? stamp : undefined
  } catch {
    return undefined
  }
}

const writeAtomic = (file: string, bytes: Uint8Array | string) => {
  const tmp = `${file}.tmp-${process.pid}`
  writeFileSync(tmp, bytes)
  renameSync(tmp, file)
}

const fail = (step: string, reason: string) => Effect.fail(new GuestUnavailable({ step, reason }))

/** The kernel's release: the one vmlinuz-RELEASE under boot/. */
const kernelRelease = (root: string) => {
  const vmlinuz = existsSync(join(root, "boot")) ? readdirSync(join(root, "boot")).find((f) => f.startsWith("vmlinuz-")) : undefined
  return vmlinuz === undefined ? fail("unpack", `no boot/vmlinuz-* in ${root}`) : Effect.succeed(vmlinuz.slice("vmlinuz-".length))
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Unpacked trees left by builds that died (400 MB each): those of processes that are gone. */
const removeDeadRoots = (cache: string) => {
  if (!existsSync(cache)) return
  for (const name of readdirSync(cache)) {
    const pid = /^root-(\d+)$/.exec(name)?.[1]
    if (name === "root" || (pid !== undefined && !isAlive(Number(pid)))) rmSync(join(cache, name), { recursive: true, force: true })
  }
}

const build = (cache: string, kernelPackage: string) =>
  Effect.gen(function* () {
    removeDeadRoots(cache)
    const debs = join(cache, "debs")
    // Each process unpacks into its own directory: two test processes
    // rebuilding at once must not delete each other's half-unpacked tree.
    const roots = join(cache, `root-${process.pid}`)
    const out = join(cache, "out")
    const kernelRoot = yield* extractDeb(yield* downloadDeb(kernelPackage, debs), kernelPackage, roots)
    const busyboxRoot = yield* extractDeb(yield* downloadDeb(BUSYBOX, debs), BUSYBOX, roots)
    const release = yield* kernelRelease(kernelRoot)

    const bzImagePath = join(kernelRoot, "boot", `vmlinuz-${release}`)
    const bzImage = new Uint8Array(readFileSync(bzImagePath))
    const vmlinux = extractVmlinux(bzImagePath, bzImage)
    if (vmlinux instanceof Error) return yield* fail("vmlinux", vmlinux.message)

    const modulesDir = join(kernelRoot, "lib", "modules", release)
    const wanted = Object.values(ACTION_MODULES).flat()
    const modules = resolveModules(modulesDir, wanted, OPTIONAL_MODULES)
    if (modules instanceof Error) return yield* fail("modules", modules.message)
    // Each action's own closure, in the global load order.
    const only = (names: ReadonlyArray<string>) => {
      const closure = resolveModules(modulesDir, names, OPTIONAL_MODULES)
      const mine = new Set(closure instanceof Error ? [] : closure.map((m) => m.name))
      return modules.filter((m) => mine.has(m.name)).map((m) => m.name)
    }
    const actionModules: Record<ModuleAction, ReadonlyArray<string>> = {
      disk: only(ACTION_MODULES.disk), net: only(ACTION_MODULES.net), rng: only(ACTION_MODULES.rng), console: only(ACTION_MODULES.console)
    }

    const busyboxPath = join(busyboxRoot, "bin", "busybox")
    if (!existsSync(busyboxPath)) return yield* fail("busybox", `no bin/busybox in ${busyboxRoot}`)
    const initramfs = buildInitramfs({ busybox: new Uint8Array(readFileSync(busyboxPath)), modules, actionModules })

    mkdirSync(out, { recursive: true })
    const files = outputs(out)
    writeAtomic(files.bzImage, bzImage)
    writeAtomic(files.vmlinux, vmlinux)
    writeAtomic(files.initramfs, initramfs)
    const stamp: Stamp = {
      ...files, release, kernelPackage, debianVersion: debianVersion(), modules: modules.map((m) => m.name),
      recipe: recipe(), checkedAt: Date.now()
    }
    writeAtomic(join(out, "guest.json"), JSON.stringify(stamp, null, 2))
    // The unpacked kernel is 400 MB; the .debs stay, and unpacking again takes seconds.
    rmSync(roots, { recursive: true, force: true })
    return stamp
  })

const artifacts = ({ recipe: _r, checkedAt: _c, ...a }: Stamp): LinuxGuestArtifacts => a

/**
 * The guest's artifacts, built or taken from `cache`; GuestUnavailable
 * when the packages cannot be had (no apt, no network, not Debian).
 */
export const buildLinuxGuest = (cache: string = defaultCacheDir()): Effect.Effect<LinuxGuestArtifacts, GuestUnavailable> =>
  Effect.gen(function* () {
    const out = join(cache, "out")
    const stamp = readStamp(out)
    if (stamp !== undefined && Date.now() - stamp.checkedAt < FRESH_MS) return artifacts(stamp)
    const resolved = yield* Effect.either(resolveKernelPackage)
    if (resolved._tag === "Left") {
      // Offline, but built before: the cached guest is still good.
      if (stamp !== undefined) return artifacts(stamp)
      return yield* resolved.left
    }
    if (stamp !== undefined && stamp.kernelPackage === resolved.right) {
      writeAtomic(join(out, "guest.json"), JSON.stringify({ ...stamp, checkedAt: Date.now() }, null, 2))
      return artifacts(stamp)
    }
    return artifacts(yield* build(cache, resolved.right))
  })

/** Bytes of each artifact, for a report. */
export const artifactSizes = (a: LinuxGuestArtifacts) =>
  Object.fromEntries([a.bzImage, a.vmlinux, a.initramfs].map((f) => [f, statSync(f).size]))
