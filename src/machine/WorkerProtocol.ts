import type { ControlRequest } from "../control/ControlRequest.js"
import type { ControlResult } from "../control/ControlResult.js"
import type { KickHandle } from "../kernel/Cpu.js"
import type { RestoreOverrides } from "../snapshot/RestoreOverrides.js"
import type { MachineConfig } from "./MachineConfig.js"

/**
 * Messages between the `bhyve` process's main thread and the machine
 * thread. Plain structured-clone values; nothing here is on an exit path.
 */
export type MachineWorkerData =
  | { readonly _tag: "Boot"; readonly config: MachineConfig }
  | { readonly _tag: "Restore"; readonly path: string; readonly overrides: RestoreOverrides; readonly verify: "all" | "state"; readonly ram: "lazy" | "copy" | "map" }

export type FromMachine =
  /** The guest is about to run; `kickHandles` force each vCPU out of its run. */
  | { readonly _tag: "Running"; readonly kickHandles: ReadonlyArray<KickHandle>; readonly name: string }
  /** The machine is gone: everything released. `status` is bhyve(8)'s exit status. */
  | { readonly _tag: "Exited"; readonly status: number; readonly message: string }
  /** The answer to a Control message with the same id. */
  | { readonly _tag: "ControlReply"; readonly id: number; readonly reply: ControlOutcome }

export type ControlOutcome =
  | { readonly ok: true; readonly result: ControlResult }
  | { readonly ok: false; readonly reason: string; readonly step?: string }

export type ToMachine =
  /** What to run, for a machine thread started before the command line was read. */
  | { readonly _tag: "Start"; readonly data: MachineWorkerData }
  /** Stop the guest and release everything (SIGINT/SIGTERM). */
  | { readonly _tag: "Stop"; readonly reason: string }
  /** A bhyvectl request, forwarded by the main thread's control socket. */
  | { readonly _tag: "Control"; readonly id: number; readonly request: ControlRequest }
