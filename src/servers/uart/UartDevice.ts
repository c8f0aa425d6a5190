import * as R from "./UartRegisters.js"
import { FCR_STORED_MASK, UART_FIFO_SIZE, type UartState } from "./UartState.js"

/**
 * A 16550A as a pure state machine: registers by offset, bytes in through
 * `receiveByte`/`offer`, bytes out as the return value of `writeRegister`.
 * Transmission is instantaneous, so THR and the shift register are always
 * empty (LSR THRE|TEMT), which is what a polling guest waits for.
 * Behaviour follows bhyve's uart_emul.c where the datasheet leaves a choice.
 */
export class UartDevice {
  private dll = 1 // 115200 baud at the PC's 1.8432 MHz clock, as bhyve resets it
  private dlm = 0
  private ier = 0
  private fcr = 0
  private lcr = 0
  private mcr = 0
  private scr = 0
  private overrun = false
  private msrDelta = 0
  private threPending = false
  private rx: Array<number> = []

  static fromState(state: UartState): UartDevice {
    const device = new UartDevice()
    device.restore(state)
    return device
  }

  readRegister(offset: number): number {
    if ((this.lcr & R.LCR_DLAB) !== 0) {
      if (offset === R.REG_DATA) return this.dll
      if (offset === R.REG_IER) return this.dlm
    }
    switch (offset) {
      case R.REG_DATA:
        return this.rx.shift() ?? 0
      case R.REG_IER:
        return this.ier
      case R.REG_IIR: {
        const id = this.interruptId()
        // Reading IIR while it reports THR empty is how the guest acknowledges that interrupt.
        if (id === R.IIR_THRE) this.threPending = false
        return id | (this.fifoEnabled() ? R.IIR_FIFOS_ENABLED : 0)
      }
      case R.REG_LCR:
        return this.lcr
      case R.REG_MCR:
        return this.mcr
      case R.REG_LSR: {
        const lsr = R.LSR_THRE | R.LSR_TEMT | (this.rx.length > 0 ? R.LSR_DR : 0) | (this.overrun ? R.LSR_OE : 0)
        this.overrun = false
        return lsr
      }
      case R.REG_MSR: {
        const msr = modemStatus(this.mcr) | this.msrDelta
        this.msrDelta = 0
        return msr
      }
      case R.REG_SCR:
        return this.scr
      default:
        return 0xff
    }
  }

  /** Returns the byte transmitted to the host, if the write sent one. */
  writeRegister(offset: number, value: number): number | undefined {
    const v = value & 0xff
    if ((this.lcr & R.LCR_DLAB) !== 0) {
      if (offset === R.REG_DATA) {
        this.dll = v
        return undefined
      }
      if (offset === R.REG_IER) {
        this.dlm = v
        return undefined
      }
    }
    switch (offset) {
      case R.REG_DATA:
        // THR is empty again at once, so a THRE interrupt is owed after every byte.
        this.threPending = true
        if ((this.mcr & R.MCR_LOOPBACK) === 0) return v
        this.receiveByte(v)
        return undefined
      case R.REG_IER:
        // The THRE interrupt fires on enabling ETBEI while THR is empty (always): guests rely on that edge to start output.
        if ((this.ier & R.IER_ETBEI) === 0 && (v & R.IER_ETBEI) !== 0) this.threPending = true
        this.ier = v & 0x0f
        return undefined
      case R.REG_IIR:
        this.writeFcr(v)
        return undefined
      case R.REG_LCR:
        this.lcr = v
        return undefined
      case R.REG_MCR:
        this.writeMcr(v & 0x1f)
        return undefined
      case R.REG_SCR:
        this.scr = v
        return undefined
      default:
        // LSR and MSR are read-only (their factory-test writes are not emulated).
        return undefined
    }
  }

  /** One byte from the line. A full receiver drops it and flags an overrun, as the hardware does. */
  receiveByte(byte: number): boolean {
    if (this.rx.length >= this.capacity()) {
      this.overrun = true
      return false
    }
    this.rx.push(byte & 0xff)
    return true
  }

  /** How many more bytes the line side can take without an overrun; 0 in loopback, where the line is disconnected. */
  inputSpace(): number {
    return (this.mcr & R.MCR_LOOPBACK) !== 0 ? 0 : this.capacity() - this.rx.length
  }

