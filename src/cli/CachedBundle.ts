/**
 * Loads one of the CommonJS bundles in dist/bundle/ (scripts/build-bundles.mjs:
 * bhyve-cli.cjs, bhyvectl-cli.cjs, machine.cjs) with V8's code cache, so that
 * a start compiles almost nothing: without it, parsing and compiling the
 * bundles (Effect alone is half a megabyte, on each of two threads) was most
 * of the time from spawn to the guest's first byte. Node 20 has no compile
 * cache for modules (module.enableCompileCache is Node 22), but a script
 * compiled through node:vm takes V8's cachedData.
 *
 * The cache sits beside the bundle (`<bundle>.cache`) and starts with the
 * SHA-256 of the bundle's text: V8 checks only the source's length, its own
 * version and flags, so a rebuilt bundle of the same length would otherwise
 * run the old one's code. It is written (by rename, best effort: a read-only
 * install runs without it) when missing, stale or rejected, once the code
 * has run far enough for the functions a start needs to be compiled: V8
 * caches the functions compiled so far, and most are compiled lazily.
 */
import { createHash } from "node:crypto"
import { readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { Script } from "node:vm"
import { threadId } from "node:worker_threads"

/** What became of the code cache on loading: taken; none there (or unreadable); made for other text; refused by V8 (another Node or flags). */
export type CodeCacheUse = "used" | "none" | "stale" | "rejected"

export interface CachedBundle<A> {
  /** What the bundle's entry module exports. */
  readonly exports: A
  readonly codeCache: CodeCacheUse
  /** Writes the code cache with every function compiled so far, unless the one loaded was valid. Once; never fails. */
  readonly saveCodeCache: () => void
}

const DIGEST_BYTES = 32

const readCache = (cachePath: string, digest: Buffer): Buffer | "none" | "stale" => {
  let file: Buffer
  try {
    file = readFileSync(cachePath)
  } catch {
    return "none"
  }
  return file.length > DIGEST_BYTES && file.subarray(0, DIGEST_BYTES).equals(digest) ? file.subarray(DIGEST_BYTES) : "stale"
}

const writeCache = (cachePath: string, contents: ReadonlyArray<Buffer>) => {
  const temporary = `${cachePath}.tmp-${process.pid}-${threadId}`
  try {
    writeFileSync(temporary, Buffer.concat(contents))
    renameSync(temporary, cachePath)
  } catch {
    try {
      unlinkSync(temporary)
    } catch {}
  }
}

/**
 * Runs the bundle at `url` as CommonJS (its own `require`, `module`,
 * `__filename`). `A` is the type of its entry module's exports, which the
 * build made from a module of that type.
 */
export const loadCachedBundle = <A>(url: URL): CachedBundle<A> => {
  const path = fileURLToPath(url)
  const text = readFileSync(path)
  const digest = createHash("sha256").update(text).digest()
  const cachePath = `${path}.cache`
  const cache = readCache(cachePath, digest)
  const cachedData = typeof cache === "string" ? undefined : cache
  // CommonJS's wrapper, on the bundle's first line so that its line numbers (and source map) hold.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${text.toString("utf8")}\n})`, {
    filename: path,
    cachedData
  })
  const module: { exports: unknown } = { exports: {} }
  const body: unknown = script.runInThisContext()
  if (typeof body !== "function") throw new Error(`${path}: not a script`)
  body(module.exports, createRequire(path), module, path, dirname(path))
  const codeCache: CodeCacheUse = typeof cache === "string" ? cache : script.cachedDataRejected === true ? "rejected" : "used"
  let saved = codeCache === "used"
  return {
    exports: module.exports as A,
    codeCache,
    saveCodeCache: () => {
      if (saved) return
      saved = true
      writeCache(cachePath, [digest, script.createCachedData()])
    }
  }
}
