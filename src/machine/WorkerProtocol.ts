import type { MachineConfig } from "./MachineConfig.js"

/**
 * Messages between the `bhyve` process's main thread and the machine
 * thread. Plain structured-clone values; nothing here is on an exit path.
 */
export interface MachineWorkerData {
  readonly config: MachineConfig
}

export type FromMachine =
  /** The guest is about to run; `kickTokens` force each vCPU out of KVM_RUN. */
  | { readonly _tag: "Running"; readonly kickTokens: ReadonlyArray<number> }
  /** The machine is gone: everything released. `status` is bhyve(8)'s exit status. */
  | { readonly _tag: "Exited"; readonly status: number; readonly message: string }

export type ToMachine =
  /** Stop the guest and release everything (SIGINT/SIGTERM). */
  { readonly _tag: "Stop"; readonly reason: string }
