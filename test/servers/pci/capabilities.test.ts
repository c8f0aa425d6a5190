import { describe, expect, it } from "@effect/vitest"
import * as V from "../../../src/servers/virtio/VirtioConstants.js"
import { capabilities, cfgRead, cfgWrite, slot, withPci } from "./PciTestMachine.js"

const RND = 4

/** A virtio vendor capability's fields (struct virtio_pci_cap). */
const virtioCap = (bus: Parameters<typeof cfgRead>[0], s: number, at: number) => ({
  length: cfgRead(bus, s, at + 2, 1),
  type: cfgRead(bus, s, at + 3, 1),
  bar: cfgRead(bus, s, at + 4, 1),
  offset: cfgRead(bus, s, at + 8),
  size: cfgRead(bus, s, at + 12)
})

describe("PCI capability list", () => {
  it.effect("starts at 0x34 with status bit 4 set and walks to a null pointer", () =>
    withPci([slot(RND, "virtio-rnd")], (bus) => {
      expect(cfgRead(bus, RND, 0x06, 2) & 0x10).toBe(0x10)
      const caps = capabilities(bus, RND)
      expect(caps.map((c) => c.id)).toEqual([0x11, 0x09, 0x09, 0x09, 0x09])
      expect(caps[0].offset).toBe(0x40)
      for (const c of caps) expect(c.offset % 4).toBe(0)
    }))

  it.effect("a function without capabilities leaves status bit 4 clear", () =>
    withPci([slot(31, "lpc")], (bus) => {
      expect(cfgRead(bus, 31, 0x06, 2) & 0x10).toBe(0)
      expect(capabilities(bus, 31)).toEqual([])
    }))

  it.effect("the host bridge carries a PCI Express root port capability, as bhyve's does", () =>
    withPci([slot(0, "hostbridge")], (bus) => {
      const [pcie] = capabilities(bus, 0)
      expect(pcie.id).toBe(0x10)
      expect(cfgRead(bus, 0, pcie.offset + 2, 2)).toBe(0x0042)
      expect(cfgRead(bus, 0, 0x08) >>> 8).toBe(0x060000)
    }))

  it.effect("capabilities are read-only where the spec says so", () =>
    withPci([slot(RND, "virtio-rnd")], (bus) => {
      const common = capabilities(bus, RND)[1].offset
      const before = cfgRead(bus, RND, common + 8)
      cfgWrite(bus, RND, common + 8, 0x1234)
      cfgWrite(bus, RND, common + 1, 0, 1)
      expect(cfgRead(bus, RND, common + 8)).toBe(before)
      expect(capabilities(bus, RND)).toHaveLength(5)
    }))

  it.effect("virtio capabilities point into BAR 4: common config, notify (multiplier 4), ISR, PCI config window", () =>
    withPci([slot(RND, "virtio-rnd")], (bus) => {
      const vendor = capabilities(bus, RND).filter((c) => c.id === 0x09).map((c) => virtioCap(bus, RND, c.offset))
      expect(vendor.map((c) => c.type)).toEqual([V.PCI_CAP_COMMON_CFG, V.PCI_CAP_NOTIFY_CFG, V.PCI_CAP_ISR_CFG, V.PCI_CAP_PCI_CFG])
      expect(vendor[0]).toEqual({ length: 16, type: 1, bar: 4, offset: 0, size: 0x38 })
      expect(vendor[1]).toMatchObject({ length: 20, bar: 4, offset: 0x3000, size: 4 })
      const notify = capabilities(bus, RND)[2].offset
      expect(cfgRead(bus, RND, notify + 16)).toBe(4)
      expect(vendor[2]).toMatchObject({ bar: 4, offset: 0x1000 })
    }))

  it.effect("the PCI config window reads and writes the BAR it is pointed at", () =>
    withPci([slot(RND, "virtio-rnd")], (bus) => {
      const window = capabilities(bus, RND)[4].offset
      // num_queues: BAR 4, offset 0x12, 2 bytes
      cfgWrite(bus, RND, window + 4, 4, 1)
      cfgWrite(bus, RND, window + 8, 0x12)
      cfgWrite(bus, RND, window + 12, 2)
      expect(cfgRead(bus, RND, window + 16)).toBe(1)
      // device_status through the window, then read back through it
      cfgWrite(bus, RND, window + 8, 0x14)
      cfgWrite(bus, RND, window + 12, 1)
      cfgWrite(bus, RND, window + 16, V.STATUS_ACKNOWLEDGE)
      expect(cfgRead(bus, RND, window + 16, 1)).toBe(V.STATUS_ACKNOWLEDGE)
    }))

  it.effect("the PCI config window reads zero when pointed at a BAR the device does not have", () =>
    withPci([slot(RND, "virtio-rnd")], (bus) => {
      const window = capabilities(bus, RND)[4].offset
      cfgWrite(bus, RND, window + 4, 3, 1)
      cfgWrite(bus, RND, window + 12, 4)
      expect(cfgRead(bus, RND, window + 16)).toBe(0)
    }))
})
