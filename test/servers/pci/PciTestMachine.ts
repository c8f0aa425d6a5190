import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Bus from "../../../src/bus/Bus.js"
import type { AccessSize } from "../../../src/bus/DeviceHandlers.js"
import { GuestMemory } from "../../../src/kernel/GuestMemory.js"
import type { GuestRam } from "../../../src/kernel/MemoryLayout.js"
import type { PciSlotConfig } from "../../../src/machine/MachineConfig.js"
import { layerDeviceServers } from "../../../src/servers/DeviceServer.js"
import { layerRecording, makeRecordingController } from "../../../src/servers/InterruptController.js"
import { ECAM_BASE } from "../../../src/servers/pci/Ecam.js"
import * as MsiSink from "../../../src/servers/pci/MsiSink.js"
import * as PciSlots from "../../../src/servers/pci/PciSlots.js"

/** Guest RAM as one plain array from address 0: what the device models see, without KVM. */
export const testRam = (bytes: number): GuestRam => ({
  size: bytes,
  regions: [{ slot: 0, gpa: 0, size: bytes, bytes: new Uint8Array(bytes) }]
})

export const RAM_BYTES = 4 * 1024 * 1024

/** `-s` entries in short: [slot, emulation, options?] or [slot, function, emulation, options?]. */
export const slot = (s: number, emulation: string, options = "", fn = 0): PciSlotConfig => ({ bus: 0, slot: s, function: fn, emulation, options })

/** The machine services a PCI device needs, with recording interrupt lines and MSI sink. */
export const baseServices = (ram: GuestRam = testRam(RAM_BYTES)) => {
  const controller = makeRecordingController()
  const msi = MsiSink.makeRecordingMsiSink()
  const reports: Array<string> = []
  const layer = Layer.mergeAll(
    Bus.layer({ report: (m) => reports.push(m) }),
    layerDeviceServers,
    layerRecording(controller),
    Layer.succeed(GuestMemory, ram),
    MsiSink.layerRecording(msi)
  )
  return { layer, controller, msi, reports, ram }
}

/** A machine with just the PCI subsystem for `slots`. */
export const pciMachine = (slots: ReadonlyArray<PciSlotConfig>, ram?: GuestRam) => {
  const base = baseServices(ram)
  const pci = Either.getOrThrow(PciSlots.layer(slots, { memoryBytes: base.ram.size }))
  return { ...base, layer: pci.pipe(Layer.provideMerge(base.layer)) }
}

/** Runs `body` with the bus of a PCI machine built from `slots`. */
export const withPci = <A>(slots: ReadonlyArray<PciSlotConfig>, body: (bus: Bus.BusRouter, m: ReturnType<typeof pciMachine>) => A | Promise<A>) => {
  const m = pciMachine(slots)
  return Effect.scoped(
    Effect.gen(function* () {
      const bus = yield* Bus.Bus
      return yield* Effect.promise(async () => body(bus, m))
    }).pipe(Effect.provide(m.layer))
  )
}

const address = (s: number, fn: number, reg: number) => (0x8000_0000 | (s << 11) | (fn << 8) | (reg & 0xfc)) >>> 0

/** A config read the way a guest does it with mechanism #1. */
export const cfgRead = (bus: Bus.BusRouter, s: number, reg: number, size: AccessSize = 4, fn = 0): number => {
  bus.pioWrite(0xcf8, 4, address(s, fn, reg))
  return bus.pioRead(0xcfc + (reg & 3), size)
}

export const cfgWrite = (bus: Bus.BusRouter, s: number, reg: number, value: number, size: AccessSize = 4, fn = 0): void => {
  bus.pioWrite(0xcf8, 4, address(s, fn, reg))
  bus.pioWrite(0xcfc + (reg & 3), size, value)
}

export const ecamAddress = (s: number, reg: number, fn = 0) => ECAM_BASE + (s << 15) + (fn << 12) + reg

/** A BAR's decoded address (64-bit BARs: both halves). */
export const barAddress = (bus: Bus.BusRouter, s: number, bar: number): number => {
  const low = cfgRead(bus, s, 0x10 + 4 * bar)
  if ((low & 1) === 1) return low & 0xfffc
  const high = (low & 0x6) === 0x4 ? cfgRead(bus, s, 0x14 + 4 * bar) : 0
  return high * 0x1_0000_0000 + ((low & ~0xf) >>> 0)
}

/** Capability offsets and ids, walked from 0x34 as a guest does. */
export const capabilities = (bus: Bus.BusRouter, s: number): Array<{ offset: number; id: number }> => {
  const out: Array<{ offset: number; id: number }> = []
  if ((cfgRead(bus, s, 0x06, 2) & 0x10) === 0) return out
  let at = cfgRead(bus, s, 0x34, 1)
  while (at !== 0 && out.length < 48) {
    out.push({ offset: at, id: cfgRead(bus, s, at, 1) })
    at = cfgRead(bus, s, at + 1, 1)
  }
  return out
}
