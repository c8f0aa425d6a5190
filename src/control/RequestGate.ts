/**
 * Runs a control handler under the server's rules, turning whatever happens
 * into exactly one reply:
 *
 * - One request at a time. A request arriving while another is in progress
 *   is answered Busy at once. Status is the exception: it never waits and
 *   never blocks, so `bhyvectl --status` works during a long checkpoint (the
 *   handler must therefore cope with a Status alongside anything else).
 * - A deadline per request. When it passes, the client is told "timed out
 *   after N ms" and the handler is interrupted; the server stays Busy until
 *   the handler's finalizers have finished, so a half-written snapshot is
 *   cleaned up before the next request can start one.
 * - Handler failures are replied as they are; defects and interruptions
 *   become RequestFailed, and a result that does not answer the request (or
 *   cannot be encoded) becomes RequestFailed too. The server never crashes
 *   because of a handler.
 * - Once `stop` has run, waiting and new requests are answered "bhyve is
 *   shutting down".
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import { Busy, type ControlFailure, RequestFailed } from "./ControlFailure.js"
import { checkResult, type ControlReply } from "./ControlProtocol.js"
import type { ControlRequest, RequestTag } from "./ControlRequest.js"
import type { ControlResult } from "./ControlResult.js"

/** What bhyve does with a request. Fail with a ControlFailure to tell the client why it did not happen. */
export type ControlHandler<R = never> = (request: ControlRequest) => Effect.Effect<ControlResult, ControlFailure, R>

export interface RequestGate<R> {
  readonly serve: (request: ControlRequest) => Effect.Effect<ControlReply, never, R>
  readonly stop: Effect.Effect<void>
}

const failed = (request: ControlRequest, reason: string): ControlReply =>
  Either.left(new RequestFailed({ request: request._tag, reason }))

const replyFromExit = (request: ControlRequest, exit: Exit.Exit<ControlResult, ControlFailure>): ControlReply =>
  Exit.match(exit, {
    onSuccess: (result) => Either.mapLeft(checkResult(request, result), (reason) => new RequestFailed({ request: request._tag, reason })),
    onFailure: (cause) => {
      const failure = Cause.failureOption(cause)
      if (failure._tag === "Some") return Either.left(failure.value)
      if (Cause.isInterruptedOnly(cause)) return failed(request, "interrupted")
      const defect = Cause.squash(cause)
      return failed(request, `internal error: ${defect instanceof Error ? defect.message : String(defect)}`)
    }
  })

export const makeRequestGate = <R>(
  handler: ControlHandler<R>,
  deadlineMs: (request: ControlRequest) => number
): Effect.Effect<RequestGate<R>, never, Scope.Scope> =>
  Effect.gen(function*() {
    // Handler fibers live here so that closing the server's scope interrupts any still running.
    const handlers = yield* FiberSet.make<ControlReply, never>()
    const stopping = yield* Deferred.make<void>()
    // Plain state is enough: checks and updates happen without yielding, on one JS thread.
    let running: RequestTag | undefined

    const serveNow = (request: ControlRequest, restore: <A, E, R2>(e: Effect.Effect<A, E, R2>) => Effect.Effect<A, E, R2>) =>
      Effect.gen(function*() {
        if (yield* Deferred.isDone(stopping)) return failed(request, "bhyve is shutting down")
        const exclusive = request._tag !== "Status"
        if (exclusive) {
          if (running !== undefined) return Either.left(new Busy({ running }))
          running = request._tag
        }
        const release = Effect.sync(() => {
          if (exclusive) running = undefined
        })
        // suspend: a handler that throws instead of failing is caught as a defect.
        const work = Effect.suspend(() => handler(request)).pipe(
          Effect.exit,
          Effect.map((exit) => replyFromExit(request, exit)),
          Effect.ensuring(release)
        )
        // Forked from an uninterruptible region, the fiber would inherit it; deadlines need it interruptible.
        const fiber = yield* FiberSet.run(handlers, Effect.interruptible(work))
        const ms = deadlineMs(request)
        const outcome = yield* restore(Effect.raceAll([
          Fiber.join(fiber),
          Effect.sleep(ms).pipe(Effect.as(failed(request, `timed out after ${ms} ms`))),
          Deferred.await(stopping).pipe(Effect.as(failed(request, "bhyve is shutting down")))
        ]))
        // The client has its answer; a handler still running past it is interrupted in the background.
        yield* Fiber.interruptFork(fiber)
        return outcome
      })

    return {
      // Uninterruptible between claiming "running" and forking the handler, so the claim is always released.
      serve: (request) => Effect.uninterruptibleMask((restore) => serveNow(request, restore)),
      stop: Deferred.succeed(stopping, undefined).pipe(Effect.asVoid)
    }
  })
