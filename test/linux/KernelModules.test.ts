import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { moduleName, resolveModules } from "./KernelModules.js"
import { fakeKo } from "./fakeKo.js"

/** lib/modules/RELEASE: a -> (b, c_dash), c_dash -> b, f -> c-dash, e -> missing; d built in; c-dash shipped as .ko.xz, as Debian 13 does. */
const tree = () => {
  const dir = mkdtempSync(join(tmpdir(), "modules-"))
  mkdirSync(join(dir, "kernel", "x", "y"), { recursive: true })
  writeFileSync(join(dir, "kernel", "x", "a.ko"), fakeKo(["name=a", "depends=b,c_dash"]))
  writeFileSync(join(dir, "kernel", "x", "y", "b.ko"), fakeKo(["name=b", "depends="]))
  writeFileSync(join(dir, "kernel", "x", "c-dash.ko.xz"), execFileSync("xz", ["-c", "--check=crc32"], { input: fakeKo(["name=c_dash", "depends=b"]) }))
  writeFileSync(join(dir, "kernel", "x", "e.ko"), fakeKo(["name=e", "depends=missing"]))
  writeFileSync(join(dir, "kernel", "x", "f.ko"), fakeKo(["name=f", "depends=c-dash"]))
  writeFileSync(join(dir, "modules.builtin"), "kernel/x/d.ko\n")
  return dir
}

describe("kernel modules", () => {
  it("names a module as the kernel does: no .ko suffix, dashes as underscores", () => {
    expect(["kernel/drivers/char/hw_random/virtio-rng.ko", "ext4.ko.xz", "x.ko.zst"].map(moduleName)).toEqual(["virtio_rng", "ext4", "x"])
  })

  it("orders each module after everything it depends on, each once", () => {
    const mods = resolveModules(tree(), ["a", "f"])
    expect(mods instanceof Error ? mods.message : mods.map((m) => m.name)).toEqual(["b", "c_dash", "a", "f"])
  })

  it("decompresses .ko.xz modules at build time", () => {
    const mods = resolveModules(tree(), ["c_dash"])
    const c = mods instanceof Error ? undefined : mods.find((m) => m.name === "c_dash")
    expect(c?.ko.subarray(0, 4)).toEqual(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46]))
  })

  it("leaves out built-in modules and absent optional ones", () => {
    const mods = resolveModules(tree(), ["d", "gone", "b"], new Set(["gone"]))
    expect(mods instanceof Error ? mods.message : mods.map((m) => m.name)).toEqual(["b"])
  })

  it("says which module needs a missing one", () => {
    const dir = tree()
    expect(String(resolveModules(dir, ["e"]))).toBe(`Error: module missing (needed by e) is neither built in nor under ${dir}/kernel`)
  })
})
