import * as Effect from "effect/Effect"
import type { KickHandle } from "./Cpu.js"
import { loadNativeKvm } from "./NativeKvm.js"
import { loadNativeSoft } from "./soft/NativeSoft.js"

/**
 * Kicks vCPUs that run on another thread of this process (the machine
 * worker) from this one: both threads share the loaded addons, so a kick
 * token means the same vCPU here. Best effort: a backend whose addon is
 * not loadable here has no vCPUs to kick either.
 */
export const makeRemoteKick = (): ((handles: ReadonlyArray<KickHandle>) => void) => {
  const kvm = Effect.runSync(Effect.option(loadNativeKvm))
  const soft = Effect.runSync(Effect.option(loadNativeSoft))
  return (handles) => {
    for (const h of handles) {
      if (h.backend === "kvm" && kvm._tag === "Some") kvm.value.kick(h.token)
      else if (h.backend === "soft" && soft._tag === "Some") soft.value.kick(h.token)
    }
  }
}
