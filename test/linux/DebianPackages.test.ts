import { describe, expect, it } from "@effect/vitest"
import { parseKernelDepends } from "./DebianPackages.js"

describe("Debian's kernel package", () => {
  it("is the versioned linux-image package linux-image-amd64 depends on (Debian 12)", () => {
    expect(parseKernelDepends("Package: linux-image-amd64\nVersion: 6.1.192-3\nDepends: linux-image-6.1.0-57-amd64 (= 6.1.192-3)\n"))
      .toBe("linux-image-6.1.0-57-amd64")
  })

  it("is found the same way on Debian 13's naming", () => {
    expect(parseKernelDepends("Package: linux-image-amd64\nDepends: linux-image-6.12.57+deb13-amd64 (= 6.12.57-1)\nSuggests: x\n"))
      .toBe("linux-image-6.12.57+deb13-amd64")
  })

  it("is undefined when no versioned package is named", () => {
    expect(parseKernelDepends("Package: linux-image-amd64\nDepends: something-else\n")).toBeUndefined()
  })
})
