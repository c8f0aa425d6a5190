/**
 * `npm run bench`: runs every registered benchmark, prints one table and a
 * summary line, and writes bench/results/latest.json. Targets are ratios
 * against baselines measured in this same run, so a slower or faster host
 * moves both sides. Missing a target prints FAIL but still exits 0; only a
 * run that could not be measured (a guest or process failing) exits 1.
 * `--only a,b` runs the benchmarks whose names contain any of the words
 * (lower case, non-alphanumerics as "-": `--only linux-boot,checkpoint`).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { type Benchmark, type Row } from "./Benchmark.js"
import * as BootBench from "./BootBench.js"
import * as CheckpointBench from "./CheckpointBench.js"
import { renderNotes, renderTable, summarize, summaryLine, writeJson } from "./BenchReport.js"
import * as LinuxBootBench from "./LinuxBootBench.js"
import { RESULTS_JSON } from "./Paths.js"
import * as PioExitBench from "./PioExitBench.js"
import * as SnapshotBench from "./SnapshotBench.js"
import * as SoftCpuBench from "./SoftCpuBench.js"
import * as VirtioBench from "./VirtioBench.js"

/** Add a benchmark by writing one file that exports a Benchmark and listing it here. */
const BENCHMARKS: ReadonlyArray<Benchmark> = [
  PioExitBench.benchmark,
  BootBench.benchmark,
  SnapshotBench.benchmark,
  CheckpointBench.benchmark,
  VirtioBench.benchmark,
  SoftCpuBench.benchmark,
  LinuxBootBench.benchmark
]

const slug = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, "-")

/** The benchmarks `--only` names, all of them without it. */
const selected = (argv: ReadonlyArray<string>): ReadonlyArray<Benchmark> => {
  const at = argv.indexOf("--only")
  if (at < 0) return BENCHMARKS
  const words = (argv[at + 1] ?? "").split(",").map(slug).filter((w) => w !== "")
  return BENCHMARKS.filter((b) => words.some((w) => slug(b.name).includes(w)))
}

const program = Effect.gen(function*() {
  const started = performance.now()
  const rows: Array<Row> = []
  const failures: Array<string> = []
  const benchmarks = selected(process.argv.slice(2))
  if (benchmarks.length === 0) failures.push(`--only matched none of: ${BENCHMARKS.map((b) => slug(b.name)).join(", ")}`)
  for (const bench of benchmarks) {
    process.stderr.write(`bench: ${bench.name}...\n`)
    const t0 = performance.now()
    const result = yield* Effect.either(bench.run)
    if (Either.isLeft(result)) {
      failures.push(`${bench.name}: ${result.left.message}`)
      process.stderr.write(`bench: FAILED: ${result.left.message}\n`)
    } else {
      rows.push(...result.right)
      process.stderr.write(`bench:   done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
    }
  }
  const results = rows.map(summarize)
  const durationMs = performance.now() - started
  process.stdout.write(`\n${renderTable(results)}\n\n`)
  process.stdout.write(`(ratio = bhyve-ts median / baseline median; figures are medians and minimums over the runs of one invocation; n/m = not measured)\n`)
  const notes = renderNotes(results)
  if (notes !== "") process.stdout.write(`notes:\n${notes}\n`)
  process.stdout.write(`${summaryLine(results)}\n`)
  if (failures.length > 0) process.stdout.write(`failed: ${failures.length} benchmark(s) could not be measured\n`)
  writeJson(RESULTS_JSON, results, { durationMs, failures })
  process.stdout.write(`results: ${RESULTS_JSON} (${(durationMs / 1000).toFixed(1)} s)\n`)
  return failures.length === 0 ? 0 : 1
})

Effect.runPromise(program).then(
  (status) => {
    process.exitCode = status
  },
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
    process.exitCode = 1
  }
)
