#!/usr/bin/env node
/**
 * Bundles the commands into dist/bundle/, so that each loads a few files
 * instead of hundreds of ES modules (that loading was most of bhyve's
 * start-up, and the machine thread did it a second time):
 *
 *   bhyve-main.js           `bhyve`: prints -h/--help itself; otherwise starts
 *                           the machine thread, then loads
 *   bhyve-cli-*.cjs         the command line and control socket code
 *   bhyvectl-main.js        `bhyvectl`, which loads
 *   bhyvectl-cli-*.cjs      its code
 *   machine-worker-main-*.cjs  the machine thread's entry, which loads
 *   machine-*.cjs           the machine: devices, CPUs, loaders, snapshots,
 *                           and nothing of the CLI
 *
 * Everything is CommonJS (package.json here says so for the two .js
 * entries): Node starts a CommonJS entry, on the main thread or a worker,
 * without setting up its ES module loader, and the entries compile the big
 * .cjs files with V8's code cache (src/cli/CachedBundle.ts; Node 20 caches
 * no ES module's code), written as `<file>.cache` beside each on its first
 * run. Each bundle is a whole module graph of its own: the two threads share
 * no module instance anyway (a worker evaluates its own copy of whatever it
 * imports), and the CLI's contains no machine code. The .cjs files are named
 * by content and each build names the files of the one before it (machine
 * <- its thread's entry <- CLI <- entries), so an entry never loads another
 * build's code.
 *
 * Each file has its source map beside it, read only when a stack trace is
 * formatted (src/cli/SourceMappedImport.ts), so traces name src/ files. The
 * native addons are found at run time by walking up from the bundle to
 * build/Release, as from dist/.
 *
 * Run after tsc by `npm install` (prepare), `npm run build` and the tests'
 * global setup. `--metafile` also writes dist/bundle/meta-{entries,cli,workerEntry,machine}.json
 * (esbuild's record of which module pulled what into which file).
 *
 * Other test runs may be starting bhyve from dist/bundle/ meanwhile: files
 * are replaced by rename, only when they change, and the previous build's
 * files (the bundles its entries load) are removed by the build after this one;
 * files.json lists this build's. A code cache stays while its bundle does
 * (it names the bundle's digest, so a stale one is never used).
 */
import * as esbuild from "esbuild"
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs"
import { basename, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const outdir = `${root}dist/bundle`
const metafile = process.argv.includes("--metafile")

/** What every build shares. */
const common = {
  absWorkingDir: root,
  bundle: true,
  platform: "node",
  target: "node20",
  outdir,
  write: false,
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
    format: "esm",
    stdin: { contents: `export { bhyveUsage } from "./src/cli/BhyveCommand.ts"`, resolveDir: root, loader: "ts" },
    outdir: undefined,
    sourcemap: false,
    metafile: false
  })
  const code = built.outputFiles[0].text
  const { bhyveUsage } = await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`)
  if (typeof bhyveUsage !== "string" || !bhyveUsage.startsWith("Usage: bhyve")) throw new Error("no bhyveUsage in BhyveCommand.ts")
  // As BhyveMain prints a Help invocation.
  return bhyveUsage.endsWith("\n") ? bhyveUsage : `${bhyveUsage}\n`
}

/** Every output is CommonJS, one whole file per entry point (the bundles' package.json says so for the .js ones). */
const commonJs = {
  ...common,
  format: "cjs",
  outExtension: { ".js": ".cjs" },
  // Named by content: an entry of one build never loads another build's code.
  entryNames: "[name]-[hash]",
  // The code's own import.meta.url (addon and worker paths): the bundle's, as in ESM.
  define: { "import.meta.url": "__bundleUrl" },
  banner: { js: `var __bundleUrl = require("node:url").pathToFileURL(__filename).href;` }
}

/** `./<name>-<hash>.cjs` of a CommonJS build, as the code that loads it names it. */
const bundleName = (build, name) => {
  const file = build.outputFiles.map((f) => basename(f.path)).find((b) => b.startsWith(`${name}-`) && b.endsWith(".cjs"))
  if (file === undefined) throw new Error(`no ${name}-*.cjs in the build`)
  return JSON.stringify(`./${file}`)
}

// Each build names the files of the one before it: machine <- its thread's entry <- CLI <- the commands' entries.
const [machine, usage] = await Promise.all([
  esbuild.build({ ...commonJs, entryPoints: [{ in: "src/machine/MachineWorker.ts", out: "machine" }] }),
  usageText()
])
const workerEntry = await esbuild.build({
  ...commonJs,
  entryPoints: [{ in: "src/cli/machine-worker-main.ts", out: "machine-worker-main" }],
  define: { ...commonJs.define, BHYVE_MACHINE_BUNDLE: bundleName(machine, "machine") }
})
const BHYVE_WORKER_ENTRY = bundleName(workerEntry, "machine-worker-main")
const cli = await esbuild.build({
  ...commonJs,
  entryPoints: [{ in: "src/cli/BhyveMain.ts", out: "bhyve-cli" }, { in: "src/cli/BhyvectlMain.ts", out: "bhyvectl-cli" }],
  define: { ...commonJs.define, BHYVE_WORKER_ENTRY }
})
const entries = await esbuild.build({
  ...commonJs,
  entryNames: "[name]",
  outExtension: {},
  entryPoints: ["src/cli/bhyve-main.ts", "src/cli/bhyvectl-main.ts"],
  define: {
    ...commonJs.define,
    BHYVE_USAGE: JSON.stringify(usage),
    BHYVE_CLI_BUNDLE: bundleName(cli, "bhyve-cli"),
    BHYVECTL_CLI_BUNDLE: bundleName(cli, "bhyvectl-cli"),
    BHYVE_WORKER_ENTRY
  }
})

const builds = { entries, cli, workerEntry, machine }
const outputs = Object.values(builds).flatMap((b) => b.outputFiles).map((f) => ({ path: f.path, contents: f.contents }))
// The entries (bhyve-main.js, bhyvectl-main.js) are CommonJS in a package whose own package.json says "module".
outputs.push({ path: join(outdir, "package.json"), contents: Buffer.from(`${JSON.stringify({ type: "commonjs" })}\n`) })
if (metafile) {
  for (const [name, b] of Object.entries(builds)) {
    outputs.push({ path: join(outdir, `meta-${name}.json`), contents: Buffer.from(JSON.stringify(b.metafile)) })
  }
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
// Bundles first, entries (bhyve-main.js, ...) last: an entry read meanwhile finds what it loads.
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
const kept = (name) => keep.has(name.endsWith(".cache") ? name.slice(0, -".cache".length) : name)
for (const name of readdirSync(outdir)) {
  if (!kept(name) && !name.includes(".tmp-")) unlinkSync(join(outdir, name))
}
install(join(outdir, LIST), Buffer.from(`${JSON.stringify(current)}\n`))
