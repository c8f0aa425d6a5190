import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import type { GuestRam } from "../../../src/kernel/MemoryLayout.js"
import { SnapshotFs } from "../../../src/snapshot/format/SnapshotFs.js"
import * as SnapshotFsLive from "../../../src/snapshot/format/SnapshotFsLive.js"
import { readSnapshot } from "../../../src/snapshot/format/SnapshotReader.js"
import { writeSnapshot } from "../../../src/snapshot/format/SnapshotWriter.js"
import { freshRam, manifestInput, MiB, sampleChunks } from "./fixtures.js"

/*
 * Save/restore throughput against cp. Run with SNAPSHOT_BENCH=1:
 *   SNAPSHOT_BENCH=1 npx vitest run test/snapshot/format/throughput
 * 256 MiB guest, 64 MiB of it non-zero (every 4th MiB), 1 MiB blocks.
 */

const TOTAL = 256 * MiB

const makeRam = (): GuestRam => {
  const bytes = new Uint8Array(TOTAL)
  for (let mib = 0; mib < 256; mib += 4) bytes.subarray(mib * MiB, (mib + 1) * MiB).forEach((_, i, a) => (a[i] = (i * 13 + mib) & 0xff))
  return { size: TOTAL, regions: [{ slot: 0, gpa: 0, size: TOTAL, bytes }] }
}

/** The live fs with fsync as a no-op: the page-cache cost alone, what plain cp measures. */
const noFsync = Layer.sync(SnapshotFs, () => ({ ...SnapshotFsLive.make(), fsync: () => Effect.void }))

const timeAsync = async <A>(f: () => Promise<A>): Promise<[A, number]> => {
  const t = performance.now()
  const a = await f()
  return [a, performance.now() - t]
}

const time = <A>(f: () => A): [A, number] => {
  const t = performance.now()
  const a = f()
  return [a, performance.now() - t]
}

const rate = (bytes: number, ms: number) => `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s (${ms.toFixed(0)} ms)`

describe("snapshot throughput", () => {
  it.skipIf(!process.env.SNAPSHOT_BENCH)("256 MiB guest with 64 MiB touched, against cp", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "snapbench-"))
    try {
      const ram = makeRam()
      const F = path.join(dir, "vm.snap")
      const save = (layer: Layer.Layer<SnapshotFs>) =>
        Effect.runPromise(Effect.flatMap(sampleChunks, (chunks) => writeSnapshot({ path: F, manifest: manifestInput, chunks, ram })).pipe(Effect.provide(layer)))
      const restore = (verify: "all" | "state") =>
        Effect.runSync(
          Effect.flatMap(readSnapshot(F), (s) => s.restoreRam(freshRam(ram), { verify })).pipe(Effect.provide(SnapshotFsLive.layer))
        )
      await save(SnapshotFsLive.layer) // warm up
      const [r1, saveNoSync] = await timeAsync(() => save(noFsync))
      const [r2, saveSync] = await timeAsync(() => save(SnapshotFsLive.layer))
      const [, restoreAll] = time(() => restore("all"))
      const [, restoreState] = time(() => restore("state"))
      expect(r1.ramBytesWritten).toBe(64 * MiB)

      const src = path.join(dir, "dense.img")
      writeFileSync(src, ram.regions[0].bytes)
      execFileSync("sync")
      const [, cp] = time(() => execFileSync("cp", [src, path.join(dir, "copy1.img")]))
      const [, cpSync] = time(() => {
        execFileSync("cp", [src, path.join(dir, "copy2.img")])
        execFileSync("sync", [path.join(dir, "copy2.img")])
      })
      const [, cpSparse] = time(() => execFileSync("cp", ["--sparse=always", src, path.join(dir, "copy3.img")]))
      const ramFile = statSync(r2.ramPath)
      console.log(
        [
          `guest RAM 256 MiB, 64 MiB non-zero; RAM file ${ramFile.size} bytes, ${(ramFile.blocks * 512) / MiB} MiB on disk`,
          `save, no fsync        ${rate(TOTAL, saveNoSync)} of guest RAM`,
          `save, with fsyncs     ${rate(TOTAL, saveSync)}`,
          `restore verify=all    ${rate(TOTAL, restoreAll)}`,
          `restore verify=state  ${rate(TOTAL, restoreState)}`,
          `cp (dense 256 MiB)    ${rate(TOTAL, cp)}`,
          `cp + sync             ${rate(TOTAL, cpSync)}`,
          `cp --sparse=always    ${rate(TOTAL, cpSparse)}`
        ].join("\n")
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
