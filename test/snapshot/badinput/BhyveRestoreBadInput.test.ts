import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFileSync, spawn } from "node:child_process"
import { closeSync, linkSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs"
import { availableParallelism, tmpdir } from "node:os"
import { join } from "node:path"
import { besidesBackendNote, bhyveBin, runBhyvectl, startBhyve, waitFor } from "../../support/BhyveProcess.js"
import { guestPath } from "../../support/GuestRun.js"
import {
  chunkJson,
  type Json,
  type JsonObject,
  type Manifest,
  RAM_HEADER_LENGTH,
  type RamBlock,
  ramBlocks,
  readStateFile,
  reseal,
  resealRamHeader,
  STATE_HEADER_LENGTH,
  type StateFile,
  writeRamSparse
} from "./StateFile.js"

/*
 * `bhyve -r` against a real snapshot (bhyvectl --suspend of a running
 * compute.elf guest, -m 64M), copied and damaged or crafted one way per
 * run. Every run must end by itself with status 4, print nothing from the
 * guest, and say in one `bhyve: <file>: ...` line which file is wrong and
 * how (the lines under it only give details: `at $.ier: ...`), never a
 * stack trace. Runs go in parallel: each has its own directory and socket.
 */

const PARALLEL = Math.max(3, availableParallelism() + 1)
/** A refusal takes 0.4-2.5 s; a run still going after this is a guest that started. */
const RUN_TIMEOUT_MS = 25_000

interface Run {
  readonly status: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly timedOut: boolean
}

const runRestore = (statePath: string, socket: string, ram?: "copy"): Promise<Run> =>
  new Promise((resolve) => {
    const mode = ram === undefined ? [] : ["-o", `snapshot.ram=${ram}`]
    const child = spawn(process.execPath, [bhyveBin, "-r", statePath, "-o", `control.socket=${socket}`, ...mode], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    let timedOut = false
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s))
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s))
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, RUN_TIMEOUT_MS)
    child.on("close", (status, signal) => {
      clearTimeout(timer)
      resolve({ status, signal, stdout, stderr, timedOut })
    })
  })

const pool = async <T, R>(items: ReadonlyArray<T>, width: number, work: (item: T, index: number) => Promise<R>): Promise<Array<R>> => {
  const results: Array<R> = []
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++
        results[i] = await work(items[i], i)
      }
    })
  )
  return results
}

interface Case {
  readonly name: string
  /** Writes this case's snapshot into `dir`; returns the state file's path. */
  readonly make: (dir: string) => string
  /** Which file the message must name. */
  readonly names: "state" | "ram"
  /** What the message must say (matched against stderr from the file name on). */
  readonly says: RegExp
  /**
   * snapshot.ram=copy instead of the default lazy restore. A lazily restored
   * guest runs before its RAM is all read: a bad RAM block may then be found
   * after the guest printed (lines that never needed that block), so only
   * copy runs promise no guest output for RAM blocks.
   */
  readonly copy?: boolean
  /** A lazy restore of a bad RAM block: the guest may have printed before the block was reached. */
  readonly guestMayRun?: boolean
}

const STACK_LINE = /^\s+at .*(:\d+:\d+\)?|<anonymous>\)?)$/m
/**
 * The detail lines ManifestInvalid and ChunkInvalid put under their one
 * "bhyve:" line: one per issue with its JSON path, or the one reason a
 * chunk could not be decoded at all.
 */
