import * as Schema from "effect/Schema"

/** Bumped, with a migration, whenever the saved shape changes. */
export const UART_STATE_VERSION = 1

/** Receive FIFO depth of a 16550A; with FIFOs disabled it holds one byte (16450 mode). */
export const UART_FIFO_SIZE = 16

/** FCR bits that are kept: FIFO enable, DMA mode, RX trigger level. */
export const FCR_STORED_MASK = 0xc9

const Byte = Schema.Int.pipe(Schema.between(0, 255))

/**
 * Everything a 16550A holds that the guest can observe. LSR and MSR are
 * mostly derived (output is instantaneous; modem lines follow MCR), so only
 * their latched parts are kept: the overrun flag and the MSR delta bits.
 */
export const UartState = Schema.Struct({
  dll: Byte,
  dlm: Byte,
  ier: Schema.Int.pipe(Schema.between(0, 0x0f)),
  fcr: Byte,
  lcr: Byte,
  mcr: Schema.Int.pipe(Schema.between(0, 0x1f)),
  scr: Byte,
  /** LSR OE, latched until LSR is read. */
  overrun: Schema.Boolean,
  /** MSR bits 0-3 (DCTS, DDSR, TERI, DDCD), latched until MSR is read. */
  msrDelta: Schema.Int.pipe(Schema.between(0, 0x0f)),
  /** A THR-empty interrupt is owed to the guest (set by a THR write or enabling ETBEI, cleared by reading it in IIR). */
  threPending: Schema.Boolean,
  rxFifo: Schema.Array(Byte).pipe(Schema.maxItems(UART_FIFO_SIZE))
}).pipe(
  Schema.filter((s) => {
    if ((s.fcr & ~FCR_STORED_MASK) !== 0) return `fcr keeps only bits 0x${FCR_STORED_MASK.toString(16)}`
    if ((s.fcr & 1) === 0 && s.fcr !== 0) return "fcr is 0 while FIFOs are disabled"
    if ((s.fcr & 1) === 0 && s.rxFifo.length > 1) return "without FIFOs the receiver holds at most one byte"
    return true
  })
).annotations({ identifier: "UartState" })
export type UartState = typeof UartState.Type
