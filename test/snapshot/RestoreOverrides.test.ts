import { describe, expect, it } from "@effect/vitest"
import type { MachineConfig, PciSlotConfig } from "../../src/machine/MachineConfig.js"
import { defaultSerial } from "../../src/servers/virtio-blk/VirtioBlkServer.js"
import { applyOverrides, RestoreConflict } from "../../src/snapshot/RestoreOverrides.js"

const slot = (n: number, emulation: string, options = ""): PciSlotConfig => ({ bus: 0, slot: n, function: 0, emulation, options })

const saved: MachineConfig = {
  name: "vm",
  cpus: 1,
  memoryBytes: 256 << 20,
  boot: { kernel: "/k.elf", cmdline: "" },
  serial: [],
  slots: [
    slot(0, "hostbridge"),
    slot(2, "virtio-blk", "/img"),
    slot(3, "virtio-net", "unix=/run/a.sock:/run/b.sock,mac=02:00:00:00:00:01"),
    slot(4, "virtio-console", "port1=/run/con.sock")
  ],
  strictBus: false,
  options: {}
}

const restore = (slots: ReadonlyArray<PciSlotConfig>) => applyOverrides("/snap", saved, { slots })

const conflicts = (slots: ReadonlyArray<PciSlotConfig>) => {
  const r = restore(slots)
  return r instanceof RestoreConflict ? r.differences : []
}

describe("restore with -s flags", () => {
  it("keeps every slot of the snapshot when none is given", () => {
    expect(restore([])).toMatchObject({ slots: saved.slots })
  })

  it("accepts the snapshot's own command line unchanged", () => {
    expect(restore(saved.slots)).toMatchObject({ slots: saved.slots })
  })

  it("rebinds a virtio-net link (tap, another socket) and keeps the other slots", () => {
    const r = restore([slot(3, "virtio-net", "tap7,mac=02:00:00:00:00:01")])
    expect(r).toMatchObject({ slots: [saved.slots[0], saved.slots[1], slot(3, "virtio-net", "tap7,mac=02:00:00:00:00:01"), saved.slots[3]] })
  })

  it("rebinds a virtio-console port to another socket", () => {
    expect(restore([slot(4, "virtio-console", "port1=/elsewhere.sock")])).toMatchObject({ slots: { 3: slot(4, "virtio-console", "port1=/elsewhere.sock") } })
  })

  it("moves a virtio-blk image to another file, keeping the id the guest read (derived from the snapshot's path when ser= was absent)", () => {
    expect(restore([slot(2, "virtio-blk", "/copy.img")])).toMatchObject({ slots: { 1: slot(2, "virtio-blk", `/copy.img,ser=${defaultSerial("/img")}`) } })
    expect(restore([slot(2, "virtio-blk", "/copy.img,sync")])).toMatchObject({ slots: { 1: slot(2, "virtio-blk", `/copy.img,sync,ser=${defaultSerial("/img")}`) } })
  })

  it("refuses a MAC the guest did not see, a renamed console port, other options, another emulation and a new slot", () => {
    expect(conflicts([slot(3, "virtio-net", "unix=/x:/y,mac=02:00:00:00:00:02")])).toEqual([
      "PCI slot 0:3:0 (-s): mac: the guest saw 02:00:00:00:00:01, the command line says 02:00:00:00:00:02"
    ])
    expect(conflicts([slot(4, "virtio-console", "port2=/run/con.sock")])).toEqual([
      "PCI slot 0:4:0 (-s): port name: the guest saw port1, the command line says port2"
    ])
    expect(conflicts([slot(2, "virtio-blk", "/img,ro,sectorsize=4096,ser=other")])).toEqual([
      "PCI slot 0:2:0 (-s): ro: the guest saw false, the command line says true; sectorsize: the guest saw 512/512, the command line says 4096/4096; " +
      `ser: the guest saw ${defaultSerial("/img")}, the command line says other`
    ])
    expect(conflicts([slot(0, "hostbridge", "x")])).toEqual([
      "PCI slot 0:0:0 (-s): options '' cannot change to 'x' (only virtio-net, virtio-console and virtio-blk backends can be rebound)"
    ])
    expect(conflicts([slot(3, "virtio-rnd")])).toEqual(["PCI slot 0:3:0 (-s): the snapshot has virtio-net there, the command line says virtio-rnd"])
    expect(conflicts([slot(5, "virtio-rnd")])).toEqual(["PCI slot 0:5:0 (-s): the snapshot has no device there (virtio-rnd)"])
  })

  it("refuses a rebinding whose options do not parse, with the parser's reason", () => {
    expect(conflicts([slot(3, "virtio-net", "unix=/only-one")])).toEqual([
      "PCI slot 0:3:0 (-s): 'virtio-net,unix=/only-one': unix=/only-one: expected LOCALPATH:PEERPATH (two socket paths without ':')"
    ])
  })
})
