import * as Either from "effect/Either"
import { describe, expect, it } from "@effect/vitest"
import { parseSlot, parseSlotAddress } from "../../src/cli/SlotSyntax.js"

const address = (text: string) => Either.getOrThrow(parseSlotAddress(text))
const slotReason = (text: string) => Either.getOrThrow(Either.flip(parseSlot(text)))

describe("the -s argument, as bhyve's pci_parse_slot reads it", () => {
  it("a lone number is a slot on bus 0, function 0", () => {
    expect(address("31")).toEqual({ bus: 0, slot: 31, function: 0 })
  })

  it("slot:function is on bus 0", () => {
    expect(address("4:2")).toEqual({ bus: 0, slot: 4, function: 2 })
  })

  it("bus:slot:function names all three", () => {
    expect(address("1:4:2")).toEqual({ bus: 1, slot: 4, function: 2 })
  })

  it("the largest bus, slot and function are accepted", () => {
    expect(address("255:31:7")).toEqual({ bus: 255, slot: 31, function: 7 })
  })

  it("everything after the second comma is the emulation's option string", () => {
    expect(parseSlot("31,lpc,a=1,b")).toEqual(Either.right({ bus: 0, slot: 31, function: 0, emulation: "lpc", options: "a=1,b" }))
  })

  it("no option string means empty options", () => {
    expect(parseSlot("31,lpc")).toEqual(Either.right({ bus: 0, slot: 31, function: 0, emulation: "lpc", options: "" }))
  })

  it("a slot above 31 is out of range", () => {
    expect(slotReason("32,lpc")).toBe("slot 32 is out of range 0..31")
  })

  it("a function above 7 is out of range", () => {
    expect(slotReason("3:8,lpc")).toBe("function 8 is out of range 0..7")
  })

  it("a bus above 255 is out of range", () => {
    expect(slotReason("256:3:0,lpc")).toBe("bus 256 is out of range 0..255")
  })

  it("a slot that is not a number is named", () => {
    expect(slotReason("x,lpc")).toBe("invalid slot 'x' (expected slot, slot:function or bus:slot:function)")
  })

  it("trailing junk after a number is refused (bhyve's sscanf would let '2x' pass)", () => {
    expect(slotReason("2x,lpc")).toBe("invalid slot '2x' (expected slot, slot:function or bus:slot:function)")
  })

  it("a negative number is refused", () => {
    expect(slotReason("-1,lpc")).toBe("invalid slot '-1' (expected slot, slot:function or bus:slot:function)")
  })

  it("four address components are refused", () => {
    expect(slotReason("0:1:2:3,lpc")).toBe("invalid PCI address '0:1:2:3' (expected slot, slot:function or bus:slot:function)")
  })

  it("an argument without a comma is missing its emulation", () => {
    expect(slotReason("31")).toBe("missing emulation (expected [bus:]slot[:function],emulation[,options])")
  })

  it("an empty emulation is missing", () => {
    expect(slotReason("31,")).toBe("missing emulation (expected [bus:]slot[:function],emulation[,options])")
  })

  it("an emulation bhyve has but bhyve-ts does not implement is refused as such", () => {
    expect(slotReason("2,ahci-hd,/dev/ada0")).toBe("emulation 'ahci-hd' is not implemented yet in bhyve-ts")
  })

  it("an emulation bhyve does not know is unknown", () => {
    expect(slotReason("2,xyz")).toBe("unknown emulation 'xyz'")
  })

  it("emulation names are case-sensitive, as in bhyve", () => {
    expect(slotReason("31,LPC")).toBe("unknown emulation 'LPC'")
  })

  it("a caller can pass a longer list of implemented emulations", () => {
    expect(Either.isRight(parseSlot("2,virtio-blk,/dev/ada0", ["lpc", "virtio-blk"]))).toBe(true)
  })
})
