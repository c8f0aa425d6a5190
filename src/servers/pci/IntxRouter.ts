import type { InterruptLine } from "../InterruptLine.js"

/**
 * INTA# of the function in `slot` reaches IOAPIC pin 16-23, by bhyve's
 * fixed mapping (the one it uses under a boot ROM): 16 + (4 + slot + pin) % 8.
 * Pins 16 and up exist only on the IOAPIC: with KVM's in-kernel irqchip a
 * GSI >= 16 never reaches the PIC, so a guest must use the IOAPIC (or MSI-X).
 * A fixed mapping keeps a restored machine's routing identical to the saved one.
 */
export const intxLine = (slot: number, pin: number): number => 16 + ((4 + slot + pin) % 8)

/**
 * Level-triggered lines shared by several functions: the line is high while
 * any of them asserts it (wired-OR), and only changes reach the controller.
 */
export class IntxRouter {
  private readonly asserted = new Map<number, number>()

  constructor(private readonly line: (n: number) => InterruptLine) {}

  /** An input for one function on line `n`; each input's level is tracked so the OR stays right. */
  connect(n: number): { readonly set: (level: boolean) => void } {
    let level = false
    return {
      set: (want: boolean) => {
        if (want === level) return
        level = want
        const before = this.asserted.get(n) ?? 0
        const after = before + (want ? 1 : -1)
        this.asserted.set(n, after)
        if ((before > 0) !== (after > 0)) this.line(n).set(after > 0)
      }
    }
  }
}
