import { describe, expect, it } from "@effect/vitest"
import { UartDevice } from "../../src/servers/uart/UartDevice.js"
import * as R from "../../src/servers/uart/UartRegisters.js"

const bytes = (...values: Array<number>) => Uint8Array.from(values)

/** Reads every received byte, as a driver emptying the FIFO would. */
const drain = (uart: UartDevice): Array<number> => {
  const out: Array<number> = []
  while ((uart.readRegister(R.REG_LSR) & R.LSR_DR) !== 0) out.push(uart.readRegister(R.REG_DATA))
  return out
}

describe("16550A UART: divisor latch", () => {
  it("with DLAB set, offsets 0 and 1 are the divisor latch, not THR/IER", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_LCR, 0x83)
    expect(uart.writeRegister(R.REG_DATA, 0x0c)).toBeUndefined()
    uart.writeRegister(R.REG_IER, 0x00)
    expect(uart.readRegister(R.REG_DATA)).toBe(0x0c)
    expect(uart.readRegister(R.REG_IER)).toBe(0x00)
    uart.writeRegister(R.REG_LCR, 0x03)
    expect(uart.readRegister(R.REG_IER)).toBe(0)
  })

  it("resets the divisor to 1 (115200 baud) and keeps it when DLAB is cleared", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_LCR, 0x80)
    expect(uart.readRegister(R.REG_DATA)).toBe(1)
    uart.writeRegister(R.REG_IER, 0x04)
    uart.writeRegister(R.REG_LCR, 0x00)
    uart.writeRegister(R.REG_LCR, 0x80)
    expect(uart.readRegister(R.REG_IER)).toBe(0x04)
  })
})

describe("16550A UART: transmit", () => {
  it("a THR write returns the byte for the host", () => {
    expect(new UartDevice().writeRegister(R.REG_DATA, 0x141)).toBe(0x41)
  })

  it("LSR always shows THRE and TEMT, since output leaves at once", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_DATA, 0x41)
    expect(uart.readRegister(R.REG_LSR) & (R.LSR_THRE | R.LSR_TEMT)).toBe(R.LSR_THRE | R.LSR_TEMT)
  })
})

describe("16550A UART: interrupts", () => {
  it("reports no interrupt with IER clear", () => {
    const uart = new UartDevice()
    uart.receiveByte(0x41)
    uart.writeRegister(R.REG_DATA, 0x42)
    expect(uart.readRegister(R.REG_IIR) & 0x0f).toBe(R.IIR_NONE)
    expect(uart.interruptPending()).toBe(false)
  })

  it("IER keeps only its four bits", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_IER, 0xff)
    expect(uart.readRegister(R.REG_IER)).toBe(0x0f)
  })

  it("enabling ETBEI raises a THR-empty interrupt that reading IIR acknowledges", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_IER, R.IER_ETBEI)
    expect(uart.interruptPending()).toBe(true)
    expect(uart.readRegister(R.REG_IIR) & 0x0f).toBe(R.IIR_THRE)
    expect(uart.interruptPending()).toBe(false)
    expect(uart.readRegister(R.REG_IIR) & 0x0f).toBe(R.IIR_NONE)
  })

  it("every THR write owes a new THR-empty interrupt", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_IER, R.IER_ETBEI)
    uart.readRegister(R.REG_IIR)
    uart.writeRegister(R.REG_DATA, 0x41)
    expect(uart.readRegister(R.REG_IIR) & 0x0f).toBe(R.IIR_THRE)
  })

  it("re-writing IER with ETBEI already set does not raise THRE again", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_IER, R.IER_ETBEI)
    uart.readRegister(R.REG_IIR)
    uart.writeRegister(R.REG_IER, R.IER_ETBEI | R.IER_ERBFI)
    expect(uart.interruptPending()).toBe(false)
  })

  it("received data outranks THR empty, which comes back once the data is read", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_IER, R.IER_ETBEI | R.IER_ERBFI)
    uart.receiveByte(0x41)
    expect(uart.readRegister(R.REG_IIR) & 0x0f).toBe(R.IIR_RDA)
    expect(uart.readRegister(R.REG_DATA)).toBe(0x41)
    expect(uart.readRegister(R.REG_IIR) & 0x0f).toBe(R.IIR_THRE)
  })

  it("line status (overrun) outranks received data", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_IER, R.IER_ERBFI | R.IER_ELSI)
    uart.receiveByte(1)
    uart.receiveByte(2) // 16450 mode holds one byte: overrun
    expect(uart.readRegister(R.REG_IIR) & 0x0f).toBe(R.IIR_RLS)
    uart.readRegister(R.REG_LSR)
    expect(uart.readRegister(R.REG_IIR) & 0x0f).toBe(R.IIR_RDA)
  })

  it("modem status change has the lowest priority and clears when MSR is read", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_IER, R.IER_EDSSI | R.IER_ETBEI)
    uart.writeRegister(R.REG_MCR, R.MCR_LOOPBACK) // CTS/DSR/DCD drop: deltas
    expect(uart.readRegister(R.REG_IIR) & 0x0f).toBe(R.IIR_THRE)
    expect(uart.readRegister(R.REG_IIR) & 0x0f).toBe(R.IIR_MSR)
    uart.readRegister(R.REG_MSR)
    expect(uart.interruptPending()).toBe(false)
  })

  it("below the FIFO trigger level, data reports as a character timeout; at it, as data available", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_IIR, 0x41) // FIFO on, trigger 4
    uart.writeRegister(R.REG_IER, R.IER_ERBFI)
    uart.offer(bytes(1, 2, 3))
    expect(uart.readRegister(R.REG_IIR) & 0x0f).toBe(R.IIR_TIMEOUT)
    uart.offer(bytes(4))
    expect(uart.readRegister(R.REG_IIR) & 0x0f).toBe(R.IIR_RDA)
  })
})

