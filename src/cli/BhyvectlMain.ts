/**
 * The `bhyvectl` command: parse, send one request to the VM's bhyve, report.
 * Exit status 0 only when bhyve replied with success; 1 for anything else
 * (a usage error, no such VM, bhyve's refusal or failure, no reply), after
 * printing "bhyvectl: <why>" on stderr, as bhyvectl(8) exits non-zero on
 * failure.
 */
import * as Effect from "effect/Effect"
import { type ControlClientOptions, sendControlRequest } from "../control/ControlClient.js"
import type { ControlPathEnvironment } from "../control/ControlSocketPath.js"
import { parseBhyvectlArgs } from "./BhyvectlArgs.js"
import { formatStatus, formatStatusJson } from "./BhyvectlStatus.js"

const EXIT_OK = 0
const EXIT_FAILURE = 1

/** The outside world, replaceable so tests can run bhyvectl in-process. */
export interface BhyvectlIo {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
  readonly cwd: string
  readonly environment?: ControlPathEnvironment | undefined
  /** Overrides the client's reply timeout (by default a little over bhyve's own deadline). */
  readonly timeoutMs?: number | undefined
}

const processIo = (): BhyvectlIo => ({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd()
})

export const bhyvectlMain = async (argv: ReadonlyArray<string>, io: BhyvectlIo = processIo()): Promise<number> => {
  const fail = (message: string) => {
    io.stderr(`bhyvectl: ${message}\n`)
    return EXIT_FAILURE
  }
  const parsed = parseBhyvectlArgs(argv, io.cwd)
  if (parsed._tag === "Left") return fail(`${parsed.left.message} (see bhyvectl --help)`)
  const invocation = parsed.right
  if (invocation._tag === "Help") {
    io.stdout(invocation.text)
    return EXIT_OK
  }
  const options: ControlClientOptions = { timeoutMs: io.timeoutMs, environment: io.environment }
  const reply = await Effect.runPromise(
    Effect.either(sendControlRequest({ name: invocation.vm, path: invocation.socket }, invocation.request, options))
  )
  if (reply._tag === "Left") return fail(reply.left.message)
  const result = reply.right
  // bhyvectl(8) is silent on success; only --status has something to say.
  if (result._tag === "Status") io.stdout(invocation.json ? formatStatusJson(result) : formatStatus(result))
  return EXIT_OK
}
