import * as Context from "effect/Context"

/**
 * How a host thread (a packet reader of a network backend) makes the
 * machine thread look at its event loop now: the kick token of the vCPU
 * that thread runs. Kicked, the vCPU leaves KVM_RUN and the loop takes a
 * turn; without it, work queued by another thread waits for the end of the
 * vCPU's time slice. Machines provide it; device tests need not.
 */
export class MachineWake extends Context.Tag("bhyve-ts/MachineWake")<MachineWake, { readonly kickToken: number }>() {}

/** For backends built outside a machine: nothing to kick. */
export const NO_KICK = -1
