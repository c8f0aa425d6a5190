import * as Effect from "effect/Effect"
import type { MachineConfig } from "../../src/machine/MachineConfig.js"
import { type BhyveInvocation, parseBhyveArgs } from "../../src/cli/BhyveArgs.js"
import type { MachineOverrides } from "../../src/cli/ConfigOptions.js"

/** A kernel flag so tests that are not about boot.kernel can boot. */
export const K = ["-o", "boot.kernel=/boot/kernel.elf"] as const

const expectTag = <T extends BhyveInvocation["_tag"]>(tag: T) => (inv: BhyveInvocation) =>
  inv._tag === tag
    ? Effect.succeed(inv as Extract<BhyveInvocation, { _tag: T }>)
    : Effect.dieMessage(`expected a ${tag} invocation, got ${JSON.stringify(inv)}`)

/** The MachineConfig a command line boots; dies if it is not a Boot. */
export const boot = (...argv: ReadonlyArray<string>): Effect.Effect<MachineConfig> =>
  parseBhyveArgs(argv).pipe(
    Effect.orDieWith((e) => new Error(`unexpected usage error: ${e.message}`)),
    Effect.flatMap(expectTag("Boot")),
    Effect.map((inv) => inv.config)
  )

export const restore = (
  ...argv: ReadonlyArray<string>
): Effect.Effect<{ readonly snapshot: string; readonly overrides: MachineOverrides }> =>
  parseBhyveArgs(argv).pipe(
    Effect.orDieWith((e) => new Error(`unexpected usage error: ${e.message}`)),
    Effect.flatMap(expectTag("Restore"))
  )

export const help = (...argv: ReadonlyArray<string>): Effect.Effect<string> =>
  parseBhyveArgs(argv).pipe(
    Effect.orDieWith((e) => new Error(`unexpected usage error: ${e.message}`)),
    Effect.flatMap(expectTag("Help")),
    Effect.map((inv) => inv.text)
  )

/** The usage error message a command line gets; dies if it parses. */
export const usageError = (...argv: ReadonlyArray<string>): Effect.Effect<string> =>
  parseBhyveArgs(argv).pipe(
    Effect.flatMap((inv) => Effect.dieMessage(`expected a usage error, got ${JSON.stringify(inv)}`)),
    Effect.catchTag("BhyveUsageError", (e) => Effect.succeed(e.message))
  )
