import * as Effect from "effect/Effect"
import { execFileSync, spawn } from "node:child_process"
import { type FSWatcher, watch } from "node:fs"
import { sendControlRequest } from "../../../src/control/ControlClient.js"
import { readManifest } from "../../../src/snapshot/format/SnapshotReader.js"
import * as SnapshotFsLive from "../../../src/snapshot/format/SnapshotFsLive.js"
import { bhyveBin, bhyvectlBin, waitFor } from "../../support/BhyveProcess.js"
import { guestPath } from "../../support/GuestRun.js"

/** Running `bhyve`, `bhyvectl` and `bhyve -r` as separate processes, for the kill and full-disk tests. */

const references = new Map<string, string>()
/** What compute.elf prints, from the host program; computed once (it blocks this thread while it runs). */
export const referenceOf = (steps: number, every: number): string => {
  const key = `${steps}/${every}`
  const known = references.get(key)
  if (known !== undefined) return known
  const text = execFileSync(guestPath("compute-reference"), [`steps=${steps}`, `every=${every}`], { encoding: "utf8" })
  references.set(key, text)
  return text
}

export const lineCount = (s: string) => s.split("\n").length - 1

export const DONE_LINE = /(^|\n)done [0-9a-f]{16}\n$/

/** A node program of ours running in the background, its output collected. */
export interface Child {
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves once the process has exited and its output is all read: the exit status, null when killed by a signal. */
  readonly closed: Promise<number | null>
  /** performance.now() at its exit, once it has exited. */
  readonly exitedAt: () => number | undefined
  readonly kill: (signal?: NodeJS.Signals) => void
}

export const spawnNode = (bin: string, args: ReadonlyArray<string>): Child => {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] })
  let out = ""
  let err = ""
  let exitedAt: number | undefined
  child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s))
  child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s))
  child.on("exit", () => (exitedAt = performance.now()))
  // "close", not "exit": every byte printed before the end (or the kill) is collected by then.
  const closed = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  return { stdout: () => out, stderr: () => err, closed, exitedAt: () => exitedAt, kill: (signal = "SIGKILL") => void child.kill(signal) }
}

/** `bhyve` running compute.elf with COM1 on its stdout, its control socket at `socket`. */
export const startCompute = (options: {
  readonly name: string
  readonly socket: string
  readonly memory: string
  readonly steps: number
  readonly every: number
}): Child =>
  spawnNode(bhyveBin, [
    "-c", "1", "-m", options.memory, "-l", "com1,stdio",
    "-o", `boot.kernel=${guestPath("compute.elf")}`,
    "-o", `boot.cmdline=steps=${options.steps} every=${options.every}`,
    "-o", `control.socket=${options.socket}`,
    options.name
  ])

export const startBhyvectl = (args: ReadonlyArray<string>): Child => spawnNode(bhyvectlBin, args)

export interface RestoreRun {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** `bhyve -r path` with a new control socket and COM1 on stdout, run to its end. */
export const restoreRun = async (path: string, socket: string, timeoutMs = 30_000): Promise<RestoreRun> => {
  const run = spawnNode(bhyveBin, ["-r", path, "-l", "com1,stdio", "-o", `control.socket=${socket}`])
  const timer = setTimeout(() => run.kill("SIGKILL"), timeoutMs)
  const status = await run.closed
  clearTimeout(timer)
  return { status, stdout: run.stdout(), stderr: run.stderr() }
}

/** A checkpoint asked for from this process (no bhyvectl start-up): how long bhyve says it took. */
export const checkpointNow = (name: string, socket: string, path: string) =>
  Effect.runPromise(sendControlRequest({ name, path: socket }, { _tag: "Checkpoint", path }))

/** The snapshot id at `path` by its manifest (header and manifest checksums), or undefined when none reads. */
export const manifestIdAt = (path: string) =>
  Effect.runPromise(
    readManifest(path).pipe(
      Effect.map((m): string | undefined => m.manifest.snapshotId),
      Effect.orElseSucceed(() => undefined),
      Effect.provide(SnapshotFsLive.layer)
    )
  )

export interface FsEvent {
  readonly atMs: number
  readonly name: string
}

/** Names appearing and disappearing in `dir` (inotify), with the time each was seen; `onEvent` is called synchronously. */
export const watchDir = (dir: string, onEvent?: (event: FsEvent) => void) => {
  const events: Array<FsEvent> = []
  const watcher: FSWatcher = watch(dir, (_type, name) => {
    if (name === null) return
    const event = { atMs: performance.now(), name: String(name) }
    events.push(event)
    onEvent?.(event)
  })
  return { events, close: () => watcher.close() }
}

/** The temp name the writer gives a new RAM file: its creation is the first thing a save does on disk. */
export const ramTempOf = (base: string) => new RegExp(`^\\.${base.replace(/\./g, "\\.")}\\.[0-9a-f]{16}\\.ram\\.tmp$`)

/** Waits for the guest's first `n` lines; fails at once, with what bhyve said, if bhyve ends first. */
export const waitForLines = async (vm: Child, n: number) => {
  let ended = false
  void vm.closed.then(() => (ended = true))
  await waitFor(`${n} lines of guest output`, () => ended || lineCount(vm.stdout()) >= n)
  if (lineCount(vm.stdout()) < n) throw new Error(`bhyve ended before printing ${n} lines: ${vm.stderr() || "(nothing on stderr)"}`)
}
