import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, release } from "node:os"
import { dirname } from "node:path"
import type { Row, Samples } from "./Benchmark.js"
import { median, min } from "./Stats.js"

export interface SampleSummary extends Samples {
  /** Undefined when the side was not measured (no values). */
  readonly median: number | undefined
  readonly min: number | undefined
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
  /** Absolute bound on median(subject), in `unit`. */
  readonly targetMax?: number
  /** Undefined without a target, or when a side the target needs was not measured. */
  readonly verdict?: "PASS" | "FAIL"
  readonly note?: string
}

const summarizeSamples = (s: Samples): SampleSummary =>
  s.values.length === 0 ? { ...s, median: undefined, min: undefined } : { ...s, median: median(s.values), min: min(s.values) }

const over = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a / b)

export const summarize = (row: Row): RowResult => {
  const subject = summarizeSamples(row.subject)
  const baseline = row.baseline === undefined ? undefined : summarizeSamples(row.baseline)
  const ratio = over(subject.median, baseline?.median)
  const minRatio = over(subject.min, baseline?.min)
  const verdicts: Array<boolean | undefined> = []
  if (row.targetRatio !== undefined) verdicts.push(ratio === undefined ? undefined : ratio <= row.targetRatio)
  if (row.targetMax !== undefined) verdicts.push(subject.median === undefined ? undefined : subject.median <= row.targetMax)
  const verdict = verdicts.length === 0 || verdicts.includes(undefined) ? undefined : verdicts.every(Boolean) ? "PASS" : "FAIL"
  return {
    id: row.id,
    label: row.label,
    unit: row.unit,
    subject,
    baseline,
    ratio,
    minRatio,
    targetRatio: row.targetRatio,
    targetMax: row.targetMax,
    verdict,
    note: row.note
  }
}

const hasTarget = (r: RowResult) => r.targetRatio !== undefined || r.targetMax !== undefined

/** Three significant-ish digits whatever the magnitude. */
const fmt = (v: number | undefined): string =>
  v === undefined ? "-" : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)
const fmtRatio = (v: number | undefined) => (v === undefined ? "-" : `${v.toFixed(2)}x`)
const fmtTarget = (r: RowResult): string => {
  if (!hasTarget(r)) return "-"
  const bounds = [r.targetRatio === undefined ? [] : [`<=${r.targetRatio}x`], r.targetMax === undefined ? [] : [`<=${r.targetMax} ${r.unit}`]].flat()
  return `${bounds.join(", ")} ${r.verdict ?? "not measured"}`
}
/** A side that was not measured reads "n/m" in its columns; the reason is printed under the table. */
const fmtSide = (s: SampleSummary | undefined, v: number | undefined) => (s?.notMeasured !== undefined ? "n/m" : fmt(v))

const HEADER = ["measurement", "unit", "bhyve-ts", "median", "min", "baseline", "median", "min", "ratio", "target"]

/** The results as a fixed-width table; "ratio" is median over median. */
export const renderTable = (results: ReadonlyArray<RowResult>): string => {
  const cells = results.map((r) => [
    r.label,
    r.unit,
    r.subject.label,
    fmtSide(r.subject, r.subject.median),
    fmtSide(r.subject, r.subject.min),
    r.baseline?.label ?? "-",
    fmtSide(r.baseline, r.baseline?.median),
    fmtSide(r.baseline, r.baseline?.min),
    fmtRatio(r.ratio),
    fmtTarget(r)
  ])
  const widths = HEADER.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  // Text columns left-aligned, numbers right-aligned.
  const textColumns = new Set([0, 1, 2, 5, 9])
  const line = (c: ReadonlyArray<string>) =>
    c.map((v, i) => (textColumns.has(i) ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ").trimEnd()
  const rule = widths.map((w) => "-".repeat(w)).join("  ")
  return [line(HEADER), rule, ...cells.map(line)].join("\n")
}

/** Under the table: each row's note, and why a side of a row was not measured (n/m). */
export const renderNotes = (results: ReadonlyArray<RowResult>): string =>
  results.flatMap((r) => [
    ...(r.note === undefined ? [] : [`${r.id}: ${r.note}`]),
    ...[r.subject, r.baseline].flatMap((s) => (s?.notMeasured === undefined ? [] : [`${r.id}: ${s.label} not measured: ${s.notMeasured}`]))
  ]).map((line) => `  ${line}`).join("\n")

/** One line: how many targets were met, with the figures that decide it. */
export const summaryLine = (results: ReadonlyArray<RowResult>): string => {
  const judged = results.filter((r) => r.verdict !== undefined)
  const unmeasured = results.filter((r) => hasTarget(r) && r.verdict === undefined)
  const skipped = unmeasured.length === 0 ? "" : ` (${unmeasured.length} not measured: ${unmeasured.map((r) => r.id).join(", ")})`
  if (judged.length === 0) return `summary: no targets measured${skipped}`
  const passed = judged.filter((r) => r.verdict === "PASS").length
  const figure = (r: RowResult) =>
    r.targetRatio !== undefined
      ? `${r.id} ${fmtRatio(r.ratio)} of baseline (target <=${r.targetRatio}x)`
      : `${r.id} ${fmt(r.subject.median)} ${r.unit} (target <=${r.targetMax} ${r.unit})`
  const detail = judged.map(figure).join(", ")
  return `summary: ${passed}/${judged.length} targets met: ${detail} -> ${passed === judged.length ? "PASS" : "FAIL"}${skipped}`
}

/** Everything measured, with enough about the host to compare runs across machines. */
export const writeJson = (path: string, results: ReadonlyArray<RowResult>, extra: { readonly durationMs: number; readonly failures: ReadonlyArray<string> }) => {
  mkdirSync(dirname(path), { recursive: true })
  const host = { node: process.version, kernel: release(), cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length }
  const body = { date: new Date().toISOString(), host, durationMs: extra.durationMs, failures: extra.failures, results }
  writeFileSync(path, `${JSON.stringify(body, null, 2)}\n`)
}
