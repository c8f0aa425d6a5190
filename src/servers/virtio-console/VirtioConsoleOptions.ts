import * as Either from "effect/Either"

/** Where the console's single port goes. */
export type VirtioConsoleBackend =
  | { readonly _tag: "stdio" }
  | { readonly _tag: "socket"; readonly path: string }

export interface VirtioConsoleOptions {
  /** bhyve's port name (`port1` in `port1=/tmp/vm.console`); "port0" when not given. */
  readonly portName: string
  readonly backend: VirtioConsoleBackend
}

const PORT_NAME = /^[A-Za-z0-9_.-]+$/

/**
 * bhyve's `virtio-console,NAME=PATH` (e.g. `port1=/tmp/vm.console`): a
 * UNIX stream socket served at PATH. Also `socket=PATH`, a bare `PATH`,
 * and `stdio`. One port only: bhyve's several `NAME=PATH` ports need
 * VIRTIO_CONSOLE_F_MULTIPORT, which this build does not offer.
 */
export const parseVirtioConsoleOptions = (text: string): Either.Either<VirtioConsoleOptions, string> => {
  const items = text === "" ? [] : text.split(",")
  if (items.length === 0) return Either.left("a backend is required: virtio-console,port1=/path/to/socket (or socket=PATH, or stdio)")
  if (items.length > 1) return Either.left(`one port only (no multiport support in bhyve-ts); got '${text}'`)
  const item = items[0]
  if (item === "stdio") return Either.right({ portName: "port0", backend: { _tag: "stdio" } })
  const eq = item.indexOf("=")
  if (eq < 0) return Either.right({ portName: "port0", backend: { _tag: "socket", path: item } })
  const name = item.slice(0, eq)
  const path = item.slice(eq + 1)
  if (!PORT_NAME.test(name)) return Either.left(`port name '${name}': letters, digits, '_', '.' and '-' only`)
  if (path === "") return Either.left(`${name}=: a socket path is required`)
  if (path === "stdio") return Either.right({ portName: name === "socket" ? "port0" : name, backend: { _tag: "stdio" } })
  return Either.right({ portName: name === "socket" ? "port0" : name, backend: { _tag: "socket", path } })
}
