import type { UartDevice } from "./UartDevice.js"

/** Host input held back is bounded so a guest that never reads cannot grow it without limit. */
export const DEFAULT_INPUT_LIMIT = 1024 * 1024

/**
 * Host input the receiver could not take yet. A real line would overrun; a
 * pasted block of text should not lose bytes, so they wait here and move
 * into the FIFO as the guest drains it.
 */
export class UartInputQueue {
  private chunks: Array<Uint8Array> = []
  private head = 0 // bytes of chunks[0] already delivered
  private size = 0
  /** Bytes refused because the queue was at its limit. */
  dropped = 0

  constructor(private readonly limit = DEFAULT_INPUT_LIMIT) {}

  get length(): number {
    return this.size
  }

  push(bytes: Uint8Array): void {
    const room = Math.max(0, this.limit - this.size)
    const taken = Math.min(room, bytes.length)
    this.dropped += bytes.length - taken
    if (taken === 0) return
    // Copy: the producer may reuse its buffer.
    this.chunks.push(bytes.slice(0, taken))
    this.size += taken
  }

  /** Moves as much as the receiver accepts; returns how many bytes moved. */
  deliverTo(device: UartDevice): number {
    let moved = 0
    while (this.chunks.length > 0) {
      const chunk = this.chunks[0]
      const n = device.offer(chunk, this.head)
      moved += n
      this.head += n
      this.size -= n
      if (this.head < chunk.length) break
      this.chunks.shift()
      this.head = 0
    }
    return moved
  }
}
