/** ACPI fixed-hardware bits (ACPI spec, "PM1 Event Registers" and "PM1 Control Registers"). */
export const STS_TMR = 0x0001
export const STS_BM = 0x0010
export const STS_GBL = 0x0020
export const STS_PWRBTN = 0x0100
export const STS_SLPBTN = 0x0200
export const STS_RTC = 0x0400
export const STS_WAK = 0x8000
/** Status bits a guest clears by writing 1. */
export const STS_WRITE_ONE_TO_CLEAR = STS_TMR | STS_BM | STS_GBL | STS_PWRBTN | STS_SLPBTN | STS_RTC | STS_WAK

export const EN_TMR = 0x0001
export const EN_GBL = 0x0020
export const EN_PWRBTN = 0x0100
export const EN_SLPBTN = 0x0200
export const EN_RTC = 0x0400
export const EN_WRITABLE = EN_TMR | EN_GBL | EN_PWRBTN | EN_SLPBTN | EN_RTC

export const CNT_SCI_EN = 0x0001
export const CNT_SLP_TYP_SHIFT = 10
export const CNT_SLP_TYP = 0x1c00
export const CNT_SLP_EN = 0x2000
/** What a write stores, as bhyve's pm.c: SCI_EN only changes through SMI_CMD, SLP_EN is write-only, bits 0-1 and 14-15 read as 0. */
export const CNT_STORED = 0x1ffc

/** The S5 (soft-off) sleep type in bhyve's DSDT \_S5 package. */
export const SLP_TYP_S5 = 5

/** The PM timer runs at 3.579545 MHz, i.e. ticks per millisecond. */
export const TIMER_TICKS_PER_MS = 3579.545
export const TIMER_MODULUS = 0x1000000
