import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { boot, buildKitGuest, buildSoft, Console, runUntilStopped, softAvailable } from "./SoftHarness.js"

/**
 * Exceptions and software interrupts reach the guest's own IDT handlers
 * (guests/faults.c records what its CPL0 stubs see) with the frame, error
 * code and CR2 the SDM prescribes.
 */
interface Seen {
  readonly name: string
  readonly vec: number
  readonly err: bigint
  readonly cr2: bigint
  readonly rip: bigint
  readonly want: bigint
  readonly cs: bigint
  readonly ss: bigint
  readonly frame: bigint
  readonly kstack: bigint
}

const parse = (line: string): Seen => {
  const [name, ...fields] = line.trim().split(" ")
  const f = Object.fromEntries(fields.map((kv) => kv.split("=")))
  const hex = (k: string) => BigInt(`0x${f[k]}`)
  return {
    name, vec: Number(f.vec), err: hex("err"), cr2: hex("cr2"), rip: hex("rip"), want: hex("want"),
    cs: hex("cs"), ss: hex("ss"), frame: hex("frame"), kstack: hex("kstack")
  }
}

const NO_ERROR = 0xffff_ffff_ffff_ffffn
const USER_CS = 0x23n, USER_SS = 0x1bn, KERNEL_CS = 0x08n

