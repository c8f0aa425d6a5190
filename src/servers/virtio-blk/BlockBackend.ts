/**
 * Where a block device's sectors live. Reads and writes go straight between
 * the backend and the views given (guest RAM), and resolve only once all
 * of it moved; a rejection is an I/O error for the request.
 */
export interface BlockBackend {
  readonly sizeBytes: number
  readonly readOnly: boolean
  readonly read: (views: ReadonlyArray<Uint8Array>, position: number) => Promise<void>
  readonly write: (views: ReadonlyArray<Uint8Array>, position: number) => Promise<void>
  readonly flush: () => Promise<void>
}
