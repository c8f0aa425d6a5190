/** What the lazy-restore handler thread has done so far (native/uffd_lazy_restore.cc). */
export interface LazyRestoreStats {
  /** RAM blocks in all regions. */
  readonly blocks: number
  /** Blocks installed because a vCPU or device touched them first. */
  readonly faultBlocks: number
  /** Blocks the background pass installed (data) or checked (zero blocks, left for the kernel to fill after the unregister). */
  readonly backgroundBlocks: number
  readonly bytesRead: number
  /** Whether guest RAM is still registered with the userfaultfd. */
  readonly registered: boolean
  /** Every block installed or checked, and the range unregistered. */
  readonly complete: boolean
}

export interface LazyRestoreStartRequest {
  /** The RAM file, open for reading until lazyRestoreStop. */
  readonly ramFd: number
  /** Guest RAM (anonymous, page aligned) in the manifest's region order, with where each region starts in the file. */
  readonly regions: ReadonlyArray<{ readonly bytes: Uint8Array; readonly gpa: number; readonly fileOffset: number }>
  readonly blockSize: number
  /** Per block, in region order: 1 data, 0 zero. */
  readonly data: Uint8Array
  /** Per block: 32 bytes of SHA-256 (ignored for zero blocks). */
  readonly digests: Uint8Array
  /** False: install blocks without checking them (snapshot.verify=state). */
  readonly verify: boolean
  /** Starts the one line printed before the process exits 4 on a bad block: "bhyve: FILE: ". */
  readonly failurePrefix: string
  /** Fault injection for tests: the thread fails after this many blocks; -1 never. */
  readonly dieAfter: number
  /** For tests: only faults are served for this long before the background pass starts (0: at once). */
  readonly backgroundDelayMs: number
}

/**
 * The addon's lazy-restore calls: a userfaultfd (MODE_MISSING) on guest RAM
 * and a thread that fills each block, checked, when first touched, and the
 * rest in the background. Negative errno on failure.
 */
export interface LazyRestoreNative {
  /** Registers RAM and starts the thread -> id, or -errno when userfaultfd cannot be had. */
  readonly lazyRestoreStart: (request: LazyRestoreStartRequest) => number
  readonly lazyRestoreStats: (id: number) => LazyRestoreStats | number
  /** Stops and joins the thread and closes the userfaultfd; only once no vCPU runs. */
  readonly lazyRestoreStop: (id: number) => number
}
