import { spawn } from "node:child_process"
import { bhyveBin, waitFor } from "../../support/BhyveProcess.js"
import { guestPath } from "../../support/GuestRun.js"

/**
 * `bhyve` running memwrite.elf (test/guests/memwrite.c) as a process, every
 * line it prints stamped with when it arrived: the background checkpoint
 * tests read the guest's progress (rounds), its stalls (gaps between tick
 * lines) and any `corrupt` line from them.
 */

export interface StampedLine {
  readonly atMs: number
  readonly text: string
}

export interface MemwriteProcess {
  readonly lines: () => ReadonlyArray<StampedLine>
  readonly stderr: () => string
  /** Exit status, null when killed by a signal. */
  readonly closed: Promise<number | null>
  readonly kill: (signal?: NodeJS.Signals) => void
}

export const CORRUPT = /^(corrupt at .*|memwrite: .*|exception .*)$/

/** `node bhyve args` with COM1 on stdout; `env` adds to the environment (fault injection). */
export const spawnBhyve = (args: ReadonlyArray<string>, env: Record<string, string> = {}): MemwriteProcess => {
  const child = spawn(process.execPath, [bhyveBin, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } })
  const lines: Array<StampedLine> = []
  let partial = ""
  let err = ""
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    const atMs = performance.now()
    const parts = (partial + s).split("\n")
    partial = parts.pop() ?? ""
    for (const text of parts) lines.push({ atMs, text })
  })
  child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s))
  const closed = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  return { lines: () => lines, stderr: () => err, closed, kill: (signal = "SIGKILL") => void child.kill(signal) }
}

export interface MemwriteOptions {
  readonly backend: string
  readonly memory: string
  readonly sizeMib: number
  /** Tick period in us; a serial line costs several port exits, ~6 ms on this kvm_pvm host. */
  readonly everyUs: number
  readonly socket: string
  readonly name: string
  readonly env?: Record<string, string>
}

export const startMemwrite = (o: MemwriteOptions): MemwriteProcess =>
  spawnBhyve([
    "-c", "1", "-m", o.memory, "-l", "com1,stdio",
    "-o", `cpu.backend=${o.backend}`,
    "-o", `boot.kernel=${guestPath("memwrite.elf")}`,
    "-o", `boot.cmdline=size=${o.sizeMib} every=${o.everyUs}`,
    "-o", `control.socket=${o.socket}`,
    o.name
  ], o.env)

/** `bhyve -r path`, COM1 on stdout, a new control socket. */
export const startRestore = (path: string, socket: string): MemwriteProcess =>
  spawnBhyve(["-r", path, "-l", "com1,stdio", "-o", `control.socket=${socket}`])

/** The last `round <r>` printed so far, 0 before the first. */
export const lastRound = (p: MemwriteProcess): number => {
  const lines = p.lines()
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^round (\d+)$/.exec(lines[i].text)
    if (m !== null) return Number(m[1])
  }
  return 0
}

export const corruptLine = (p: MemwriteProcess): string | undefined => p.lines().find((l) => CORRUPT.test(l.text))?.text

/** Waits until the guest has printed `round n` (or something fatal, or bhyve ended). */
export const waitForRound = async (p: MemwriteProcess, n: number, timeoutMs: number) => {
  let ended = false
  void p.closed.then(() => (ended = true))
  await waitFor(`round ${n}`, () => ended || corruptLine(p) !== undefined || lastRound(p) >= n, timeoutMs)
  const bad = corruptLine(p)
  if (bad !== undefined) throw new Error(`the guest printed: ${bad}`)
  if (lastRound(p) < n) throw new Error(`bhyve ended before round ${n}: ${p.stderr() || "(nothing on stderr)"}`)
}

/** Longest gap between consecutive tick lines (host arrival times) within [fromMs, toMs]. */
export const longestTickGap = (p: MemwriteProcess, fromMs: number, toMs: number): number => {
  const ticks = p.lines().filter((l) => l.text.startsWith("tick ") && l.atMs >= fromMs && l.atMs <= toMs)
  let gap = 0
  for (let i = 1; i < ticks.length; i++) gap = Math.max(gap, ticks[i].atMs - ticks[i - 1].atMs)
  return gap
}
