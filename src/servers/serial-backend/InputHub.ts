/**
 * Fans host input out to listeners. Input that arrives before anyone listens
 * (e.g. keys typed while the machine is still being built) is kept, up to a
 * bound, and handed to the first listener.
 */
export const makeInputHub = (earlyLimit = 64 * 1024) => {
  const listeners = new Set<(bytes: Uint8Array) => void>()
  let early: Array<Uint8Array> = []
  let earlyBytes = 0

  const emit = (bytes: Uint8Array): void => {
    if (bytes.length === 0) return
    if (listeners.size === 0) {
      if (earlyBytes + bytes.length <= earlyLimit) {
        // Copy: streams may reuse their buffers.
        early.push(Uint8Array.from(bytes))
        earlyBytes += bytes.length
      }
      return
    }
    for (const listener of listeners) listener(bytes)
  }

  const subscribe = (listener: (bytes: Uint8Array) => void): (() => void) => {
    listeners.add(listener)
    const queued = early
    early = []
    earlyBytes = 0
    for (const bytes of queued) listener(bytes)
    return () => {
      listeners.delete(listener)
    }
  }

  return { emit, subscribe }
}
