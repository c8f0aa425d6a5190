/**
 * A Linux guest's `bhyve` process as the Linux tests watch it: the command
 * line that boots the kit's kernel and initramfs (test/linux/README.md), COM1
 * as timed lines, what the kernel must never print, and the ext2 disk image
 * Linux's virtio-blk driver reads.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { bhyveBin } from "./BhyveProcess.js"
import type { LinuxGuestArtifacts } from "./LinuxGuest.js"

/** What the kernel must never say on a healthy machine. */
export const KERNEL_TROUBLE = /WARNING:|BUG:|soft lockup|clocksource .* unstable|read-back delay .*marking unstable|Call Trace/
/**
 * The watchdog's own "system busy, skip this round" line: two back-to-back
 * reads of its reference clock were far apart (the vCPU thread was held up
 * on the host), so it checks nothing this time and marks nothing. Linux
 * prints it at info level; it is not a complaint about a clock.
 */
export const WATCHDOG_SKIPPED_ROUND = /clocksource: timekeeping watchdog on CPU\d+: \S+ wd-wd read-back delay of \d+ns$/
/** The clocksource watchdog's verdict on the TSC, checked by its own measure after a restore. */
export const WATCHDOG_VERDICT = /timekeeping watchdog .*Marking clocksource 'tsc' as unstable/

/**
 * How far apart the watchdog found the ACPI PM timer and the TSC over one
 * interval (|wd_nsec - cs_nsec|, ns), from the lines that follow its verdict;
 * undefined when it printed none.
 */
export const watchdogSkewNs = (log: string): number | undefined => {
  const m = /'acpi_pm' wd_nsec: (\d+)[\s\S]*?'tsc' cs_nsec: (\d+)/.exec(log)
  return m === null ? undefined : Math.abs(Number(m[1]) - Number(m[2]))
}

export interface Line {
  readonly text: string
  /** Host milliseconds from the process's spawn to the arrival of the line's newline. */
  readonly atMs: number
}

/** A `bhyve` process whose COM1 output is kept as lines (CR stripped), each with its arrival time; stderr's lines too. */
export class Bhyve {
  readonly lines: Array<Line> = []
  stderr = ""
  readonly stderrLines: Array<Line> = []
  readonly exited: Promise<number | null>
  /** performance.now() at the spawn: the zero of this process's `atMs`, comparable between processes. */
  readonly spawnedAt = performance.now()
  private partial = ""
  private readonly child: ChildProcess

  constructor(readonly args: ReadonlyArray<string>) {
    this.child = spawn(process.execPath, [bhyveBin, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    this.child.stdout!.setEncoding("utf8").on("data", (s: string) => {
      const atMs = performance.now() - this.spawnedAt
      const parts = (this.partial + s).split("\n")
      this.partial = parts.pop()!
      for (const p of parts) this.lines.push({ text: p.replace(/\r$/, ""), atMs })
    })
    this.child.stderr!.setEncoding("utf8").on("data", (s: string) => {
      const atMs = performance.now() - this.spawnedAt
      const complete = (this.stderr + s).split("\n").slice(0, -1)
      for (const text of complete.slice(this.stderrLines.length)) this.stderrLines.push({ text, atMs })
      this.stderr += s
    })
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)))
  }

  /** COM1 so far, lines joined with "\n" (an unfinished last line included). */
  log(): string {
    return this.lines.map((l) => l.text).join("\n") + (this.partial === "" ? "" : `\n${this.partial}`)
  }

  find(pattern: RegExp): Line | undefined {
    return this.lines.find((l) => pattern.test(l.text))
  }

  /** The first line matching `pattern`, waiting for it at most `timeoutMs`; fails with the log's tail. */
  async waitLine(pattern: RegExp, timeoutMs: number): Promise<Line> {
    const deadline = Date.now() + timeoutMs
    let exitCode: number | null | undefined
    void this.exited.then((c) => (exitCode = c))
    for (;;) {
      const line = this.find(pattern)
      if (line !== undefined) return line
      if (exitCode !== undefined || Date.now() > deadline) {
        const why = exitCode !== undefined ? `bhyve exited (${exitCode})` : `${timeoutMs} ms passed`
        throw new Error(`no line matching ${pattern} (${why}); COM1 ends:\n${this.log().slice(-2000)}\nstderr:\n${this.stderr.slice(-1000)}`)
      }
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  /** Exit status, killing the process if it has not exited within `timeoutMs`. */
  async exit(timeoutMs: number): Promise<number | null | "timeout"> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)))
    const code = await Promise.race([this.exited, timeout])
    clearTimeout(timer)
    if (code === "timeout") this.kill()
    return code
  }

  /** The process id, for a look at /proc. */
  get pid(): number | undefined {
    return this.child.pid
  }

  /** Still running: neither exited nor killed. */
  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  kill(): void {
    if (this.running()) this.child.kill("SIGKILL")
  }

  /** `count N` lines: N and arrival time. */
  counts(): Array<{ readonly n: number; readonly atMs: number }> {
    return this.lines.flatMap((l) => {
      const m = /^count (\d+)$/.exec(l.text)
      return m === null ? [] : [{ n: Number(m[1]), atMs: l.atMs }]
    })
  }
}

