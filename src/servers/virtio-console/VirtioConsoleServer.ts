import * as Effect from "effect/Effect"
import { type PciAddress, pciServerId } from "../pci/PciAddress.js"
import { PciBus } from "../pci/PciBus.js"
import { reportOnce } from "../pci/ReportOnce.js"
import type { SerialBackendHandle } from "../serial-backend/SerialBackend.js"
import { socket } from "../serial-backend/SocketBackend.js"
import { stdio } from "../serial-backend/StdioBackend.js"
import { attachVirtio } from "../virtio/VirtioServer.js"
import { VirtioConsoleDevice } from "./VirtioConsoleDevice.js"
import type { VirtioConsoleOptions } from "./VirtioConsoleOptions.js"
import { VIRTIO_CONSOLE_STATE_VERSION, VirtioConsoleState } from "./VirtioConsoleState.js"

/** Simple communication controller, other (bhyve's class for virtio-console). */
export const VIRTIO_CONSOLE_CLASS = 0x07_80_00

/** `-s slot,virtio-console,port1=PATH|socket=PATH|PATH|stdio`: the backend is opened for the life of the machine. */
export const attach = (address: PciAddress, options: VirtioConsoleOptions) =>
  Effect.gen(function* () {
    const backend = options.backend._tag === "stdio" ? yield* stdio() : yield* socket(options.backend.path)
    const config: { readonly [key: string]: string } = options.backend._tag === "stdio" ? { port: options.portName, backend: "stdio" } : { port: options.portName, backend: "socket", path: options.backend.path }
    return yield* attachConsoleDevice(address, backend, () => config)
  })

/** The device over any serial backend (tests give it a memory one). */
export const attachConsoleDevice = (
  address: PciAddress,
  backend: SerialBackendHandle,
  config: () => { readonly [key: string]: string | number | boolean | null } = () => ({ backend: backend.kind })
) =>
  Effect.gen(function* () {
    const bus = yield* PciBus
    const name = pciServerId("virtio-console", address)
    const device = yield* Effect.acquireRelease(
      Effect.sync(() => new VirtioConsoleDevice({ backend, name, report: reportOnce(bus.report) })),
      (d) => Effect.sync(() => d.close())
    )
    const virtio = yield* attachVirtio({
      emulation: "virtio-console",
      kind: "virtio-console",
      address,
      device,
      classCode: VIRTIO_CONSOLE_CLASS,
      stateVersion: VIRTIO_CONSOLE_STATE_VERSION,
      stateSchema: VirtioConsoleState,
      save: (virtio) => ({ virtio, pendingInput: device.pendingInput() }),
      restore: (state, virtio) => {
        virtio.restore(state.virtio)
        device.restorePending(state.pendingInput)
      },
      config
    })
    device.bind(virtio.transport.handles)
    return device
  })
