import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { CpuBackendName, KickHandle } from "./Cpu.js"
import { loadNativeKvm } from "./NativeKvm.js"
import { loadCheckedSoft, loadNativeSoft } from "./soft/NativeSoft.js"

/**
 * Kicks vCPUs that run on another thread of this process (the machine
 * worker) from this one: both threads share the loaded addons, so a kick
 * token means the same vCPU here. Best effort: a backend whose addon is
 * not loadable here has no vCPUs to kick either.
 *
 * Each addon is loaded at the first kick of one of its vCPUs, by then
 * already loaded by the machine thread: loading the software CPU's (and its
 * Unicorn library) here up front cost bhyve's main thread ~20 ms before it
 * could start the machine, for a VM on KVM that never needs it.
 */
export const makeRemoteKick = (): ((handles: ReadonlyArray<KickHandle>) => void) => {
  const kvm = lazily(() => Effect.runSync(Effect.option(loadNativeKvm)))
  const soft = lazily(() => Effect.runSync(Effect.option(loadNativeSoft)))
  return (handles) => {
    for (const h of handles) {
      const native: Option.Option<{ kick(token: number): void }> = h.backend === "kvm" ? kvm() : soft()
      if (Option.isSome(native)) native.value.kick(h.token)
    }
  }
}

const lazily = <A>(load: () => A): (() => A) => {
  let loaded: { readonly value: A } | undefined
  return () => (loaded ??= { value: load() }).value
}

/**
 * Loads `backend`'s addon on this thread, meant for while the machine thread
 * is still loading its code: the library is then mapped and relocated by the
 * time that thread loads it (Unicorn's is ~20 ms of the software CPU's
 * start), and the software CPU's self-test, which the addon runs once per
 * process (a thread-safe static: the machine thread waits for it rather
 * than running it twice), has been run. Best effort, as the kicks are: a
 * failure is the machine thread's to report.
 */
export const preloadCpuAddon = (backend: CpuBackendName): void => {
  if (backend === "kvm") Effect.runSync(Effect.option(loadNativeKvm))
  else Effect.runSync(Effect.option(loadCheckedSoft))
}
