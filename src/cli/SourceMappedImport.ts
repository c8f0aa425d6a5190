/**
 * How the entry points (bhyve-main, bhyvectl-main, machine-worker-main) load
 * the rest of their code: with stack traces that name src/ files, mapped
 * through the source maps beside the bundles in dist/bundle/
 * (scripts/build-bundles.mjs).
 *
 * Node's own source map support (process.setSourceMapsEnabled) reads and
 * parses every loaded file's map when it loads the file, whether or not a
 * trace is ever printed: for the two bundles that was about half of each
 * thread's start-up. Here a map is read only when a trace through its file
 * is formatted, which a plain boot never does.
 *
 * While loading, traces are formatted without the maps: Effect formats one
 * as it initialises (to see whether V8 inlined a function), and through the
 * map that would decode the whole bundle's map on every start. A trace
 * formatted after loading (an error's `stack` is formatted when first read)
 * is mapped.
 */
import { existsSync, readFileSync } from "node:fs"
import { SourceMap, type SourceMapPayload } from "node:module"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export const importWithSourceMaps = async <A>(load: () => Promise<A>): Promise<A> => {
  Error.prepareStackTrace = plainStackTrace
  try {
    return await load()
  } finally {
    Error.prepareStackTrace = bundleStackTrace
  }
}

type PrepareStackTrace = (error: Error, frames: ReadonlyArray<NodeJS.CallSite>) => string

/**
 * An Error.prepareStackTrace that writes V8's format, each frame in a file
 * of `directory` that has its `.map` beside it mapped to its source; other
 * files' frames (Node's internals, other packages) stay as they are. A map
 * is read the first time a trace goes through its file.
 */
export const sourceMappedStackTrace = (directory: string): PrepareStackTrace => {
  /** Maps by generated file (path or file: URL, as V8 names it); null for a file without one. */
  const maps = new Map<string, SourceMap | null>()
  const mapOf = (file: string): SourceMap | null => {
    let map = maps.get(file)
    if (map === undefined) {
      try {
        map = readMap(file, directory)
      } catch {
        map = null
      }
      maps.set(file, map)
    }
    return map
  }
  return (error, frames) => {
    if (frames.length === 0) return head(error)
    let lines: Array<string>
    try {
      lines = frames.map((frame) => mappedFrame(frame, mapOf))
    } catch {
      return plainStackTrace(error, frames)
    }
    return `${head(error)}\n    at ${lines.join("\n    at ")}`
  }
}

const readMap = (file: string, directory: string): SourceMap | null => {
  const path = file.startsWith("file:") ? fileURLToPath(file) : file
  const mapPath = `${path}.map`
  if (dirname(path) !== directory || !existsSync(mapPath)) return null
  const payload = JSON.parse(readFileSync(mapPath, "utf8")) as SourceMapPayload
  const base = resolve(dirname(mapPath), payload.sourceRoot ?? "")
  return new SourceMap({ ...payload, sources: payload.sources.map((s) => resolve(base, s)) })
}

/** One frame as V8 writes it, its generated position replaced by the original one when the file has a map. */
const mappedFrame = (frame: NodeJS.CallSite, mapOf: (file: string) => SourceMap | null): string => {
  const text = String(frame)
  const file = frame.getFileName()
  const line = frame.getLineNumber()
  const column = frame.getColumnNumber()
  if (file === undefined || file === null || line === null || column === null) return text
  const map = mapOf(file)
  if (map === null) return text
  // An empty object where the map has no entry for the position.
  const entry = map.findEntry(line - 1, column - 1)
  if (!("originalSource" in entry)) return text
  const generated = `${file}:${line}:${column}`
  const at = text.lastIndexOf(generated)
  if (at < 0) return text
  const original = `${entry.originalSource}:${entry.originalLine + 1}:${entry.originalColumn + 1}`
  return `${text.slice(0, at)}${original}${text.slice(at + generated.length)}`
}

const head = (error: Error): string => {
  try {
    return Error.prototype.toString.call(error)
  } catch {
    return "<error>"
  }
}

/** V8's own format: "Error: message" and one "    at ..." line per frame. */
const plainStackTrace = (error: Error, frames: ReadonlyArray<NodeJS.CallSite>): string =>
  frames.length === 0 ? head(error) : `${head(error)}\n    at ${frames.join("\n    at ")}`

/** Traces through the bundle's own files, which sit beside this module (in dist/bundle/), mapped. */
const bundleStackTrace = sourceMappedStackTrace(dirname(fileURLToPath(import.meta.url)))
