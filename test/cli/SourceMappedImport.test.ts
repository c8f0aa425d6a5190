import { describe, expect, it } from "@effect/vitest"
import { buildSync } from "esbuild"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { afterEach } from "vitest"
import { loadCachedBundle } from "../../src/cli/CachedBundle.js"
import { sourceMappedStackTrace } from "../../src/cli/SourceMappedImport.js"

const directories: Array<string> = []
afterEach(() => {
  for (const d of directories.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A source file and its CommonJS bundle with a linked map in `dist/`, as scripts/build-bundles.mjs makes them. */
const bundled = (withMap: boolean) => {
  const dir = mkdtempSync(join(tmpdir(), "bhyve-source-maps-"))
  directories.push(dir)
  const source = join(dir, "Thrower.ts")
  // The throw is on line 4, column 9 of the source; the bundle puts it elsewhere.
  writeFileSync(source, "const padding: number = 1\n\nexport const fail = (): number => {\n  throw new Error(`boom ${padding}`)\n}\n")
  const outfile = join(dir, "dist", "thrower-TEST.cjs")
  buildSync({ entryPoints: [source], bundle: true, platform: "node", format: "cjs", outfile, sourcemap: withMap ? "linked" : false, logLevel: "silent" })
  const { fail } = loadCachedBundle<{ readonly fail: () => number }>(pathToFileURL(outfile)).exports
  return { source, outfile, directory: join(dir, "dist"), fail }
}

const traceOf = (fail: () => number, prepare: typeof Error.prepareStackTrace): string => {
  const previous = Error.prepareStackTrace
  Error.prepareStackTrace = prepare
  try {
    fail()
    return "no throw"
  } catch (e) {
    return e instanceof Error ? e.stack ?? "no stack" : String(e)
  } finally {
    Error.prepareStackTrace = previous
  }
}

describe("stack traces through a bundle", () => {
  it("name the source file, line and column of each frame in a bundle with its map", () => {
    const { source, outfile, directory, fail } = bundled(true)
    const trace = traceOf(fail, sourceMappedStackTrace(directory))
    expect(trace.split("\n")[0]).toBe("Error: boom 1")
    expect(trace.split("\n")[1]).toContain(`${source}:4:9`)
    expect(trace).not.toContain(outfile)
  })

  it("keep the bundle's own positions where it has no map", () => {
    const { outfile, directory, fail } = bundled(false)
    const trace = traceOf(fail, sourceMappedStackTrace(directory))
    expect(trace.split("\n")[1]).toContain(`${outfile}:`)
  })

  it("leave files outside the bundle's directory as V8 names them", () => {
    const { outfile, fail } = bundled(true)
    const trace = traceOf(fail, sourceMappedStackTrace(join(tmpdir(), "elsewhere")))
    expect(trace.split("\n")[1]).toContain(`${outfile}:`)
  })
})