describe.skipIf(!softAvailable())("the soft CPU delivers exceptions and interrupts through the guest's IDT", () => {
  let elf = ""
  beforeAll(() => {
    elf = buildKitGuest("faults")
  })

  const run = (which: string) =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
      yield* boot(soft, elf, `case=${which}`)
      const console = new Console()
      runUntilStopped(soft, console)
      expect(console.poweredOff).toBe(true)
      return console.output
    })

  const one = (which: string) => Effect.map(run(which), (out) => parse(out.split("\n")[0]))

  /** A CPL3 -> CPL0 delivery: the frame sits at the top of the TSS's RSP0 stack, user CS/SS pushed. */
  const fromUser = (s: Seen, frameBytes: bigint) => {
    expect(s.cs).toBe(USER_CS)
    expect(s.ss).toBe(USER_SS)
    // RSP0 (16-byte aligned) minus SS, RSP, RFLAGS, CS, RIP (+ the error code the stub popped).
    expect(s.frame).toBe(s.kstack - frameBytes)
  }

  it.scoped("#PF on a CPL3 write: CR2 = the address, error code W|U, RIP at the instruction, stack switched to RSP0", () =>
    Effect.gen(function*() {
      const s = yield* one("pf")
      expect(s.vec).toBe(14)
      expect(s.err).toBe(0x6n)
      expect(s.cr2).toBe(0x12_3456_7000n)
      expect(s.rip).toBe(s.want)
      fromUser(s, 40n)
    }))

  it.scoped("#PF on a CPL3 read: error code U", () =>
    Effect.gen(function*() {
      const s = yield* one("pfr")
      expect([s.vec, s.err, s.cr2, s.rip]).toEqual([14, 0x4n, 0x12_3456_7000n, s.want])
    }))

  it.scoped("#PF at CPL0: error code 0, no stack switch, SS:RSP pushed all the same", () =>
    Effect.gen(function*() {
      const s = yield* one("pfk")
      expect([s.vec, s.err, s.cr2, s.rip]).toEqual([14, 0n, 0x12_3456_7000n, s.want])
      expect(s.cs).toBe(KERNEL_CS)
      expect(s.frame).toBeLessThan(s.kstack - 40n) // below the frame kcall's int3 left on the kernel stack
    }))

  it.scoped("#UD (ud2): no error code, RIP at the instruction", () =>
    Effect.gen(function*() {
      const s = yield* one("ud")
      expect([s.vec, s.err, s.rip]).toEqual([6, NO_ERROR, s.want])
      fromUser(s, 40n)
    }))

  it.scoped("#GP(0) for a non-canonical address and for hlt at CPL3", () =>
    Effect.gen(function*() {
      const a = yield* one("gp")
      expect([a.vec, a.err, a.rip]).toEqual([13, 0n, a.want])
      fromUser(a, 40n)
      const b = yield* one("gph")
      expect([b.vec, b.err, b.rip]).toEqual([13, 0n, b.want])
    }))

  it.scoped("#GP(0) for rdmsr of an MSR nothing implements (at CPL0)", () =>
    Effect.gen(function*() {
      const s = yield* one("msr")
      expect([s.vec, s.err, s.rip, s.cs]).toEqual([13, 0n, s.want, KERNEL_CS])
    }))

  it.scoped("#DE for a division by zero", () =>
    Effect.gen(function*() {
      const s = yield* one("de")
      expect([s.vec, s.err, s.rip]).toEqual([0, NO_ERROR, s.want])
    }))

  it.scoped("#NM for SSE with CR0.TS set", () =>
    Effect.gen(function*() {
      const s = yield* one("nm")
      expect([s.vec, s.err, s.rip]).toEqual([7, NO_ERROR, s.want])
    }))

  it.scoped("int3 from CPL3 through a DPL3 gate: a trap (RIP after it) with the stack switch", () =>
    Effect.gen(function*() {
      const s = yield* one("int3")
      expect([s.vec, s.err, s.rip]).toEqual([3, NO_ERROR, s.want])
      fromUser(s, 40n)
    }))

  it.scoped("int n from CPL3 through a DPL3 gate: RIP after it, no error code", () =>
    Effect.gen(function*() {
      const s = yield* one("intn")
      expect([s.vec, s.err, s.rip]).toEqual([0x3a, NO_ERROR, s.want])
      fromUser(s, 40n)
    }))

  it.scoped("int n through a DPL0 gate from CPL3: #GP(vector*8+2) at the int instruction", () =>
    Effect.gen(function*() {
      const s = yield* one("intdpl")
      expect([s.vec, s.err, s.rip]).toEqual([13, 0x3bn * 8n + 2n, s.want])
    }))

  it.scoped("int n beyond the IDT limit: #GP(vector*8+2) at the int instruction", () =>
    Effect.gen(function*() {
      const s = yield* one("intlimit")
      expect([s.vec, s.err, s.rip]).toEqual([13, 0x80n * 8n + 2n, s.want])
    }))

  it.scoped("what the engine cannot do ends the run with EmulationFailed: what, vCPU, RIP, mode", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
      yield* boot(soft, elf, "case=mmiofetch")
      const console = new Console()
      const exit = runUntilStopped(soft, console)
      expect(console.output).toBe("jumping\n")
      expect(exit._tag).toBe("EmulationFailed")
      const reason = exit._tag === "EmulationFailed" ? exit.reason : ""
      expect(reason).toMatch(/^instruction fetch from MMIO at 0xd0000000 \(vCPU 0, RIP 0xd0000000, 64-bit mode, CPL 3\)$/)
    }))

  it.scoped("syscall: #UD while EFER.SCE is clear; then RCX/R11 saved, CS/SS from STAR, RFLAGS masked by SFMASK, sysret back", () =>
    Effect.gen(function*() {
      const out = yield* run("syscall")
      const [off, on] = out.trim().split("\n")
      const s = parse(off)
      expect([s.vec, s.rip]).toEqual([6, s.want])
      const f = Object.fromEntries(on.split(" ").slice(1).map((kv) => kv.split("=")))
      expect(BigInt(`0x${f.cs}`)).toBe(0x08n)
      expect(BigInt(`0x${f.ss}`)).toBe(0x10n)
      expect(BigInt(`0x${f.r11}`) & 0x200n).toBe(0x200n) // user RFLAGS (IF set) in R11
      expect(BigInt(`0x${f.kflags}`) & 0x200n).toBe(0n) // IF masked on entry
      expect(BigInt(`0x${f.uflags}`)).toBe(BigInt(`0x${f.r11}`)) // sysret restored them
    }))
})

