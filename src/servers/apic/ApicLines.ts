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
 * in-kernel one. A line passes on only changes of level (devices drive
 * their level again after every access); lines beyond the chips go
 * nowhere.
 */
export const make = (pic: PicService, ioapic: IoapicDevice) => {
  const lines = new Map<number, InterruptLine>()
  const create = (n: number): InterruptLine => {
    const pin = ioapicPinOf(n)
    const toPic = Number.isInteger(n) && n >= 0 && n < PIC_LINES
    let level = false
    return {
      line: n,
      set: (want) => {
        if (want === level) return
        level = want
        if (toPic) pic.setIrq(n, want)
        if (pin >= 0) ioapic.setPin(pin, want)
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
