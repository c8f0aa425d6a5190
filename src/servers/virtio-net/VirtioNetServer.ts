import * as Effect from "effect/Effect"
import { type PciAddress, pciServerId } from "../pci/PciAddress.js"
import { PciBus } from "../pci/PciBus.js"
import { reportOnce } from "../pci/ReportOnce.js"
import { attachVirtio } from "../virtio/VirtioServer.js"
import { type NetBackend, none, udp } from "./NetBackend.js"
import { VirtioNetDevice } from "./VirtioNetDevice.js"
import { formatMac, macBytes, type VirtioNetOptions } from "./VirtioNetOptions.js"
import { VIRTIO_NET_STATE_VERSION, VirtioNetState } from "./VirtioNetState.js"

/** Network controller, Ethernet. */
export const VIRTIO_NET_CLASS = 0x02_00_00

/** `-s slot,virtio-net[,udp=LOCALPORT:PEERPORT][,mac=...]`: the backend is opened for the life of the machine. */
export const attach = (address: PciAddress, options: VirtioNetOptions) =>
  Effect.gen(function* () {
    const backend = options.backend._tag === "udp" ? yield* udp(options.backend.localPort, options.backend.peerPort) : none()
    const link = options.backend._tag === "udp" ? `udp=${options.backend.localPort}:${options.backend.peerPort}` : "none"
    return yield* attachNetDevice(address, backend, options.mac, link)
  })

/** The device over any backend (tests give it in-memory ones). */
export const attachNetDevice = (address: PciAddress, backend: NetBackend, mac: string, link: string = backend.kind) =>
  Effect.gen(function* () {
    const bus = yield* PciBus
    const name = pciServerId("virtio-net", address)
    const device = yield* Effect.acquireRelease(
      Effect.sync(() => new VirtioNetDevice({ mac: macBytes(mac), backend, name, report: reportOnce(bus.report) })),
      (d) => Effect.sync(() => d.close())
    )
    const virtio = yield* attachVirtio({
      emulation: "virtio-net",
      kind: "virtio-net",
      address,
      device,
      classCode: VIRTIO_NET_CLASS,
      stateVersion: VIRTIO_NET_STATE_VERSION,
      stateSchema: VirtioNetState,
      save: (virtio) => {
        const counters = device.counters()
        return { virtio, mac: formatMac(device.mac()), counters: { ...counters, rxDropped: counters.rxDropped + device.pendingRx() } }
      },
      restore: (state, virtio) => {
        // The guest's driver read the MAC before the save: it keeps seeing that one, whatever `mac=` says now.
        device.setMac(macBytes(state.mac))
        device.restoreCounters(state.counters)
        virtio.restore(state.virtio)
      },
      config: () => ({ mac: formatMac(device.mac()), backend: link })
    })
    device.bind(virtio.transport.handles)
    return device
  })
