#!/usr/bin/env node
/**
 * Bundles the commands into dist/bundle/, so that each loads a few files
 * instead of hundreds of ES modules (that loading was most of bhyve's
 * start-up, and the machine thread did it a second time):
 *
 *   bhyve-main.js           `bhyve`: prints -h/--help itself; otherwise starts
 *                           the machine thread, then loads the command line and
 *                           control socket code
 *   bhyvectl-main.js        `bhyvectl`
 *   chunk-*.js              what those two load on demand or share (Effect,
 *                           the parser, the control protocol, MachineThread)
 *   machine-worker-main.js  the machine thread's entry, which loads
 *   machine-*.js            the machine: devices, CPUs, loaders, snapshots,
 *                           and nothing of the CLI
 *
 * The two threads are separate module graphs (a worker evaluates its own copy
 * of whatever it imports), so the machine thread is a build of its own that
 * shares no chunk with the CLI's, and the CLI's contains no machine code.
 *
 * Each file has its source map beside it; the entries turn source maps on
 * before importing the rest (src/cli/SourceMappedImport.ts), so stack traces
 * name src/ files. The native addons are found at run time by walking up from
 * the bundle to build/Release, as from dist/.
 *
 * Run after tsc by `npm install` (prepare), `npm run build` and the tests'
 * global setup. `--metafile` also writes dist/bundle/meta-{cli,machine}.json
 * (esbuild's record of which module pulled what into which file).
 *
 * Other test runs may be starting bhyve from dist/bundle/ meanwhile: files
 * are replaced by rename, only when they change, and the previous build's
 * files (chunks its entries import) are removed by the build after this one;
 * files.json lists this build's.
 */
import * as esbuild from "esbuild"
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs"
import { basename, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const outdir = `${root}dist/bundle`
const metafile = process.argv.includes("--metafile")

/** What both builds share. */
const common = {
  absWorkingDir: root,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outdir,
  write: false,
  // Entries load their chunks with import(): splitting keeps those separate files.
  splitting: true,
  sourcemap: "linked",
  // Traces need names and positions, not the sources: a map a third the size.
  sourcesContent: false,
  legalComments: "none",
  logLevel: "warning",
  metafile
}

/**
 * `bhyve -h`'s text, from BhyveCommand.ts itself (bundled in memory and run
 * here), so that the bhyve entry prints it without loading the parser.
 */
const usageText = async () => {
  const built = await esbuild.build({
    ...common,
    stdin: { contents: `export { bhyveUsage } from "./src/cli/BhyveCommand.ts"`, resolveDir: root, loader: "ts" },
    outdir: undefined,
    splitting: false,
    sourcemap: false,
    metafile: false
  })
  const code = built.outputFiles[0].text
  const { bhyveUsage } = await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`)
  if (typeof bhyveUsage !== "string" || !bhyveUsage.startsWith("Usage: bhyve")) throw new Error("no bhyveUsage in BhyveCommand.ts")
  // As BhyveMain prints a Help invocation.
  return bhyveUsage.endsWith("\n") ? bhyveUsage : `${bhyveUsage}\n`
}

const [cli, machine] = await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: ["src/cli/bhyve-main.ts", "src/cli/bhyvectl-main.ts"],
    chunkNames: "chunk-[hash]",
    define: { BHYVE_USAGE: JSON.stringify(await usageText()) }
  }),
  esbuild.build({
    ...common,
    entryPoints: ["src/cli/machine-worker-main.ts"],
    chunkNames: "machine-[hash]"
  })
])

const outputs = [...cli.outputFiles, ...machine.outputFiles].map((f) => ({ path: f.path, contents: f.contents }))
if (metafile) {
  outputs.push({ path: join(outdir, "meta-cli.json"), contents: Buffer.from(JSON.stringify(cli.metafile)) })
  outputs.push({ path: join(outdir, "meta-machine.json"), contents: Buffer.from(JSON.stringify(machine.metafile)) })
}

/** `contents` at `path` by rename, unless already there; entries (#!) executable. */
const install = (path, contents) => {
  let same = false
  try {
    same = Buffer.compare(readFileSync(path), contents) === 0
  } catch {}
  if (!same) {
    const temporary = `${path}.tmp-${process.pid}`
    writeFileSync(temporary, contents)
    if (contents[0] === 0x23 && contents[1] === 0x21) chmodSync(temporary, 0o755)
    renameSync(temporary, path)
  }
}

mkdirSync(outdir, { recursive: true })
// Chunks first, entries (bhyve-main.js, ...) last: an entry read meanwhile finds its chunks.
const entriesLast = (o) => (o.path.endsWith("-main.js") ? 1 : 0)
for (const { path, contents } of outputs.sort((a, b) => entriesLast(a) - entriesLast(b))) install(path, contents)

// Files of this build and of the one before it stay (a bhyve started from that one may still import its chunks).
const LIST = "files.json"
const current = outputs.map((o) => basename(o.path))
let previous = []
try {
  previous = JSON.parse(readFileSync(join(outdir, LIST), "utf8"))
} catch {}
const keep = new Set([LIST, ...current, ...previous])
for (const name of readdirSync(outdir)) {
  if (!keep.has(name) && !name.includes(".tmp-")) unlinkSync(join(outdir, name))
}
install(join(outdir, LIST), Buffer.from(`${JSON.stringify(current)}\n`))
