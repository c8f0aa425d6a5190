import * as fs from "node:fs"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { writeAll } from "./WriteFd.js"
import { describeError, SerialBackendError, type SerialBackendHandle } from "./SerialBackend.js"

/**
 * Output to a file, created (0600: console output can hold secrets) or
 * truncated. A file has no input. The mode is not forced on an existing
 * file: the path may be a device such as /dev/null.
 */
export const file = (path: string): Effect.Effect<SerialBackendHandle, SerialBackendError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => open(path),
      catch: (error) => new SerialBackendError({ path, reason: describeError(error) })
    }),
    (handle) => Effect.sync(handle.close)
  )

const open = (path: string): SerialBackendHandle => {
  const fd = fs.openSync(path, "w", 0o600)
  let closed = false
  return {
    kind: "file",
    write: (bytes) => {
      // A full disk loses console output, not the VM.
      if (!closed) writeAll(fd, bytes)
    },
    onInput: () => () => {},
    close: () => {
      if (closed) return
      closed = true
      try {
        fs.closeSync(fd)
      } catch {
        // Nothing useful to do with a failed close of an output file.
      }
    }
  }
}
