import { describe, expect, it } from "@effect/vitest"
import { gzipSync } from "node:zlib"
import { type CpioEntry, writeCpio } from "./Cpio.js"
import { readCpio } from "./CpioReader.js"

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + 1) & 0xff)

const entries: ReadonlyArray<CpioEntry> = [
  { type: "dir", path: "/bin" },
  { type: "dir", path: "dev", mode: 0o700 },
  { type: "chardev", path: "dev/console", major: 5, minor: 1 },
  // Names and data of every length modulo 4, so each padding case is crossed.
  ...[0, 1, 2, 3, 4, 5].map((n): CpioEntry => ({ type: "file", path: `bin/f${"x".repeat(n)}`, data: bytes(n), mode: 0o755 })),
  { type: "symlink", path: "bin/sh", target: "busybox" }
]

describe("cpio newc", () => {
  it("lists back every entry with its type, mode, data and device numbers", () => {
    const listed = readCpio(writeCpio(entries))
    expect(listed.map((e) => [e.path, e.type, e.mode & 0o7777])).toEqual([
      ["bin", "dir", 0o755], ["dev", "dir", 0o700], ["dev/console", "chardev", 0o600],
      ...[0, 1, 2, 3, 4, 5].map((n) => [`bin/f${"x".repeat(n)}`, "file", 0o755]),
      ["bin/sh", "symlink", 0o777]
    ])
    expect(listed.filter((e) => e.type === "file").map((e) => [...e.data])).toEqual([0, 1, 2, 3, 4, 5].map((n) => [...bytes(n)]))
    expect(new TextDecoder().decode(listed.find((e) => e.path === "bin/sh")!.data)).toBe("busybox")
    expect(listed.find((e) => e.path === "dev/console")).toMatchObject({ rdevMajor: 5, rdevMinor: 1 })
  })

  it("pads every header and data block to 4 bytes and ends with the trailer", () => {
    const archive = writeCpio(entries)
    const text = new TextDecoder("latin1").decode(archive)
    expect(archive.length % 4).toBe(0)
    expect([...text.matchAll(/070701/g)].every((m) => m.index % 4 === 0)).toBe(true)
    expect(text).toContain("TRAILER!!!")
  })

  it("gives the same bytes for the same entries", () => {
    expect(writeCpio(entries)).toEqual(writeCpio(entries))
  })

  it("reads a gzip-compressed archive", () => {
    expect(readCpio(gzipSync(writeCpio(entries))).length).toBe(entries.length)
  })
})