describe.skipIf(!softAvailable())("the soft CPU takes NMIs and external interrupts from CpuInterrupts", () => {
  let elf = ""
  beforeAll(() => {
    elf = buildKitGuest("faults")
  })

  /** Raises an NMI or a vector when the guest asks (port 0xe1 / 0xe2) and counts how each is taken. */
  const runWith = (which: "nmi" | "irq") =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
      yield* boot(soft, elf, `case=${which}`)
      let nmi = false, vector = -1, nmisTaken = 0, acks = 0
      yield* soft.interrupts.attach({
        hasInterrupt: () => vector >= 0,
        acknowledge: () => {
          acks++
          const v = vector
          vector = -1
          return v
        },
        takeNmi: () => {
          const n = nmi
          nmi = false
          if (n) nmisTaken++
          return n
        },
        takeStartup: () => undefined
      })
      const console = new Console()
      console.extraPio = (exit) => {
        if (exit.direction !== "out" || (exit.port !== 0xe1 && exit.port !== 0xe2)) return false
        if (exit.port === 0xe1) nmi = true
        else vector = 0x31
        return true
      }
      runUntilStopped(soft, console)
      return { seen: parse(console.output.split("\n")[0]), nmisTaken, acks }
    })

  it.scoped("an NMI reaches vector 2's gate from a CPL3 loop, with the stack switch", () =>
    Effect.gen(function*() {
      const { seen, nmisTaken } = yield* runWith("nmi")
      expect(seen.vec).toBe(2)
      expect(seen.err).toBe(NO_ERROR)
      expect(nmisTaken).toBe(1)
      expect(seen.cs).toBe(USER_CS)
      expect(seen.frame).toBe(seen.kstack - 40n)
    }))

  it.scoped("an external interrupt is acknowledged once and reaches its gate from a CPL3 loop (IF set)", () =>
    Effect.gen(function*() {
      const { seen, acks } = yield* runWith("irq")
      expect(seen.vec).toBe(0x31)
      expect(seen.err).toBe(NO_ERROR)
      expect(acks).toBe(1)
      expect(seen.cs).toBe(USER_CS)
    }))

  it.scoped("CPUID: vendor, APIC ID and count, hypervisor bit and signature, and nothing Unicorn's engine cannot do", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
      yield* boot(soft, elf, "case=cpuid")
      const console = new Console()
      runUntilStopped(soft, console)
      const w = console.output.trim().split(" ").slice(1).map((h) => Number.parseInt(h, 16))
      const leaf = (i: number) => w.slice(4 * i, 4 * i + 4) // eax ebx ecx edx
      const text = (...regs: Array<number>) => String.fromCharCode(...regs.flatMap((r) => [r & 0xff, (r >>> 8) & 0xff, (r >>> 16) & 0xff, r >>> 24]))
      const [l0, l1, l7, hv, x1, x8] = [0, 1, 2, 3, 4, 5].map(leaf)
      expect(text(l0[1], l0[3], l0[2])).toBe("GenuineIntel")
      expect((l1[1] >>> 24) & 0xff).toBe(0) // APIC ID
      expect((l1[1] >>> 16) & 0xff).toBe(1) // logical processors
      expect(l1[2] >>> 31).toBe(1) // hypervisor
      for (const [bit, what] of [[21, "x2APIC"], [24, "TSC deadline"], [26, "XSAVE"], [27, "OSXSAVE"], [28, "AVX"], [23, "POPCNT"], [17, "PCID"]] as const) {
        expect([what, (l1[2] >>> bit) & 1]).toEqual([what, 0])
      }
      expect((l7[1] >>> 5) & 1).toBe(0) // AVX2
      expect(text(hv[1], hv[2], hv[3])).toBe("bhyve bhyve ")
      expect((x1[3] >>> 29) & 1).toBe(1) // long mode
      expect(x8[0] & 0xff).toBe(40) // physical address bits
    }))
})
