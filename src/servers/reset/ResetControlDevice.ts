import type { ResetControlState } from "./ResetControlState.js"

/** Bit 2 of the PIIX/ICH reset control register: reset the CPU(s). */
export const RST_CPU = 0x04

/**
 * The chipset reset control register (port 0xCF9). Writing RST_CPU resets
 * the machine; bhyve treats hard and soft (SYS_RST) resets alike. The other
 * bits are only remembered.
 */
export class ResetControlDevice {
  private value = 0

  static fromState(state: ResetControlState): ResetControlDevice {
    const device = new ResetControlDevice()
    device.restore(state)
    return device
  }

  read(): number {
    return this.value
  }

  /** Returns "reset" when the write asks for one. */
  write(value: number): "reset" | undefined {
    this.value = value & 0xff & ~RST_CPU
    return (value & RST_CPU) !== 0 ? "reset" : undefined
  }

  save(): ResetControlState {
    return { value: this.value }
  }

  restore(state: ResetControlState): void {
    this.value = state.value
  }
}
