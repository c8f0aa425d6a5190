import type { Verify } from "../src/snapshot/format/RamReader.js"
import type { SaveReport } from "../src/snapshot/SaveSnapshot.js"
import type { Row, Samples } from "./Benchmark.js"

/**
 * SnapshotBench's measurements as report rows. The first save of a machine
 * and the first verify=all restore of a snapshot get rows of their own:
 * each does one-off work the later ones do not (see `firstRunNote`), and a
 * median over all runs would hide it.
 */

export interface SaveSample {
  readonly report: SaveReport
  /** Peak process RSS during the save minus RSS just before it, bytes. */
  readonly rssGrowth: number
}

export interface RestoreSample {
  /** From calling restore to a machine ready to run (its report's restoreMs). */
  readonly readyMs: number
  /** From calling restore to the guest's first output byte. */
  readonly firstOutputMs: number
}

export interface SnapshotMeasurements {
  readonly pauses: ReadonlyArray<number>
  readonly saves: ReadonlyArray<SaveSample>
  readonly copies: { readonly sparse: ReadonlyArray<number>; readonly sparseSync: ReadonlyArray<number>; readonly dense: ReadonlyArray<number> }
  /** Copy restores by verify mode, and lazy (ram=map, verify=state) ones. */
  readonly restores: Record<Verify | "map", ReadonlyArray<RestoreSample>>
  readonly touchMib: number
}

const MIB = 1 << 20
const IN_PROCESS = "in-process"
const first = <A>(values: ReadonlyArray<A>) => values.slice(0, 1)
const later = <A>(values: ReadonlyArray<A>) => values.slice(1)

/** `subject`: who the figures are of, e.g. "in-process (kvm)". */
export const snapshotRows = (m: SnapshotMeasurements, subject = IN_PROCESS): ReadonlyArray<Row> => {
  const ms = (id: string, label: string, values: ReadonlyArray<number>, baseline?: Samples): Row =>
    ({ id, label, unit: "ms", subject: { label: subject, values }, baseline })
  const cp: Samples = { label: "cp sparse", values: m.copies.sparse }
  const save = m.saves.map((s) => s.report.totalMs)
  const all = m.restores.all
  const state = m.restores.state
  const rss = m.saves.map((s) => s.rssGrowth / MIB)
  return [
    ms("snapshot.pause", "pause a running guest (quiesce)", m.pauses),
    ms("snapshot.save.first", "save (checkpoint), 1st of the machine", first(save), cp),
    ms("snapshot.save", "save (checkpoint), later", later(save), cp),
    ms("snapshot.save.durable", "save (checkpoint), later, vs durable cp", later(save), { label: "cp sparse+sync", values: m.copies.sparseSync }),
    ms("snapshot.save.dense", "save (checkpoint), later, vs dense cp", later(save), { label: `cp ${m.touchMib}M dense`, values: m.copies.dense }),
    ms("snapshot.restore.all.first", "restore verify=all -> 1st output, 1st", first(all).map((r) => r.firstOutputMs), cp),
    ms("snapshot.restore.all", "restore verify=all -> 1st output, later", later(all).map((r) => r.firstOutputMs), cp),
    ms("snapshot.restore.all.ready", "restore verify=all -> ready, later", later(all).map((r) => r.readyMs), cp),
    ms("snapshot.restore.state", "restore verify=state -> 1st output", state.map((r) => r.firstOutputMs), cp),
    ms("snapshot.restore.state.ready", "restore verify=state -> ready", state.map((r) => r.readyMs), cp),
    ms("snapshot.restore.map", "restore ram=map (lazy) -> 1st output", m.restores.map.map((r) => r.firstOutputMs), cp),
    ms("snapshot.restore.map.ready", "restore ram=map (lazy) -> ready", m.restores.map.map((r) => r.readyMs), cp),
    { id: "snapshot.save.rss.first", label: "RSS growth during save, 1st", unit: "MiB", subject: { label: subject, values: first(rss) } },
    { id: "snapshot.save.rss", label: "RSS growth during save, later", unit: "MiB", subject: { label: subject, values: later(rss) } }
  ]
}

const list = (values: ReadonlyArray<number>, digits = 0) => values.map((v) => v.toFixed(digits)).join("/")

/** Every run's figures and what the table cannot say, for stderr. */
export const snapshotNote = (m: SnapshotMeasurements): string => {
  const last = m.saves[m.saves.length - 1].report
  return [
    `snapshot: RAM written ${(last.ramBytesWritten / MIB).toFixed(0)} MiB, state file ${last.stateBytes} bytes`,
    `save ${list(m.saves.map((s) => s.report.totalMs))} ms, of it pausing ${list(m.saves.map((s) => s.report.pauseMs), 2)} ms; RSS growth ${list(m.saves.map((s) => s.rssGrowth / MIB))} MiB`,
    `restore verify=all ready ${list(m.restores.all.map((r) => r.readyMs))} ms, 1st output ${list(m.restores.all.map((r) => r.firstOutputMs))} ms; ` +
      `verify=state ready ${list(m.restores.state.map((r) => r.readyMs))} ms, 1st output ${list(m.restores.state.map((r) => r.firstOutputMs))} ms; ` +
      `ram=map ready ${list(m.restores.map.map((r) => r.readyMs))} ms, 1st output ${list(m.restores.map.map((r) => r.firstOutputMs))} ms`,
    `1st verify=all restore: the RAM file is read from disk rather than the page cache (its holes are skipped, SEEK_DATA); ` +
      `ram=map reads pages as the guest touches them, so its cost moves into the guest's run`,
    `save fsyncs its files, plain cp does not (hence the cp+sync row); page cache warm throughout (dropping it needs root)`
  ].map((line) => `bench:   ${line}\n`).join("")
}
