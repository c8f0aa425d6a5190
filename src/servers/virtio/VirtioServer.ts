import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import { GuestMemory } from "../../kernel/GuestMemory.js"
import { announce, type DeviceServer } from "../DeviceServer.js"
import { MsiSink } from "../pci/MsiSink.js"
import { formatPciAddress, type PciAddress, pciServerId } from "../pci/PciAddress.js"
import { PciBus } from "../pci/PciBus.js"
import { reportOnce } from "../pci/ReportOnce.js"
import type { PendingIoSource } from "./PendingIo.js"
import type { VirtioDevice } from "./VirtioDevice.js"
import { makeVirtioPci, type VirtioPci } from "./VirtioPciFunction.js"
import type { VirtioPciState } from "./VirtioPciState.js"

type ConfigValue = string | number | boolean | null

export interface VirtioServerOptions<S, E> {
  /** The `-s` emulation name, e.g. "virtio-blk". */
  readonly emulation: string
  /** The state schema's family, e.g. "virtio-blk". */
  readonly kind: string
  readonly address: PciAddress
  readonly device: VirtioDevice
  readonly classCode: number
  readonly stateVersion: number
  readonly stateSchema: Schema.Schema<S, E>
  /** The device's state around the transport's. */
  readonly save: (virtio: VirtioPciState) => S
  readonly restore: (state: S, virtio: VirtioPci) => void
  /** Read at each save, for the snapshot manifest (a disk's identity changes as the guest writes). */
  readonly config?: () => { readonly [key: string]: ConfigValue }
  readonly quiesce?: Effect.Effect<void, string>
  readonly resumeWork?: Effect.Effect<void>
  /** See DeviceServer.restoreConflict. */
  readonly restoreConflict?: (recorded: { readonly [key: string]: unknown }) => string | undefined
  /** Host I/O in flight (see PendingIo). */
  readonly pendingIo?: () => number
}

/**
 * Puts a virtio device on the PCI bus (the shared transport around it) and
 * announces it as a device server. Returns the assembled transport.
 */
export const attachVirtio = <S, E>(options: VirtioServerOptions<S, E>) =>
  Effect.gen(function* () {
    const bus = yield* PciBus
    const ram = yield* GuestMemory
    const msi = yield* MsiSink
    const id = pciServerId(options.emulation, options.address)
    const virtio = makeVirtioPci({ device: options.device, classCode: options.classCode, ram, msi, name: id, report: reportOnce(bus.report) })
    yield* bus.attach({ owner: id, address: options.address, fn: virtio.fn, bars: virtio.bars })
    const server: DeviceServer<S, E> & Partial<PendingIoSource> = {
      id,
      kind: options.kind,
      get config() {
        return { address: formatPciAddress(options.address), ...options.config?.() }
      },
      stateVersion: options.stateVersion,
      stateSchema: options.stateSchema,
      save: () => options.save(virtio.save()),
      restore: (state) => options.restore(state, virtio),
      quiesce: options.quiesce,
      resumeWork: options.resumeWork,
      restoreConflict: options.restoreConflict,
      ...(options.pendingIo === undefined ? {} : { pendingIo: options.pendingIo })
    }
    yield* announce(server)
    return virtio
  })
