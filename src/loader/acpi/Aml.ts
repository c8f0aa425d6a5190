/**
 * A small encoder for the ACPI Machine Language terms our DSDT needs
 * (ACPI 6.x section 20): names, scopes, devices, packages, buffers and
 * integers in their smallest encoding. Each function returns the encoded
 * bytes of one term; a term list is just terms concatenated.
 */

declare const amlBrand: unique symbol
/** Encoded AML: only the functions here make one, so raw bytes cannot slip into a term list. */
export type Aml = Uint8Array & { readonly [amlBrand]: true }

const ZERO_OP = 0x00
const ONE_OP = 0x01
const NAME_OP = 0x08
const BYTE_PREFIX = 0x0a
const WORD_PREFIX = 0x0b
const DWORD_PREFIX = 0x0c
const STRING_PREFIX = 0x0d
const QWORD_PREFIX = 0x0e
const SCOPE_OP = 0x10
const BUFFER_OP = 0x11
const PACKAGE_OP = 0x12
const EXT_OP_PREFIX = 0x5b
const DEVICE_OP = 0x82
const ROOT_CHAR = 0x5c
const DUAL_NAME_PREFIX = 0x2e
const MULTI_NAME_PREFIX = 0x2f
const NULL_NAME = 0x00

const aml = (...parts: ReadonlyArray<ArrayLike<number>>): Aml => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out as Aml
}

/** Terms one after the other (a TermList). */
export const terms = (...list: ReadonlyArray<Aml>): Aml => aml(...list)

/**
 * PkgLength for `contentLength` bytes following it. The encoded length
 * counts its own bytes: one byte up to 63, else a lead byte holding the
 * low nibble and the count of following bytes.
 */
export const pkgLength = (contentLength: number): Uint8Array => {
  if (contentLength + 1 <= 0x3f) return Uint8Array.of(contentLength + 1)
  for (const extra of [1, 2, 3]) {
    const total = contentLength + 1 + extra
    if (total < 2 ** (4 + 8 * extra)) {
      const bytes = [(extra << 6) | (total & 0x0f)]
      for (let i = 0; i < extra; i++) bytes.push((total >>> (4 + 8 * i)) & 0xff)
      return Uint8Array.from(bytes)
    }
  }
  throw new RangeError(`AML package of ${contentLength} bytes is too long`)
}

/** An integer constant: ZeroOp, OneOp, or the narrowest prefix that holds it (QWord needs a revision 2 table). */
export const integer = (value: number | bigint): Aml => {
  const v = BigInt(value)
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`AML integer ${value} out of range`)
  if (v === 0n) return aml([ZERO_OP])
  if (v === 1n) return aml([ONE_OP])
  const [prefix, bytes] = v <= 0xffn ? [BYTE_PREFIX, 1] : v <= 0xffffn ? [WORD_PREFIX, 2] : v <= 0xffff_ffffn ? [DWORD_PREFIX, 4] : [QWORD_PREFIX, 8]
  const out = [prefix]
  for (let i = 0; i < bytes; i++) out.push(Number((v >> BigInt(8 * i)) & 0xffn))
  return aml(out)
}

/** A NUL-terminated ASCII string constant. */
export const string = (text: string): Aml => {
  const chars = Array.from(text, (c) => c.charCodeAt(0))
  if (chars.some((c) => c < 1 || c > 0x7f)) throw new RangeError(`AML string '${text}' must be ASCII without NUL`)
  return aml([STRING_PREFIX], chars, [0])
}

const nameSeg = (segment: string): Array<number> => {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(segment)) throw new RangeError(`'${segment}' is not an AML name segment`)
  return Array.from(segment.padEnd(4, "_"), (c) => c.charCodeAt(0))
}

/** A NameString: "\\" for the root, "\\_SB.PCI0" absolute, "_HID" relative. Segments shorter than 4 are padded with '_'. */
export const nameString = (path: string): Aml => {
  const absolute = path.startsWith("\\")
  const rest = absolute ? path.slice(1) : path
  const segments = rest === "" ? [] : rest.split(".")
  const root = absolute ? [ROOT_CHAR] : []
  const body =
    segments.length === 0 ? [NULL_NAME]
    : segments.length === 1 ? nameSeg(segments[0])
    : segments.length === 2 ? [DUAL_NAME_PREFIX, ...nameSeg(segments[0]), ...nameSeg(segments[1])]
    : [MULTI_NAME_PREFIX, segments.length, ...segments.flatMap(nameSeg)]
  return aml(root, body)
}

/** Name(path, value). */
export const name = (path: string, value: Aml): Aml => aml([NAME_OP], nameString(path), value)

const withPkgLength = (opcode: ReadonlyArray<number>, body: Uint8Array): Aml => aml(opcode, pkgLength(body.length), body)

/** Scope(path) { terms }. */
export const scope = (path: string, ...body: ReadonlyArray<Aml>): Aml => withPkgLength([SCOPE_OP], aml(nameString(path), ...body))

/** Device(name) { terms }. */
export const device = (path: string, ...body: ReadonlyArray<Aml>): Aml =>
  withPkgLength([EXT_OP_PREFIX, DEVICE_OP], aml(nameString(path), ...body))

/** Package() { elements } (at most 255 elements: NumElements is one byte). */
export const packageOf = (...elements: ReadonlyArray<Aml>): Aml => {
  if (elements.length > 0xff) throw new RangeError(`AML package of ${elements.length} elements needs VarPackage`)
  return withPkgLength([PACKAGE_OP], aml([elements.length], ...elements))
}

/** Buffer() { bytes }. */
export const buffer = (bytes: Uint8Array): Aml => withPkgLength([BUFFER_OP], aml(integer(bytes.length), bytes))

/**
 * EISAID("PNP0A03"): three letters packed 5 bits each (big-endian) and
 * four hex digits, stored so that the bytes read "compressed vendor, product".
 */
export const eisaId = (id: string): Aml => {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new RangeError(`'${id}' is not an EISA ID`)
  const letter = (i: number) => id.charCodeAt(i) - 0x40
  const vendor = (letter(0) << 10) | (letter(1) << 5) | letter(2)
  const product = parseInt(id.slice(3), 16)
  // Vendor and product are each big-endian in memory; the DWord is read little-endian.
  const value = ((vendor >> 8) | ((vendor & 0xff) << 8) | ((product >> 8) << 16) | ((product & 0xff) << 24)) >>> 0
  return integer(value)
}
