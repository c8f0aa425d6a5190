import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { SerialBackend } from "../../machine/MachineConfig.js"
import { file } from "./FileBackend.js"
import type { SerialBackendError, SerialBackendHandle } from "./SerialBackend.js"
import { socket } from "./SocketBackend.js"
import { stdio, type StdioOptions } from "./StdioBackend.js"

export type { SerialBackendHandle } from "./SerialBackend.js"
export { SerialBackendError } from "./SerialBackend.js"
export { file } from "./FileBackend.js"
export { memory, makeMemory, type MemoryBackend } from "./MemoryBackend.js"
export { socket } from "./SocketBackend.js"
export { stdio, type StdioOptions, type StdinLike } from "./StdioBackend.js"

/** Opens the backend a machine config names (`-l com1,stdio` and friends). */
export const fromConfig = (
  config: SerialBackend,
  stdioOptions: StdioOptions = {}
): Effect.Effect<SerialBackendHandle, SerialBackendError, Scope.Scope> => {
  switch (config._tag) {
    case "stdio":
      return stdio(stdioOptions)
    case "file":
      return file(config.path)
    case "socket":
      return socket(config.path)
  }
}
