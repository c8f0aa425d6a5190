import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "@effect/vitest"
import { MachineConfig } from "../../src/machine/MachineConfig.js"
import { boot, K, usageError } from "./helpers.js"

describe("bhyve command line: boot.initrd", () => {
  it.effect("-o boot.initrd=PATH is carried in the machine config beside the kernel", () =>
    Effect.map(boot(...K, "-o", "boot.initrd=/images/initramfs.cpio.gz", "vm"), (c) =>
      expect(c.boot.initrd).toBe("/images/initramfs.cpio.gz")))

  it.effect("no boot.initrd leaves the config without one", () =>
    Effect.map(boot(...K, "vm"), (c) => expect(c.boot.initrd).toBeUndefined()))

  it.effect("an empty boot.initrd is refused", () =>
    Effect.map(usageError(...K, "-o", "boot.initrd=", "vm"), (m) => expect(m).toBe("-o boot.initrd=: boot.initrd must not be empty")))

  it("a config written before boot.initrd existed still decodes", () => {
    const old = { name: "vm", cpus: 1, memoryBytes: 1 << 28, boot: { kernel: "/k", cmdline: "" }, serial: [], slots: [] }
    expect(Schema.decodeUnknownSync(MachineConfig)(old).boot).toEqual({ kernel: "/k", cmdline: "" })
  })
})
