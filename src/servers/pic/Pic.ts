import * as Context from "effect/Context"

/**
 * The 8259A pair as the rest of the userspace irqchip sees it: ISA lines
 * in, the master's INTR out, and the interrupt acknowledge cycle. (Its
 * ports 0x20/0x21, 0xA0/0xA1 and ELCR 0x4D0/0x4D1 are on the bus.)
 */
export interface PicService {
  /** Drives ISA IRQ `irq` (0-15); edge or level as the ELCR says for it. */
  readonly setIrq: (irq: number, level: boolean) => void
  /** The master's INTR output: an unmasked request outranks everything in service. */
  readonly hasInterrupt: () => boolean
  /**
   * INTA: the vector of the highest-priority request, now in service (or
   * acknowledged at once in auto-EOI mode); the spurious vector of IRQ 7
   * (or 15) when the request went away, as the real chip answers.
   */
  readonly acknowledge: () => number
}

export class Pic extends Context.Tag("bhyve-ts/Pic")<Pic, PicService>() {}
