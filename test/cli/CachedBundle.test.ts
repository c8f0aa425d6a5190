import { describe, expect, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { afterEach } from "vitest"
import { loadCachedBundle } from "../../src/cli/CachedBundle.js"

interface Answer {
  readonly answer: () => number
  readonly file: string
}

/** A CommonJS bundle as scripts/build-bundles.mjs makes them: it uses require and __filename, and exports functions. */
const bundleText = (answer: number) =>
  `"use strict";\nconst { basename } = require("node:path");\n` +
  `module.exports = { answer: () => ${answer}, file: basename(__filename) };\n`

const directories: Array<string> = []
afterEach(() => {
  for (const d of directories.splice(0)) rmSync(d, { recursive: true, force: true })
})

const bundleAt = (text: string) => {
  const dir = mkdtempSync(join(tmpdir(), "bhyve-cached-bundle-"))
  directories.push(dir)
  const path = join(dir, "cli-TEST.cjs")
  writeFileSync(path, text)
  return { path, url: pathToFileURL(path) }
}

describe("loading a bundle with V8's code cache", () => {
  it("runs the bundle as CommonJS and gives its exports", () => {
    const { url } = bundleAt(bundleText(42))
    const bundle = loadCachedBundle<Answer>(url)
    expect(bundle.exports.answer()).toBe(42)
    expect(bundle.exports.file).toBe("cli-TEST.cjs")
    expect(bundle.codeCache).toBe("none")
  })

  it("writes the cache beside the bundle, and the next load takes it", () => {
    const { path, url } = bundleAt(bundleText(42))
    loadCachedBundle<Answer>(url).saveCodeCache()
    expect(statSync(`${path}.cache`).size).toBeGreaterThan(32)
    const again = loadCachedBundle<Answer>(url)
    expect(again.codeCache).toBe("used")
    expect(again.exports.answer()).toBe(42)
  })

  it("a rebuilt bundle of the same length runs its own code, not the cached one's", () => {
    const { path, url } = bundleAt(bundleText(42))
    loadCachedBundle<Answer>(url).saveCodeCache()
    // V8 checks only the source's length: the digest in the cache is what tells these apart.
    writeFileSync(path, bundleText(43))
    const rebuilt = loadCachedBundle<Answer>(url)
    expect(rebuilt.codeCache).toBe("stale")
    expect(rebuilt.exports.answer()).toBe(43)
    rebuilt.saveCodeCache()
    expect(loadCachedBundle<Answer>(url).codeCache).toBe("used")
  })

  it("a cache V8 refuses is ignored and replaced", () => {
    // Text no other test compiles: V8 would otherwise take this isolate's own compilation and not look at the cache.
    const text = bundleText(44)
    const { path, url } = bundleAt(text)
    // The cache's format: the bundle's SHA-256, then V8's data, here garbage.
    writeFileSync(`${path}.cache`, Buffer.concat([createHash("sha256").update(text).digest(), Buffer.alloc(4096, 0x5a)]))
    const refused = loadCachedBundle<Answer>(url)
    expect(refused.codeCache).toBe("rejected")
    expect(refused.exports.answer()).toBe(44)
    refused.saveCodeCache()
    expect(readFileSync(`${path}.cache`).subarray(32).equals(Buffer.alloc(4096, 0x5a))).toBe(false)
    expect(loadCachedBundle<Answer>(url).codeCache).toBe("used")
  })

  it("a bundle whose cache cannot be written still loads and runs", () => {
    const { path, url } = bundleAt(bundleText(42))
    // A directory where the cache would go: neither readable as a file nor replaceable by rename.
    mkdirSync(`${path}.cache`)
    const bundle = loadCachedBundle<Answer>(url)
    expect(bundle.codeCache).toBe("none")
    expect(() => bundle.saveCodeCache()).not.toThrow()
    expect(bundle.exports.answer()).toBe(42)
    expect(statSync(`${path}.cache`).isDirectory()).toBe(true)
  })
})
