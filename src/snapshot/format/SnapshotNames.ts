import * as path from "node:path"

/**
 * The names a snapshot at `F` uses, all in F's directory so every rename is
 * within one file system:
 *   F                    the state file
 *   F.<id>.ram           its RAM file (a new name per save, so the old pair survives until the new one is complete)
 *   .F.<id>.ram.tmp      the RAM file while being written
 *   .F.<id>.tmp          the state file while being written
 */

export interface SnapshotNames {
  readonly dir: string
  readonly base: string
  readonly statePath: string
  readonly stateTemp: string
  readonly ramFile: string
  readonly ramPath: string
  readonly ramTemp: string
}

export const namesFor = (statePath: string, snapshotId: string): SnapshotNames => {
  const dir = path.dirname(statePath)
  const base = path.basename(statePath)
  const ramFile = `${base}.${snapshotId}.ram`
  return {
    dir,
    base,
    statePath,
    stateTemp: path.join(dir, `.${base}.${snapshotId}.tmp`),
    ramFile,
    ramPath: path.join(dir, ramFile),
    ramTemp: path.join(dir, `.${ramFile}.tmp`)
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** `F.<id>.ram`: a RAM file this writer would create for `base`. */
export const isRamFileOf = (base: string, name: string): boolean => new RegExp(`^${escape(base)}\\.[0-9a-f]{16}\\.ram$`).test(name)

/** `.F.<id>.tmp` or `.F.<id>.ram.tmp`: a temp file a writer for `base` left behind. */
export const isTempOf = (base: string, name: string): boolean => new RegExp(`^\\.${escape(base)}\\.[0-9a-f]{16}(\\.ram)?\\.tmp$`).test(name)
