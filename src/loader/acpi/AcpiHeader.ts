/**
 * The 36-byte header every ACPI system description table starts with, and
 * the table built around a body: length and checksum filled in.
 */
import { ByteWriter, fixChecksum } from "../ByteWriter.js"

export const HEADER_SIZE = 36
export const CHECKSUM_OFFSET = 9
/** bhyve's OEM ID; table IDs follow its "BVxxxx" pattern. */
export const OEM_ID = "BHYVE "
const CREATOR_ID = "BHTS"

export interface TableIdentity {
  readonly signature: string
  readonly revision: number
  /** Eight characters, e.g. "BVMADT  ". */
  readonly oemTableId: string
}

export const acpiTable = (identity: TableIdentity, body: Uint8Array): Uint8Array => {
  const table = new ByteWriter()
    .ascii(identity.signature, 4)
    .u32(HEADER_SIZE + body.length)
    .u8(identity.revision)
    .u8(0) // checksum, below
    .ascii(OEM_ID, 6)
    .ascii(identity.oemTableId, 8)
    .u32(1) // OEM revision
    .ascii(CREATOR_ID, 4)
    .u32(1) // creator revision
    .append(body)
    .toBytes()
  return fixChecksum(table, CHECKSUM_OFFSET)
}
