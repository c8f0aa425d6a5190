import * as Schema from "effect/Schema"
import { describeRequest, RequestTag } from "./ControlRequest.js"

/**
 * The ways bhyve can refuse or fail a control request. These cross the
 * socket (hence Schema.TaggedError) and bhyvectl prints their `message` as
 * "bhyvectl: <message>", so each message must stand on its own.
 */

/** The request was understood but could not be carried out. `step` names where it broke, if known. */
export class RequestFailed extends Schema.TaggedError<RequestFailed>()("RequestFailed", {
  request: RequestTag,
  reason: Schema.String,
  step: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const at = this.step === undefined ? "" : ` at ${this.step}`
    return `${describeRequest(this.request)} failed${at}: ${this.reason}`
  }
}

/** Another request is being handled; only Status is answered alongside it. */
export class Busy extends Schema.TaggedError<Busy>()("Busy", {
  running: Schema.String
}) {
  override get message(): string {
    return `busy: a ${this.running.toLowerCase()} request is in progress; try again when it has finished`
  }
}

/** The line was not a request this bhyve understands (garbled JSON, wrong version, bad field, too long). */
export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", {
  reason: Schema.String
}) {
  override get message(): string {
    return `bad request: ${this.reason}`
  }
}

export const ControlFailure = Schema.Union(RequestFailed, Busy, BadRequest)
export type ControlFailure = typeof ControlFailure.Type
