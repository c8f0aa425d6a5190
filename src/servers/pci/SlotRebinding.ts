import * as Either from "effect/Either"
import type { PciSlotConfig } from "../../machine/MachineConfig.js"
import { defaultSerial } from "../virtio-blk/VirtioBlkServer.js"
import { parseVirtioBlkOptions } from "../virtio-blk/VirtioBlkOptions.js"
import { parseVirtioConsoleOptions } from "../virtio-console/VirtioConsoleOptions.js"
import { parseVirtioNetOptions } from "../virtio-net/VirtioNetOptions.js"

/** What a restore may change in a slot: where the device's host side is connected, never what the guest saw. */
type Rebind = (saved: PciSlotConfig, given: PciSlotConfig) => Either.Either<PciSlotConfig, string>

const parsedOrReason = <A>(parsed: Either.Either<A, string>, slot: PciSlotConfig) =>
  Either.mapLeft(parsed, (reason) => `'${slot.emulation},${slot.options}': ${reason}`)

const rebinders: { readonly [emulation: string]: Rebind } = {
  // The backend (tapN, unix=, udp=) may move; the MAC is the guest's and comes from the snapshot anyway.
  "virtio-net": (saved, given) =>
    Either.gen(function* () {
      const before = yield* parsedOrReason(parseVirtioNetOptions(saved, saved.options), saved)
      const after = yield* parsedOrReason(parseVirtioNetOptions(saved, given.options), given)
      if (after.mac !== before.mac) return yield* Either.left(`mac: the guest saw ${before.mac}, the command line says ${after.mac}`)
      return given
    }),
  // The port's socket path (or stdio) may move; its name is what the guest's driver found.
  "virtio-console": (saved, given) =>
    Either.gen(function* () {
      const before = yield* parsedOrReason(parseVirtioConsoleOptions(saved.options), saved)
      const after = yield* parsedOrReason(parseVirtioConsoleOptions(given.options), given)
      if (after.portName !== before.portName) return yield* Either.left(`port name: the guest saw ${before.portName}, the command line says ${after.portName}`)
      return given
    }),
  // The image may move (a copy, for a clone that runs beside the original): the restore still refuses one that
  // does not hold the data the snapshot recorded. What the guest saw stays, the id included: bhyve derives it
  // from the path when ser= is absent, so the snapshot's is kept.
  "virtio-blk": (saved, given) =>
    Either.gen(function* () {
      const before = yield* parsedOrReason(parseVirtioBlkOptions(saved.options), saved)
      const after = yield* parsedOrReason(parseVirtioBlkOptions(given.options), given)
      const serial = before.serial ?? defaultSerial(before.path)
      const seen: ReadonlyArray<readonly [string, unknown, unknown]> = [
        ["ro", before.readOnly, after.readOnly],
        ["sectorsize", `${before.logicalSectorSize}/${before.physicalSectorSize}`, `${after.logicalSectorSize}/${after.physicalSectorSize}`],
        ["nodelete", !before.discard, !after.discard],
        ["ser", serial, after.serial ?? serial]
      ]
      const changed = seen.filter(([, b, a]) => b !== a).map(([what, b, a]) => `${what}: the guest saw ${String(b)}, the command line says ${String(a)}`)
      if (changed.length > 0) return yield* Either.left(changed.join("; "))
      return after.serial === undefined ? { ...given, options: `${given.options},ser=${serial}` } : given
    })
}

/**
 * A slot as the restored machine will have it: the snapshot's, with the
 * command line's backend where the emulation allows a rebinding
 * (virtio-net's link, virtio-console's socket, virtio-blk's image); any other difference is a
 * reason to refuse.
 */
export const rebindSlot = (saved: PciSlotConfig, given: PciSlotConfig): Either.Either<PciSlotConfig, string> => {
  if (given.emulation !== saved.emulation) return Either.left(`the snapshot has ${saved.emulation} there, the command line says ${given.emulation}`)
  if (given.options === saved.options) return Either.right(saved)
  const rebind = rebinders[saved.emulation]
  if (rebind === undefined) {
    return Either.left(`options '${saved.options}' cannot change to '${given.options}' (only virtio-net, virtio-console and virtio-blk backends can be rebound)`)
  }
  return rebind(saved, given)
}
