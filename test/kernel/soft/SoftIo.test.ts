import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { boot, buildKitGuest, buildSoft, Console, guestPath, runUntilStopped, softAvailable } from "./SoftHarness.js"

interface PortOut {
  readonly value: number
  readonly size: number
  readonly count: number
}

/** piobench.elf making `n` outb to 0x3ff (no MMIO), each recorded as the handler saw it. */
const pioLoop = (n: number) =>
  Effect.gen(function*() {
    const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
    yield* boot(soft, guestPath("piobench.elf"), `pio=${n} mmio=0`)
    const console = new Console()
    const seen: Array<PortOut> = []
    console.extraPio = (exit) => {
      if (exit.port !== 0x3ff || exit.direction !== "out") return false
      seen.push({ value: exit.value(0), size: exit.size, count: exit.count })
      return true
    }
    return { soft, console, seen }
  })

/** The loop ran to its end and made each of its `n` outs once, in order (piobench writes i & 0xff). */
const expectEachOutOnce = (console: Console, seen: ReadonlyArray<PortOut>, n: number) => {
  expect(console.output).toBe("pio-start\npio-end\nmmio-start\nmmio-end\n")
  expect(seen.length).toBe(n)
  expect(seen.every((out, i) => out.value === (i & 0xff))).toBe(true)
}

/** Port and MMIO accesses reach the JS handler synchronously, inside the run, and its replies reach the guest's registers. */
describe.skipIf(!softAvailable())("the soft CPU's I/O exits", () => {
  let elf = ""
  beforeAll(() => {
    elf = buildKitGuest("faults")
  })

  it.scoped("every outb of a loop reaches the handler once, in order, with its value", () =>
    Effect.gen(function*() {
      const n = 5000
      const { soft, console, seen } = yield* pioLoop(n)
      runUntilStopped(soft, console)
      expect(seen.every((out) => out.size === 1 && out.count === 1)).toBe(true)
      expectEachOutOnce(console, seen, n)
    }))

  it.scoped("a handler that stops the machine at every character: each run makes progress, each character comes once", () =>
    Effect.gen(function*() {
      // Unicorn 2.0.1 checks the stop request after every load and store and
      // then restarts the block from its beginning: each run re-executed the
      // first `out` and hello.elf printed "h" forever.
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
      yield* boot(soft, guestPath("hello.elf"), "one run per character")
      const console = new Console()
      console.extraPio = (exit) => {
        if (exit.port !== 0x3f8 || exit.direction !== "out") return false
        console.output += String.fromCharCode(exit.value(0))
        console.stopNow = true
        return true
      }
      let runs = 0
      while (!console.poweredOff && runs < 1000) {
        console.stopNow = false
        expect(soft.backend.vcpus[0].run(1000, console.io)._tag).toBe("Interrupted")
        runs++
      }
      expect(console.output).toBe("hello: one run per character\nbye\n")
      expect(runs).toBe(console.output.length + 1)
    }))

  it.scoped("stopped hundreds of times mid-loop by the watchdog, the loop still makes each outb exactly once", () =>
    Effect.gen(function*() {
      // Unicorn 2.0.1 would restart a block from its start when a stop lands
      // between an out and a later load in it, repeating the out.
      const n = 200000
      const { soft, console, seen } = yield* pioLoop(n)
      let runs = 0
      const bsp = soft.backend.vcpus[0]
      while (!console.poweredOff) {
        bsp.run(0.05, console.io)
        runs++
      }
      expect(runs).toBeGreaterThan(100)
      expectEachOutOnce(console, seen, n)
    }))

  it.scoped("in of 1, 2 and 4 bytes reads the handler's reply into the register", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
      yield* boot(soft, elf, "case=pio")
      const console = new Console()
      const outs: Array<number> = []
      const replies: Record<number, number> = { 0x510: 0x8765_4321, 0x512: 0xbeef, 0x514: 0x5a }
      console.extraPio = (exit) => {
        if (exit.direction === "in" && exit.port in replies) {
          expect(exit.size).toBe(exit.port === 0x510 ? 4 : exit.port === 0x512 ? 2 : 1)
          exit.reply(0, replies[exit.port])
          return true
        }
        if (exit.direction === "out" && exit.port === 0x518) {
          expect(exit.size).toBe(4)
          outs.push(exit.value(0))
          return true
        }
        return false
      }
      runUntilStopped(soft, console)
      expect(console.output).toBe("pio done\n")
      expect(outs).toEqual([0x8765_4322, 0xbeef + 2, 0x5a + 3])
    }))

  it.scoped("an MMIO read returns the handler's reply into the register (1, 4 and 8 bytes); writes carry the guest's values", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
      yield* boot(soft, elf, "case=mmio")
      const console = new Console()
      const writes: Array<[number, number, number | bigint]> = []
      console.extraMmio = (exit) => {
        if (exit.address < 0xd000_0000 || exit.address >= 0xd000_1000) return false
        if (exit.isWrite) {
          writes.push([exit.address, exit.size, exit.value()])
        } else if (exit.address === 0xd000_0000) {
          expect(exit.size).toBe(4)
          exit.reply(0x1234_5678)
        } else if (exit.address === 0xd000_0008) {
          expect(exit.size).toBe(8)
          exit.reply(0x0123_4567_89ab_cdefn)
        } else {
          expect(exit.size).toBe(1)
          exit.reply(0x7e)
        }
        return true
      }
      runUntilStopped(soft, console)
      expect(console.output).toBe("mmio 0000000012345678 0123456789abcdef 000000000000007e\n")
      expect(writes).toEqual([
        [0xd000_0008, 8, 0x0123_4567_89ab_cdf0n],
        [0xd000_0000, 4, 0x1234_5679],
        [0xd000_0010, 1, 0x7f]
      ])
    }))

  it.scoped("code rewritten by the guest runs as rewritten; rewritten by the host, once the host says so", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
      yield* boot(soft, elf, "case=smc")
      const console = new Console()
      console.extraPio = (exit) => {
        if (exit.port !== 0x520 || exit.direction !== "out") return false
        const at = exit.value(0)
        soft.ram.regions[0].bytes[at + 1] = 7 // mov $7, %eax
        expect(soft.code.invalidate(at, 16)).toBe(1)
        return true
      }
      runUntilStopped(soft, console)
      expect(console.output).toBe("smc 1 9 7\n")
    }))

  it.scoped("a store-heavy loop (16 passes over 16 MiB) computes what it should on the fast store path", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
      yield* boot(soft, elf, "case=stores")
      const console = new Console()
      runUntilStopped(soft, console)
      // sum of (i ^ 15) for i < 2^21 = sum of i (xor 15 permutes each aligned block of 16)
      const n = 1n << 21n
      expect(console.output).toBe(`stores ${((n * (n - 1n)) / 2n).toString(16).padStart(16, "0")}\n`)
    }))

  it.scoped("a handler that throws ends the run with its exception, and the machine stays usable", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
      yield* boot(soft, guestPath("hello.elf"), "x")
      const bsp = soft.backend.vcpus[0]
      expect(() => bsp.run(1000, () => {
        throw new Error("device fault")
      })).toThrow("device fault")
      // The instruction that exited is not repeated: the rest of the output follows.
      const console = new Console()
      runUntilStopped(soft, console)
      expect(console.poweredOff).toBe(true)
    }))
})
