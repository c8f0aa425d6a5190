import { describe, expect, it } from "@effect/vitest"
import { PicDevice } from "../../../src/servers/pic/PicDevice.js"
import { initialized, MASTER_BASE, NON_SPECIFIC_EOI, pulse, READ_IRR, READ_ISR, SLAVE_BASE } from "./PicTestKit.js"

const isr = (pic: PicDevice, chip: "master" | "slave" = "master") => {
  pic.writePort(chip, 0, READ_ISR)
  return pic.readPort(chip, 0)
}

describe("8259A pair: initialization and acknowledge", () => {
  it("after ICW1-ICW4 an IRQ raises INTR and INTA returns base + irq with the IRQ in service", () => {
    const pic = initialized()
    expect(pic.hasInterrupt()).toBe(false)
    pulse(pic, 4)
    expect(pic.hasInterrupt()).toBe(true)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 4)
    expect(isr(pic)).toBe(1 << 4)
    expect(pic.hasInterrupt()).toBe(false)
  })

  it("the data port reads back IMR after initialization, and ICW1 clears it", () => {
    const pic = initialized()
    pic.writePort("master", 1, 0xa5)
    expect(pic.readPort("master", 1)).toBe(0xa5)
    pic.writePort("master", 0, 0x11)
    expect(pic.readPort("master", 1)).toBe(0)
  })

  it("a non-specific EOI clears the in-service bit", () => {
    const pic = initialized()
    pulse(pic, 3)
    pic.acknowledge()
    pic.writePort("master", 0, NON_SPECIFIC_EOI)
    expect(isr(pic)).toBe(0)
  })

  it("a specific EOI clears only the IR it names", () => {
    const pic = initialized()
    pulse(pic, 5)
    pic.acknowledge()
    pulse(pic, 1)
    pic.acknowledge()
    pic.writePort("master", 0, 0x60 | 5)
    expect(isr(pic)).toBe(1 << 1)
  })

  it("a masked IRQ gives no INTR until unmasked", () => {
    const pic = initialized()
    pic.writePort("master", 1, 1 << 6)
    pulse(pic, 6)
    expect(pic.hasInterrupt()).toBe(false)
    pic.writePort("master", 1, 0)
    expect(pic.hasInterrupt()).toBe(true)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 6)
  })

  it("slave IRQ 10 arrives through IR2 with the slave's vector and is in service on both chips", () => {
    const pic = initialized()
    pulse(pic, 10)
    expect(pic.hasInterrupt()).toBe(true)
    expect(pic.acknowledge()).toBe(SLAVE_BASE + 2)
    expect(isr(pic, "slave")).toBe(1 << 2)
    expect(isr(pic, "master")).toBe(1 << 2)
  })

  it("a second slave IRQ waits for EOI to both chips", () => {
    const pic = initialized()
    pulse(pic, 10)
    pic.acknowledge()
    pulse(pic, 12)
    expect(pic.hasInterrupt()).toBe(false)
    pic.writePort("slave", 0, NON_SPECIFIC_EOI)
    expect(pic.hasInterrupt()).toBe(false) // the master still has IR2 in service
    pic.writePort("master", 0, NON_SPECIFIC_EOI)
    expect(pic.acknowledge()).toBe(SLAVE_BASE + 4)
  })

  it("ISA IRQ 2 is the cascade input and cannot be driven from outside", () => {
    const pic = initialized()
    pulse(pic, 2)
    expect(pic.hasInterrupt()).toBe(false)
  })
})

describe("8259A pair: triggering", () => {
  it("a level-triggered IRQ (ELCR) stays pending while its line is high, even after EOI", () => {
    const pic = initialized()
    pic.writeElcr("slave", 1 << 3) // IRQ 11
    pic.setIrq(11, true)
    expect(pic.acknowledge()).toBe(SLAVE_BASE + 3)
    pic.writePort("slave", 0, NON_SPECIFIC_EOI)
    pic.writePort("master", 0, NON_SPECIFIC_EOI)
    expect(pic.acknowledge()).toBe(SLAVE_BASE + 3)
    pic.setIrq(11, false) // the handler serviced the device, then EOIs
    pic.writePort("slave", 0, NON_SPECIFIC_EOI)
    pic.writePort("master", 0, NON_SPECIFIC_EOI)
    expect(pic.hasInterrupt()).toBe(false)
  })

  it("an edge-triggered IRQ held high does not trigger again without a new edge", () => {
    const pic = initialized()
    pic.setIrq(4, true)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 4)
    pic.writePort("master", 0, NON_SPECIFIC_EOI)
    pic.setIrq(4, true)
    expect(pic.hasInterrupt()).toBe(false)
    pic.setIrq(4, false)
    pic.setIrq(4, true)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 4)
  })

  it("the ELCR keeps no bit for IRQ 0, 1, 2, 8 and 13, which are always edge", () => {
    const pic = initialized()
    pic.writeElcr("master", 0xff)
    pic.writeElcr("slave", 0xff)
    expect(pic.readElcr("master")).toBe(0xf8)
    expect(pic.readElcr("slave")).toBe(0xde)
  })

  it("ICW1 LTIM makes every input of that chip level-triggered", () => {
    const pic = initialized()
    pic.writePort("master", 0, 0x19)
    pic.writePort("master", 1, MASTER_BASE)
    pic.writePort("master", 1, 0x04)
    pic.writePort("master", 1, 0x01)
    pic.setIrq(1, true)
    pic.acknowledge()
    pic.writePort("master", 0, NON_SPECIFIC_EOI)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 1)
  })
})

