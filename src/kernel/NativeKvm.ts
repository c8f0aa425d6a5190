import * as Effect from "effect/Effect"
import { createRequire } from "node:module"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { NativeAddonMissing } from "./KvmError.js"
import type { LazyRestoreNative } from "./LazyRestoreNative.js"

/** Who connected to a Unix socket, as the kernel recorded it at connect(2) (SO_PEERCRED). */
export interface PeerCredentials {
  readonly pid: number
  readonly uid: number
  readonly gid: number
}

/**
 * The addon's AP-thread calls (native/ap_thread.h). Negative errno on failure.
 * An AP thread loops: KVM_RUN for its vCPU, record the return code, kick the
 * notify token's vCPU (the BSP, on the machine thread), wait to be resumed.
 */
export interface ApThreadsNative {
  /** Starts the thread, which enters KVM_RUN at once -> thread id. */
  readonly apStart: (kickToken: number, vcpuFd: number, notifyToken: number) => number
  /** Fills `out` with the ids (of threads notifying `notifyToken`) whose exit is unread -> how many. */
  readonly apPending: (notifyToken: number, out: Int32Array) => number
  /** The thread's KVM_RUN return code (0 or -errno); marks the exit read. */
  readonly apResult: (id: number) => number
  /** Lets a thread whose exit has been read enter KVM_RUN again. */
  readonly apResume: (id: number) => number
  /** Tells the thread to stop, kicks it out of KVM_RUN, joins it. */
  readonly apStop: (id: number) => number
  /** Blocks until a thread notifying `notifyToken` has an unread exit, at most `timeoutMs` -> how many have one. */
  readonly apWait: (notifyToken: number, timeoutMs: number) => number
}

/**
 * The native addon's surface (native/kvm_addon.cc). Every call returns a
 * negative errno on failure instead of throwing.
 */
export interface NativeKvm extends ApThreadsNative, LazyRestoreNative {
  /** open(path, O_RDWR | O_CLOEXEC | extraFlags). */
  readonly open: (path: string, extraFlags?: number) => number
  readonly close: (fd: number) => number
  readonly ioctlValue: (fd: number, request: number, arg: number) => number
  readonly ioctlBuffer: (fd: number, request: number, bytes: Uint8Array) => number
  readonly mapAnonymous: (size: number) => ArrayBuffer | number
  readonly mapFd: (fd: number, size: number, offset: number) => ArrayBuffer | number
  /** mmap(MAP_PRIVATE) of a file: its pages are read when first touched, writes copy them. */
  readonly mapFilePrivate: (fd: number, size: number, offset: number) => ArrayBuffer | number
  readonly unmap: (buffer: ArrayBuffer) => number
  readonly addressOf: (buffer: ArrayBuffer) => bigint
  readonly kickRegister: (run: ArrayBuffer) => number
  readonly kickUnregister: (token: number) => void
  /** KVM_RUN on the calling thread; with timeoutMs > 0 a watchdog kicks it after that long. */
  readonly run: (token: number, vcpuFd: number, timeoutMs?: number) => number
  readonly kick: (token: number) => number
  /** SO_PEERCRED of a connected Unix socket's fd (native/peer_cred.cc); -errno when it is not one. */
  readonly peerCredentials: (fd: number) => PeerCredentials | number
  /** eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) (native/host_fd.cc). */
  readonly eventFd: () => number
  /** Adds 1 to an eventfd's counter: what an irqfd waits for. */
  readonly eventFdSignal: (fd: number) => number
  /** socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK). */
  readonly unixDatagramSocket: () => number
  readonly unixBind: (fd: number, path: string) => number
  readonly unixConnect: (fd: number, path: string) => number
  /** One datagram to the socket bound at `path`; bytes sent or -errno (-EAGAIN: the peer's queue is full). */
  readonly unixSendTo: (fd: number, path: string, bytes: Uint8Array) => number
  /** lseek(fd, offset, SEEK_DATA): the next offset with data, or -errno (-ENXIO: a hole to the end). */
  readonly seekData: (fd: number, offset: number) => number
  /** write(2) of one frame (a tap fd). */
  readonly packetWrite: (fd: number, bytes: Uint8Array) => number
  /**
   * A thread reading whole frames from `fd` (native/packet_reader.cc): each
   * arrives on this thread's event loop as `onPacket(frame)`, a read error
   * once as `onPacket(undefined, -errno)`.
   */
  readonly packetReaderStart: (fd: number, onPacket: (frame: Uint8Array | undefined, errno?: number) => void) => number
  /** Stops and joins the reader; -ESRCH for an unknown id. */
  readonly packetReaderStop: (id: number) => number
  /**
   * A thread that kicks the vCPU behind `kickToken` out of KVM_RUN whenever
   * the calling thread's event loop has something ready (native/loop_watch.cc)
   * -> id or -errno.
   */
  readonly loopWatchStart: (kickToken: number) => number
  readonly loopWatchStop: (id: number) => number
}

const ADDON = "build/Release/bhyve_kvm.node"

/** node-gyp's output at the package root, found from wherever this module was compiled to (dist/, dist-bench/src/...). */
const findAddon = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, ADDON))) return join(dir, ADDON)
    const parent = dirname(dir)
    if (parent === dir) return fileURLToPath(new URL(`../../${ADDON}`, import.meta.url))
    dir = parent
  }
}

let cached: NativeKvm | undefined

export const loadNativeKvm: Effect.Effect<NativeKvm, NativeAddonMissing> = Effect.suspend(() => {
  if (cached) return Effect.succeed(cached)
  const addonPath = findAddon()
  return Effect.try({
    try: () => {
      cached = createRequire(import.meta.url)(addonPath) as NativeKvm
      return cached
    },
    catch: (e) => new NativeAddonMissing({ path: addonPath, reason: e instanceof Error ? e.message : String(e) })
  })
})
