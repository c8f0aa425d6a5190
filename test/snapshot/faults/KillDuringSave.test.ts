import { describe, expect, it } from "@effect/vitest"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  checkpointNow,
  type Child,
  DONE_LINE,
  type FsEvent,
  manifestIdAt,
  ramTempOf,
  referenceOf,
  restoreRun,
  startBhyvectl,
  startCompute,
  waitForLines,
  watchDir
} from "./ProcessHarness.js"

/**
 * `bhyve` (512 MiB, compute.elf) killed with SIGKILL at a sweep of points
 * through a `bhyvectl --suspend` / `--checkpoint`. Whatever the point, the
 * path then holds either nothing that restores (`bhyve -r` exits 4 saying
 * why) or a snapshot that restores to the rest of the reference output;
 * with an older snapshot there, it restores to the old or the new one,
 * never fails.
 *
 * Kill points are anchored on the save's own files as they appear (inotify):
 * a doubling sweep of delays after its first file (the RAM temp file) covers
 * the long RAM phase, and kills on the spot when the RAM file is renamed,
 * when the state temp file appears and at the commit rename hit the short
 * phases, whose few milliseconds a timer alone would hit only by luck.
 */

const MEMORY = "512M"
const STEPS = 1_000_000
const EVERY = 20_000
const BASE = "vm.snap"

const escaped = BASE.replace(/\./g, "\\.")
const RAM_TEMP = ramTempOf(BASE)
const RAM_FINAL = new RegExp(`^${escaped}\\.[0-9a-f]{16}\\.ram$`)
const STATE_TEMP = new RegExp(`^\\.${escaped}\\.[0-9a-f]{16}\\.tmp$`)

type Phase = "writing RAM" | "RAM durable, state not yet written" | "writing state" | "committed" | "replied"

/** What a kill is timed from: one of the files a save creates, in the order it creates them. */
type Anchor = "first file" | "RAM file renamed" | "state file created" | "commit rename"

interface KillPoint {
  readonly anchor: Anchor
  readonly delayMs: number
}

const anchored = (anchor: Anchor, name: string, olderRam: string | undefined): boolean => {
  switch (anchor) {
    case "first file":
      return RAM_TEMP.test(name)
    case "RAM file renamed":
      return RAM_FINAL.test(name) && name !== olderRam
    case "state file created":
      return STATE_TEMP.test(name)
    case "commit rename":
      return name === BASE
  }
}

/** Where a save was, from the names seen so far. */
const phaseOf = (names: ReadonlyArray<string>, olderRam: string | undefined): Phase | undefined => {
  if (names.includes(BASE)) return "committed"
  if (names.some((n) => STATE_TEMP.test(n))) return "writing state"
  if (names.some((n) => RAM_FINAL.test(n) && n !== olderRam)) return "RAM durable, state not yet written"
  if (names.some((n) => RAM_TEMP.test(n))) return "writing RAM"
  return undefined
}

/**
 * Where the save was when bhyve died, from what it left in the directory
 * (not from timers: on a loaded host the watcher's events and the kill's
 * timer can both run late). The writer's files appear in a fixed order, and
 * nothing cleans up after a SIGKILL.
 */
const phaseAfterKill = (dir: string, newId: string | undefined, olderId: string | undefined, olderRam: string | undefined): Phase => {
  if (newId !== undefined && newId !== olderId) return "committed"
  return phaseOf(readdirSync(dir).filter((n) => n !== BASE), olderRam) ?? "writing RAM"
}

interface PhaseStart {
  readonly phase: Phase
  readonly atMs: number
}

/** A save's timeline: when each phase started, from its first file. */
const phaseStarts = (events: ReadonlyArray<FsEvent>, t0: number, end: number, olderRam: string | undefined) => {
  const starts: Array<PhaseStart> = []
  for (const [i, e] of events.entries()) {
    const phase = phaseOf(events.slice(0, i + 1).map((x) => x.name), olderRam)
    if (phase !== undefined && starts.at(-1)?.phase !== phase) starts.push({ phase, atMs: e.atMs - t0 })
  }
  starts.push({ phase: "replied", atMs: end - t0 })
  return starts
}

/** Timings of a first save (every page of guest RAM read for the first time) and of a later one, measured first. */
interface Measured {
  readonly coldMs: number
  readonly warmMs: number
  readonly coldPhases: ReadonlyArray<PhaseStart>
  readonly warmPhases: ReadonlyArray<PhaseStart>
}