describe("16550A UART: FIFOs", () => {
  it("IIR bits 6-7 show whether FIFOs are enabled", () => {
    const uart = new UartDevice()
    expect(uart.readRegister(R.REG_IIR) & 0xc0).toBe(0)
    uart.writeRegister(R.REG_IIR, 0x01)
    expect(uart.readRegister(R.REG_IIR) & 0xc0).toBe(0xc0)
    uart.writeRegister(R.REG_IIR, 0x00)
    expect(uart.readRegister(R.REG_IIR) & 0xc0).toBe(0)
  })

  it("holds 16 bytes with FIFOs on; the 17th is dropped and flags an overrun", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_IIR, 0x01)
    for (let i = 0; i < 16; i++) expect(uart.receiveByte(i)).toBe(true)
    expect(uart.receiveByte(99)).toBe(false)
    const lsr = uart.readRegister(R.REG_LSR)
    expect(lsr & R.LSR_OE).toBe(R.LSR_OE)
    expect(uart.readRegister(R.REG_LSR) & R.LSR_OE).toBe(0)
    expect(drain(uart)).toEqual([...Array(16).keys()])
  })

  it("holds one byte with FIFOs off (16450 mode)", () => {
    const uart = new UartDevice()
    expect(uart.offer(bytes(1, 2, 3))).toBe(1)
    expect(drain(uart)).toEqual([1])
  })

  it("FCR bit 1 empties the receive FIFO", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_IIR, 0x01)
    uart.offer(bytes(1, 2, 3))
    uart.writeRegister(R.REG_IIR, 0x03)
    expect(uart.readRegister(R.REG_LSR) & R.LSR_DR).toBe(0)
  })

  it("turning FIFOs off empties the receiver", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_IIR, 0x01)
    uart.offer(bytes(1, 2))
    uart.writeRegister(R.REG_IIR, 0x00)
    expect(drain(uart)).toEqual([])
  })

  it("offer takes only what fits, without overrun", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_IIR, 0x01)
    expect(uart.offer(new Uint8Array(20).fill(7))).toBe(16)
    expect(uart.readRegister(R.REG_LSR) & R.LSR_OE).toBe(0)
  })
})

describe("16550A UART: loopback", () => {
  it("THR writes come back on the receive side instead of reaching the host", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_MCR, R.MCR_LOOPBACK)
    expect(uart.writeRegister(R.REG_DATA, 0x5a)).toBeUndefined()
    expect(drain(uart)).toEqual([0x5a])
  })

  it("MSR reflects RTS, DTR, OUT1, OUT2 as CTS, DSR, RI, DCD", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_MCR, R.MCR_LOOPBACK | R.MCR_RTS | R.MCR_OUT1)
    expect(uart.readRegister(R.REG_MSR) & 0xf0).toBe(R.MSR_CTS | R.MSR_RI)
    uart.writeRegister(R.REG_MCR, R.MCR_LOOPBACK | R.MCR_DTR | R.MCR_OUT2)
    expect(uart.readRegister(R.REG_MSR)).toBe(R.MSR_DSR | R.MSR_DCD | R.MSR_DCTS | R.MSR_DDSR | R.MSR_DDCD | R.MSR_TERI)
  })

  it("takes no host input while in loopback", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_MCR, R.MCR_LOOPBACK)
    expect(uart.offer(bytes(1))).toBe(0)
  })
})

describe("16550A UART: other registers", () => {
  it("out of loopback, CTS, DSR and DCD are asserted with no deltas", () => {
    expect(new UartDevice().readRegister(R.REG_MSR)).toBe(R.MSR_CTS | R.MSR_DSR | R.MSR_DCD)
  })

  it("the scratch register keeps what was written", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_SCR, 0xa5)
    expect(uart.readRegister(R.REG_SCR)).toBe(0xa5)
  })

  it("LSR shows DR while data is waiting", () => {
    const uart = new UartDevice()
    expect(uart.readRegister(R.REG_LSR) & R.LSR_DR).toBe(0)
    uart.receiveByte(0x41)
    expect(uart.readRegister(R.REG_LSR) & R.LSR_DR).toBe(R.LSR_DR)
  })

  it("LCR and MCR read back (MCR keeps five bits)", () => {
    const uart = new UartDevice()
    uart.writeRegister(R.REG_LCR, 0x1b)
    uart.writeRegister(R.REG_MCR, 0xff)
    expect(uart.readRegister(R.REG_LCR)).toBe(0x1b)
    expect(uart.readRegister(R.REG_MCR)).toBe(0x1f)
  })

  it("an empty receiver reads 0", () => {
    expect(new UartDevice().readRegister(R.REG_DATA)).toBe(0)
  })
})
