import type { MmioHandler } from "../../bus/DeviceHandlers.js"
import type { GuestRam } from "../../kernel/MemoryLayout.js"
import type { MsiSinkService } from "../pci/MsiSink.js"
import { MsixTable, msixLayout } from "../pci/Msix.js"
import type { BarSpec } from "../pci/PciBar.js"
import { PciFunction } from "../pci/PciFunction.js"
import type { ReportOnce } from "../pci/ReportOnce.js"
import * as VirtioBarHandler from "./VirtioBarHandler.js"
import * as V from "./VirtioConstants.js"
import type { VirtioDevice } from "./VirtioDevice.js"
import { MSIX_BAR, VIRTIO_BAR, VIRTIO_BAR_SIZE, virtioCapabilities } from "./VirtioPciLayout.js"
import type { VirtioPciState } from "./VirtioPciState.js"
import { VirtioTransport } from "./VirtioTransport.js"

export interface VirtioPciOptions {
  readonly device: VirtioDevice
  /** The PCI class code (base << 16 | sub << 8 | interface). */
  readonly classCode: number
  readonly ram: GuestRam
  readonly msi: MsiSinkService
  readonly name: string
  readonly report: ReportOnce
}

/** A virtio device on PCI, assembled: the function, its MSI-X table, the transport, and a handler per BAR. */
export interface VirtioPci {
  readonly fn: PciFunction
  readonly msix: MsixTable
  readonly transport: VirtioTransport
  readonly bars: ReadonlyArray<MmioHandler | undefined>
  readonly save: () => VirtioPciState
  readonly restore: (state: VirtioPciState) => void
}

/**
 * The virtio 1.x modern PCI transport around any device model: ids
 * 0x1AF4:0x1040+id (revision 1, modern only), vendor capabilities pointing
 * into BAR 4, one MSI-X vector per queue plus one for config changes, INTA#
 * as the fallback.
 */
export const makeVirtioPci = (options: VirtioPciOptions): VirtioPci => {
  const { device } = options
  const layout = msixLayout(device.queueSizes.length + 1, MSIX_BAR)
  const msix = new MsixTable(layout, options.msi)
  const bars: Array<MmioHandler | undefined> = []
  const barSpecs: Array<BarSpec | undefined> = []
  barSpecs[MSIX_BAR] = { kind: "mem32", size: layout.barSize }
  barSpecs[VIRTIO_BAR] = { kind: "mem64", size: VIRTIO_BAR_SIZE }
  const fn = new PciFunction({
    vendorId: V.PCI_VENDOR_ID,
    deviceId: V.PCI_DEVICE_ID_BASE + device.deviceId,
    revision: V.PCI_REVISION,
    classCode: options.classCode,
    subsystemVendorId: V.PCI_VENDOR_ID,
    subsystemId: device.deviceId,
    intx: true,
    bars: barSpecs,
    capabilities: [msix.capability(), ...virtioCapabilities(device.queueSizes.length, device.config().length, (bar) => bars[bar])]
  })
  msix.bindControl(() => ({ enabled: fn.msixEnabled(), functionMasked: fn.msixFunctionMasked() }))
  const transport = new VirtioTransport({
    device,
    ram: options.ram,
    msixVectors: layout.vectors,
    name: options.name,
    report: options.report,
    interrupts: {
      msixEnabled: () => msix.enabled,
      msix: (vector) => void msix.notify(vector),
      intx: (level) => fn.setIntx(level)
    }
  })
  bars[MSIX_BAR] = {
    read: (offset, size) => msix.read(offset, size),
    write: (offset, size, value) => msix.write(offset, size, value)
  }
  bars[VIRTIO_BAR] = VirtioBarHandler.make(transport)
  return {
    fn,
    msix,
    transport,
    bars,
    save: () => ({ pci: fn.save(), msix: msix.save(), transport: transport.save() }),
    // The table first: restoring config space may enable MSI-X, which delivers what is pending.
    restore: (state) => {
      msix.restore(state.msix)
      fn.restore(state.pci)
      transport.restore(state.transport)
    }
  }
}
