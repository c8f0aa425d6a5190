/**
 * Splits a byte stream into newline-terminated lines, refusing to buffer a
 * line longer than `maxLineBytes` so a peer that never sends a newline cannot
 * make us hold unbounded memory. Bytes are decoded as UTF-8 only once a line
 * is complete, so a character split across chunks survives.
 */
export interface FramedInput {
  /** The complete lines in this chunk, newline (and a trailing CR) removed, blank lines skipped. */
  readonly lines: ReadonlyArray<string>
  /** The line being received has grown past the limit; the stream is unusable from here. */
  readonly overflow: boolean
}

export interface LineFramer {
  readonly push: (chunk: Uint8Array) => FramedInput
  /** At end of stream: the unterminated last line, if any, treated as a line of its own. */
  readonly finish: () => string | undefined
}

const NEWLINE = 0x0a

const toLine = (bytes: Buffer): string | undefined => {
  const text = bytes.toString("utf8").replace(/\r$/, "")
  return text.trim() === "" ? undefined : text
}

export const makeLineFramer = (maxLineBytes: number): LineFramer => {
  let pending: Array<Buffer> = []
  let pendingBytes = 0
  let overflowed = false

  const push = (chunk: Uint8Array): FramedInput => {
    if (overflowed) return { lines: [], overflow: true }
    const lines: Array<string> = []
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    for (let at = data.indexOf(NEWLINE); at !== -1; at = data.indexOf(NEWLINE)) {
      if (pendingBytes + at > maxLineBytes) {
        overflowed = true
        return { lines, overflow: true }
      }
      const line = toLine(Buffer.concat([...pending, data.subarray(0, at)]))
      if (line !== undefined) lines.push(line)
      pending = []
      pendingBytes = 0
      data = data.subarray(at + 1)
    }
    if (pendingBytes + data.length > maxLineBytes) {
      overflowed = true
      return { lines, overflow: true }
    }
    if (data.length > 0) {
      // Copy: the caller may reuse the chunk's memory.
      pending.push(Buffer.from(data))
      pendingBytes += data.length
    }
    return { lines, overflow: false }
  }

  const finish = (): string | undefined => {
    if (overflowed || pendingBytes === 0) return undefined
    const line = toLine(Buffer.concat(pending))
    pending = []
    pendingBytes = 0
    return line
  }

  return { push, finish }
}