let measured: Measured | undefined

/**
 * The kill points for a save measured to take `saveMs` with its RAM phase
 * lasting `ramMs`: delays doubling from 0 through the RAM phase, a kill the
 * moment each later file appears (and 1 ms after), then points past the
 * end (up to 12x the measured save, for a loaded host), for a reply to beat the kill.
 */
const killPoints = (saveMs: number, ramMs: number): ReadonlyArray<KillPoint> => {
  const points: Array<KillPoint> = [{ anchor: "first file", delayMs: 0 }]
  for (let d = 5; d < ramMs; d *= 4) points.push({ anchor: "first file", delayMs: d })
  points.push(
    { anchor: "RAM file renamed", delayMs: 0 },
    { anchor: "state file created", delayMs: 0 },
    { anchor: "state file created", delayMs: 1 },
    { anchor: "commit rename", delayMs: 0 }
  )
  for (let d = Math.ceil(saveMs * 1.5); d <= saveMs * 12; d *= 2) points.push({ anchor: "first file", delayMs: d })
  return points
}

const newDir = (tag: string) => mkdtempSync(join(tmpdir(), `bhyve-kill-${tag}-`))

class SaveNeverStarted extends Error {}

/** What a killed save left: where it was when bhyve died, and what the path held just after. */
interface Killed {
  readonly mode: "suspend" | "checkpoint"
  readonly point: KillPoint
  /** From the save's first file to the kill, as this process saw them. */
  readonly killedAfterMs: number | undefined
  readonly phase: Phase
  readonly bhyveStatus: number | null
  readonly bhyvectlStatus: number | null
  readonly dir: string
  readonly path: string
  readonly printed: string
  readonly olderId: string | undefined
  readonly idAtPath: string | undefined
}

/** Boots bhyve, starts the save with bhyvectl, SIGKILLs bhyve at `point`. */
const killDuringSave = async (mode: "suspend" | "checkpoint", point: KillPoint, withOlder: boolean, index: number): Promise<Killed> => {
  const dir = newDir(`${mode}-${index}`)
  const name = `kill-${mode}-${index}-${process.pid}`
  const socket = join(dir, "ctl")
  const path = join(dir, BASE)
  const vm = startCompute({ name, socket, memory: MEMORY, steps: STEPS, every: EVERY })
  let ctl: Child | undefined
  try {
    await waitForLines(vm, 1)
    let olderId: string | undefined
    let olderRam: string | undefined
    if (withOlder) {
      const result = await checkpointNow(name, socket, path)
      olderId = await manifestIdAt(path)
      expect(olderId).toBeDefined()
      olderRam = String(result.details.ramPath).split("/").at(-1)
    }
    let t0: number | undefined
    let armed = false
    let killedAt: number | undefined
    const kill = () => {
      killedAt = performance.now()
      vm.kill("SIGKILL")
    }
    let printedBeforeSave = ""
    const watcher = watchDir(dir, (e) => {
      if (t0 === undefined && RAM_TEMP.test(e.name)) {
        t0 = e.atMs
        printedBeforeSave = vm.stdout()
      }
      if (armed || !anchored(point.anchor, e.name, olderRam)) return
      armed = true
      if (point.delayMs === 0) kill()
      else setTimeout(kill, point.delayMs)
    })
    ctl = startBhyvectl([`--vm=${name}`, `--socket=${socket}`, `--${mode}=${path}`])
    const bhyveStatus = await vm.closed
    const bhyvectlStatus = await ctl.closed
    watcher.close()
    if (t0 === undefined) throw new SaveNeverStarted(`bhyve ${bhyveStatus}, bhyvectl ${bhyvectlStatus}: ${ctl.stderr()}`)
    // A save of a guest that had already printed its last line would prove little about the rest of the run.
    if (DONE_LINE.test(printedBeforeSave)) throw new SaveNeverStarted("the guest had finished its work before the save began")
    if (killedAt === undefined) expect(bhyveStatus, "not killed: only a suspend that finished first ends bhyve by itself").toBe(0)
    if (bhyvectlStatus !== 0) expect(ctl.stderr()).toMatch(/^bhyvectl: /)
    const idAtPath = await manifestIdAt(path)
    const replied = bhyvectlStatus === 0
    if (replied) expect(idAtPath).toBeDefined()
    return {
      mode,
      point,
      killedAfterMs: killedAt === undefined ? undefined : Math.round((killedAt - t0) * 10) / 10,
      phase: replied ? "replied" : phaseAfterKill(dir, idAtPath, olderId, olderRam),
      bhyveStatus,
      bhyvectlStatus,
      dir,
      path,
      printed: vm.stdout(),
      olderId,
      idAtPath
    }
  } finally {
    vm.kill("SIGKILL")
    ctl?.kill("SIGKILL")
  }
}

