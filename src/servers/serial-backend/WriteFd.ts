import * as fs from "node:fs"
import { errorCode, describeError } from "./SerialBackend.js"

/** How many times a write that would block is retried before its bytes are dropped. */
const EAGAIN_RETRIES = 1000

/**
 * Writes all of `bytes` to `fd` synchronously (the caller is a vCPU exit
 * handler, possibly on a worker thread whose process.stdout is asynchronous).
 * A non-blocking fd that stays full drops the rest rather than stalling the
 * guest. Returns why it stopped, or undefined when everything was written.
 */
export const writeAll = (fd: number, bytes: Uint8Array): string | undefined => {
  let offset = 0
  let retries = 0
  while (offset < bytes.length) {
    try {
      offset += fs.writeSync(fd, bytes, offset, bytes.length - offset)
    } catch (error) {
      if (errorCode(error) === "EAGAIN" && retries++ < EAGAIN_RETRIES) continue
      return describeError(error)
    }
  }
  return undefined
}
