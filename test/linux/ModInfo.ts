/**
 * The .modinfo section of a Linux kernel module (an ELF64 relocatable
 * object): NUL-separated key=value strings such as name=, depends= and
 * softdep=. Debian's package ships no modules.dep (depmod writes it at
 * install time), so dependencies are read from here instead.
 */
export interface ModInfo {
  readonly name: string | undefined
  /** depends=: module names this one needs loaded first. */
  readonly depends: ReadonlyArray<string>
}

const decoder = new TextDecoder()

/** The .modinfo strings of an uncompressed .ko, or an Error saying why not. */
export const modInfoStrings = (ko: Uint8Array): ReadonlyArray<string> | Error => {
  if (ko.length < 64 || ko[0] !== 0x7f || ko[1] !== 0x45 || ko[2] !== 0x4c || ko[3] !== 0x46 || ko[4] !== 2) {
    return new Error("not an ELF64 object")
  }
  const v = new DataView(ko.buffer, ko.byteOffset, ko.byteLength)
  const shoff = Number(v.getBigUint64(0x28, true))
  const shentsize = v.getUint16(0x3a, true)
  const shnum = v.getUint16(0x3c, true)
  const shstrndx = v.getUint16(0x3e, true)
  if (shentsize < 64 || shoff + shnum * shentsize > ko.length || shstrndx >= shnum) return new Error("bad section header table")
  const section = (i: number) => {
    const o = shoff + i * shentsize
    return { name: v.getUint32(o, true), offset: Number(v.getBigUint64(o + 0x18, true)), size: Number(v.getBigUint64(o + 0x20, true)) }
  }
  const strtab = section(shstrndx)
  const nameOf = (at: number) => {
    const start = strtab.offset + at
    const end = ko.indexOf(0, start)
    return decoder.decode(ko.subarray(start, end === -1 ? start : end))
  }
  for (let i = 0; i < shnum; i++) {
    const s = section(i)
    if (nameOf(s.name) !== ".modinfo") continue
    if (s.offset + s.size > ko.length) return new Error(".modinfo runs past the end of the file")
    return decoder.decode(ko.subarray(s.offset, s.offset + s.size)).split("\0").filter((x) => x.length > 0)
  }
  return new Error("no .modinfo section")
}

export const parseModInfo = (strings: ReadonlyArray<string>): ModInfo => {
  const value = (key: string) => strings.find((s) => s.startsWith(`${key}=`))?.slice(key.length + 1)
  const depends = value("depends")
  return {
    name: value("name"),
    depends: depends === undefined || depends === "" ? [] : depends.split(",").map((d) => d.trim()).filter((d) => d !== "")
  }
}
