import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { NativeKvm } from "../NativeKvm.js"
import type { KvmVcpu } from "./KvmVcpu.js"

/**
 * For the life of the scope, kicks `vcpu` out of KVM_RUN whenever this
 * thread's event loop has something ready (native/loop_watch.cc): a disk
 * completion, a socket, a message reaches its handler within microseconds
 * instead of waiting for the vCPU's time slice to end. Must be called on
 * the thread that runs the vCPU. False when the addon cannot watch (then
 * only the time slice bounds the wait).
 */
export const watchEventLoop = (native: NativeKvm, vcpu: KvmVcpu): Effect.Effect<boolean, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => (typeof native.loopWatchStart === "function" ? native.loopWatchStart(vcpu.kickToken) : -1)),
      (id) => Effect.sync(() => void (id >= 0 && native.loopWatchStop(id)))
    ),
    (id) => id >= 0
  )
