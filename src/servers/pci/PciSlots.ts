import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Bus from "../../bus/Bus.js"
import type { BadRange, BusConflict } from "../../bus/BusErrors.js"
import type { GuestMemory } from "../../kernel/GuestMemory.js"
import type { PciSlotConfig } from "../../machine/MachineConfig.js"
import type { DeviceServers } from "../DeviceServer.js"
import type { InterruptController } from "../InterruptController.js"
import type { DiskOpenFailed } from "../virtio-blk/DiskErrors.js"
import * as VirtioBlkServer from "../virtio-blk/VirtioBlkServer.js"
import { parseVirtioBlkOptions } from "../virtio-blk/VirtioBlkOptions.js"
import * as VirtioRndServer from "../virtio-rnd/VirtioRndServer.js"
import type { SerialBackendError } from "../serial-backend/SerialBackend.js"
import * as VirtioConsoleServer from "../virtio-console/VirtioConsoleServer.js"
import { parseVirtioConsoleOptions } from "../virtio-console/VirtioConsoleOptions.js"
import type { NetBackendError } from "../virtio-net/NetBackend.js"
import * as VirtioNetServer from "../virtio-net/VirtioNetServer.js"
import { parseVirtioNetOptions } from "../virtio-net/VirtioNetOptions.js"
import { AMD_HOSTBRIDGE_IDS, hostBridgeSpec, HOSTBRIDGE_IDS } from "./HostBridge.js"
import { lpcSpec } from "./Lpc.js"
import type { MsiSink } from "./MsiSink.js"
import { formatPciAddress, type PciAddress } from "./PciAddress.js"
import type { PciBus } from "./PciBus.js"
import * as PciBusServer from "./PciBusServer.js"
import { BadSlotConfig, type PciAttachError, type PciSlotError, UnknownEmulation } from "./PciErrors.js"
import { PciFunction } from "./PciFunction.js"
import { attachPlainFunction } from "./PciFunctionServer.js"

/** What building one slot's device may need. */
export type SlotRequirements = PciBus | DeviceServers | GuestMemory | MsiSink | Scope.Scope
export type SlotError = PciAttachError | DiskOpenFailed | SerialBackendError | NetBackendError
/** One slot's device, ready to build (in the machine's scope). */
export type SlotBuild = Effect.Effect<void, SlotError, SlotRequirements>

/** An emulation: its options checked now, its device built later. */
type Emulation = (address: PciAddress, options: string) => Either.Either<SlotBuild, string>

const noOptions = (options: string): Either.Either<void, string> =>
  options === "" ? Either.void : Either.left(`takes no options (got '${options}')`)

const hostBridge = (ids: { readonly vendorId: number; readonly deviceId: number }, emulation: string): Emulation => (address, options) =>
  Either.map(hostBridgeSpec(ids, options), (spec) => attachPlainFunction({ emulation, kind: "pci-hostbridge", address, fn: new PciFunction(spec) }))

/** The `-s` emulations built here, by bhyve's names. */
export const emulations: { readonly [name: string]: Emulation } = {
  hostbridge: hostBridge(HOSTBRIDGE_IDS, "hostbridge"),
  amd_hostbridge: hostBridge(AMD_HOSTBRIDGE_IDS, "amd_hostbridge"),
  lpc: (address, options) =>
    Either.map(noOptions(options), () => attachPlainFunction({ emulation: "lpc", kind: "pci-lpc", address, fn: new PciFunction(lpcSpec) })),
  "virtio-rnd": (address, options) => Either.map(noOptions(options), () => VirtioRndServer.attach(address)),
  "virtio-blk": (address, options) =>
    Either.map(parseVirtioBlkOptions(options), (blk) => Effect.asVoid(VirtioBlkServer.attach(address, blk))),
  "virtio-console": (address, options) =>
    Either.map(parseVirtioConsoleOptions(options), (con) => Effect.asVoid(VirtioConsoleServer.attach(address, con))),
  "virtio-net": (address, options) =>
    Either.map(parseVirtioNetOptions(address, options), (net) => Effect.asVoid(VirtioNetServer.attach(address, net)))
}

export const implementedPciEmulations: ReadonlyArray<string> = Object.keys(emulations)

/** One `-s` entry: checked now (name, options, place), built later. */
export const slotBuild = (slot: PciSlotConfig): Either.Either<SlotBuild, PciSlotError> => {
  const address = formatPciAddress(slot)
  const emulation = emulations[slot.emulation]
  if (emulation === undefined) return Either.left(new UnknownEmulation({ address, emulation: slot.emulation }))
  if (slot.bus !== 0) return Either.left(new BadSlotConfig({ address, emulation: slot.emulation, reason: "only bus 0 exists in bhyve-ts" }))
  return Either.mapLeft(emulation(slot, slot.options), (reason) => new BadSlotConfig({ address, emulation: slot.emulation, reason }))
}

export type PciDevicesError = SlotError | BusConflict | BadRange
export type PciDevicesRequirements = Bus.Bus | DeviceServers | InterruptController | GuestMemory | MsiSink

/**
 * The PCI subsystem for a machine's `-s` entries: bus 0 (0xCF8/0xCFC, ECAM)
 * and every slot's device. Everything that can be checked without building
 * is checked here (unknown emulations, bad options, a place used twice, a
 * second LPC bridge), so a bad command line fails before the VM exists.
 * Devices are built one after the other in slot order, so BAR addresses
 * are the same on every run with the same slots.
 */
export const layer = (
  slots: ReadonlyArray<PciSlotConfig>,
  options: PciBusServer.PciBusOptions
): Either.Either<Layer.Layer<never, PciDevicesError, PciDevicesRequirements>, PciSlotError> =>
  Either.gen(function* () {
    const ordered = [...slots].sort((a, b) => a.bus - b.bus || a.slot - b.slot || a.function - b.function)
    const builds: Array<SlotBuild> = []
    const seen = new Map<string, string>()
    for (const slot of ordered) {
      const address = formatPciAddress(slot)
      const before = seen.get(address)
      if (before !== undefined) {
        return yield* Either.left(new BadSlotConfig({ address, emulation: slot.emulation, reason: `already taken by ${before}` }))
      }
      if (slot.emulation === "lpc" && [...seen.values()].includes("lpc")) {
        return yield* Either.left(new BadSlotConfig({ address, emulation: slot.emulation, reason: "only one LPC bridge is allowed" }))
      }
      seen.set(address, slot.emulation)
      builds.push(yield* slotBuild(slot))
    }
    const devices = Layer.scopedDiscard(Effect.forEach(builds, (build) => build, { discard: true }))
    return devices.pipe(Layer.provide(PciBusServer.layer(options)))
  })