type Outcome = "nothing restores" | "restores the new snapshot" | "restores the older snapshot"

/** `bhyve -r` on what the kill left: nothing that restores (only with no older snapshot, before the commit), or a run to the reference's end. */
const checkRestore = async (k: Killed): Promise<Outcome> => {
  const restored = await restoreRun(k.path, join(k.dir, "ctl2"))
  const reference = referenceOf(STEPS, EVERY)
  const at = `killed ${k.point.delayMs} ms after the ${k.point.anchor} (${k.phase})`
  if (restored.status === 4) {
    expect(k.olderId, `${at}: with an older snapshot the path must restore (${restored.stderr})`).toBeUndefined()
    expect(k.phase, at).not.toBe("committed")
    expect(k.phase, at).not.toBe("replied")
    expect(restored.stderr, at).toContain(BASE)
    expect(restored.stdout, at).toBe("")
    // Not a snapshot that reads and then fails to restore: nothing at the path passes even the manifest's checks.
    expect(k.idAtPath, at).toBeUndefined()
    return "nothing restores"
  }
  expect(restored.status, `${at}: ${restored.stderr}`).toBe(1)
  expect(restored.stdout.length, at).toBeGreaterThan(0)
  expect(reference.endsWith(restored.stdout), at).toBe(true)
  expect(restored.stdout, at).toMatch(DONE_LINE)
  const outcome = k.idAtPath !== undefined && k.idAtPath === k.olderId ? "restores the older snapshot" : "restores the new snapshot"
  if (outcome === "restores the new snapshot" && k.mode === "suspend") {
    // The guest never ran after a suspend's pause: what it printed and what the copy prints are the whole run.
    expect(k.printed + restored.stdout, at).toBe(reference)
  }
  if (k.phase !== "committed" && k.phase !== "replied") {
    // Killed before the commit rename: only the older snapshot can be there.
    expect(outcome, at).toBe("restores the older snapshot")
  }
  return outcome
}

interface Trial {
  readonly killed: Killed
  readonly outcome: Outcome
}

/**
 * Kills at each point in turn, until bhyvectl gets its answer before the
 * kill. Each restore check runs while the next point's bhyve boots and
 * saves: a kill's phase is read from the directory afterwards, so the extra
 * load only moves where a kill lands, never what is checked.
 */
const sweep = async (scenario: string, mode: "suspend" | "checkpoint", withOlder: boolean, points: ReadonlyArray<KillPoint>) => {
  // Now, not in the middle of a kill: the watcher's events and the kill's timer must not wait behind it.
  referenceOf(STEPS, EVERY)
  const checks: Array<Promise<Trial>> = []
  for (const [i, point] of points.entries()) {
    // On a loaded host the guest may reach its end before bhyvectl is even up (or the save begins): try that point again, once.
    const killed = await killDuringSave(mode, point, withOlder, i).catch((e: unknown) =>
      e instanceof SaveNeverStarted ? killDuringSave(mode, point, withOlder, i + 100) : Promise.reject(e))
    const check = checkRestore(killed).then((outcome) => {
      // Each kill leaves a sparse 512 MiB RAM file or two behind.
      rmSync(killed.dir, { recursive: true, force: true })
      return { killed, outcome }
    })
    // Awaited below; until then a failure must not surface as an unhandled rejection.
    check.catch(() => undefined)
    checks.push(check)
    if (killed.phase === "replied" && point.anchor === "first file" && point.delayMs > 0) break
  }
  const done = await Promise.all(checks)
  const line = ({ killed: k, outcome }: Trial) =>
    `  ${k.point.delayMs} ms after the ${k.point.anchor} (${k.killedAfterMs ?? "-"} ms after the first file): ${k.phase}; ` +
    `bhyve ${k.bhyveStatus}, bhyvectl ${k.bhyvectlStatus}; ${outcome}`
  console.log(`${scenario}:\n${done.map(line).join("\n")}`)
  return done
}

