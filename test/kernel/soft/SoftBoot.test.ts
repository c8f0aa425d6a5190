import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { boot, buildSoft, Console, guestPath, runUntilStopped, softAvailable } from "./SoftHarness.js"

const MiB = 1 << 20

describe.skipIf(!softAvailable())("the soft CPU boots the test guests", () => {
  it.scoped("hello.elf: the PVH 32-bit entry reaches long mode and CPL3, prints its line and powers off", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 * MiB })
      yield* boot(soft, guestPath("hello.elf"), "on the soft CPU")
      const console = new Console()
      const exit = runUntilStopped(soft, console)
      expect(console.output).toBe("hello: on the soft CPU\nbye\n")
      expect(console.poweredOff).toBe(true)
      expect(exit._tag).toBe("Interrupted")
      // The 32 -> 64-bit switch happened inside the one engine: long mode, 64-bit user code.
      const sregs = yield* soft.backend.vcpus[0].getSregs()
      expect(sregs.efer & 0x500n).toBe(0x500n)
      expect(sregs.cs.l).toBe(1)
      expect(sregs.cs.dpl).toBe(3)
    }))

  it.scoped("compute.elf prints exactly what the host reference computes", () =>
    Effect.gen(function*() {
      const args = ["steps=20000", "every=1000"]
      const expected = execFileSync(guestPath("compute-reference"), args, { encoding: "utf8" })
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 * MiB })
      yield* boot(soft, guestPath("compute.elf"), args.join(" "))
      const console = new Console()
      runUntilStopped(soft, console)
      expect(console.output).toBe(expected)
    }))

  it.scoped("an ELF64 kernel entered in long mode at CPL0 runs", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 * MiB })
      yield* boot(soft, guestPath("elf64.elf"))
      const console = new Console()
      runUntilStopped(soft, console)
      expect(console.output).toBe("elf64 ok\n")
    }))

  it.scoped("triple.elf ends in Shutdown", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 * MiB })
      yield* boot(soft, guestPath("triple.elf"))
      const console = new Console()
      const exit = runUntilStopped(soft, console)
      expect(console.output).toBe("about to triple fault\n")
      expect(exit).toEqual({ _tag: "Shutdown" })
    }))

  it.scoped("cli; hlt ends in Halted", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 * MiB })
      yield* boot(soft, guestPath("hello.elf"), "halt=1")
      const console = new Console()
      const exit = runUntilStopped(soft, console)
      expect(console.output).toBe("hello: halt=1\n")
      expect(exit).toEqual({ _tag: "Halted" })
    }))
})
