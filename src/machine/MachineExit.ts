import * as Data from "effect/Data"

/** How a guest stopped on its own; the exit status is bhyve(8)'s. */
export type MachineExit =
  | { readonly _tag: "Reset"; readonly source: string }
  | { readonly _tag: "PoweredOff"; readonly source: string }
  | { readonly _tag: "Halted" }
  | { readonly _tag: "TripleFault" }

export const exitStatus = (exit: MachineExit): number => {
  switch (exit._tag) {
    case "Reset": return 0
    case "PoweredOff": return 1
    case "Halted": return 2
    case "TripleFault": return 3
  }
}

export const describeExit = (exit: MachineExit): string => {
  switch (exit._tag) {
    case "Reset": return `guest reset (via ${exit.source})`
    case "PoweredOff": return `guest powered off (via ${exit.source})`
    case "Halted": return "guest halted with interrupts disabled"
    case "TripleFault": return "guest triple-faulted"
  }
}

/** The vCPU could not go on: KVM refused to run or emulate it, or a device handler failed. */
export class VcpuFailure extends Data.TaggedError("VcpuFailure")<{
  readonly vcpu: number
  readonly reason: string
}> {
  override get message() {
    return `vCPU ${this.vcpu}: ${this.reason}`
  }
}
