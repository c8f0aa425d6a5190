/**
 * The wire format between `bhyve` and `bhyvectl`: newline-delimited JSON
 * over a UNIX stream socket.
 *
 *   client → server  {"v":1,"request":{"_tag":"Checkpoint","path":"/vm/snap"}}\n
 *   server → client  {"v":1,"ok":true,"result":{"_tag":"Checkpoint","path":...}}\n
 *                or  {"v":1,"ok":false,"error":{"_tag":"Busy","running":"Suspend"}}\n
 *
 * Every request line gets exactly one reply line, in the order the requests
 * were sent; a connection may carry several requests one after another
 * (bhyvectl sends one and hangs up). `v` is in every message so either side
 * can refuse a peer from a different version instead of misreading it.
 * Request lines are capped at MAX_REQUEST_LINE_BYTES; anything that is not a
 * well-formed request gets a BadRequest reply saying why.
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { BadRequest, ControlFailure } from "./ControlFailure.js"
import { ControlRequest, RequestTag } from "./ControlRequest.js"
import { ControlResult } from "./ControlResult.js"

export const PROTOCOL_VERSION = 1
/** Requests are tiny; a longer line is garbage or an attack, not a request. */
export const MAX_REQUEST_LINE_BYTES = 64 * 1024
/** Replies can carry a machine description, so they get more room. */
export const MAX_REPLY_LINE_BYTES = 16 * 1024 * 1024

const Version = Schema.Literal(PROTOCOL_VERSION)

export const RequestMessage = Schema.Struct({ v: Version, request: ControlRequest })

export const ReplyMessage = Schema.Union(
  Schema.Struct({ v: Version, ok: Schema.Literal(true), result: ControlResult }),
  Schema.Struct({ v: Version, ok: Schema.Literal(false), error: ControlFailure })
)

/** One reply: the request's result, or why it was not carried out. */
export type ControlReply = Either.Either<ControlResult, ControlFailure>

/** Reasons quote peer input; keep them to a readable size. */
const MAX_REASON_CHARS = 300
const clip = (text: string): string =>
  text.length <= MAX_REASON_CHARS ? text : `${text.slice(0, MAX_REASON_CHARS)}…`

const describeParseError = (error: ParseResult.ParseError): string => {
  const [first] = ParseResult.ArrayFormatter.formatErrorSync(error)
  if (first === undefined) return "invalid message"
  const where = first.path.length === 0 ? "" : `${first.path.map(String).join(".")}: `
  return clip(`${where}${first.message}`)
}

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** Parses a line as a JSON object carrying our protocol version; says why not otherwise. */
const parseEnvelope = (line: string): Either.Either<Record<string, unknown>, string> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(line)
  } catch (e) {
    return Either.left(clip(`not JSON: ${e instanceof Error ? e.message : String(e)}`))
  }
  if (!isRecord(parsed)) return Either.left(`expected a JSON object, got ${Array.isArray(parsed) ? "an array" : typeof parsed}`)
  if (!("v" in parsed)) return Either.left(`missing protocol version "v" (this end speaks version ${PROTOCOL_VERSION})`)
  if (parsed.v !== PROTOCOL_VERSION) {
    return Either.left(clip(`unsupported protocol version ${JSON.stringify(parsed.v)} (this end speaks version ${PROTOCOL_VERSION})`))
  }
  return Either.right(parsed)
}

const requestTags: ReadonlyArray<string> = RequestTag.literals

/** Reads one request line (without its newline). Never throws: anything unusable is a BadRequest. */
export const decodeRequestLine = (line: string): Either.Either<ControlRequest, BadRequest> => {
  const bad = (reason: string) => Either.left(new BadRequest({ reason }))
  const envelope = parseEnvelope(line)
  if (Either.isLeft(envelope)) return bad(envelope.left)
  const request = envelope.right.request
  if (!isRecord(request)) return bad(`missing "request" object`)
  // Name an unknown request plainly rather than through the union's schema error.
  if (typeof request._tag !== "string" || !requestTags.includes(request._tag)) {
    return bad(clip(`unknown request ${JSON.stringify(request._tag) ?? "(no _tag)"} (expected one of ${requestTags.join(", ")})`))
  }
  return Schema.decodeUnknownEither(RequestMessage)(envelope.right).pipe(
    Either.map((message) => message.request),
    Either.mapLeft((error) => new BadRequest({ reason: describeParseError(error) }))
  )
}

/** The request line to send, newline included; a request that fails its own schema is a BadRequest here already. */
export const encodeRequestLine = (request: ControlRequest): Either.Either<string, BadRequest> =>
  Schema.encodeEither(RequestMessage)({ v: PROTOCOL_VERSION, request }).pipe(
    Either.map((message) => `${JSON.stringify(message)}\n`),
    Either.mapLeft((error) => new BadRequest({ reason: describeParseError(error) }))
  )

/**
 * The reply line to send, newline included, or why the reply cannot be
 * encoded (a result holding something that is not JSON).
 */
export const encodeReplyLine = (reply: ControlReply): Either.Either<string, string> => {
  const message: typeof ReplyMessage.Type = Either.isRight(reply)
    ? { v: PROTOCOL_VERSION, ok: true, result: reply.right }
    : { v: PROTOCOL_VERSION, ok: false, error: reply.left }
  return Schema.encodeEither(ReplyMessage)(message).pipe(
    Either.map((encoded) => `${JSON.stringify(encoded)}\n`),
    Either.mapLeft(describeParseError)
  )
}

/** Reads one reply line (without its newline); the Left is a ProtocolError's reason. */
export const decodeReplyLine = (line: string): Either.Either<ControlReply, string> =>
  Either.flatMap(parseEnvelope(line), (envelope) =>
    Schema.decodeUnknownEither(ReplyMessage)(envelope).pipe(
      Either.map((message): ControlReply => (message.ok ? Either.right(message.result) : Either.left(message.error))),
      Either.mapLeft(describeParseError)
    ))

/**
 * Checks a handler's result before it is sent: it must answer the request
 * it was given and be encodable. A mismatch is a bug in bhyve, reported to
 * the client as a RequestFailed rather than as a confusing reply.
 */
export const checkResult = (
  request: ControlRequest,
  result: ControlResult
): Either.Either<ControlResult, string> => {
  if (result._tag !== request._tag) return Either.left(`internal error: bhyve answered a ${request._tag} request with a ${result._tag} result`)
  return Schema.encodeEither(ControlResult)(result).pipe(
    Either.map(() => result),
    Either.mapLeft((error) => `internal error: the ${request._tag} result cannot be sent: ${describeParseError(error)}`)
  )
}

/**
 * How long bhyve gives a request before answering "timed out" when it is not
 * told otherwise: a snapshot writes all of guest memory, the rest are quick.
 * Clients wait a little longer than this so bhyve's own answer arrives first.
 */
export const defaultDeadlineMs = (request: ControlRequest): number =>
  request._tag === "Checkpoint" || request._tag === "Suspend" ? 300_000 : 30_000
