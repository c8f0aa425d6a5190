import type { Row, Samples } from "./Benchmark.js"
import type { BhyveSave } from "./BhyveCheckpoint.js"
import type { QemuSave } from "./QemuMigration.js"
import type { RestoreSample } from "./RestoreTiming.js"
import { type StallSample, stallAboveQuiet } from "./StallProbe.js"

/** CheckpointBench's measurements as report rows, one set per bhyve-ts CPU, QEMU beside each. */

/** bhyve-ts's figures on one CPU; `unmeasured` says why there are none. */
export interface BhyveSide {
  readonly backend: string
  readonly saves: ReadonlyArray<StallSample<BhyveSave>>
  /** By `snapshot.ram` mode; a string says why that mode was not measured. */
  readonly restores: ReadonlyArray<{ readonly mode: string; readonly samples: ReadonlyArray<RestoreSample> | string }>
  readonly unmeasured?: string
}

export interface QemuSide {
  readonly accel: string
  readonly stopAndCopy: ReadonlyArray<StallSample<QemuSave>>
  readonly background: ReadonlyArray<StallSample<QemuSave>>
  readonly restores: ReadonlyArray<RestoreSample>
}

/** Target: the longest stall at most this far above the guest's quiet jitter, ms. */
export const STALL_TARGET_MS = 10
export const SAVE_TARGET_RATIO = 1.0
export const RESTORE_TARGET_RATIO = 0.5

const list = (values: ReadonlyArray<number | undefined>) => values.map((v) => (v === undefined ? "?" : v.toFixed(0))).join("/")
const gaps = (s: ReadonlyArray<StallSample<unknown>>) =>
  `stall ${list(s.map((x) => x.stallMs))} ms (from ${list(s.map((x) => x.stallFromMs))} ms into saves of ${list(s.map((x) => x.elapsedMs))} ms) ` +
  `over quiet ${list(s.map((x) => x.quietMs))} ms`

const RESTORE_NOTE = "spawn of the restoring process to the guest's first whole line (snapshot.verify at its default, all); " +
  "QEMU loads its stop-and-copy file with -incoming \"exec:cat FILE\" and is sent cont; each restored guest then completes a round (every page checked), untimed"

export const checkpointRows = (bhyve: ReadonlyArray<BhyveSide>, qemu: QemuSide | string): ReadonlyArray<Row> => {
  const qemuSamples = (what: string, values: (q: QemuSide) => ReadonlyArray<number>): Samples =>
    typeof qemu === "string" ? { label: `QEMU ${what}`, values: [], notMeasured: qemu } : { label: `QEMU ${what} (${qemu.accel})`, values: values(qemu) }
  const qemuNote = typeof qemu === "string" ? "" :
    `; QEMU stop-and-copy ${gaps(qemu.stopAndCopy)}, total ${list(qemu.stopAndCopy.map((s) => s.result.totalMs))} ms; ` +
    `background-snapshot ${gaps(qemu.background)}, total ${list(qemu.background.map((s) => s.result.totalMs))} ms, ` +
    `QEMU's own downtime ${list(qemu.background.map((s) => s.result.qemuDowntimeMs))} ms`
  return bhyve.flatMap((side): ReadonlyArray<Row> => {
    const subject = (values: ReadonlyArray<number>): Samples =>
      side.unmeasured === undefined ? { label: `bhyve CLI (${side.backend})`, values } : { label: `bhyve CLI (${side.backend})`, values: [], notMeasured: side.unmeasured }
    const stall = subject(side.saves.map(stallAboveQuiet))
    const saveNote = `bhyve-ts ${gaps(side.saves)}, downtime (vCPUs paused) ${list(side.saves.map((s) => s.result.downtimeMs))} ms, ` +
      `total ${list(side.saves.map((s) => s.result.totalMs))} ms${qemuNote}`
    const restoreRows = side.restores.map((r, i): Row => ({
      id: `restore.${r.mode}.${side.backend}`,
      label: `restore: spawn -> guest running (ram=${r.mode}, ${side.backend})`,
      unit: "ms",
      subject: typeof r.samples === "string" ? { label: `bhyve -r (${side.backend})`, values: [], notMeasured: r.samples } : { label: `bhyve -r (${side.backend})`, values: r.samples.map((s) => s.runningMs) },
      baseline: qemuSamples("-incoming", (q) => q.restores.map((s) => s.runningMs)),
      targetRatio: RESTORE_TARGET_RATIO,
      note: i > 0 ? undefined : RESTORE_NOTE
    }))
    return [
      {
        id: `checkpoint.stall.${side.backend}`,
        label: `checkpoint: guest's longest stall above quiet (${side.backend})`,
        unit: "ms",
        subject: stall,
        baseline: qemuSamples("bg-snapshot", (q) => q.background.map(stallAboveQuiet)),
        targetMax: STALL_TARGET_MS,
        note: `longest gap between tick lines (every 0.5 ms) overlapping the checkpoint minus the longest over the 1 s before it; ${saveNote}`
      },
      {
        id: `checkpoint.stall.${side.backend}.stop-copy`,
        label: `checkpoint: same stall vs QEMU stop-and-copy (${side.backend})`,
        unit: "ms",
        subject: stall,
        baseline: qemuSamples("stop-and-copy", (q) => q.stopAndCopy.map(stallAboveQuiet))
      },
      {
        id: `checkpoint.total.${side.backend}`,
        label: `checkpoint: request -> durable snapshot (${side.backend})`,
        unit: "ms",
        subject: subject(side.saves.map((s) => s.result.totalMs)),
        baseline: qemuSamples("stop+migrate+fsync+cont", (q) => q.stopAndCopy.map((s) => s.result.totalMs)),
        targetRatio: SAVE_TARGET_RATIO,
        note: `the Checkpoint request bhyvectl sends, sent from the bench over the control socket (bhyvectl's own start-up not included, as QMP's is not), ` +
          `to bhyve's reply that the snapshot is durable; downtime (vCPUs paused, bhyve's report) ${list(side.saves.map((s) => s.result.downtimeMs))} ms`
      },
      {
        id: `checkpoint.downtime.${side.backend}`,
        label: `checkpoint: vCPUs paused, as reported (${side.backend})`,
        unit: "ms",
        subject: subject(side.saves.flatMap((s) => (s.result.downtimeMs === undefined ? [] : [s.result.downtimeMs]))),
        baseline: qemuSamples("bg-snapshot downtime", (q) => q.background.flatMap((s) => (s.result.qemuDowntimeMs === undefined ? [] : [s.result.qemuDowntimeMs])))
      },
      ...restoreRows
    ]
  })
}
