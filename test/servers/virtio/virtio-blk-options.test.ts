import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { parseVirtioBlkOptions } from "../../../src/servers/virtio-blk/VirtioBlkOptions.js"

const ok = (text: string) => Either.getOrThrow(parseVirtioBlkOptions(text))
const refused = (text: string) => Either.flip(parseVirtioBlkOptions(text)).pipe(Either.getOrThrow)

describe("virtio-blk options", () => {
  it("a bare path: read-write, 512-byte sectors, discard on", () => {
    expect(ok("/vm/disk.img")).toEqual({
      path: "/vm/disk.img",
      readOnly: false,
      logicalSectorSize: 512,
      physicalSectorSize: 512,
      serial: undefined,
      discard: true,
      sync: false
    })
  })

  it("path= works as well as a leading path", () => {
    expect(ok("path=/vm/disk.img,ro").path).toBe("/vm/disk.img")
  })

  it("ro, nodelete, sync and ser= are taken", () => {
    expect(ok("d.img,ro,nodelete,sync,ser=ABC")).toMatchObject({ readOnly: true, discard: false, sync: true, serial: "ABC" })
  })

  it("sectorsize=N sets both sizes; N/P sets logical and physical", () => {
    expect(ok("d.img,sectorsize=4096")).toMatchObject({ logicalSectorSize: 4096, physicalSectorSize: 4096 })
    expect(ok("d.img,sectorsize=512/4096")).toMatchObject({ logicalSectorSize: 512, physicalSectorSize: 4096 })
  })

  it("refuses sector sizes that are not powers of two from 512, or a physical size below the logical", () => {
    for (const bad of ["1000", "256", "65536", "4096/512", "512/4096/8192", "abc"]) {
      expect(refused(`d.img,sectorsize=${bad}`)).toContain("expected LOGICAL[/PHYSICAL]")
    }
  })

  it("refuses a missing path, a path given twice, and unknown options by name", () => {
    expect(refused("")).toContain("a disk image path is required")
    expect(refused("ro")).toContain("a disk image path is required")
    expect(refused("a.img,path=b.img")).toBe("the path is given twice")
    expect(refused("d.img,nocache")).toBe("unknown option 'nocache'")
    expect(refused("d.img,bogus=1")).toBe("unknown option 'bogus'")
  })

  it("refuses an id longer than 20 bytes", () => {
    expect(refused("d.img,ser=123456789012345678901")).toContain("at most 20")
  })
})