describe("8259A pair: priority", () => {
  it("the lower IRQ number is served first", () => {
    const pic = initialized()
    pulse(pic, 5)
    pulse(pic, 3)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 3)
  })

  it("an IRQ in service blocks lower priorities but not higher ones", () => {
    const pic = initialized()
    pulse(pic, 3)
    pic.acknowledge()
    pulse(pic, 5)
    expect(pic.hasInterrupt()).toBe(false)
    pulse(pic, 1)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 1)
    pic.writePort("master", 0, NON_SPECIFIC_EOI) // ends IRQ 1, the highest in service
    expect(isr(pic)).toBe(1 << 3)
    pic.writePort("master", 0, NON_SPECIFIC_EOI)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 5)
  })

  it("slave IRQs rank where IR2 ranks: above IRQ 3, below IRQ 1", () => {
    const pic = initialized()
    pulse(pic, 3)
    pulse(pic, 9)
    expect(pic.acknowledge()).toBe(SLAVE_BASE + 1)
    pulse(pic, 1)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 1)
  })

  it("rotate on non-specific EOI gives the finished IRQ the lowest priority", () => {
    const pic = initialized()
    pulse(pic, 1)
    pic.acknowledge()
    pic.writePort("master", 0, 0xa0) // rotate on non-specific EOI: IR2 now highest, IR1 lowest
    pulse(pic, 1)
    pulse(pic, 5)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 5)
  })

  it("set priority makes the named IR the lowest", () => {
    const pic = initialized()
    pic.writePort("master", 0, 0xc0 | 4) // IR5 highest
    pulse(pic, 0)
    pulse(pic, 6)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 6)
  })

  it("special mask mode lets a masked in-service IRQ stop blocking lower ones", () => {
    const pic = initialized()
    pulse(pic, 3)
    pic.acknowledge()
    pulse(pic, 6)
    expect(pic.hasInterrupt()).toBe(false)
    pic.writePort("master", 1, 1 << 3)
    pic.writePort("master", 0, 0x68) // set special mask
    expect(pic.acknowledge()).toBe(MASTER_BASE + 6)
  })

  it("special fully nested mode lets the slave interrupt while IR2 is in service", () => {
    const pic = initialized()
    pic.writePort("master", 0, 0x11)
    pic.writePort("master", 1, MASTER_BASE)
    pic.writePort("master", 1, 0x04)
    pic.writePort("master", 1, 0x11) // ICW4: SFNM, 8086
    pulse(pic, 12)
    expect(pic.acknowledge()).toBe(SLAVE_BASE + 4)
    pulse(pic, 9)
    expect(pic.acknowledge()).toBe(SLAVE_BASE + 1)
  })
})

describe("8259A pair: spurious interrupts, auto-EOI, OCW3", () => {
  it("INTA with nothing pending answers the master's IR7 vector and puts nothing in service", () => {
    const pic = initialized()
    expect(pic.acknowledge()).toBe(MASTER_BASE + 7)
    expect(isr(pic)).toBe(0)
  })

  it("a level request that went away before INTA gives the spurious vector", () => {
    const pic = initialized()
    pic.writeElcr("master", 1 << 5)
    pic.setIrq(5, true)
    expect(pic.hasInterrupt()).toBe(true)
    pic.setIrq(5, false)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 7)
  })

  it("IR2 raised by a slave request that then went away gives the slave's IRQ 15 vector", () => {
    const pic = initialized()
    pic.writeElcr("slave", 1 << 3)
    pic.setIrq(11, true)
    pic.writePort("slave", 1, 1 << 3) // masked on the slave after IR2 was latched on the master
    expect(pic.acknowledge()).toBe(SLAVE_BASE + 7)
  })

  it("auto-EOI leaves nothing in service after INTA", () => {
    const pic = initialized({ autoEoi: true })
    pulse(pic, 3)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 3)
    expect(isr(pic)).toBe(0)
    pulse(pic, 4)
    expect(pic.acknowledge()).toBe(MASTER_BASE + 4)
  })

  it("OCW3 selects IRR or ISR for command-port reads", () => {
    const pic = initialized()
    pulse(pic, 1)
    pulse(pic, 6)
    pic.writePort("master", 0, READ_IRR)
    expect(pic.readPort("master", 0)).toBe((1 << 1) | (1 << 6))
    pic.acknowledge()
    expect(pic.readPort("master", 0)).toBe(1 << 6)
    pic.writePort("master", 0, READ_ISR)
    expect(pic.readPort("master", 0)).toBe(1 << 1)
  })

  it("OCW3 poll: the next read acknowledges the best request and returns 0x80 | IR", () => {
    const pic = initialized()
    pulse(pic, 5)
    pic.writePort("master", 0, 0x0c)
    expect(pic.readPort("master", 0)).toBe(0x85)
    expect(isr(pic)).toBe(1 << 5)
    pic.writePort("master", 0, 0x0c)
    expect(pic.readPort("master", 1)).toBe(0)
  })
})
