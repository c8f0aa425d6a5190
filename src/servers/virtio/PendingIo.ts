import type { DeviceServer } from "../DeviceServer.js"

/**
 * A device server with host I/O in flight that completes on the machine
 * thread's event loop: the run loop can leave KVM_RUN more often while
 * `pendingIo()` is non-zero, so completions (and their interrupts) are not
 * held back until the next watchdog kick.
 */
export interface PendingIoSource {
  readonly pendingIo: () => number
}

export const hasPendingIo = (server: DeviceServer): server is DeviceServer & PendingIoSource =>
  "pendingIo" in server && typeof server.pendingIo === "function"

/** Total I/O in flight across the machine's servers. */
export const totalPendingIo = (servers: ReadonlyArray<DeviceServer>): number =>
  servers.reduce((n, s) => n + (hasPendingIo(s) ? s.pendingIo() : 0), 0)
