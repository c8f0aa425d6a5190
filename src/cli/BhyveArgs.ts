import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { readFileSync } from "node:fs"
import type { MachineConfig } from "../machine/MachineConfig.js"
import { bhyveLongAliases, bhyveOptstring, findFlag } from "./BhyveCommand.js"
import { BhyveUsageError } from "./BhyveUsageError.js"
import {
  completeMachineConfig,
  foldSettings,
  type MachineOverrides,
  parseConfigFile,
  type Setting,
  setting
} from "./ConfigOptions.js"
import { getopt } from "./Getopt.js"

export { bhyveUsage } from "./BhyveCommand.js"
export type { MachineOverrides } from "./ConfigOptions.js"

/** What a `bhyve` command line asks for. */
export type BhyveInvocation =
  /** Boot `config.boot.kernel` in a new machine. */
  | { readonly _tag: "Boot"; readonly config: MachineConfig }
  /** Restore the machine saved in `snapshot`; `overrides` holds only what the flags said. */
  | { readonly _tag: "Restore"; readonly snapshot: string; readonly overrides: MachineOverrides }
  /** Print `text` on stdout and exit 0 (`-h`, `--help`, `-s help`, `-l help`). */
  | { readonly _tag: "Help"; readonly text: string }

const usageError = (message: string) => new BhyveUsageError({ message })

const readConfigFile = (path: string): Effect.Effect<ReadonlyArray<Setting>, BhyveUsageError> =>
  Effect.try({
    try: () => readFileSync(path, "utf8"),
    catch: (e) => usageError(`-k ${path}: cannot read config file: ${e instanceof Error ? e.message : String(e)}`)
  }).pipe(Effect.flatMap((text) => Either.mapLeft(parseConfigFile(text, path), usageError)))

const operandSettings = (operands: ReadonlyArray<string>): Either.Either<ReadonlyArray<Setting>, string> => {
  if (operands.length === 0) return Either.right([])
  if (operands.length > 1) {
    const [vmname, extra] = operands
    return Either.left(
      extra.startsWith("-")
        ? `unexpected argument '${extra}' after vmname '${vmname}': options must come before the vmname`
        : `too many arguments: expected one vmname, got ${operands.map((o) => `'${o}'`).join(", ")}`
    )
  }
  return Either.right([setting("name", operands[0], `vmname '${operands[0]}'`)])
}

/**
 * Reads a bhyve(8) command line — the arguments after the program name —
 * into what to do. Fails only with BhyveUsageError, whose message the entry
 * point prints as "bhyve: <message>" before exiting 4. `-k FILE` is read
 * from disk while parsing; nothing else touches the outside world.
 */
export const parseBhyveArgs = (argv: ReadonlyArray<string>): Effect.Effect<BhyveInvocation, BhyveUsageError> =>
  Effect.gen(function*() {
    const scan = getopt(argv, bhyveOptstring, bhyveLongAliases)
    const settings: Array<Setting> = []
    let snapshot: string | undefined
    for (const { letter, argument } of scan.options) {
      const flag = findFlag(letter)
      if (flag === undefined) return yield* Effect.fail(usageError(`unknown option -${letter}`))
      const origin = argument === undefined ? `-${letter}` : `-${letter} ${argument === "" ? "''" : argument}`
      const action = flag.handle(argument ?? "", origin)
      if (Either.isLeft(action)) return yield* Effect.fail(usageError(`${origin}: ${action.left}`))
      switch (action.right._tag) {
        case "Help":
          return { _tag: "Help", text: action.right.text } as const
        case "Settings":
          settings.push(...action.right.settings)
          break
        case "ConfigFile":
          settings.push(...yield* readConfigFile(action.right.path))
          break
        case "Restore":
          snapshot = action.right.snapshot
          break
      }
    }
    if (scan.error !== undefined) return yield* Effect.fail(usageError(scan.error))
    settings.push(...yield* Either.mapLeft(operandSettings(scan.operands), usageError))
    const overrides = yield* Either.mapLeft(foldSettings(settings), usageError)
    if (snapshot !== undefined) return { _tag: "Restore", snapshot, overrides } as const
    const config = yield* Either.mapLeft(completeMachineConfig(overrides), usageError)
    return { _tag: "Boot", config } as const
  })
