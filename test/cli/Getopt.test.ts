import { describe, expect, it } from "@effect/vitest"
import { getopt } from "../../src/cli/Getopt.js"

const OPTSTRING = "AHPc:o:"

describe("getopt as bhyve uses it", () => {
  it("separate flags and arguments", () => {
    expect(getopt(["-A", "-c", "2", "vm"], OPTSTRING)).toEqual({
      options: [{ letter: "A", argument: undefined }, { letter: "c", argument: "2" }],
      operands: ["vm"],
      error: undefined
    })
  })

  it("flags may be clustered", () => {
    expect(getopt(["-AHP", "vm"], OPTSTRING).options.map((o) => o.letter)).toEqual(["A", "H", "P"])
  })

  it("an argument may be attached to its flag", () => {
    expect(getopt(["-c2", "vm"], OPTSTRING).options).toEqual([{ letter: "c", argument: "2" }])
  })

  it("a cluster may end in a flag whose argument is the rest of the word", () => {
    expect(getopt(["-Ac2", "vm"], OPTSTRING).options).toEqual([
      { letter: "A", argument: undefined },
      { letter: "c", argument: "2" }
    ])
  })

  it("the next word is the argument even when it starts with '-'", () => {
    expect(getopt(["-o", "-x", "vm"], OPTSTRING).options).toEqual([{ letter: "o", argument: "-x" }])
  })

  it("the first operand ends the options (no permutation)", () => {
    expect(getopt(["vm", "-A"], OPTSTRING)).toEqual({ options: [], operands: ["vm", "-A"], error: undefined })
  })

  it("'--' ends the options", () => {
    expect(getopt(["-A", "--", "-vm"], OPTSTRING).operands).toEqual(["-vm"])
  })

  it("a lone '-' is an operand", () => {
    expect(getopt(["-"], OPTSTRING).operands).toEqual(["-"])
  })

  it("an unknown letter stops the scan with an error", () => {
    expect(getopt(["-A", "-Z", "vm"], OPTSTRING)).toEqual({
      options: [{ letter: "A", argument: undefined }],
      operands: [],
      error: "unknown option -Z"
    })
  })

  it("a flag at the end without its argument is an error", () => {
    expect(getopt(["-c"], OPTSTRING).error).toBe("option -c requires an argument")
  })

  it("long aliases map whole words onto letters", () => {
    expect(getopt(["--help"], "h", { help: "h" }).options).toEqual([{ letter: "h", argument: undefined }])
  })

  it("other long options are unknown", () => {
    expect(getopt(["--verbose"], "h", { help: "h" }).error).toBe("unknown option --verbose")
  })

  it("inherited object properties are not long aliases", () => {
    expect(getopt(["--constructor"], "h", { help: "h" }).error).toBe("unknown option --constructor")
  })
})
