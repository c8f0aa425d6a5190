import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/*
 * The lazy-restore handler (native/uffd_lazy_restore.cc) on its own, in a
 * child process (a bad block ends the process): 8 MiB of anonymous memory
 * registered over a RAM file of 1 MiB blocks, then read from JavaScript,
 * whose loads fault and wait for the handler. A file cut short or one that
 * cannot be read is found when its block is needed: exit 4, one line naming
 * the file and the block, and the reading thread never gets the memory.
 */

const addon = fileURLToPath(new URL("../../build/Release/bhyve_kvm.node", import.meta.url))
const BLOCK = 1 << 20
const BLOCKS = 8
const HEADER = 4096

/** A RAM file: header page, then blocks 0-3 holding data, 4-7 zero; its digests as the manifest would give them. */
const ramFile = (dir: string) => {
  const bytes = new Uint8Array(HEADER + BLOCKS * BLOCK)
  for (let i = 0; i < 4 * BLOCK; i++) bytes[HEADER + i] = (i * 7 + 3) & 0xff
  const path = join(dir, "vm.ram")
  writeFileSync(path, bytes)
  const data = new Uint8Array(BLOCKS)
  const digests = new Uint8Array(BLOCKS * 32)
  for (let b = 0; b < BLOCKS; b++) {
    const block = bytes.subarray(HEADER + b * BLOCK, HEADER + (b + 1) * BLOCK)
    data[b] = block.some((x) => x !== 0) ? 1 : 0
    digests.set(createHash("sha256").update(block).digest(), b * 32)
  }
  return { path, data, digests }
}

/** Runs `body` (JavaScript, with `n` the addon, `start(fd)` starting a session over 8 MiB of RAM `v`) in a child node. */
const child = (dir: string, body: string) => {
  const { path, data, digests } = ramFile(dir)
  const script = `
    const n = require(${JSON.stringify(addon)})
    const fs = require("node:fs")
    const buffer = n.mapAnonymous(${BLOCKS * BLOCK})
    const v = new Uint8Array(buffer)
    const start = (fd) => n.lazyRestoreStart({
      ramFd: fd, regions: [{ bytes: v, gpa: 0x1000000, fileOffset: ${HEADER} }], blockSize: ${BLOCK},
      data: Uint8Array.from(${JSON.stringify([...data])}),
      digests: Buffer.from(${JSON.stringify(Buffer.from(digests).toString("hex"))}, "hex"),
      verify: true, failurePrefix: "bhyve: " + ${JSON.stringify(path)} + ": ", dieAfter: -1, backgroundDelayMs: 0 })
    const path = ${JSON.stringify(path)}
    ${body}
  `
  const run = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 30_000 })
  return { path, status: run.status, stdout: run.stdout, stderr: run.stderr }
}

describe("the lazy-restore handler thread", () => {
  it("fills every block as the file has it, on demand and in the background, then unregisters", () => {
    const run = child(mkdtempSync(join(tmpdir(), "bhyve-handler-")), `
      const id = start(fs.openSync(path, "r"))
      const expected = fs.readFileSync(path).subarray(${HEADER})
      const same = Buffer.compare(Buffer.from(v), expected) === 0
      const wait = () => { const s = n.lazyRestoreStats(id); if (!s.complete) return setTimeout(wait, 5); console.log(JSON.stringify({ same, ...s })); n.lazyRestoreStop(id) }
      wait()
    `)
    expect(run.stderr).toBe("")
    expect(run.status).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ same: true, blocks: BLOCKS, registered: false, complete: true })
  })

  it("a RAM file cut short: exit 4 naming the file and the block it could not read, before the reader gets it", () => {
    const run = child(mkdtempSync(join(tmpdir(), "bhyve-handler-")), `
      fs.truncateSync(path, ${HEADER + 2 * BLOCK + 100})
      start(fs.openSync(path, "r"))
      console.log("read", v[${2 * BLOCK + 5000}])
    `)
    expect(run.status).toBe(4)
    expect(run.stdout).toBe("")
    expect(run.stderr).toBe(
      `bhyve: ${run.path}: truncated: ram block 2 (gpa 0x1200000) needs ${BLOCK} bytes at offset ${HEADER + 2 * BLOCK}, but the file is ${HEADER + 2 * BLOCK + 100} bytes\n`
    )
  })

  it("a RAM file that cannot be read: exit 4 naming the file, the block and the errno", () => {
    const run = child(mkdtempSync(join(tmpdir(), "bhyve-handler-")), `
      start(fs.openSync(require("node:path").dirname(path), "r"))
      console.log("read", v[5000])
    `)
    expect(run.status).toBe(4)
    expect(run.stdout).toBe("")
    expect(run.stderr).toBe(`bhyve: ${run.path}: ram block 0 (gpa 0x1000000): read failed (EISDIR)\n`)
  })
})
