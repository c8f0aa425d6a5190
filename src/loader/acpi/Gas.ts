/** The ACPI Generic Address Structure (12 bytes), here only for I/O ports. */
import type { ByteWriter } from "../ByteWriter.js"

export const SPACE_SYSTEM_IO = 1
export const ACCESS_BYTE = 1
export const ACCESS_WORD = 2
export const ACCESS_DWORD = 3

export interface IoRegister {
  readonly port: number
  readonly bitWidth: number
  readonly access: number
}

export const writeGas = (w: ByteWriter, register: IoRegister | undefined): ByteWriter =>
  register === undefined
    ? w.zeros(12)
    : w.u8(SPACE_SYSTEM_IO).u8(register.bitWidth).u8(0).u8(register.access).u64(register.port)
