import * as Either from "effect/Either"
import type { PciSlotConfig } from "../machine/MachineConfig.js"
import { checkEmulation } from "./Emulations.js"

/**
 * bhyve(8)'s `-s` argument, as pci_parse_slot reads it:
 *
 *   -s slot,emulation[,options]
 *   -s slot:function,emulation[,options]
 *   -s bus:slot:function,emulation[,options]
 *
 * Everything after the second comma is the emulation's option string, kept
 * whole. bhyve reads the numbers with sscanf("%d"), which lets "2x" pass as
 * 2; here each number must be plain decimal digits.
 */

export const MAX_BUS = 255
export const MAX_SLOT = 31
export const MAX_FUNCTION = 7

export interface SlotAddress {
  readonly bus: number
  readonly slot: number
  readonly function: number
}

/** "0:31:0" — how bhyve names a PCI address in its messages and config keys. */
export const formatSlotAddress = (a: SlotAddress): string => `${a.bus}:${a.slot}:${a.function}`

const SLOT_FORMS = "expected slot, slot:function or bus:slot:function"

const component = (what: string, text: string, max: number): Either.Either<number, string> => {
  if (!/^[0-9]+$/.test(text)) return Either.left(`invalid ${what} '${text}' (${SLOT_FORMS})`)
  const n = Number(text)
  return n <= max ? Either.right(n) : Either.left(`${what} ${text} is out of range 0..${max}`)
}

/** Checks one address's numbers against the PCI limits (bus 0..255, slot 0..31, function 0..7). */
export const checkSlotAddress = (bus: string, slot: string, fn: string): Either.Either<SlotAddress, string> =>
  Either.all({
    bus: component("bus", bus, MAX_BUS),
    slot: component("slot", slot, MAX_SLOT),
    function: component("function", fn, MAX_FUNCTION)
  })

/** The part before the first comma: "2", "2:1" or "0:2:1". */
export const parseSlotAddress = (text: string): Either.Either<SlotAddress, string> => {
  const parts = text.split(":")
  switch (parts.length) {
    case 1:
      return checkSlotAddress("0", parts[0], "0")
    case 2:
      return checkSlotAddress("0", parts[0], parts[1])
    case 3:
      return checkSlotAddress(parts[0], parts[1], parts[2])
    default:
      return Either.left(`invalid PCI address '${text}' (${SLOT_FORMS})`)
  }
}

/**
 * A whole `-s` argument into a slot whose emulation this build implements.
 * The reason on the left does not repeat the argument; the caller prefixes it.
 */
export const parseSlot = (
  text: string,
  implemented?: ReadonlyArray<string>
): Either.Either<PciSlotConfig, string> => {
  const comma = text.indexOf(",")
  if (comma < 0) {
    return Either.left("missing emulation (expected [bus:]slot[:function],emulation[,options])")
  }
  const rest = text.slice(comma + 1)
  const optionsComma = rest.indexOf(",")
  const emulation = optionsComma < 0 ? rest : rest.slice(0, optionsComma)
  const options = optionsComma < 0 ? "" : rest.slice(optionsComma + 1)
  if (emulation === "") return Either.left("missing emulation (expected [bus:]slot[:function],emulation[,options])")
  return Either.gen(function*() {
    const address = yield* parseSlotAddress(text.slice(0, comma))
    yield* checkEmulation(emulation, implemented)
    return { ...address, emulation, options }
  })
}
