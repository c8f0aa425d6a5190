import { describe, expect, it } from "@effect/vitest"
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runBhyve } from "../support/BhyveProcess.js"
import { guestPath } from "../support/GuestRun.js"
import { writeBzImage } from "./bzImageWriter.js"

const boot = (kernel: string, initrd?: string) => [
  "-c", "1", "-m", "64M", "-o", `boot.kernel=${kernel}`, ...(initrd === undefined ? [] : ["-o", `boot.initrd=${initrd}`]), "vm1"
]
const file = (name: string, bytes: Uint8Array | string) => {
  const path = join(tmpdir(), `${name}-${process.pid}`)
  writeFileSync(path, bytes)
  return path
}

describe("bhyve refuses boot files it cannot use, exiting 4", () => {
  it("an initrd that does not exist, naming it", () => {
    const r = runBhyve(boot(guestPath("hello.elf"), "/nonexistent/initrd.img"))
    expect(r.status).toBe(4)
    expect(r.stderr).toBe("bhyve: cannot read initrd /nonexistent/initrd.img: ENOENT\n")
  })

  it("an empty boot.initrd", () => {
    const r = runBhyve(boot(guestPath("hello.elf"), ""))
    expect(r.status).toBe(4)
    expect(r.stderr).toContain("boot.initrd must not be empty")
  })

  it("a bzImage too old for the 64-bit entry", () => {
    const kernel = file("old.bz", writeBzImage({ version: 0x020a }))
    const r = runBhyve(boot(kernel))
    expect(r.status).toBe(4)
    expect(r.stderr).toContain(`bhyve: kernel ${kernel} is a bzImage with boot protocol 2.10; the 64-bit entry needs 2.12 or later\n`)
  })

  it("an initrd with a kernel that cannot take one", () => {
    const initrd = file("initrd.img", "not empty")
    const r = runBhyve(boot(guestPath("elf64.elf"), initrd))
    expect(r.status).toBe(4)
    expect(r.stderr).toContain(`bhyve: initrd ${initrd} cannot be passed to kernel ${guestPath("elf64.elf")}: a non-PVH ELF64 kernel has no initrd convention`)
  })

  it("a bzImage whose init_size does not fit guest RAM", () => {
    const kernel = file("huge.bz", writeBzImage({ initSize: 0x1000_0000 }))
    const r = runBhyve(boot(kernel))
    expect(r.status).toBe(4)
    expect(r.stderr).toContain(`bhyve: kernel ${kernel} needs [0x1000000, 0x11000000) to decompress and run, which is not inside guest RAM`)
  })
})