const phasesHit = (done: ReadonlyArray<Trial>) => new Set(done.map((t) => t.killed.phase))

describe("bhyve killed with SIGKILL at points through a save of a 512 MiB guest", () => {
  it("measure: how long a save of 512 MiB takes, phase by phase (a first save and a later one)", async () => {
    const dir = newDir("measure")
    const name = `kill-measure-${process.pid}`
    const socket = join(dir, "ctl")
    const path = join(dir, BASE)
    const vm = startCompute({ name, socket, memory: MEMORY, steps: 10 * STEPS, every: EVERY })
    try {
      await waitForLines(vm, 1)
      const watcher = watchDir(dir)
      const timed = async (olderRam: string | undefined) => {
        const from = watcher.events.length
        const result = await checkpointNow(name, socket, path)
        const end = performance.now()
        const events = watcher.events.slice(from)
        const t0 = events.find((e) => RAM_TEMP.test(e.name))?.atMs ?? end
        return { result, total: end - t0, phases: phaseStarts(events, t0, end, olderRam) }
      }
      const cold = await timed(undefined)
      const warm = await timed(String(cold.result.details.ramPath).split("/").at(-1))
      watcher.close()
      measured = { coldMs: cold.total, warmMs: warm.total, coldPhases: cold.phases, warmPhases: warm.phases }
      const show = (p: ReadonlyArray<PhaseStart>) => p.map((x) => `${x.phase} @${x.atMs.toFixed(1)}`).join(", ")
      console.log(
        `512 MiB checkpoint (compute.elf, ${cold.result.details.ramBytesWritten} bytes of RAM non-zero):\n` +
          `  first save: bhyve says ${cold.result.durationMs.toFixed(1)} ms (pause ${Number(cold.result.details.pauseMs).toFixed(2)} ms); ` +
          `from its first file to the reply ${cold.total.toFixed(1)} ms: ${show(cold.phases)}\n` +
          `  second save: bhyve says ${warm.result.durationMs.toFixed(1)} ms; from its first file to the reply ${warm.total.toFixed(1)} ms: ${show(warm.phases)}`
      )
      expect(cold.result.details.ramBytesWritten).toBeGreaterThan(0)
    } finally {
      vm.kill("SIGKILL")
      await vm.closed
      rmSync(dir, { recursive: true, force: true })
    }
  }, 30_000)

  const ramPhaseMs = (phases: ReadonlyArray<PhaseStart> | undefined, fallback: number) =>
    phases?.find((p) => p.phase === "RAM durable, state not yet written")?.atMs ?? fallback

  it("--suspend, nothing at the path before: after the kill the path restores nothing (exit 4) or the new snapshot, and the two outputs make the reference", async () => {
    const points = killPoints(measured?.coldMs ?? 150, ramPhaseMs(measured?.coldPhases, 100))
    const done = await sweep("suspend (the first save of its bhyve), no older snapshot", "suspend", false, points)
    const outcomes = new Set(done.map((t) => t.outcome))
    expect(outcomes.has("nothing restores")).toBe(true)
    expect(outcomes.has("restores the new snapshot")).toBe(true)
    expect(phasesHit(done).has("writing RAM")).toBe(true)
    expect(done.at(-1)?.killed.phase).toBe("replied")
  }, 90_000)

  it("--checkpoint over an older snapshot: after the kill the path restores the older or the new snapshot, never nothing", async () => {
    const points = killPoints(measured?.warmMs ?? 40, ramPhaseMs(measured?.warmPhases, 20))
    const done = await sweep("checkpoint (the second save of its bhyve) over an older snapshot", "checkpoint", true, points)
    const outcomes = new Set(done.map((t) => t.outcome))
    expect(outcomes.has("nothing restores")).toBe(false)
    expect(outcomes.has("restores the older snapshot")).toBe(true)
    expect(outcomes.has("restores the new snapshot")).toBe(true)
    // The anchored kills reach past the RAM phase (which phases exactly depends on how fast the kill lands).
    expect([...phasesHit(done)].some((p) => p !== "writing RAM")).toBe(true)
  }, 90_000)
})
