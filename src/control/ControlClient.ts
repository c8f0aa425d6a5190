/**
 * The bhyvectl side of the control socket: find the VM's socket (by name,
 * with the server's directory search, or an explicit path), send one
 * request on a fresh connection, wait for its one reply, hang up.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { connect } from "node:net"
import { ConnectFailed, ControlTimeout, NoSuchVm, ProtocolError } from "./ControlClientError.js"
import type { ControlFailure } from "./ControlFailure.js"
import {
  type ControlReply,
  decodeReplyLine,
  defaultDeadlineMs,
  encodeRequestLine,
  MAX_REPLY_LINE_BYTES
} from "./ControlProtocol.js"
import type { ControlRequest, RequestTag } from "./ControlRequest.js"
import type { ControlResult, ResultFor } from "./ControlResult.js"
import {
  type ControlPathEnvironment,
  type ControlPathError,
  controlPathEnvironment,
  type ControlSocketTarget,
  locateControlSocket
} from "./ControlSocketPath.js"
import { makeLineFramer } from "./LineFramer.js"

export { ConnectFailed, ControlTimeout, NoSuchVm, ProtocolError } from "./ControlClientError.js"

export interface ControlClientOptions {
  /** How long to wait for the reply; by default a little longer than bhyve's own deadline for the request. */
  readonly timeoutMs?: number | undefined
  readonly environment?: ControlPathEnvironment | undefined
}

/** Everything a request can fail with: bhyve's refusal, or a problem reaching bhyve at all. */
export type ControlClientError = ControlFailure | NoSuchVm | ControlTimeout | ProtocolError | ConnectFailed | ControlPathError

/** Slack so that bhyve's "timed out" reply, sent at its deadline, beats ours. */
const CLIENT_SLACK_MS = 5_000

const errnoCode = (e: unknown): string =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : String(e)

const isResultFor = <T extends RequestTag>(result: ControlResult, tag: T): result is ResultFor<T> => result._tag === tag

/** Sends `line` on a new connection to `path` and reads the first reply line. */
const exchange = (
  target: ControlSocketTarget,
  path: string,
  searched: ReadonlyArray<string>,
  line: string
): Effect.Effect<ControlReply, NoSuchVm | ProtocolError | ConnectFailed> =>
  Effect.async((resume) => {
    const socket = connect(path)
    const framer = makeLineFramer(MAX_REPLY_LINE_BYTES)
    let connected = false
    let settled = false
    const finish = (outcome: Effect.Effect<ControlReply, NoSuchVm | ProtocolError | ConnectFailed>) => {
      if (settled) return
      settled = true
      socket.destroy()
      resume(outcome)
    }
    const protocolError = (reason: string) => finish(Effect.fail(new ProtocolError({ path, reason })))
    const onLine = (text: string) =>
      Either.match(decodeReplyLine(text), { onLeft: protocolError, onRight: (reply) => finish(Effect.succeed(reply)) })

    socket.once("connect", () => {
      connected = true
      socket.write(line)
    })
    socket.on("data", (chunk: Buffer) => {
      const { lines, overflow } = framer.push(chunk)
      if (lines.length > 0) onLine(lines[0])
      else if (overflow) protocolError(`reply longer than ${MAX_REPLY_LINE_BYTES} bytes`)
    })
    socket.once("end", () => {
      const last = framer.finish()
      if (last !== undefined) onLine(last)
      else protocolError("bhyve closed the connection without replying")
    })
    socket.on("error", (e) => {
      const code = errnoCode(e)
      if (!connected && (code === "ENOENT" || code === "ECONNREFUSED")) {
        finish(Effect.fail(new NoSuchVm({ name: target.name, path, searched, stale: code === "ECONNREFUSED" })))
      } else if (connected) {
        protocolError(`the connection failed before a reply arrived (${code})`)
      } else {
        finish(Effect.fail(new ConnectFailed({ path, reason: code })))
      }
    })
    socket.once("close", () => protocolError("bhyve closed the connection without replying"))
    return Effect.sync(() => {
      settled = true
      socket.destroy()
    })
  })

/**
 * Asks the VM for `request` and returns bhyve's result for it, or fails
 * with bhyve's refusal (RequestFailed, Busy, BadRequest) or with why bhyve
 * could not be asked.
 */
export const sendControlRequest = <Req extends ControlRequest>(
  target: ControlSocketTarget,
  request: Req,
  options: ControlClientOptions = {}
): Effect.Effect<ResultFor<Req["_tag"]>, ControlClientError> =>
  Effect.gen(function*() {
    const line = yield* encodeRequestLine(request)
    const located = yield* locateControlSocket(target, options.environment ?? controlPathEnvironment())
    if (located.found === undefined) {
      return yield* new NoSuchVm({ name: target.name, path: located.searched[0], searched: located.searched, stale: false })
    }
    const path = located.found
    const timeoutMs = options.timeoutMs ?? defaultDeadlineMs(request) + CLIENT_SLACK_MS
    const reply = yield* exchange(target, path, located.searched, line).pipe(
      Effect.timeoutFail({ duration: timeoutMs, onTimeout: () => new ControlTimeout({ request: request._tag, path, timeoutMs }) })
    )
    const result: ControlResult = yield* reply
    const asked: Req["_tag"] = request._tag
    if (isResultFor(result, asked)) return result
    return yield* new ProtocolError({ path, reason: `asked for ${asked}, got a ${result._tag} result` })
  })
