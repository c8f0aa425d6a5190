import type { InterruptLine } from "../InterruptLine.js"
import type { PicService } from "../pic/Pic.js"
import type { IoapicDevice } from "./IoapicDevice.js"
import { IOAPIC_PINS } from "./IoapicRegisters.js"

/** The 8259 pair's inputs: ISA IRQs 0-15. */
export const PIC_LINES = 16

/**
 * The IOAPIC pin a machine line reaches. ISA IRQ 0 (the PIT) is wired to
 * pin 2, as the MADT's interrupt source override and the MP table tell
 * the guest (loader/acpi/Madt.ts, loader/MpTable.ts), and as QEMU and
 * our KVM GSI routes wire it; ISA IRQ 2 is the PIC's cascade and has no
 * pin of its own (pin 2 is IRQ 0's). Pin 0 stays undriven: it is the
 * PIC's INTR in the MP table, which reaches the CPU through LINT0 here.
 * Lines 16-23 are the PCI INTx pins, on the IOAPIC only. -1: no pin.
 */
export const ioapicPinOf = (line: number): number => {
  if (line === 0) return 2
  if (line === 2) return -1
  return Number.isInteger(line) && line >= 0 && line < IOAPIC_PINS ? line : -1
}

/**
 * The machine's interrupt lines for a userspace irqchip: line n drives PIC
 * IRQ n (n < 16) and its IOAPIC pin, as KVM_IRQ_LINE does with the
 * in-kernel one; lines beyond the chips go nowhere. Every call reaches the
 * chips, which keep their pins' levels and act only on what changed (an
 * edge pin on a rise, a level pin while asserted): a line remembering its
 * level here would disagree with the chips after a restore, and drop the
 * first lowering of a line that was high when the snapshot was taken.
 */
export const make = (pic: PicService, ioapic: IoapicDevice) => {
  const lines = new Map<number, InterruptLine>()
  const create = (n: number): InterruptLine => {
    const pin = ioapicPinOf(n)
    const toPic = Number.isInteger(n) && n >= 0 && n < PIC_LINES
    return {
      line: n,
      set: (level) => {
        if (toPic) pic.setIrq(n, level)
        if (pin >= 0) ioapic.setPin(pin, level)
      }
    }
  }
  return {
    line: (n: number): InterruptLine => {
      let line = lines.get(n)
      if (line === undefined) {
        line = create(n)
        lines.set(n, line)
      }
      return line
    }
  }
}