/** The first line of `vm`'s log that the kernel should not have printed, or undefined. */
export const trouble = (vm: Bhyve): string | undefined => vm.lines.find((l) => KERNEL_TROUBLE.test(l.text))?.text

export interface LinuxBootOptions {
  readonly name: string
  readonly controlSocket: string
  readonly cpus: 1 | 2
  /** -m; 512M unless given. */
  readonly memory?: string
  readonly kernel: "vmlinux" | "bzImage"
  /** What init does: bhyvets.run= (test/linux/InitScript.ts). */
  readonly run: string
  /** More kernel command line (bhyvets.file=...). */
  readonly cmdline?: string
  /** More bhyve flags (-s ...), before the VM name. */
  readonly flags?: ReadonlyArray<string>
}

/** `bhyve`'s arguments that boot the kit's Linux on the software CPU with COM1 on stdout. */
export const linuxBootArgs = (a: LinuxGuestArtifacts, o: LinuxBootOptions): ReadonlyArray<string> => [
  "-c", String(o.cpus), "-m", o.memory ?? "512M", "-l", "com1,stdio", "-o", "cpu.backend=soft",
  "-o", `boot.kernel=${o.kernel === "vmlinux" ? a.vmlinux : a.bzImage}`,
  "-o", `boot.initrd=${a.initramfs}`,
  "-o", `boot.cmdline=console=ttyS0 bhyvets.run=${o.run}${o.cmdline === undefined ? "" : ` ${o.cmdline}`}`,
  "-o", `control.socket=${o.controlSocket}`,
  ...(o.flags ?? []),
  o.name
]

/**
 * An 8 MiB ext2 image at `image` holding `files` (paths relative to its
 * root), made with e2fsprogs' `mke2fs -d` from a tree next to it; the
 * error names what went wrong.
 */
export const makeExt2Image = (image: string, files: Readonly<Record<string, Uint8Array | string>>): { readonly error?: string } => {
  const root = join(dirname(image), "ext2-root")
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
  }
  const mkfs = spawnSync("mke2fs", ["-q", "-t", "ext2", "-d", root, image, "8M"], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` }
  })
  if (mkfs.error !== undefined) return { error: `mke2fs (e2fsprogs): ${mkfs.error.message}` }
  if (mkfs.status !== 0 || mkfs.stderr !== "") return { error: `mke2fs exited ${mkfs.status}: ${mkfs.stderr}` }
  return {}
}

/** Starts `make` on first use and hands every later caller the same result. */
export const once = <A>(make: () => Promise<A>): (() => Promise<A>) => {
  let p: Promise<A> | undefined
  return () => (p ??= make())
}

/**
 * The `bhyve` processes and scratch directories (control sockets,
 * snapshots, disk images) of one test file: `release`, in its afterAll,
 * kills what still runs and removes the directories.
 */
export class LinuxTestRuns {
  private readonly running = new Set<Bhyve>()
  private readonly dirs: Array<string> = []
  private serial = 0

  /** `prefix` names the scratch directories (bhyve-PREFIX-XXXXXX in the temp directory). */
  constructor(private readonly prefix: string) {}

  scratch(): string {
    const dir = mkdtempSync(join(tmpdir(), `bhyve-${this.prefix}-`))
    this.dirs.push(dir)
    return dir
  }

  /** A VM name no other process of this machine's test runs uses. */
  vmName(what: string): string {
    return `linux-${what}-${process.pid}-${this.serial++}`
  }

  start(args: ReadonlyArray<string>): Bhyve {
    const vm = new Bhyve(args)
    this.running.add(vm)
    return vm
  }

  async release(): Promise<void> {
    for (const vm of this.running) vm.kill()
    await Promise.all([...this.running].map((vm) => vm.exited))
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true })
  }
}
