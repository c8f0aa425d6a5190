import * as Effect from "effect/Effect"
import type { PciAddress } from "../pci/PciAddress.js"
import { attachVirtio } from "../virtio/VirtioServer.js"
import { makeVirtioRnd } from "./VirtioRndDevice.js"
import { VIRTIO_RND_STATE_VERSION, VirtioRndState } from "./VirtioRndState.js"

/** Encryption controller, as bhyve's virtio-rnd says (guests match virtio devices by id, not class). */
export const VIRTIO_RND_CLASS = 0x10_00_00

/** `-s slot,virtio-rnd`: takes no options. */
export const attach = (address: PciAddress) =>
  Effect.asVoid(
    attachVirtio({
      emulation: "virtio-rnd",
      kind: "virtio-rnd",
      address,
      device: makeVirtioRnd(),
      classCode: VIRTIO_RND_CLASS,
      stateVersion: VIRTIO_RND_STATE_VERSION,
      stateSchema: VirtioRndState,
      save: (virtio) => ({ virtio }),
      restore: (state, virtio) => virtio.restore(state.virtio)
    })
  )
