/** A minimal ELF64 relocatable object with one named section holding NUL-separated strings: a stand-in .ko. */
export const fakeKo = (strings: ReadonlyArray<string>, sectionName = ".modinfo"): Uint8Array => {
  const enc = new TextEncoder()
  const body = enc.encode(strings.map((s) => `${s}\0`).join(""))
  const shstr = enc.encode(`\0${sectionName}\0.shstrtab\0`)
  const bodyAt = 64
  const shstrAt = bodyAt + body.length
  const shoff = Math.ceil((shstrAt + shstr.length) / 8) * 8
  const out = new Uint8Array(shoff + 3 * 64)
  const v = new DataView(out.buffer)
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0)
  v.setUint16(16, 1, true) // ET_REL
  v.setUint16(18, 62, true)
  v.setBigUint64(0x28, BigInt(shoff), true)
  v.setUint16(0x3a, 64, true)
  v.setUint16(0x3c, 3, true)
  v.setUint16(0x3e, 2, true)
  out.set(body, bodyAt)
  out.set(shstr, shstrAt)
  const section = (i: number, name: number, offset: number, size: number) => {
    const o = shoff + i * 64
    v.setUint32(o, name, true)
    v.setBigUint64(o + 0x18, BigInt(offset), true)
    v.setBigUint64(o + 0x20, BigInt(size), true)
  }
  section(1, 1, bodyAt, body.length)
  section(2, 2 + sectionName.length, shstrAt, shstr.length)
  return out
}
