import type { SerialBackendHandle } from "../src/servers/serial-backend/SerialBackend.js"
import { makeMemory } from "../src/servers/serial-backend/MemoryBackend.js"

/** A serial line and the performance.now() at which its "\n" arrived. */
export interface StampedLine {
  readonly text: string
  readonly at: number
}

export interface LineClock {
  /** Give this to the UART: a memory backend that also stamps lines. */
  readonly backend: SerialBackendHandle
  readonly lines: () => ReadonlyArray<StampedLine>
  /** When the first output byte arrived, if any did. */
  readonly firstByteAt: () => number | undefined
}

/**
 * Wraps the memory backend so each completed line is timestamped the moment
 * its final byte is written, on the vCPU's thread, inside the exit handler:
 * the same point at which the C baseline stamps its lines. Only "\n" and the
 * very first byte read the clock, so ordinary bytes cost no more than with
 * the plain memory backend.
 */
export const makeLineClock = (): LineClock => {
  const memory = makeMemory()
  const lines: Array<StampedLine> = []
  let current = ""
  let firstByteAt: number | undefined
  const write = (bytes: Uint8Array) => {
    if (firstByteAt === undefined && bytes.length > 0) firstByteAt = performance.now()
    memory.write(bytes)
    for (const byte of bytes) {
      if (byte === 0x0a) {
        lines.push({ text: current, at: performance.now() })
        current = ""
      } else {
        current += String.fromCharCode(byte)
      }
    }
  }
  return { backend: { ...memory, write }, lines: () => lines, firstByteAt: () => firstByteAt }
}

/** Milliseconds between two lines of output, by their exact text. */
export const spanMs = (lines: ReadonlyArray<StampedLine>, from: string, to: string): number | undefined => {
  const a = lines.find((l) => l.text === from)
  const b = lines.find((l) => l.text === to)
  return a !== undefined && b !== undefined && b.at >= a.at ? b.at - a.at : undefined
}
