/**
 * Finds the kernel modules a guest needs in an extracted Debian kernel
 * package (lib/modules/RELEASE), with everything they depend on, in the
 * order insmod must load them. Modules built into the kernel
 * (modules.builtin) need no file and are left out.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { decompress } from "./Decompress.js"
import { modInfoStrings, parseModInfo } from "./ModInfo.js"

export interface KernelModule {
  /** The kernel's name for it (dashes as underscores), as /sys/module shows it. */
  readonly name: string
  /** The uncompressed .ko. */
  readonly ko: Uint8Array
  readonly depends: ReadonlyArray<string>
}

const KO = /\.ko(\.xz|\.zst|\.gz)?$/

/** The name the kernel gives a module file: basename without .ko[.xz|.zst|.gz], dashes as underscores. */
export const moduleName = (file: string) => (file.split("/").pop() ?? file).replace(KO, "").replaceAll("-", "_")

const walk = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(join(dir, d.name)) : KO.test(d.name) ? [join(dir, d.name)] : [])

/** name -> file for every module under `modulesDir`/kernel. */
export const indexModules = (modulesDir: string): ReadonlyMap<string, string> =>
  new Map(walk(join(modulesDir, "kernel")).map((f) => [moduleName(f), f]))

/** Names of the modules compiled into the kernel. */
export const builtinModules = (modulesDir: string): ReadonlySet<string> => {
  const file = join(modulesDir, "modules.builtin")
  return new Set(existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map(moduleName) : [])
}

const readModule = (name: string, file: string): KernelModule | Error => {
  const raw = new Uint8Array(readFileSync(file))
  const ko = file.endsWith(".ko") ? raw : decompress(raw)
  if (ko instanceof Error) return new Error(`module ${file}: ${ko.message}`)
  const strings = modInfoStrings(ko)
  if (strings instanceof Error) return new Error(`module ${file}: ${strings.message}`)
  return { name, ko, depends: parseModInfo(strings).depends.map((d) => d.replaceAll("-", "_")) }
}

/**
 * `wanted` and their dependencies, each after all it depends on. A wanted
 * name that is built in is skipped; one in `optional` that does not exist
 * at all is skipped too; any other missing module is an Error.
 */
export const resolveModules = (
  modulesDir: string,
  wanted: ReadonlyArray<string>,
  optional: ReadonlySet<string> = new Set()
): ReadonlyArray<KernelModule> | Error => {
  const files = indexModules(modulesDir)
  const builtin = builtinModules(modulesDir)
  const order: Array<KernelModule> = []
  const done = new Set<string>()
  const visit = (name: string, from: string | undefined): Error | undefined => {
    if (done.has(name) || builtin.has(name)) return undefined
    done.add(name)
    const file = files.get(name)
    if (file === undefined) {
      if (from === undefined && optional.has(name)) return undefined
      return new Error(`module ${name}${from === undefined ? "" : ` (needed by ${from})`} is neither built in nor under ${modulesDir}/kernel`)
    }
    const module = readModule(name, file)
    if (module instanceof Error) return module
    for (const dep of module.depends) {
      const failed = visit(dep, name)
      if (failed !== undefined) return failed
    }
    order.push(module)
    return undefined
  }
  for (const name of wanted) {
    const failed = visit(name.replaceAll("-", "_"), undefined)
    if (failed !== undefined) return failed
  }
  return order
}
