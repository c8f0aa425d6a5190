import { describe, expect, it } from "@effect/vitest"
import { makeRecordingMsiSink } from "../../../src/servers/pci/MsiSink.js"
import { MsixTable, msixLayout } from "../../../src/servers/pci/Msix.js"
import { PciFunction } from "../../../src/servers/pci/PciFunction.js"

/** A function with a 4-vector MSI-X table in BAR 0 and INTA#, plus its table and the recorded messages. */
const setup = () => {
  const sink = makeRecordingMsiSink()
  const table = new MsixTable(msixLayout(4, 0), sink)
  const fn = new PciFunction({ vendorId: 1, deviceId: 2, classCode: 0, intx: true, bars: [{ kind: "mem32", size: table.layout.barSize }], capabilities: [table.capability()] })
  table.bindControl(() => ({ enabled: fn.msixEnabled(), functionMasked: fn.msixFunctionMasked() }))
  const cap = fn.capabilityOffset(0x11) ?? 0
  const control = (value: number) => fn.writeConfig(cap + 2, 2, value)
  const program = (v: number, address: number, data: number) => {
    table.write(16 * v, 4, address)
    table.write(16 * v + 4, 4, 0)
    table.write(16 * v + 8, 4, data)
  }
  const unmask = (v: number) => table.write(16 * v + 12, 4, 0)
  return { sink, table, fn, cap, control, program, unmask }
}

const ENABLE = 0x8000
const FUNCTION_MASK = 0x4000

describe("MSI-X", () => {
  it("the capability gives the table size minus one, and table and PBA in the BAR (PBA on its own page)", () => {
    const { fn, cap } = setup()
    expect(fn.readConfig(cap, 1)).toBe(0x11)
    expect(fn.readConfig(cap + 2, 2)).toBe(3)
    expect(fn.readConfig(cap + 4, 4)).toBe(0) // table at 0 in BAR 0
    expect(fn.readConfig(cap + 8, 4)).toBe(0x1000) // PBA at 4 KiB in BAR 0
  })

  it("only the enable and function-mask bits of message control are writable", () => {
    const { fn, cap, control } = setup()
    control(0xffff)
    expect(fn.readConfig(cap + 2, 2)).toBe(ENABLE | FUNCTION_MASK | 3)
  })

  it("every vector starts masked; table entries read back what was written", () => {
    const { table, program } = setup()
    expect(table.read(12, 4)).toBe(1)
    program(2, 0xfee0_0000, 0x4041)
    expect(table.read(32, 4)).toBe(0xfee0_0000)
    expect(table.read(40, 4)).toBe(0x4041)
  })

  it("vector control keeps only its mask bit", () => {
    const { table } = setup()
    table.write(12, 4, 0xffff_fffe)
    expect(table.read(12, 4)).toBe(0)
  })

  it("an 8-byte access reads and writes two dwords of an entry", () => {
    const { table } = setup()
    table.write(16, 8, 0x0000_0001_fee0_1000n)
    expect(table.read(16, 8)).toBe(0x0000_0001_fee0_1000n)
    expect(table.read(20, 4)).toBe(1)
  })

  it("an unmasked vector with MSI-X enabled goes to the sink with its entry's address and data", () => {
    const { sink, table, control, program, unmask } = setup()
    control(ENABLE)
    program(1, 0xfee0_0000, 0x31)
    unmask(1)
    expect(table.notify(1)).toBe(true)
    expect(sink.messages).toEqual([{ address: 0xfee0_0000n, data: 0x31 }])
  })

  it("a masked vector becomes pending in the PBA and goes out when unmasked", () => {
    const { sink, table, control, program, unmask } = setup()
    control(ENABLE)
    program(2, 0xfee0_0000, 0x32)
    table.notify(2)
    expect(sink.messages).toEqual([])
    expect(table.read(0x1000, 4)).toBe(0b100)
    unmask(2)
    expect(sink.messages).toEqual([{ address: 0xfee0_0000n, data: 0x32 }])
    expect(table.read(0x1000, 4)).toBe(0)
  })

  it("the function mask holds every vector pending until it is cleared", () => {
    const { sink, table, control, program, unmask } = setup()
    control(ENABLE | FUNCTION_MASK)
    program(0, 0xfee0_0000, 0x30)
    unmask(0)
    table.notify(0)
    expect(table.isPending(0)).toBe(true)
    expect(sink.messages).toEqual([])
    control(ENABLE)
    expect(sink.messages).toEqual([{ address: 0xfee0_0000n, data: 0x30 }])
    expect(table.isPending(0)).toBe(false)
  })

  it("with MSI-X disabled, notify says so and the caller falls back to INTx", () => {
    const { sink, table, unmask } = setup()
    unmask(0)
    expect(table.notify(0)).toBe(false)
    expect(sink.messages).toEqual([])
  })

  it("the PBA is read-only", () => {
    const { table, control } = setup()
    control(ENABLE)
    table.notify(3)
    table.write(0x1000, 4, 0)
    expect(table.read(0x1000, 4)).toBe(0b1000)
  })

  it("enabling MSI-X takes the function's INTx off the line", () => {
    const { fn, control } = setup()
    const levels: Array<boolean> = []
    fn.onIntx = (l) => levels.push(l)
    fn.setIntx(true)
    control(ENABLE)
    control(0)
    expect(levels).toEqual([true, false, true])
  })

  it("table and pending bits survive save and restore", () => {
    const a = setup()
    a.control(ENABLE)
    a.program(1, 0xfee0_0000, 0x77)
    a.table.notify(1)
    const b = setup()
    b.table.restore(a.table.save())
    expect(b.table.save()).toEqual(a.table.save())
    expect(b.table.read(0x1000, 4)).toBe(0b10)
  })
})
