/** 16550A register offsets and bits (names as in the National Semiconductor datasheet). */
export const REG_DATA = 0 // RBR (read) / THR (write) / DLL (DLAB)
export const REG_IER = 1 // IER / DLM (DLAB)
export const REG_IIR = 2 // IIR (read) / FCR (write)
export const REG_LCR = 3
export const REG_MCR = 4
export const REG_LSR = 5
export const REG_MSR = 6
export const REG_SCR = 7
export const REGISTER_COUNT = 8

export const IER_ERBFI = 0x01 // received data available
export const IER_ETBEI = 0x02 // transmitter holding register empty
export const IER_ELSI = 0x04 // receiver line status
export const IER_EDSSI = 0x08 // modem status

export const IIR_NONE = 0x01
export const IIR_RLS = 0x06
export const IIR_RDA = 0x04
export const IIR_TIMEOUT = 0x0c
export const IIR_THRE = 0x02
export const IIR_MSR = 0x00
export const IIR_FIFOS_ENABLED = 0xc0

export const FCR_ENABLE = 0x01
export const FCR_RX_RESET = 0x02

export const LCR_DLAB = 0x80

export const MCR_DTR = 0x01
export const MCR_RTS = 0x02
export const MCR_OUT1 = 0x04
export const MCR_OUT2 = 0x08
export const MCR_LOOPBACK = 0x10

export const LSR_DR = 0x01
export const LSR_OE = 0x02
export const LSR_THRE = 0x20
export const LSR_TEMT = 0x40

export const MSR_DCTS = 0x01
export const MSR_DDSR = 0x02
export const MSR_TERI = 0x04
export const MSR_DDCD = 0x08
export const MSR_CTS = 0x10
export const MSR_DSR = 0x20
export const MSR_RI = 0x40
export const MSR_DCD = 0x80

/** FCR bits 6-7 select how many bytes raise "data available" instead of the timeout indication. */
export const RX_TRIGGER_LEVELS = [1, 4, 8, 14] as const
