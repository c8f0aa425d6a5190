import { constants } from "node:os"
import type { BackgroundWriteFaults } from "../kernel/WriteTracking.js"

/**
 * Test-only fault injection into a background checkpoint of a bhyve
 * process, from the environment (a test cannot reach into the machine
 * thread otherwise): BHYVE_TEST_CHECKPOINT_FAULTS is a comma-separated list
 * of key=value, e.g. "failWriteAt=3,errno=ENOSPC" or "blockDelayMs=20":
 * - failWriteAt=N, errno=NAME: the Nth (0-based) pwrite of RAM fails
 * - blockDelayMs=N: the writer sleeps before each block (a slow disk)
 * - writerDieAt=N: the writer thread stops at block N
 * - handlerDieAfter=N: the write-protect handler thread stops after N faults
 * Unknown keys and bad values are ignored: nothing here can break a real run.
 */
export const CHECKPOINT_FAULTS_ENV = "BHYVE_TEST_CHECKPOINT_FAULTS"

export interface CheckpointFaults {
  readonly write: BackgroundWriteFaults
  readonly handlerDieAfter?: number
}

const count = (value: string | undefined): number | undefined => {
  const n = Number(value)
  return value !== undefined && value !== "" && Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

export const checkpointFaults = (spec: string | undefined = process.env[CHECKPOINT_FAULTS_ENV]): CheckpointFaults => {
  const pairs = new Map((spec ?? "").split(",").map((kv) => {
    const at = kv.indexOf("=")
    return at < 0 ? [kv.trim(), ""] as const : [kv.slice(0, at).trim(), kv.slice(at + 1).trim()] as const
  }))
  const errnoName = pairs.get("errno") ?? "EIO"
  const errnos: Record<string, number> = constants.errno
  const errno = errnos[errnoName]
  return {
    write: {
      failWriteAt: count(pairs.get("failWriteAt")),
      errno: errno === undefined ? constants.errno.EIO : errno,
      blockDelayMs: count(pairs.get("blockDelayMs")),
      writerDieAt: count(pairs.get("writerDieAt"))
    },
    handlerDieAfter: count(pairs.get("handlerDieAfter"))
  }
}
