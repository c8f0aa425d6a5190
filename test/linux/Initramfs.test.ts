import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { linuxGuest, skipReason } from "../support/LinuxGuest.js"
import { readCpio } from "./CpioReader.js"
import { buildInitramfs } from "./Initramfs.js"
import { initScript, MARKER } from "./InitScript.js"
import { modInfoStrings, parseModInfo } from "./ModInfo.js"
import { fakeKo } from "./fakeKo.js"

const guest = await linuxGuest()
const BUSYBOX = Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 1, 2, 3])
const modules = [
  { name: "virtio", ko: fakeKo(["name=virtio", "depends="]), depends: [] },
  { name: "virtio_blk", ko: fakeKo(["name=virtio_blk", "depends=virtio"]), depends: ["virtio"] }
]
const actionModules = { disk: ["virtio", "virtio_blk"], net: [], rng: [], console: [] }
const listing = () => readCpio(buildInitramfs({ busybox: BUSYBOX, modules, actionModules }))
const text = (data: Uint8Array) => new TextDecoder().decode(data)

describe("initramfs", () => {
  it("holds an executable /init script", () => {
    const init = listing().find((e) => e.path === "init")
    expect(init).toMatchObject({ type: "file", mode: 0o100755 })
    expect(text(init!.data)).toMatch(/^#!\/bin\/sh\n/)
  })

  it("holds busybox and its applets as links to it", () => {
    const l = listing()
    expect(l.find((e) => e.path === "bin/busybox")?.data).toEqual(BUSYBOX)
    for (const applet of ["sh", "mount", "insmod", "poweroff", "sha256sum", "ping"]) {
      expect(l.find((e) => e.path === `bin/${applet}`)).toMatchObject({ type: "symlink", data: new TextEncoder().encode("busybox") })
    }
  })

  it("holds the modules at /lib/modules/NAME.ko", () => {
    const l = listing()
    expect(l.find((e) => e.path === "lib/modules/virtio_blk.ko")?.data).toEqual(modules[1].ko)
    expect(l.filter((e) => e.path.endsWith(".ko")).map((e) => e.path)).toEqual(["lib/modules/virtio.ko", "lib/modules/virtio_blk.ko"])
  })

  it("holds /dev/console (5, 1) for init's first stdin and stdout", () => {
    expect(listing().find((e) => e.path === "dev/console")).toMatchObject({ type: "chardev", rdevMajor: 5, rdevMinor: 1 })
  })

  it("lists every directory before what it contains", () => {
    const paths = listing().map((e) => e.path)
    paths.forEach((p, i) => {
      const parent = p.split("/").slice(0, -1).join("/")
      if (parent !== "") expect(paths.indexOf(parent)).toBeLessThan(i)
    })
  })
})

describe("/init", () => {
  it("parses as a POSIX sh script", () => {
    const r = spawnSync("sh", ["-n"], { input: initScript(actionModules), encoding: "utf8" })
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
  })

  it("prints the marker, the release and the CPU count before anything else it does", () => {
    const lines = initScript(actionModules).split("\n")
    const at = lines.indexOf(`echo "${MARKER}"`)
    expect(at).toBeGreaterThan(0)
    expect(lines.slice(at + 1, at + 3)).toEqual([
      'echo "bhyve-ts-init: release $(uname -r)"', 'echo "bhyve-ts-init: cpus $(grep -c ^processor /proc/cpuinfo)"'])
    expect(lines.slice(0, at).some((l) => /insmod|bhyvets/.test(l))).toBe(false)
  })

  it("reads an ICMP counter by its name from /proc/net/snmp's layout (net waits on OutEchoReps)", () => {
    const snmp = join(mkdtempSync(join(tmpdir(), "init-snmp-")), "snmp")
    writeFileSync(snmp, [
      "Ip: Forwarding DefaultTTL", "Ip: 2 64",
      "Icmp: InMsgs InErrors InEchos OutMsgs OutEchoReps", "Icmp: 9 0 4 7 3",
      "IcmpMsg: InType0 OutType8", "IcmpMsg: 3 4"
    ].join("\n") + "\n")
    const script = initScript(actionModules)
    const icmp = script.slice(script.indexOf("icmp() {"), script.indexOf("\n}\n", script.indexOf("icmp() {")) + 2)
    const read = (name: string) => spawnSync("sh", ["-c", `${icmp}\nicmp ${name} ${snmp}`], { encoding: "utf8" }).stdout
    expect([read("OutEchoReps"), read("InEchos"), read("InMsgs"), read("NoSuchCounter")]).toEqual(["3\n", "4\n", "9\n", "0\n"])
  })

  it("loads each action's modules in the order given", () => {
    expect(initScript(actionModules)).toContain('MODULES_disk="virtio virtio_blk"')
  })
})

describe(`the guest's initramfs${skipReason(guest)}`, () => {
  it.skipIf(!guest.available)("holds /init, busybox-static and every module after the modules it depends on", () => {
    if (!guest.available) return
    const l = readCpio(new Uint8Array(readFileSync(guest.artifacts.initramfs)))
    expect(text(l.find((e) => e.path === "init")!.data)).toContain(MARKER)
    expect(l.find((e) => e.path === "bin/busybox")!.data.subarray(0, 4)).toEqual(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46]))
    const kos = l.filter((e) => e.path.startsWith("lib/modules/") && e.path.endsWith(".ko"))
    const names = kos.map((e) => e.path.slice("lib/modules/".length, -3))
    expect(names).toEqual(guest.artifacts.modules)
    expect(names).toEqual(expect.arrayContaining(["virtio_pci", "virtio_blk", "virtio_net", "net_failover", "failover", "virtio_console", "virtio_rng", "ext4"]))
    kos.forEach((e, i) => {
      const strings = modInfoStrings(e.data)
      if (strings instanceof Error) throw strings
      // Each dependency is in the archive (indexOf is -1 otherwise, which "less than i" would let through) and comes first.
      for (const dep of parseModInfo(strings).depends.map((d) => d.replaceAll("-", "_"))) {
        expect(names.indexOf(dep), `${names[i]} needs ${dep}`).toBeGreaterThanOrEqual(0)
        expect(names.indexOf(dep), `${names[i]} needs ${dep}`).toBeLessThan(i)
      }
    })
  })
})
