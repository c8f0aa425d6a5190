import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import { type PciAddress, pciServerId } from "../pci/PciAddress.js"
import { PciBus } from "../pci/PciBus.js"
import { reportOnce } from "../pci/ReportOnce.js"
import { attachVirtio } from "../virtio/VirtioServer.js"
import type { BlockBackend } from "./BlockBackend.js"
import { type DiskIdentity, identityMismatch } from "./DiskIdentity.js"
import { DiskOpenFailed } from "./DiskErrors.js"
import { DiskImage } from "./DiskImage.js"
import { VirtioBlkDevice } from "./VirtioBlkDevice.js"
import type { VirtioBlkOptions } from "./VirtioBlkOptions.js"
import { VIRTIO_BLK_STATE_VERSION, VirtioBlkState } from "./VirtioBlkState.js"

/** Mass storage controller, other. */
export const VIRTIO_BLK_CLASS = 0x01_80_00

/** bhyve's default id: "BHYVE-" and hex digits of a hash of the path, 20 bytes in all. */
export const defaultSerial = (path: string): string => {
  const h = createHash("md5").update(path).digest("hex").toUpperCase()
  return `BHYVE-${h.slice(0, 4)}-${h.slice(4, 8)}-${h.slice(8, 12)}`.slice(0, 20)
}

export interface VirtioBlkHandle {
  readonly device: VirtioBlkDevice
  /** The image's identity as of the last save (or the open): for the snapshot manifest. */
  readonly identity: () => DiskIdentity
}

/**
 * `-s slot,virtio-blk,PATH[,ro][,sectorsize=N]`: the image is opened for
 * the life of the machine. A save's quiesce waits for every request in
 * flight, flushes the image and takes its identity again (the guest's
 * writes change it), which the manifest then records.
 */
export const attach = (address: PciAddress, options: VirtioBlkOptions) =>
  Effect.gen(function* () {
    const disk = yield* DiskImage.open(options.path, { readOnly: options.readOnly, sync: options.sync })
    let identity = yield* Effect.tryPromise({
      try: () => disk.identity(),
      catch: (e) => new DiskOpenFailed({ path: disk.path, reason: `cannot read it: ${e instanceof Error ? e.message : String(e)}` })
    })
    const quiesceDisk = (device: VirtioBlkDevice) =>
      Effect.tryPromise({
        try: async () => {
          await device.drained()
          if (!disk.readOnly) await disk.flush()
          identity = await disk.identity()
        },
        catch: (e) => `${disk.path}: ${e instanceof Error ? e.message : String(e)}`
      })
    const device = yield* attachBlockDevice(address, disk, options, () => ({
      path: identity.path,
      sizeBytes: identity.sizeBytes,
      mtimeMs: identity.mtimeMs,
      sha256: identity.sha256,
      readOnly: disk.readOnly,
      sectorSize: options.logicalSectorSize
    }), quiesceDisk, (recorded) =>
      typeof recorded.sizeBytes === "number" && typeof recorded.sha256 === "string"
        ? identityMismatch({ sizeBytes: recorded.sizeBytes, sha256: recorded.sha256 }, identity)
        : `the snapshot recorded no identity for ${identity.path}`)
    const handle: VirtioBlkHandle = { device, identity: () => identity }
    return handle
  })

/** The device over any backend (tests give it slow or failing ones). */
export const attachBlockDevice = (
  address: PciAddress,
  backend: BlockBackend,
  options: Pick<VirtioBlkOptions, "path" | "logicalSectorSize" | "physicalSectorSize" | "serial" | "discard">,
  config: () => { readonly [key: string]: string | number | boolean | null } = () => ({ path: options.path }),
  quiesce: (device: VirtioBlkDevice) => Effect.Effect<void, string> = (device) => Effect.promise(() => device.drained()),
  restoreConflict?: (recorded: { readonly [key: string]: unknown }) => string | undefined
) =>
  Effect.gen(function* () {
    const bus = yield* PciBus
    const name = pciServerId("virtio-blk", address)
    const device = new VirtioBlkDevice(backend, {
      logicalSectorSize: options.logicalSectorSize,
      physicalSectorSize: options.physicalSectorSize,
      discard: options.discard,
      serial: options.serial ?? defaultSerial(options.path),
      name,
      report: reportOnce(bus.report)
    })
    yield* attachVirtio({
      emulation: "virtio-blk",
      kind: "virtio-blk",
      address,
      device,
      classCode: VIRTIO_BLK_CLASS,
      stateVersion: VIRTIO_BLK_STATE_VERSION,
      stateSchema: VirtioBlkState,
      // The schema refuses anything but 0, so a save that skipped quiesce fails to encode instead of losing requests.
      save: (virtio) => ({ virtio, inFlight: device.pendingIo() }),
      restore: (state, virtio) => virtio.restore(state.virtio),
      config,
      quiesce: quiesce(device),
      restoreConflict,
      pendingIo: () => device.pendingIo()
    })
    return device
  })
