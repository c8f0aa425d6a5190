/**
 * How the entry points (bhyve-main, bhyvectl-main, machine-worker-main) load
 * the rest of their code: with source-mapped stack traces on, so that traces
 * from the bundles in dist/bundle/ (scripts/build-bundles.mjs) name src/
 * files. Node reads a module's source map when it loads the module, so this
 * runs before the import; the entry itself is a few lines.
 *
 * While loading, stack traces are formatted without the maps: Effect formats
 * one as it initialises (to see whether V8 inlined a function), and through
 * the map that would decode the whole bundle's map, 30-40 ms on every start
 * of each thread. A trace formatted after loading (an error's `stack` is
 * formatted when first read) is mapped.
 */
export const importWithSourceMaps = async <A>(load: () => Promise<A>): Promise<A> => {
  process.setSourceMapsEnabled(true)
  const mapped = Error.prepareStackTrace
  Error.prepareStackTrace = plainStackTrace
  try {
    return await load()
  } finally {
    Error.prepareStackTrace = mapped
  }
}

/** V8's own format: "Error: message" and one "    at ..." line per frame. */
const plainStackTrace = (error: Error, frames: ReadonlyArray<NodeJS.CallSite>): string => {
  let head: string
  try {
    head = Error.prototype.toString.call(error)
  } catch {
    head = "<error>"
  }
  return frames.length === 0 ? head : `${head}\n    at ${frames.join("\n    at ")}`
}
