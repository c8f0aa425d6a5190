import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, release } from "node:os"
import { dirname } from "node:path"
import type { Row, Samples } from "./Benchmark.js"
import { median, min } from "./Stats.js"

export interface SampleSummary extends Samples {
  readonly median: number
  readonly min: number
}

/** A row with its statistics and, when it has a target, its verdict. */
export interface RowResult {
  readonly id: string
  readonly label: string
  readonly unit: string
  readonly subject: SampleSummary
  readonly baseline?: SampleSummary
  /** median(subject) / median(baseline): the figure held to the target. */
  readonly ratio?: number
  /** min(subject) / min(baseline): best case against best case, for context. */
  readonly minRatio?: number
  readonly targetRatio?: number
  readonly verdict?: "PASS" | "FAIL"
}

const summarizeSamples = (s: Samples): SampleSummary => ({ ...s, median: median(s.values), min: min(s.values) })

export const summarize = (row: Row): RowResult => {
  const subject = summarizeSamples(row.subject)
  const baseline = row.baseline === undefined ? undefined : summarizeSamples(row.baseline)
  const ratio = baseline === undefined ? undefined : subject.median / baseline.median
  const minRatio = baseline === undefined ? undefined : subject.min / baseline.min
  const verdict = ratio === undefined || row.targetRatio === undefined ? undefined : ratio <= row.targetRatio ? "PASS" : "FAIL"
  return { id: row.id, label: row.label, unit: row.unit, subject, baseline, ratio, minRatio, targetRatio: row.targetRatio, verdict }
}

/** Three significant-ish digits whatever the magnitude. */
const fmt = (v: number | undefined): string =>
  v === undefined ? "-" : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)
const fmtRatio = (v: number | undefined) => (v === undefined ? "-" : `${v.toFixed(2)}x`)

const HEADER = ["measurement", "unit", "bhyve-ts", "median", "min", "baseline", "median", "min", "ratio", "target"]

/** The results as a fixed-width table; "ratio" is median over median. */
export const renderTable = (results: ReadonlyArray<RowResult>): string => {
  const cells = results.map((r) => [
    r.label,
    r.unit,
    r.subject.label,
    fmt(r.subject.median),
    fmt(r.subject.min),
    r.baseline?.label ?? "-",
    fmt(r.baseline?.median),
    fmt(r.baseline?.min),
    fmtRatio(r.ratio),
    r.targetRatio === undefined ? "-" : `<=${r.targetRatio}x ${r.verdict ?? ""}`.trim()
  ])
  const widths = HEADER.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  // Text columns left-aligned, numbers right-aligned.
  const textColumns = new Set([0, 1, 2, 5, 9])
  const line = (c: ReadonlyArray<string>) =>
    c.map((v, i) => (textColumns.has(i) ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ").trimEnd()
  const rule = widths.map((w) => "-".repeat(w)).join("  ")
  return [line(HEADER), rule, ...cells.map(line)].join("\n")
}

/** One line: how many targets were met, with the ratios that decide it. */
export const summaryLine = (results: ReadonlyArray<RowResult>): string => {
  const judged = results.filter((r) => r.verdict !== undefined)
  if (judged.length === 0) return "summary: no targets measured"
  const passed = judged.filter((r) => r.verdict === "PASS").length
  const detail = judged.map((r) => `${r.id} ${fmtRatio(r.ratio)} of baseline (target <=${r.targetRatio}x)`).join(", ")
  return `summary: ${passed}/${judged.length} targets met: ${detail} -> ${passed === judged.length ? "PASS" : "FAIL"}`
}

/** Everything measured, with enough about the host to compare runs across machines. */
export const writeJson = (path: string, results: ReadonlyArray<RowResult>, extra: { readonly durationMs: number; readonly failures: ReadonlyArray<string> }) => {
  mkdirSync(dirname(path), { recursive: true })
  const host = { node: process.version, kernel: release(), cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length }
  const body = { date: new Date().toISOString(), host, durationMs: extra.durationMs, failures: extra.failures, results }
  writeFileSync(path, `${JSON.stringify(body, null, 2)}\n`)
}
