import { randomFillSync } from "node:crypto"
import type { QueueHandle, VirtioDevice } from "../virtio/VirtioDevice.js"

/** virtio entropy device id. */
export const VIRTIO_ID_RNG = 4
/** bhyve's ring size for virtio-rnd. */
export const RNG_QUEUE_SIZE = 64
/**
 * Random bytes per request at most. Filling runs on the vCPU's thread in
 * the notify exit; a guest asking for gigabytes must not stall it. The
 * device may return fewer bytes than the buffers hold (5.4.6.1).
 */
export const MAX_BYTES_PER_REQUEST = 64 * 1024

/** Fills `buffers` in order with up to `limit` bytes from the host CSPRNG; returns how many. */
export const fillRandom = (buffers: ReadonlyArray<Uint8Array>, limit: number): number => {
  let filled = 0
  for (const buffer of buffers) {
    const n = Math.min(buffer.length, limit - filled)
    if (n <= 0) break
    randomFillSync(buffer, 0, n)
    filled += n
  }
  return filled
}

/**
 * virtio-rnd (5.4): one request queue; each device-writable buffer the
 * driver posts comes back full of bytes from the host CSPRNG (node:crypto),
 * straight into guest RAM. No config space, no features, no state of its own.
 */
export const makeVirtioRnd = (): VirtioDevice => ({
  deviceId: VIRTIO_ID_RNG,
  queueSizes: [RNG_QUEUE_SIZE],
  features: 0n,
  config: () => new Uint8Array(0),
  notify: (queue: QueueHandle) => {
    for (let chain = queue.next(); chain !== undefined; chain = queue.next()) {
      queue.push(chain, fillRandom(chain.writable, MAX_BYTES_PER_REQUEST))
    }
    queue.signal()
  }
})
