import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** An INIT or start-up IPI addressed to a vCPU (SDM 10.6.1; MP spec B.4). */
export type StartupSignal =
  | { readonly kind: "init" }
  | { readonly kind: "sipi"; readonly vector: number }

/**
 * What a CPU without an in-kernel irqchip (the software CPU) asks the
 * machine's interrupt controllers, which are device servers
 * (servers/apic, servers/pic): between two runs of a vCPU's guest code, on
 * the vCPU's thread. Every call is cheap and synchronous.
 */
export interface CpuInterruptsService {
  /**
   * Whether vCPU `id` has a maskable interrupt to take once its IF allows:
   * its LAPIC's highest IRR vector above the processor priority, or the
   * PIC's INTR through LINT0 in ExtINT mode (or with the LAPIC disabled).
   */
  readonly hasInterrupt: (id: number) => boolean
  /**
   * The interrupt acknowledge cycle: vCPU `id` takes its interrupt (IRR to
   * ISR, or the PIC's INTA) -> the vector to deliver, or -1 when nothing is
   * there any more.
   */
  readonly acknowledge: (id: number) => number
  /** Takes a pending NMI for vCPU `id` (LINT1 or an NMI IPI). */
  readonly takeNmi: (id: number) => boolean
  /** Takes a pending INIT or SIPI for vCPU `id`. */
  readonly takeStartup: (id: number) => StartupSignal | undefined
}

/**
 * The slot the soft CPU reads its interrupt controllers from. The CPU is
 * built before the device servers (they sit above the kernel), so the
 * LAPIC server attaches itself here when it is built; until then, and on a
 * machine with none, no interrupt is ever pending.
 */
export interface CpuInterruptsSlot extends CpuInterruptsService {
  readonly attach: (controllers: CpuInterruptsService) => Effect.Effect<void>
}

export class CpuInterrupts extends Context.Tag("bhyve-ts/CpuInterrupts")<CpuInterrupts, CpuInterruptsSlot>() {}

const none: CpuInterruptsService = {
  hasInterrupt: () => false,
  acknowledge: () => -1,
  takeNmi: () => false,
  takeStartup: () => undefined
}

export const makeSlot = (): CpuInterruptsSlot => {
  let current = none
  return {
    hasInterrupt: (id) => current.hasInterrupt(id),
    acknowledge: (id) => current.acknowledge(id),
    takeNmi: (id) => current.takeNmi(id),
    takeStartup: (id) => current.takeStartup(id),
    attach: (controllers) =>
      Effect.sync(() => {
        current = controllers
      })
  }
}

export const layer: Layer.Layer<CpuInterrupts> = Layer.sync(CpuInterrupts, makeSlot)
