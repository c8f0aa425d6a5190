import { describe, expect, it } from "@effect/vitest"
import { modInfoStrings, parseModInfo } from "./ModInfo.js"
import { fakeKo } from "./fakeKo.js"

describe(".modinfo", () => {
  it("reads the key=value strings of a module's .modinfo section", () => {
    expect(modInfoStrings(fakeKo(["license=GPL", "depends=virtio,virtio_ring", "name=virtio_blk"]))).toEqual(
      ["license=GPL", "depends=virtio,virtio_ring", "name=virtio_blk"])
  })

  it("takes depends= apart, with an empty one meaning none", () => {
    expect(parseModInfo(["name=a", "depends=b,c"])).toEqual({ name: "a", depends: ["b", "c"] })
    expect(parseModInfo(["name=virtio", "depends="])).toEqual({ name: "virtio", depends: [] })
  })

  it("says what is wrong with a file that is not a module", () => {
    expect(modInfoStrings(new TextEncoder().encode("not an ELF object at all, just text padding it out to 64 bytes..."))).toBeInstanceOf(Error)
    expect(String(modInfoStrings(fakeKo([], ".text")))).toContain("no .modinfo section")
  })
})
