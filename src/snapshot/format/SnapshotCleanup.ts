import * as Effect from "effect/Effect"
import * as path from "node:path"
import { namesFor } from "./SnapshotNames.js"
import { isRamFileOf, isTempOf } from "./SnapshotNames.js"
import { SnapshotFs, type SnapshotFsService } from "./SnapshotFs.js"
import { readManifest } from "./SnapshotReader.js"

/**
 * Removing what crashed or replaced saves leave behind. Best effort: a file
 * that cannot be removed is left, never an error, since the snapshot itself is
 * fine. Assumes one writer per snapshot path at a time.
 */

const removeMatching = (fs: SnapshotFsService, statePath: string, matches: (name: string) => boolean) =>
  Effect.gen(function* () {
    const { base, dir } = namesFor(statePath, "0".repeat(16))
    const names = yield* fs.readdir(dir).pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))
    const removed: Array<string> = []
    for (const name of names) {
      if (!matches(name) || !(isTempOf(base, name) || isRamFileOf(base, name))) continue
      const p = path.join(dir, name)
      const ok = yield* fs.unlink(p).pipe(Effect.as(true), Effect.orElseSucceed(() => false))
      if (ok) removed.push(p)
    }
    return removed
  })

/** Temp files (`.F.<id>.tmp`, `.F.<id>.ram.tmp`) of writers that died mid-save. */
export const removeStaleTemps = (fs: SnapshotFsService, statePath: string) =>
  removeMatching(fs, statePath, (name) => isTempOf(path.basename(statePath), name))

/**
 * Stale temps, and every `F.<id>.ram` that F does not reference (left by a
 * crash between the RAM and state renames). Does nothing to RAM files unless F
 * reads back, since only then is it known which one is live.
 */
export const removeOrphans = (statePath: string) =>
  Effect.gen(function* () {
    const fs = yield* SnapshotFs
    const { manifest } = yield* readManifest(statePath)
    return yield* removeMatching(fs, statePath, (name) => name !== manifest.ram.file)
  })
