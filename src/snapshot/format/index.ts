/**
 * The snapshot file format: write a snapshot from already-collected state
 * and guest RAM, read one back as hostile input. See docs/snapshot-format.md.
 */
export { Bytes } from "./Bytes.js"
export * as ChunkCodec from "./ChunkCodec.js"
export type { ChunkInput } from "./ChunkCodec.js"
export {
  ChunkEntry,
  DeviceEntry,
  HostInfo,
  JsonValue,
  RamEntry,
  RamRegionEntry,
  SnapshotManifest
} from "./Manifest.js"
export type { RamRestoreResult, RestoreRamOptions, Verify } from "./RamReader.js"
export { removeOrphans } from "./SnapshotCleanup.js"
export * from "./SnapshotErrors.js"
export { type FileHandle, type FileStat, type FsOp, type OpenMode, SnapshotFs, SnapshotFsError, type SnapshotFsService } from "./SnapshotFs.js"
export * as SnapshotFsFaulty from "./SnapshotFsFaulty.js"
export * as SnapshotFsLive from "./SnapshotFsLive.js"
export { type ManifestRead, type ReadOptions, readManifest, readSnapshot, type Snapshot } from "./SnapshotReader.js"
export {
  DEFAULT_BLOCK_SIZE,
  type ManifestInput,
  WRITER_VERSION,
  type WriteResult,
  writeSnapshot,
  type WriteSnapshotOptions
} from "./SnapshotWriter.js"
export { FORMAT_VERSION } from "./StateHeader.js"
