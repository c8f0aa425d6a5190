import * as Data from "effect/Data"
import type { RequestTag } from "./ControlRequest.js"

/**
 * What can go wrong on bhyvectl's side of the control socket, before or
 * instead of bhyve answering. bhyvectl prints `message` after "bhyvectl: ".
 */

/** Nothing is listening for this VM: no socket file, or a stale one left by a bhyve that died. */
export class NoSuchVm extends Data.TaggedError("NoSuchVm")<{
  readonly name: string
  /** The socket that was tried (the first candidate when none exists). */
  readonly path: string
  /** Every path looked at, in order. */
  readonly searched: ReadonlyArray<string>
  /** A socket file exists but nobody answers on it. */
  readonly stale: boolean
}> {
  override get message(): string {
    return this.stale
      ? `no VM named ${this.name} is running (stale control socket ${this.path}: nothing is listening)`
      : `no VM named ${this.name} is running (no control socket at ${this.searched.join(", ")})`
  }
}

/** bhyve accepted the connection but did not reply in time. */
export class ControlTimeout extends Data.TaggedError("ControlTimeout")<{
  readonly request: RequestTag
  readonly path: string
  readonly timeoutMs: number
}> {
  override get message(): string {
    return `no reply to the ${this.request.toLowerCase()} request within ${this.timeoutMs} ms (control socket ${this.path})`
  }
}

/** The other end replied with something that is not a reply to our request, or hung up without one. */
export class ProtocolError extends Data.TaggedError("ProtocolError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `bad reply on control socket ${this.path}: ${this.reason}`
  }
}

/** Connecting failed for a reason other than the VM not running (permissions, not a socket, ...). */
export class ConnectFailed extends Data.TaggedError("ConnectFailed")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot connect to control socket ${this.path}: ${this.reason}`
  }
}
