/**
 * What the firmware tables describe: the machine's processors, its fixed
 * interrupt and power-management hardware, and (when -s slots exist) PCI
 * bus 0 with its ECAM window, BAR windows and INTx routing. The values are
 * those the device servers really use, imported from them, so the tables
 * cannot drift from the hardware.
 */
import { ECAM_BASE, ECAM_BUSES } from "../servers/pci/Ecam.js"
import { intxLine } from "../servers/pci/IntxRouter.js"
import { pciWindows, type PciWindows } from "../servers/pci/PciWindows.js"
import { SLP_TYP_S5 } from "../servers/pm/PmRegisters.js"
import { PM1A_CNT_BASE, PM1A_EVT_BASE, PM_TMR_BASE, SCI_IRQ } from "../servers/pm/PmServer.js"
import { RESET_CONTROL_PORT } from "../servers/reset/ResetControlBusAdapter.js"
import { RST_CPU } from "../servers/reset/ResetControlDevice.js"

/** KVM's in-kernel LAPIC and IOAPIC, at the PC's usual addresses (bhyve's too). */
export const LAPIC_ADDRESS = 0xfee0_0000
export const IOAPIC_ADDRESS = 0xfec0_0000
export const IOAPIC_PINS = 24

/** The fixed hardware the FADT points at (bhyve's pm.c ports). */
export const PM = {
  sciIrq: SCI_IRQ,
  pm1aEvent: PM1A_EVT_BASE,
  pm1aEventLength: 4,
  pm1aControl: PM1A_CNT_BASE,
  pm1aControlLength: 2,
  timer: PM_TMR_BASE,
  timerLength: 4,
  slpTypS5: SLP_TYP_S5,
  resetPort: RESET_CONTROL_PORT,
  // bhyve's FADT reset value: SYS_RST | RST_CPU.
  resetValue: 0x02 | RST_CPU
} as const

/** One INTx pin of one slot on bus 0 and the IOAPIC pin (GSI) it reaches. */
export interface IntxRoute {
  readonly slot: number
  /** 0 = INTA# ... 3 = INTD#, as in _PRT and the MP table's source IRQ. */
  readonly pin: number
  readonly gsi: number
}

export interface PciPlatform {
  /** Occupied device numbers on bus 0, ascending, no repeats. */
  readonly slots: ReadonlyArray<number>
  readonly ecamBase: number
  readonly busStart: number
  readonly busEnd: number
  readonly windows: PciWindows
}

export interface FirmwarePlatform {
  readonly cpus: number
  /** Absent when the machine has no PCI bus (no -s). */
  readonly pci?: PciPlatform
}

/** PCI bus 0 as the PCI servers build it for these slots and this much RAM. */
export const pciPlatform = (slots: ReadonlyArray<number>, memoryBytes: number): PciPlatform => ({
  slots: [...new Set(slots)].sort((a, b) => a - b),
  ecamBase: ECAM_BASE,
  busStart: 0,
  busEnd: ECAM_BUSES - 1,
  windows: pciWindows(memoryBytes)
})

/**
 * INTA#..INTD# of every occupied slot, each to the IOAPIC pin IntxRouter
 * drives for it. All four pins of a slot are listed (bhyve lists only pins
 * in use) so the tables need not know which pin each emulation picks.
 */
export const intxRoutes = (pci: PciPlatform): ReadonlyArray<IntxRoute> =>
  pci.slots.flatMap((slot) => [0, 1, 2, 3].map((pin) => ({ slot, pin, gsi: intxLine(slot, pin + 1) })))
