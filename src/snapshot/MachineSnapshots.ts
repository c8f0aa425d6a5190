import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Machine from "../machine/Machine.js"
import type { MachineConfig } from "../machine/MachineConfig.js"
import { specFromConfig } from "../machine/MachineFromConfig.js"
import type { SnapshotFs } from "./format/SnapshotFs.js"
import type { SaveFailed } from "./SaveErrors.js"
import { type SaveDeadlines, type SaveReport, saveSnapshot } from "./SaveSnapshot.js"
import { restoreMachine, type RestoreRequest } from "./RestoreSnapshot.js"

/** A machine built from a description, so that a snapshot can record it and a restore rebuild it. */
export interface DescribedMachine extends Machine.BuiltMachine {
  readonly config: MachineConfig
  /** Saves the running guest to `path`; the guest runs on. */
  readonly checkpoint: (path: string, deadlines?: SaveDeadlines) => Effect.Effect<SaveReport, SaveFailed, SnapshotFs>
  /** Saves the guest to `path` and leaves it paused: the caller then releases the machine. */
  readonly suspend: (path: string, deadlines?: SaveDeadlines) => Effect.Effect<SaveReport, SaveFailed, SnapshotFs>
}

const describe = (machine: Machine.BuiltMachine, config: MachineConfig): DescribedMachine => ({
  ...machine,
  config,
  checkpoint: (path, deadlines) => saveSnapshot(machine, { path, mode: "checkpoint", config, deadlines }),
  suspend: (path, deadlines) => saveSnapshot(machine, { path, mode: "suspend", config, deadlines })
})

/** Builds (and boots) the machine a MachineConfig describes, with the devices bhyve gives it. */
export const fromConfig = (config: MachineConfig): Effect.Effect<DescribedMachine, Machine.MachineError | unknown, Scope.Scope> =>
  Effect.map(Machine.build(specFromConfig(config)), (machine) => describe(machine, config))

/** Rebuilds a machine from a snapshot, ready to resume the guest where it was saved. */
export const restore = (request: RestoreRequest) =>
  Effect.map(restoreMachine(request), ({ machine, config, report }) => ({ machine: describe(machine, config), report }))
