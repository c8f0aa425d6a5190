import * as Effect from "effect/Effect"
import { loadNativeKvm } from "../../kernel/NativeKvm.js"
import { type PciAddress, pciServerId } from "../pci/PciAddress.js"
import { PciBus } from "../pci/PciBus.js"
import { reportOnce } from "../pci/ReportOnce.js"
import { attachVirtio } from "../virtio/VirtioServer.js"
import { type NetBackend, NetBackendError, none } from "./NetBackend.js"
import { tap } from "./TapBackend.js"
import { udp } from "./UdpBackend.js"
import { unixDatagram } from "./UnixDatagramBackend.js"
import { VirtioNetDevice } from "./VirtioNetDevice.js"
import { formatMac, formatNetBackend, macBytes, type NetBackendConfig, type VirtioNetOptions } from "./VirtioNetOptions.js"
import { VIRTIO_NET_STATE_VERSION, VirtioNetState } from "./VirtioNetState.js"

/** Network controller, Ethernet. */
export const VIRTIO_NET_CLASS = 0x02_00_00

/** Opens the configured backend for the life of the machine (the current scope). */
const openBackend = (config: NetBackendConfig) =>
  Effect.gen(function* () {
    if (config._tag === "none") return none()
    if (config._tag === "udp") return yield* udp(config.localPort, config.peerPort)
    const native = yield* Effect.mapError(
      loadNativeKvm,
      (e) => new NetBackendError({ backend: formatNetBackend(config), reason: e.message })
    )
    const { report } = yield* PciBus
    if (config._tag === "tap") return yield* tap({ native, name: config.name, report })
    return yield* unixDatagram({ native, localPath: config.localPath, peerPath: config.peerPath, report })
  })

/** `-s slot,virtio-net[,BACKEND][,mac=...]` (see parseVirtioNetOptions). */
export const attach = (address: PciAddress, options: VirtioNetOptions) =>
  Effect.gen(function* () {
    const backend = yield* openBackend(options.backend)
    return yield* attachNetDevice(address, backend, options.mac, formatNetBackend(options.backend))
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
