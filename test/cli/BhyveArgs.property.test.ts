import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { FastCheck as fc } from "effect"
import { describe, expect, it } from "@effect/vitest"
import { parseBhyveArgs } from "../../src/cli/BhyveArgs.js"
import { BhyveUsageError } from "../../src/cli/BhyveUsageError.js"

/** Words that steer random command lines into the parser's interesting paths. */
const vocabulary = fc.constantFrom(
  "-c", "-m", "-l", "-s", "-o", "-r", "-h", "-e", "-A", "-H", "-P", "-u", "-w", "-x", "-W", "-S", "-D", "-Y",
  "-I", "-a", "-C", "-p", "-K", "-U", "-G", "-f", "-Z", "--", "-", "--help", "-AHP", "-c2", "-m64M",
  "2", "0", "65", "4,sockets=2,cores=2", "sockets=99,cores=99", "64M", "12Q", "0x10", "1T", "2T", "99999999999999999999",
  "com1,stdio", "com2,/tmp/x", "com1,socket:", "bootrom,/x", "COM1,stdio", "com1",
  "31,lpc", "0:31:0,lpc", "2,virtio-blk", "300:1:1,lpc", "1:31:0,lpc", "help", "x,y", ",",
  "boot.kernel=/k", "boot.cmdline=a=b c", "bus.strict=maybe", "memory.size=1G", "lpc.com1.path=stdio",
  "pci.0.31.0.device=lpc", "pci.x.y.z.device=lpc", "__proto__=1", "constructor=1", "=", "name=vm", "cpus=0",
  "vm", "a.b-c_d", "x".repeat(40), "0:1", "vcpu:host", "uuid"
)

const argv = fc.array(fc.oneof(vocabulary, fc.string(), fc.string({ unit: "grapheme" })), { maxLength: 12 })

describe("parseBhyveArgs on arbitrary command lines", () => {
  it.prop("never throws: it succeeds or fails with BhyveUsageError", [argv], ([args]) => {
    // -k would read files named by random strings; keep the property about parsing.
    const safe = args.map((a) => (a === "-k" || (a.startsWith("-") && !a.startsWith("--") && a.includes("k")) ? "-A" : a))
    const exit = Effect.runSyncExit(parseBhyveArgs(safe))
    if (Exit.isFailure(exit)) {
      const failure = Cause.failureOption(exit.cause)
      expect(Cause.isDie(exit.cause) || Cause.isInterrupted(exit.cause), Cause.pretty(exit.cause)).toBe(false)
      expect(failure._tag).toBe("Some")
      if (failure._tag === "Some") {
        expect(failure.value).toBeInstanceOf(BhyveUsageError)
        expect(failure.value.message.length).toBeGreaterThan(0)
      }
    }
  }, { fastCheck: { numRuns: 2000 } })

  const wellFormed = fc.record({
    cpus: fc.integer({ min: 1, max: 64 }),
    megabytes: fc.integer({ min: 1, max: 1024 * 1024 }),
    com1: fc.boolean(),
    lpcSlot: fc.integer({ min: 0, max: 31 }),
    cmdline: fc.string(),
    name: fc.stringMatching(/^[A-Za-z0-9_.-]{1,31}$/).filter((n) => n !== "." && n !== "..")
  })

  it.prop("well-formed command lines boot with exactly what they say", [wellFormed], ([m]) => {
    const args = [
      "-c", String(m.cpus),
      "-m", `${m.megabytes}M`,
      ...(m.com1 ? ["-l", "com1,stdio"] : []),
      "-s", `${m.lpcSlot},lpc`,
      "-o", "boot.kernel=/k",
      "-o", `boot.cmdline=${m.cmdline}`,
      "--", // a vmname may start with '-'
      m.name
    ]
    const inv = Effect.runSync(parseBhyveArgs(args))
    expect(inv._tag).toBe("Boot")
    if (inv._tag === "Boot") {
      expect(inv.config.cpus).toBe(m.cpus)
      expect(inv.config.memoryBytes).toBe(m.megabytes * 1024 * 1024)
      expect(inv.config.serial).toHaveLength(m.com1 ? 1 : 0)
      expect(inv.config.slots).toEqual([{ bus: 0, slot: m.lpcSlot, function: 0, emulation: "lpc", options: "" }])
      expect(inv.config.boot.cmdline).toBe(m.cmdline)
      expect(inv.config.name).toBe(m.name)
    }
  })
})
