import { describe, expect, it } from "@effect/vitest"
import { makeLineFramer } from "../../src/control/LineFramer.js"

const bytes = (text: string) => Buffer.from(text, "utf8")

describe("LineFramer", () => {
  it("splits lines across and within chunks, dropping CR and blank lines", () => {
    const f = makeLineFramer(100)
    expect(f.push(bytes("ab"))).toEqual({ lines: [], overflow: false })
    expect(f.push(bytes("c\r\n\n  \nd\ne"))).toEqual({ lines: ["abc", "d"], overflow: false })
    expect(f.finish()).toBe("e")
    expect(f.finish()).toBeUndefined()
  })

  it("keeps a multi-byte character split between chunks", () => {
    const f = makeLineFramer(100)
    const all = bytes("ü€\n")
    expect(f.push(all.subarray(0, 1)).lines).toEqual([])
    expect(f.push(all.subarray(1, 4)).lines).toEqual([])
    expect(f.push(all.subarray(4)).lines).toEqual(["ü€"])
  })

  it("accepts a line of exactly the limit and refuses one byte more, without buffering it", () => {
    expect(makeLineFramer(4).push(bytes("abcd\n"))).toEqual({ lines: ["abcd"], overflow: false })
    const f = makeLineFramer(4)
    expect(f.push(bytes("ok\nabc"))).toEqual({ lines: ["ok"], overflow: false })
    expect(f.push(bytes("de"))).toEqual({ lines: [], overflow: true })
    // Dead from here on: nothing more comes out.
    expect(f.push(bytes("\nfine\n"))).toEqual({ lines: [], overflow: true })
    expect(f.finish()).toBeUndefined()
  })

  it("detects an over-long line even when its newline arrives in the same chunk", () => {
    expect(makeLineFramer(4).push(bytes("a\nabcdef\nb\n"))).toEqual({ lines: ["a"], overflow: true })
  })
})
