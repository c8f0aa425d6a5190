/**
 * A minimal AML reader for the terms our DSDT uses (Name, Scope, Device,
 * Package, Buffer, integers, strings): enough to read tables back in tests
 * independently of the encoder.
 */
export type AmlValue = bigint | string | ReadonlyArray<AmlValue> | { readonly buffer: Uint8Array }

export type AmlNode =
  | { readonly kind: "name"; readonly name: string; readonly value: AmlValue }
  | { readonly kind: "scope" | "device"; readonly name: string; readonly children: ReadonlyArray<AmlNode> }

class Reader {
  constructor(readonly bytes: Uint8Array, public at = 0) {}
  u8(): number {
    if (this.at >= this.bytes.length) throw new Error("AML ends early")
    return this.bytes[this.at++]
  }
  le(n: number): bigint {
    let v = 0n
    for (let i = 0; i < n; i++) v |= BigInt(this.u8()) << BigInt(8 * i)
    return v
  }
  /** The PkgLength; returns the offset its package ends at. */
  pkgEnd(): number {
    const start = this.at
    const lead = this.u8()
    const extra = lead >> 6
    let length = extra === 0 ? lead & 0x3f : lead & 0x0f
    for (let i = 0; i < extra; i++) length |= this.u8() << (4 + 8 * i)
    return start + length
  }
  seg(): string {
    return String.fromCharCode(...this.bytes.subarray(this.at, (this.at += 4)))
  }
  nameString(): string {
    let prefix = ""
    while (this.bytes[this.at] === 0x5c || this.bytes[this.at] === 0x5e) prefix += String.fromCharCode(this.u8())
    const lead = this.bytes[this.at]
    if (lead === 0x00) { this.at++; return prefix }
    if (lead === 0x2e) { this.at++; return prefix + [this.seg(), this.seg()].join(".") }
    if (lead === 0x2f) {
      this.at++
      const n = this.u8()
      return prefix + Array.from({ length: n }, () => this.seg()).join(".")
    }
    return prefix + this.seg()
  }
}

const value = (r: Reader): AmlValue => {
  const op = r.u8()
  switch (op) {
    case 0x00: return 0n
    case 0x01: return 1n
    case 0xff: return 0xffff_ffff_ffff_ffffn
    case 0x0a: return r.le(1)
    case 0x0b: return r.le(2)
    case 0x0c: return r.le(4)
    case 0x0e: return r.le(8)
    case 0x0d: {
      const end = r.bytes.indexOf(0, r.at)
      const s = String.fromCharCode(...r.bytes.subarray(r.at, end))
      r.at = end + 1
      return s
    }
    case 0x11: {
      const end = r.pkgEnd()
      const size = Number(value(r))
      const buffer = r.bytes.slice(r.at, r.at + size)
      r.at = end
      return { buffer }
    }
    case 0x12: {
      const end = r.pkgEnd()
      const count = r.u8()
      const elements: Array<AmlValue> = []
      while (r.at < end) elements.push(value(r))
      if (elements.length !== count) throw new Error(`package says ${count} elements, holds ${elements.length}`)
      return elements
    }
    default: throw new Error(`unexpected AML data opcode 0x${op.toString(16)} at ${r.at - 1}`)
  }
}

const termList = (r: Reader, end: number): Array<AmlNode> => {
  const nodes: Array<AmlNode> = []
  while (r.at < end) {
    const op = r.u8()
    if (op === 0x08) {
      nodes.push({ kind: "name", name: r.nameString(), value: value(r) })
    } else if (op === 0x10) {
      const pkgEnd = r.pkgEnd()
      nodes.push({ kind: "scope", name: r.nameString(), children: termList(r, pkgEnd) })
    } else if (op === 0x5b && r.bytes[r.at] === 0x82) {
      r.at++
      const pkgEnd = r.pkgEnd()
      nodes.push({ kind: "device", name: r.nameString(), children: termList(r, pkgEnd) })
    } else {
      throw new Error(`unexpected AML opcode 0x${op.toString(16)} at ${r.at - 1}`)
    }
    if (r.at > end) throw new Error("AML term runs past its package")
  }
  return nodes
}

export const decodeAml = (bytes: Uint8Array): ReadonlyArray<AmlNode> => termList(new Reader(bytes), bytes.length)

/** The value of the Name at `path` (segments as written, e.g. ["_SB_", "PCI0", "_PRT"]). */
export const findName = (nodes: ReadonlyArray<AmlNode>, path: ReadonlyArray<string>): AmlValue | undefined => {
  const [head, ...rest] = path
  for (const node of nodes) {
    const bare = node.name.replace(/^\\/, "")
    if (bare !== head) continue
    if (rest.length === 0 && node.kind === "name") return node.value
    if (rest.length > 0 && node.kind !== "name") {
      const found = findName(node.children, rest)
      if (found !== undefined) return found
    }
  }
  return undefined
}
