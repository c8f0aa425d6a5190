import { describe, expect, it } from "@effect/vitest"
import { makeRecordingController } from "../../../src/servers/InterruptController.js"
import { intxLine, IntxRouter } from "../../../src/servers/pci/IntxRouter.js"
import { PciFunction } from "../../../src/servers/pci/PciFunction.js"
import { cfgRead, slot, withPci } from "./PciTestMachine.js"

describe("INTx", () => {
  it("INTA# of slot s reaches IOAPIC pin 16 + (4 + s + 1) % 8: always 16-23, never a PIC line", () => {
    expect(intxLine(0, 1)).toBe(21)
    expect(intxLine(3, 1)).toBe(16)
    expect(intxLine(4, 1)).toBe(17)
    for (let s = 0; s < 32; s++) expect(intxLine(s, 1)).toBeGreaterThanOrEqual(16)
    for (let s = 0; s < 32; s++) expect(intxLine(s, 1)).toBeLessThanOrEqual(23)
  })

  it.effect("a device's interrupt pin and line are in config space", () =>
    withPci([slot(4, "virtio-rnd"), slot(31, "lpc")], (bus) => {
      expect(cfgRead(bus, 4, 0x3d, 1)).toBe(1)
      expect(cfgRead(bus, 4, 0x3c, 1)).toBe(17)
      expect(cfgRead(bus, 31, 0x3d, 1)).toBe(0)
    }))

  it("the line follows the device; the command register's INTx disable lowers it while status bit 3 still shows it", () => {
    const fn = new PciFunction({ vendorId: 1, deviceId: 2, classCode: 0, intx: true })
    const levels: Array<boolean> = []
    fn.onIntx = (l) => levels.push(l)
    fn.setIntx(true)
    expect(fn.readConfig(0x06, 2) & 0x8).toBe(0x8)
    fn.writeConfig(0x04, 2, 0x0400)
    expect(fn.readConfig(0x06, 2) & 0x8).toBe(0x8)
    fn.writeConfig(0x04, 2, 0)
    fn.setIntx(false)
    expect(levels).toEqual([true, false, true, false])
  })

  it("a function without an interrupt pin never drives a line", () => {
    const fn = new PciFunction({ vendorId: 1, deviceId: 2, classCode: 0 })
    const levels: Array<boolean> = []
    fn.onIntx = (l) => levels.push(l)
    fn.setIntx(true)
    expect(levels).toEqual([])
  })

  it("functions sharing a line hold it high while any of them asserts (wired-OR)", () => {
    const controller = makeRecordingController()
    const router = new IntxRouter(controller.line)
    const a = router.connect(19)
    const b = router.connect(19)
    a.set(true)
    b.set(true)
    a.set(false)
    expect(controller.lines.get(19)?.level).toBe(true)
    b.set(false)
    expect(controller.lines.get(19)?.levels).toEqual([true, false])
  })
})