const DETAIL_LINE = /^(at \$|\(the file was written by format |holds |version \d+ is newer |no migration from |not UTF-8 JSON: |cannot be decoded: )/

/** Why `run` is not a clean refusal of the case, or undefined when it is. */
const judge = (c: Case, run: Run, file: string): string | undefined => {
  const problems: Array<string> = []
  if (run.timedOut) problems.push(`still running after ${RUN_TIMEOUT_MS} ms`)
  else if (run.status !== 4) problems.push(`exit ${run.status ?? run.signal}`)
  if (run.stdout !== "" && c.guestMayRun !== true) problems.push(`the guest ran: ${JSON.stringify(run.stdout.slice(0, 80))}`)
  const lines = run.stderr.split("\n").filter((l) => l !== "")
  const bhyveLines = lines.filter((l) => l.startsWith("bhyve:"))
  if (bhyveLines.length !== 1 || !lines[0]?.startsWith("bhyve:")) problems.push(`expected one leading "bhyve:" line, got ${bhyveLines.length}`)
  const stray = lines.slice(1).filter((l) => !DETAIL_LINE.test(l))
  if (stray.length > 0) problems.push(`stray lines: ${JSON.stringify(stray.slice(0, 3))}`)
  if (STACK_LINE.test(run.stderr) || /internal error|Error:/.test(run.stderr)) problems.push("a stack trace or internal error")
  const prefix = `bhyve: ${file}: `
  if (!run.stderr.startsWith(prefix)) problems.push(`does not start with ${JSON.stringify(prefix)}`)
  else if (!c.says.test(run.stderr.slice(prefix.length))) problems.push(`does not match ${c.says}`)
  return problems.length === 0 ? undefined : `${c.name}: ${problems.join("; ")}\n    stderr: ${JSON.stringify(run.stderr.slice(0, 400))}`
}

describe("bhyve -r refuses damaged and crafted snapshots (a real --suspend of compute.elf, -m 64M)", () => {
  let root = ""
  let state: StateFile
  let ram: Uint8Array
  let ramName = ""
  let basePath = ""
  let blocks: Array<RamBlock> = []
  let caseCount = 0
  let original: ReturnType<typeof startBhyve> | undefined

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "bhyve-badinput-"))
    const socket = join(root, "ctl")
    basePath = join(root, "vm.snap")
    const vm = (original = startBhyve([
      "-c", "1", "-m", "64M", "-l", "com1,stdio",
      "-o", `boot.kernel=${guestPath("compute.elf")}`, "-o", "boot.cmdline=steps=30000000 every=100000",
      "-o", `control.socket=${socket}`, "badinput"
    ]))
    await waitFor("the guest's first lines", () => vm.stdout().split("\n").length > 3)
    const ctl = runBhyvectl(["--vm=badinput", `--socket=${socket}`, `--suspend=${basePath}`])
    expect(besidesBackendNote(ctl.stderr)).toBe("")
    expect(ctl.status).toBe(0)
    expect(await vm.exited).toBe(0)
    state = readStateFile(basePath)
    ramName = state.manifest.ram.file
    ram = new Uint8Array(readFileSync(join(root, ramName)))
    blocks = ramBlocks(state.manifest)
    // The snapshot this sweep needs: every kind of part, RAM with both data and holes.
    // (On KVM the in-kernel irqchip is chunk vm; on the software CPU the PIC, IOAPIC, LAPICs and PIT are devices.)
    const cpuSide = JSON.stringify(state.manifest.machine).includes(`"cpu.backend":"kvm"`) ? ["vm"] : ["device/pic", "device/ioapic", "device/lapic", "device/pit"]
    expect(state.manifest.chunks.map((c) => c.id)).toEqual(
      expect.arrayContaining([...cpuSide, "vcpu/0", "device/com1", "device/rtc", "device/pm", "device/reset-cf9", "device/i8042"])
    )
    expect(blocks.some((b) => b.zero) && blocks.some((b) => !b.zero)).toBe(true)
  }, 60_000)

  afterAll(() => {
    // Only matters if the set-up failed halfway: the guest would otherwise run on for a minute.
    original?.kill("SIGKILL")
    if (root !== "") rmSync(root, { recursive: true, force: true })
  })

  const ramPathIn = (dir: string) => join(dir, ramName)

  /** A case directory holding `stateBytes` as vm.snap and the RAM file (a hard link to the original unless `ramBytes` writes its own). */
  const pair = (dir: string, stateBytes: Uint8Array, ramBytes?: (path: string) => void): string => {
    const statePath = join(dir, "vm.snap")
    writeFileSync(statePath, stateBytes, { mode: 0o600 })
    if (ramBytes === undefined) linkSync(join(root, ramName), ramPathIn(dir))
    else ramBytes(ramPathIn(dir))
    return statePath
  }

  const flipped = (bytes: Uint8Array, at: number, xor = 0x5a) => {
    const out = bytes.slice()
    out[at] ^= xor
    return out
  }

  /** The RAM file with one byte changed, written sparse plus that byte. */
  const ramWithFlip = (at: number) => (path: string) => {
    writeRamSparse(path, ram, state.manifest)
    const fd = openSync(path, "r+")
    try {
      writeSync(fd, Uint8Array.of(ram[at] ^ 0x5a), 0, 1, at)
    } finally {
      closeSync(fd)
    }
  }

  /** The RAM file with its header rewritten (checksum recomputed). */
  const ramWithHeader = (edit: Parameters<typeof resealRamHeader>[1]) => (path: string) => {
    writeRamSparse(path, ram, state.manifest)
    const fd = openSync(path, "r+")
    try {
      writeSync(fd, resealRamHeader(ram, edit), 0, RAM_HEADER_LENGTH, 0)
    } finally {
      closeSync(fd)
    }
  }
  const foreignRam = (snapshotId: string) => ramWithHeader({ snapshotId })

  /** Runs one case in its own directory: undefined for a clean refusal, else what was wrong. */
  const verdictOf = async (c: Case) => {
    const dir = join(root, `case${caseCount++}`)
    mkdirSync(dir)
    const statePath = c.make(dir)
    const run = await runRestore(statePath, join(dir, "ctl"), c.copy === true ? "copy" : undefined)
    const verdict = judge(c, run, c.names === "ram" ? ramPathIn(dir) : statePath)
    rmSync(dir, { recursive: true, force: true })
    return verdict
  }

  /** Runs every case, in parallel, and lists every one that was not a clean refusal. */
  const sweep = async (cases: ReadonlyArray<Case>) => {
    const started = performance.now()
    const failures = await pool(cases, PARALLEL, verdictOf)
    console.log(`${cases.length} runs of bhyve -r in ${((performance.now() - started) / 1000).toFixed(1)} s (${PARALLEL} at a time)`)
    const bad = failures.filter((f) => f !== undefined)
    if (bad.length > 0) console.error(`${bad.length} of ${cases.length} runs were not clean refusals:\n${bad.join("\n")}`)
    expect(bad).toEqual([])
  }

  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")

  it("the untouched copy restores and the guest runs (so the checks below would see a guest that started)", async () => {
    const dir = join(root, "pristine")
    mkdirSync(dir)
    const vm = startBhyve(["-r", pair(dir, state.bytes), "-o", `control.socket=${join(dir, "ctl")}`])
    await waitFor("the restored guest's output", () => vm.stdout().includes("step "), 20_000)
    vm.kill("SIGTERM")
    expect(await vm.exited).toBe(143)
  }, 60_000)

  /** A flipped byte in the state file: every header byte, both sides of every chunk and manifest edge, a stride elsewhere. */
  const stateFlips = (): Array<Case> => {
    const bytes = state.bytes
    const chunks = state.manifest.chunks
    const edges = [...chunks.flatMap((c) => [c.offset, c.offset + c.length]), state.manifestOffset, bytes.length]
    const offsets = new Set<number>()
    for (let at = 0; at < STATE_HEADER_LENGTH; at++) offsets.add(at)
    for (const e of edges) for (const at of [e - 1, e]) if (at >= STATE_HEADER_LENGTH && at < bytes.length) offsets.add(at)
    const stride = Math.ceil(bytes.length / 5)
    for (let at = STATE_HEADER_LENGTH + 37; at < bytes.length; at += stride) offsets.add(at)
    const says = (at: number): RegExp => {
      if (at < 8) return /^not a bhyve-ts snapshot file \(does not start with "BHYVESNP"\)$/m
      if (at < 10) return /^unsupported snapshot format version \d+\.\d+ \(this build reads 1\.x\)$/m
      if (at < STATE_HEADER_LENGTH) return /^checksum mismatch in header: the file is corrupt$/m
      if (at >= state.manifestOffset) return /^checksum mismatch in manifest: the file is corrupt$/m
      const chunk = chunks.find((c) => at >= c.offset && at < c.offset + c.length)
      return new RegExp(`^checksum mismatch in chunk ${esc(chunk?.id ?? "?")}: the file is corrupt$`, "m")
    }
    const cases = [...offsets].sort((a, b) => a - b).map((at): Case => ({
      name: `state byte ${at}`,
      make: (dir) => pair(dir, flipped(bytes, at)),
      names: "state",
      says: says(at)
    }))
    return cases
  }

  /** A flipped byte in the RAM file: its header page, blocks with data, holes. */
  const ramFlips = (): Array<Case> => {
    const headerOffsets = [0, 8, 10, 40, 4064]
    const data = blocks.filter((b) => !b.zero)
    const holes = blocks.filter((b) => b.zero)
    const inside = (b: RamBlock) => [b.fileOffset, b.fileOffset + b.length - 1]
    const hex = (n: number) => `0x${n.toString(16)}`
    const headerCases: Array<Case> = [
      ...headerOffsets.map((at): Case => ({
        name: `ram header byte ${at}`,
        make: (dir) => pair(dir, state.bytes, ramWithFlip(at)),
        names: "ram",
        says: at < 8
          ? /^not a bhyve-ts snapshot file \(does not start with "BHYVERAM"\)$/m
          : at < 10
            ? /^unsupported snapshot format version \d+\.\d+ \(this build reads 1\.x\)$/m
            : /^checksum mismatch in ram header: the file is corrupt$/m
      }))
    ]
    const blockCases: Array<Case> = [
      ...[data[0], data[data.length - 1]].flatMap((b) =>
        inside(b).map((at): Case => ({
          name: `ram block ${b.index} (data) byte ${at}`,
          make: (dir) => pair(dir, state.bytes, ramWithFlip(at)),
          names: "ram",
          says: new RegExp(`^checksum mismatch in ram block ${b.index} \\(gpa ${hex(b.gpa)}\\): the file is corrupt$`, "m")
        }))),
      ...[holes[0], holes[holes.length - 1]].flatMap((b) =>
        [b.fileOffset + Math.floor(b.length / 2) + 13].map((at): Case => ({
          name: `ram block ${b.index} (hole) byte ${at}`,
          make: (dir) => pair(dir, state.bytes, ramWithFlip(at)),
          names: "ram",
          says: new RegExp(`^checksum mismatch in ram block ${b.index} \\(gpa ${hex(b.gpa)}\\): expected all zero bytes: the file is corrupt$`, "m")
        })))
    ]
    // Every block case twice: lazily (the default) and copied.
    const cases: Array<Case> = [
      ...headerCases,
      ...blockCases.map((c) => ({ ...c, name: `${c.name} (lazy)`, guestMayRun: true })),
      ...blockCases.map((c) => ({ ...c, name: `${c.name} (copy)`, copy: true }))
    ]
    return cases
  }

  /** Truncated state files (at every chunk boundary, inside the header, empty); RAM files cut, grown or missing. */
  const resized = (): Array<Case> => {
    const bytes = state.bytes
    const cuts = new Set([0, 11, 95, ...state.manifest.chunks.flatMap((c) => [c.offset, c.offset + c.length]), bytes.length - 1])
    const size = state.manifest.ram.fileSize
    const ramSizes = [RAM_HEADER_LENGTH - 1, size - 1, size + 4096]
    const cases: Array<Case> = [
      ...[...cuts].sort((a, b) => a - b).map((cut): Case => ({
        name: `state file cut to ${cut} bytes`,
        make: (dir) => pair(dir, bytes.subarray(0, cut)),
        names: "state",
        says: cut < STATE_HEADER_LENGTH
          ? new RegExp(`^truncated: header needs 96 bytes at offset 0, but the file is ${cut} bytes$`, "m")
          : new RegExp(`^truncated: manifest needs ${state.manifestLength} bytes at offset ${state.manifestOffset}, but the file is ${cut} bytes$`, "m")
      })),
      ...ramSizes.map((n): Case => ({
        name: `RAM file of ${n} bytes`,
        make: (dir) => pair(dir, bytes, (path) => writeRamSparse(path, ram, state.manifest, n)),
        names: "ram",
        says: new RegExp(`^RAM file does not match the snapshot: the file is ${n} bytes, the manifest says ${size}$`, "m")
      })),
      {
        name: "RAM file missing",
        make: (dir) => {
          const p = join(dir, "vm.snap")
          writeFileSync(p, bytes)
          return p
        },
        names: "ram",
        says: /^RAM file does not match the snapshot: the file is missing$/m
      }
    ]
    return cases
  }

  /** Files crafted behind valid checksums: versions, unknown kinds, values out of their domain, offsets outside the file. */
  const craftedCases = (): Array<Case> => {
    const json = (id: string) => chunkJson(state, id)
    const withField = (id: string, field: string, value: Json) => ({ ...json(id), [field]: value })
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64")
    const crafted = (name: string, edit: Parameters<typeof reseal>[1], says: RegExp, names: Case["names"] = "state"): Case => ({
      name,
      make: (dir) => pair(dir, reseal(state, edit)),
      names,
      says
    })
    const chunk = (id: string, value: Json | Uint8Array) => ({ chunks: { [id]: value } })
    const invalid = (id: string, jsonPath: string) => new RegExp(`^chunk ${esc(id)} is invalid:\\nat ${esc(jsonPath)}: .+$`, "m")
    const manifestEdit = (edit: (m: Manifest) => void) => ({ manifest: edit })
    const hostDevice = { id: "gpu0", kind: "virtio-gpu", config: null }
    const onKvm = state.manifest.chunks.some((c) => c.id === "vm")
    const [c0, c1] = state.manifest.chunks

    /** The CPU side's own hostile values: KVM's vm and vcpu chunks, or the software CPU's vCPU and irqchip devices. */
    const cpuCases = (): Array<Case> => {
      if (!onKvm) {
        const ioapic = json("device/ioapic")
        const table = (ioapic.redirectionTable as Array<JsonObject>).slice()
        const withEntry = (pin: number, low: number) => {
          const entries = table.slice()
          entries[pin] = { ...entries[pin], low }
          return { ...ioapic, redirectionTable: entries }
        }
        const pic = json("device/pic")
        return [
          crafted("vCPU run state 'dancing'", chunk("vcpu/0", withField("vcpu/0", "runState", "dancing")), invalid("vcpu/0", "$.runState")),
          crafted("vCPU with 7 debug registers", chunk("vcpu/0", withField("vcpu/0", "dr", ["0", "0", "0", "0", "0", "0", "0"])), invalid("vcpu/0", "$.dr")),
          crafted("vCPU id 300", chunk("vcpu/0", withField("vcpu/0", "id", 300)), invalid("vcpu/0", "$.id")),
          crafted("IOAPIC entry with reserved delivery mode 3", chunk("device/ioapic", withEntry(2, (3 << 8) | 0x30)), /^chunk device\/ioapic is invalid:\nat \$\.redirectionTable\[2\]: .+$/m),
          crafted("IOAPIC entry delivering vector 5", chunk("device/ioapic", withEntry(4, 0x05)), /^chunk device\/ioapic is invalid:\nat \$\.redirectionTable\[4\]: .+$/m),
          crafted("8259 irq_base 0x21", chunk("device/pic", { ...pic, master: { ...(pic.master as JsonObject), irqBase: 0x21 } }), invalid("device/pic", "$.master.irqBase"))
        ]
      }
      const vm = json("vm")
      const irqchip = (field: string) => new Uint8Array(Buffer.from(String(vm[field]), "base64"))
      /** The vm chunk with one redirection entry (low dword) of the IOAPIC replaced. */
      const ioapicEntry = (pin: number, low: number) => {
        const bytes = irqchip("ioapic")
        new DataView(bytes.buffer).setUint32(8 + 24 + 8 * pin, low, true)
        return { ...vm, ioapic: b64(bytes) }
      }
      const ioapicField = (offset: number, set: (v: DataView, at: number) => void) => {
        const bytes = irqchip("ioapic")
        set(new DataView(bytes.buffer), 8 + offset)
        return { ...vm, ioapic: b64(bytes) }
      }
      const picByte = (field: "picMaster" | "picSlave", index: number, value: number) => {
        const bytes = irqchip(field)
        bytes[8 + index] = value
        return { ...vm, [field]: b64(bytes) }
      }
      const xsaveBytes = Buffer.from(String(json("vcpu/0").xsave), "base64").length
      return [
        crafted("vCPU MP state 99", chunk("vcpu/0", withField("vcpu/0", "mpState", 99)), invalid("vcpu/0", "$.mpState")),
        crafted("vCPU XSAVE area of 4097 bytes", chunk("vcpu/0", withField("vcpu/0", "xsave", b64(new Uint8Array(4097)))), invalid("vcpu/0", "$.xsave")),
        crafted("vCPU XSAVE area larger than this host's", chunk("vcpu/0", withField("vcpu/0", "xsave", b64(new Uint8Array(xsaveBytes + 4096)))),
          new RegExp(`^restore of vCPU 0 failed: EINVAL \\(chunk vcpu/0: saved XSAVE area is ${xsaveBytes + 4096} bytes, this host uses ${xsaveBytes}\\)$`, "m")),
        crafted("vCPU state of another vCPU", chunk("vcpu/0", withField("vcpu/0", "id", 3)), /^restore of vCPU 0 failed: EINVAL \(chunk vcpu\/0 holds vCPU 3's state\)$/m),
        crafted("IOAPIC entry with reserved delivery mode 3", chunk("vm", ioapicEntry(2, (3 << 8) | 0x30)), /^chunk vm is invalid:\nat \$\.ioapic: IOAPIC redirection entry 2 \(0x330\): delivery mode 3 is reserved$/m),
        crafted("IOAPIC entry delivering vector 5", chunk("vm", ioapicEntry(4, 0x05)), /^chunk vm is invalid:\nat \$\.ioapic: IOAPIC redirection entry 4 \(0x5\): vector 5 is below 16, .+$/m),
        crafted("IOAPIC moved off 0xfec00000", chunk("vm", ioapicField(0, (v, at) => v.setBigUint64(at, 0xfee00000n, true))), /^chunk vm is invalid:\nat \$\.ioapic: IOAPIC base address is 0xfee00000, .+$/m),
        crafted("8259 irq_base 0x21", chunk("vm", picByte("picMaster", 5, 0x21)), /^chunk vm is invalid:\nat \$\.picMaster: 8259 irq_base 0x21 is not a multiple of 8 .+$/m),
      ]
    }

    const cases: Array<Case> = [
      // The harness's own check: a state file re-sealed without changes passes every check,
      // so with a foreign RAM file that is the one thing refused.
      {
        name: "re-sealed without changes, with the RAM file of another snapshot",
        make: (dir) => pair(dir, reseal(state), foreignRam("fedcba9876543210")),
        names: "ram",
        says: /^RAM file does not match the snapshot: the file belongs to snapshot fedcba9876543210, .+$/m
      },
      // Versions.
      crafted("format 2.0", { major: 2 }, /^unsupported snapshot format version 2\.0 \(this build reads 1\.x\)$/m),
      crafted("format 1.1 with a manifest field 1.0 does not know", { minor: 1, manifest: (m) => { m.compression = "zstd" } },
        /^invalid manifest:\nat \$\.compression: is unexpected, expected: .+\n\(the file was written by format 1\.1; this build reads up to 1\.0\)$/m),
      crafted("header says 1.0, manifest says 1.1", manifestEdit((m) => { m.formatVersion = { major: 1, minor: 1 } }),
        /^invalid manifest:\nat \$\.formatVersion: 1\.1 disagrees with the header's 1\.0$/m),
      // Unknown kinds.
      crafted("a chunk whose kind this build does not know", manifestEdit((m) => { m.chunks[0].kind = "hpet" }),
        new RegExp(`^chunk ${esc(c0.id)} is invalid:\\nholds hpet/${esc(c0.schema)}, expected ${esc(c0.kind)}/${esc(c0.schema)}$`, "m")),
      crafted("a chunk of a newer version", manifestEdit((m) => { m.chunks.find((c) => c.id === "vcpu/0")!.version = 2 }),
        /^chunk vcpu\/0 is invalid:\nversion 2 is newer than this build reads \(1\)$/m),
      crafted("a device kind this build does not know, with its chunk", {
        extraChunks: [{ id: "device/gpu0", kind: "device", schema: "virtio-gpu", version: 1, payload: new TextEncoder().encode("{}") }],
        manifest: (m) => { m.devices.push(hostDevice) }
      }, /^devices differ: snapshot has \[.*gpu0:virtio-gpu.*\], this build made \[.*\]$/m),
      crafted("a known device id under another kind", manifestEdit((m) => { m.devices.find((d) => d.id === "com1")!.kind = "uart16750" }),
        /^devices differ: snapshot has \[.*com1:uart16750.*\], this build made \[.*com1:uart16550.*\]$/m),
      // Values out of their domain, each caught by the schema with its JSON path.
      crafted("UART IER with reserved bits", chunk("device/com1", withField("device/com1", "ier", 0xff)), invalid("device/com1", "$.ier")),
      crafted("UART divisor latch byte 256", chunk("device/com1", withField("device/com1", "dll", 256)), invalid("device/com1", "$.dll")),
      ...cpuCases(),
      crafted("RTC offset of 1e300 ms (used to hang the machine thread at the first RTC read)", chunk("device/rtc", withField("device/rtc", "offsetMs", 1e300)), invalid("device/rtc", "$.offsetMs")),
      crafted("PM1_CNT without SCI_EN", chunk("device/pm", withField("device/pm", "control", 0)), invalid("device/pm", "$.control")),
      crafted("i8042 waiting for data of a command that takes none", chunk("device/i8042", withField("device/i8042", "awaitingData", 0x20)), invalid("device/i8042", "$.awaitingData")),
      crafted("a chunk that is not JSON", chunk("device/pm", new TextEncoder().encode("{status:0")), /^chunk device\/pm is invalid:\nnot UTF-8 JSON: .+$/m),
      // Offsets and sizes that point outside the file.
      crafted("a chunk offset beyond the end", manifestEdit((m) => { m.chunks[1].offset = 1 << 30 }),
        new RegExp(`^truncated: chunk ${esc(c1.id)} needs \\d+ bytes at offset 1073741824, but the file is \\d+ bytes$`, "m")),
      crafted("a chunk length beyond the end", manifestEdit((m) => { m.chunks[0].length = 2 ** 40 }),
        new RegExp(`^truncated: chunk ${esc(c0.id)} needs 1099511627776 bytes at offset 96, but the file is \\d+ bytes$`, "m")),
      crafted("a chunk offset inside the header", manifestEdit((m) => { m.chunks[2].offset = 10 }), /^invalid manifest:\nat \$\.chunks\[2\]\.offset: 10 lies inside the header$/m),
      crafted("the manifest offset beyond the end", { header: { manifestOffset: 1n << 40n } },
        /^truncated: manifest needs \d+ bytes at offset 1099511627776, but the file is \d+ bytes$/m),
      crafted("a manifest length of 1 GiB", { header: { manifestLength: 1n << 30n } }, /^the manifest is 1073741824 bytes, more than the 16777216 this reader accepts$/m),
      crafted("a RAM region past the end of the RAM file", manifestEdit((m) => { m.ram.regions[0].size += 1 << 20; m.ram.regions[0].blocks.push("zero") }),
        /^invalid manifest:\nat \$\.ram\.regions\[0\]\.size: region ends at \d+, beyond the RAM file size \d+$/m),
      crafted("a RAM file name with a directory", manifestEdit((m) => { m.ram.file = `../${m.ram.file}` }), /^invalid manifest:\nat \$\.ram\.file: .+$/m),
      crafted("machine memory that disagrees with the RAM regions", manifestEdit((m) => { (m.machine as JsonObject).memoryBytes = 32 * 1024 * 1024 }),
        /^RAM file does not match the snapshot: the snapshot has RAM regions \[0x0\+0x4000000\], the target has \[0x0\+0x2000000\]$/m, "ram"),
      crafted("two vCPUs claimed for a one-vCPU machine", manifestEdit((m) => { m.vcpuCount = 2 }), /^manifest says 2 vCPUs but its machine has 1$/m),
      // RAM headers behind a valid checksum.
      {
        name: "RAM file of format 2.0",
        make: (dir) => pair(dir, state.bytes, ramWithHeader({ major: 2 })),
        names: "ram",
        says: /^unsupported snapshot format version 2\.0 \(this build reads 1\.x\)$/m
      },
      {
        name: "RAM file of another snapshot (same size)",
        make: (dir) => pair(dir, state.bytes, foreignRam("0123456789abcdef")),
        names: "ram",
        says: new RegExp(`^RAM file does not match the snapshot: the file belongs to snapshot 0123456789abcdef, the state file is snapshot ${state.manifest.snapshotId}$`, "m")
      },
      // Not files at all.
      {
        name: "a FIFO where the state file should be",
        make: (dir) => {
          const p = join(dir, "vm.snap")
          execFileSync("mkfifo", [p])
          return p
        },
        names: "state",
        says: /^open failed \(not a regular file\)$/m
      },
      {
        name: "a FIFO where the RAM file should be",
        make: (dir) => pair(dir, state.bytes, (p) => execFileSync("mkfifo", [p])),
        names: "ram",
        says: /^RAM file does not match the snapshot: not a regular file$/m
      }
    ]
    return cases
  }
  it("every damaged or crafted copy: exit 4 by itself, no guest output (a lazy restore may run it until the bad RAM block), one bhyve: line naming the file and the fault, no stack trace", async () => {
    const groups = { "state byte flips": stateFlips(), "RAM byte flips": ramFlips(), "truncated or resized": resized(), crafted: craftedCases() }
    for (const [name, cases] of Object.entries(groups)) console.log(`${name}: ${cases.length} cases`)
    // 96 header bytes, every chunk edge, every kind of RAM block, ~55 crafted files.
    expect(groups["state byte flips"].length).toBeGreaterThan(STATE_HEADER_LENGTH + 2 * state.manifest.chunks.length)
    await sweep(Object.values(groups).flat())
  }, 300_000)

  // docs/snapshot-format.md: state is never silently dropped.
  it("a chunk nothing in this build reads is refused, not silently dropped", async () => {
    const dir = join(root, "extra-chunk")
    mkdirSync(dir)
    const payload = new TextEncoder().encode('{"comparators":[]}')
    const statePath = pair(dir, reseal(state, { extraChunks: [{ id: "vm/hpet", kind: "vm", schema: "x86-hpet", version: 1, payload }] }))
    const vm = startBhyve(["-r", statePath, "-o", `control.socket=${join(dir, "ctl")}`])
    // Whichever comes first: bhyve exits, or the guest prints.
    const status = await new Promise<number | null | "ran">((resolve) => {
      const poll = setInterval(() => {
        if (vm.stdout() !== "") resolve("ran")
      }, 20)
      void vm.exited.then((code) => {
        clearInterval(poll)
        resolve(code)
      })
    })
    vm.kill("SIGKILL")
    await vm.exited
    expect(status).toBe(4)
    expect(vm.stderr()).toContain("vm/hpet")
  }, 60_000)

  it("a chunk nested 100000 deep: one bhyve: line, no stack trace", async () => {
    const deep = new TextEncoder().encode("[".repeat(100_000) + "]".repeat(100_000))
    const verdict = await verdictOf({
      name: "a chunk nested 100000 deep",
      make: (dir) => pair(dir, reseal(state, { chunks: { "device/pm": deep } })),
      names: "state",
      says: /^chunk device\/pm is invalid:/m
    })
    expect(verdict).toBeUndefined()
  }, 60_000)
})
