import type { CpuInterruptsService } from "../../kernel/CpuInterrupts.js"
import type { PicService } from "../pic/Pic.js"
import type { LapicDevice } from "./LapicDevice.js"

/**
 * The CPU's side of the userspace irqchip. The PIC's INTR comes first
 * where it reaches the CPU (LINT0 in ExtINT mode, or vCPU 0's disabled
 * LAPIC), as KVM's kvm_cpu_get_interrupt takes the ExtINT before the
 * LAPIC; then the LAPIC's highest IRR vector above its processor
 * priority. Calls for a vCPU that does not exist find nothing.
 */
export const make = (lapics: ReadonlyArray<LapicDevice>, pic: PicService): CpuInterruptsService => ({
  hasInterrupt: (id) => {
    const lapic = lapics[id]
    if (lapic === undefined) return false
    return (lapic.acceptsPic() && pic.hasInterrupt()) || lapic.hasInterrupt()
  },
  acknowledge: (id) => {
    const lapic = lapics[id]
    if (lapic === undefined) return -1
    if (lapic.acceptsPic() && pic.hasInterrupt()) return pic.acknowledge()
    return lapic.acknowledge()
  },
  takeNmi: (id) => lapics[id]?.takeNmi() ?? false,
  takeStartup: (id) => lapics[id]?.takeStartup()
})

/** What the CPU sees once the APIC side is gone: nothing pending, ever. */
export const none: CpuInterruptsService = {
  hasInterrupt: () => false,
  acknowledge: () => -1,
  takeNmi: () => false,
  takeStartup: () => undefined
}
