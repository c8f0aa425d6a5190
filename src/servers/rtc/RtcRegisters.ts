/** MC146818 register numbers and bits. */
export const SECONDS = 0x00
export const SECONDS_ALARM = 0x01
export const MINUTES = 0x02
export const MINUTES_ALARM = 0x03
export const HOURS = 0x04
export const HOURS_ALARM = 0x05
export const DAY_OF_WEEK = 0x06
export const DAY_OF_MONTH = 0x07
export const MONTH = 0x08
export const YEAR = 0x09
export const REG_A = 0x0a
export const REG_B = 0x0b
export const REG_C = 0x0c
export const REG_D = 0x0d
/** The PC's century cell (ACPI FADT CENTURY points here). */
export const CENTURY = 0x32

/** Cells that hold the running time rather than plain NVRAM. */
export const TIME_REGISTERS: ReadonlyArray<number> = [SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR, CENTURY]

export const A_UIP = 0x80
export const A_DIVIDER_MASK = 0x70
/** 32.768 kHz time base, oscillator running: the only divider setting in which the clock counts. */
export const A_DIVIDER_NORMAL = 0x20
export const A_RATE_MASK = 0x0f

export const B_SET = 0x80
export const B_PIE = 0x40
export const B_AIE = 0x20
export const B_UIE = 0x10
export const B_BINARY = 0x04
export const B_24H = 0x02

export const C_IRQF = 0x80
export const C_PF = 0x40
export const C_AF = 0x20
export const C_UF = 0x10

export const D_VRT = 0x80

/** bhyve's reset values: 32.768 kHz base with a 1024 Hz periodic rate; 24-hour BCD. */
export const A_RESET = 0x26
export const B_RESET = B_24H

/** The update cycle lasts 244 us before each second's end; UIP is set during it. */
export const UPDATE_CYCLE_MS = 0.244