  /** Takes as many of `bytes[start..]` as fit without overrun; returns how many it took. */
  offer(bytes: Uint8Array, start = 0): number {
    const n = Math.max(0, Math.min(this.inputSpace(), bytes.length - start))
    for (let i = 0; i < n; i++) this.rx.push(bytes[start + i])
    return n
  }

  /** The interrupt output: high while any enabled condition is pending (the machine drives a level-triggered line from it). */
  interruptPending(): boolean {
    return this.interruptId() !== R.IIR_NONE
  }

  save(): UartState {
    return {
      dll: this.dll,
      dlm: this.dlm,
      ier: this.ier,
      fcr: this.fcr,
      lcr: this.lcr,
      mcr: this.mcr,
      scr: this.scr,
      overrun: this.overrun,
      msrDelta: this.msrDelta,
      threPending: this.threPending,
      rxFifo: [...this.rx]
    }
  }

  restore(state: UartState): void {
    this.dll = state.dll
    this.dlm = state.dlm
    this.ier = state.ier
    this.fcr = state.fcr
    this.lcr = state.lcr
    this.mcr = state.mcr
    this.scr = state.scr
    this.overrun = state.overrun
    this.msrDelta = state.msrDelta
    this.threPending = state.threPending
    this.rx = [...state.rxFifo]
  }

  /** IIR bits 0-3, by the 16550A's priority: line status, received data, THR empty, modem status. */
  private interruptId(): number {
    if (this.overrun && (this.ier & R.IER_ELSI) !== 0) return R.IIR_RLS
    if (this.rx.length > 0 && (this.ier & R.IER_ERBFI) !== 0) {
      // Below the trigger level the hardware reports a character timeout once the line idles; we report it at once.
      return this.fifoEnabled() && this.rx.length < R.RX_TRIGGER_LEVELS[this.fcr >> 6] ? R.IIR_TIMEOUT : R.IIR_RDA
    }
    if (this.threPending && (this.ier & R.IER_ETBEI) !== 0) return R.IIR_THRE
    if (this.msrDelta !== 0 && (this.ier & R.IER_EDSSI) !== 0) return R.IIR_MSR
    return R.IIR_NONE
  }

  private fifoEnabled(): boolean {
    return (this.fcr & R.FCR_ENABLE) !== 0
  }

  private capacity(): number {
    return this.fifoEnabled() ? UART_FIFO_SIZE : 1
  }

  private writeFcr(v: number): void {
    // Switching between FIFO and 16450 mode empties the receiver.
    if (((this.fcr ^ v) & R.FCR_ENABLE) !== 0) this.rx = []
    // The other FCR bits only take effect with FIFO enable set in the same write.
    if ((v & R.FCR_ENABLE) === 0) {
      this.fcr = 0
      return
    }
    if ((v & R.FCR_RX_RESET) !== 0) this.rx = []
    // Transmit FIFO reset (bit 2) has nothing to clear: output leaves at once.
    this.fcr = v & FCR_STORED_MASK
  }

  private writeMcr(mcr: number): void {
    const before = modemStatus(this.mcr)
    const after = modemStatus(mcr)
    const changed = before ^ after
    if ((changed & R.MSR_CTS) !== 0) this.msrDelta |= R.MSR_DCTS
    if ((changed & R.MSR_DSR) !== 0) this.msrDelta |= R.MSR_DDSR
    if ((changed & R.MSR_DCD) !== 0) this.msrDelta |= R.MSR_DDCD
    // TERI marks only the trailing edge of ring indicate.
    if ((before & R.MSR_RI) !== 0 && (after & R.MSR_RI) === 0) this.msrDelta |= R.MSR_TERI
    this.mcr = mcr
  }
}

/**
 * The modem inputs. In loopback they are wired to the MCR outputs; otherwise
 * CTS, DSR and DCD are asserted so a guest with flow control or without
 * CLOCAL neither blocks on open nor stops transmitting.
 */
const modemStatus = (mcr: number): number => {
  if ((mcr & R.MCR_LOOPBACK) === 0) return R.MSR_CTS | R.MSR_DSR | R.MSR_DCD
  return (
    ((mcr & R.MCR_RTS) !== 0 ? R.MSR_CTS : 0) |
    ((mcr & R.MCR_DTR) !== 0 ? R.MSR_DSR : 0) |
    ((mcr & R.MCR_OUT1) !== 0 ? R.MSR_RI : 0) |
    ((mcr & R.MCR_OUT2) !== 0 ? R.MSR_DCD : 0)
  )
}
