import * as Either from "effect/Either"
import type { SerialBackend, SerialPort } from "../machine/MachineConfig.js"

/**
 * bhyve(8)'s `-l lpcdev[,conf]`: devices behind the LPC bridge. bhyve turns
 * `-l com1,stdio` into the configuration variable `lpc.com1.path=stdio`; so
 * does this module, and `parseSerialBackend` reads that variable's value.
 *
 * Backends: `stdio` (the terminal bhyve runs in), `socket:PATH` (a Unix
 * socket bhyve-ts listens on), `file:PATH`, or a bare path containing '/'
 * (bhyve means a tty such as /dev/nmdm0A; here any path is opened as a file,
 * which covers ttys too). A bare word is refused rather than created as a
 * file, so "com1,stdout" is caught as a typo.
 */

export const serialPorts: ReadonlyArray<SerialPort> = ["com1", "com2"]

/** LPC devices bhyve has that this build refuses, and why. */
const unsupportedLpcDevices: Readonly<Record<string, string>> = {
  bootrom: "UEFI boot ROM is not supported; use -o boot.kernel=PATH",
  bootvars: "UEFI boot ROM is not supported; use -o boot.kernel=PATH",
  com3: "com3 is not supported in bhyve-ts (only com1 and com2)",
  com4: "com4 is not supported in bhyve-ts (only com1 and com2)",
  fwcfg: "fw_cfg is not supported in bhyve-ts (it serves a UEFI boot ROM)",
  "pc-testdev": "pc-testdev is not supported in bhyve-ts",
  tpm: "TPM emulation is not supported in bhyve-ts"
}

/** What `bhyve -l help` prints. */
export const lpcHelp = serialPorts.join("\n") + "\n"

const BACKEND_FORMS = "expected stdio, socket:PATH, file:PATH or a path containing '/'"

export const isSerialPort = (name: string): name is SerialPort => (serialPorts as ReadonlyArray<string>).includes(name)

/** The value of `lpc.comN.path` (the part of `-l comN,...` after the comma). */
export const parseSerialBackend = (value: string): Either.Either<SerialBackend, string> => {
  if (value === "") return Either.left(`missing serial backend (${BACKEND_FORMS})`)
  if (value === "stdio") return Either.right({ _tag: "stdio" })
  for (const tag of ["socket", "file"] as const) {
    if (value.startsWith(`${tag}:`)) {
      const path = value.slice(tag.length + 1)
      return path === "" ? Either.left(`missing ${tag} path after '${tag}:'`) : Either.right({ _tag: tag, path })
    }
  }
  if (value.includes("/")) return Either.right({ _tag: "file", path: value })
  return Either.left(`unknown serial backend '${value}' (${BACKEND_FORMS})`)
}

/** Why an LPC device name (case-insensitive, as in bhyve) cannot be configured, if it cannot. */
export const lpcDeviceProblem = (device: string): string | undefined => {
  const name = device.toLowerCase()
  if (isSerialPort(name)) return undefined
  return unsupportedLpcDevices[name] ?? `unknown LPC device '${device}' (expected ${serialPorts.join(" or ")})`
}

/** `-l comN,backend` as the configuration variable bhyve would set. */
export const parseLpcArgument = (
  text: string
): Either.Either<{ readonly key: string; readonly value: string }, string> => {
  const comma = text.indexOf(",")
  const device = comma < 0 ? text : text.slice(0, comma)
  if (device === "") return Either.left(`missing LPC device (expected ${serialPorts.join(" or ")})`)
  const problem = lpcDeviceProblem(device)
  if (problem !== undefined) return Either.left(problem)
  const port = device.toLowerCase()
  if (comma < 0) return Either.left(`missing serial backend for ${port} (${BACKEND_FORMS})`)
  return Either.right({ key: `lpc.${port}.path`, value: text.slice(comma + 1) })
}
