/**
 * Debian packages fetched with apt-get download and unpacked with
 * dpkg-deb -x into a cache directory: never installed on the host. Works
 * on any Debian release whose apt lists name linux-image-amd64 (12 and 13).
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"

/** Why the Linux guest could not be built: the step, and what went wrong. */
export class GuestUnavailable extends Data.TaggedError("GuestUnavailable")<{
  readonly step: string
  readonly reason: string
}> {
  override get message() {
    return `Linux guest unavailable (${this.step}): ${this.reason}`
  }
}

/** Runs a tool to completion; its stdout, or GuestUnavailable with its stderr. */
export const runTool = (step: string, command: string, args: ReadonlyArray<string>, cwd?: string) =>
  Effect.suspend(() => {
    const r = spawnSync(command, args, { cwd, encoding: "utf8", maxBuffer: 64 << 20 })
    if (r.error !== undefined) return Effect.fail(new GuestUnavailable({ step, reason: `${command}: ${r.error.message}` }))
    if (r.status !== 0) {
      const why = (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" / ")
      return Effect.fail(new GuestUnavailable({ step, reason: `${command} ${args.join(" ")} exited ${r.status}: ${why}` }))
    }
    return Effect.succeed(r.stdout)
  })

/** /etc/debian_version, e.g. "12.11" or "13.1" (or "trixie/sid"). */
export const debianVersion = (): string =>
  existsSync("/etc/debian_version") ? readFileSync("/etc/debian_version", "utf8").trim() : "not Debian"

/** The versioned kernel package linux-image-amd64 depends on now, e.g. linux-image-6.1.0-57-amd64. */
export const parseKernelDepends = (show: string): string | undefined =>
  /^Depends:.*?\b(linux-image-[0-9][^\s,()|]*)/m.exec(show)?.[1]

const showMeta = (pkg: string) => runTool("apt-cache", "apt-cache", ["show", "--no-all-versions", pkg])

/** apt-cache show, after one apt-get update when the lists do not know the package yet (only as root). */
const showPackage = (pkg: string) =>
  showMeta(pkg).pipe(
    Effect.catchAll((first) =>
      process.getuid?.() === 0
        ? runTool("apt-get update", "apt-get", ["update", "-qq"]).pipe(
          // Without apt at all the update fails too: the first failure says more.
          Effect.mapError((update) => (/ENOENT/.test(update.reason) ? first : update)),
          Effect.zipRight(showMeta(pkg))
        )
        : Effect.fail(first))
  )

export const resolveKernelPackage = Effect.gen(function* () {
  const show = yield* showPackage("linux-image-amd64")
  const name = parseKernelDepends(show)
  if (name === undefined) return yield* new GuestUnavailable({ step: "resolve", reason: "linux-image-amd64 names no linux-image-VERSION-amd64 in its Depends" })
  return name
})

/** The .deb for `pkg` in `debsDir`, downloaded unless a file for that package is already there. */
export const downloadDeb = (pkg: string, debsDir: string) =>
  Effect.gen(function* () {
    mkdirSync(debsDir, { recursive: true })
    const find = () => readdirSync(debsDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"))
    const cached = find()
    if (cached !== undefined) return join(debsDir, cached)
    yield* runTool(`download ${pkg}`, "apt-get", ["download", "-qq", pkg], debsDir)
    const got = find()
    if (got === undefined) return yield* new GuestUnavailable({ step: `download ${pkg}`, reason: `apt-get download left no ${pkg}_*.deb in ${debsDir}` })
    return join(debsDir, got)
  })

/**
 * The package's files unpacked under `rootsDir`/DEB-NAME (reused when a
 * previous run finished unpacking it); other unpacked versions of the same
 * package are removed.
 */
export const extractDeb = (deb: string, pkg: string, rootsDir: string) =>
  Effect.gen(function* () {
    const name = deb.split("/").pop()?.replace(/\.deb$/, "") ?? pkg
    const dir = join(rootsDir, name)
    if (existsSync(join(dir, ".unpacked"))) return dir
    mkdirSync(rootsDir, { recursive: true })
    for (const old of readdirSync(rootsDir)) if (old.startsWith(`${pkg}_`)) rmSync(join(rootsDir, old), { recursive: true, force: true })
    const tmp = `${dir}.tmp-${process.pid}`
    rmSync(tmp, { recursive: true, force: true })
    yield* runTool(`unpack ${pkg}`, "dpkg-deb", ["-x", deb, tmp])
    writeFileSync(join(tmp, ".unpacked"), "")
    renameSync(tmp, dir)
    return dir
  })
