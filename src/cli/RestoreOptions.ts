import * as Either from "effect/Either"
import type { Verify } from "../snapshot/format/RamReader.js"
import type { RamRestoreMode } from "../snapshot/RestoreSnapshot.js"

export interface RestoreOptions {
  readonly verify: Verify
  readonly ram: RamRestoreMode
}

const choice = <A extends string>(options: Readonly<Record<string, string>>, key: string, allowed: ReadonlyArray<A>, fallback: A) => {
  const value = options[key]
  if (value === undefined) return Either.right(fallback)
  return (allowed as ReadonlyArray<string>).includes(value)
    ? Either.right(value as A)
    : Either.left(`-o ${key}=${value}: expected ${allowed.slice(0, -1).join(", ")} or ${allowed[allowed.length - 1]}`)
}

/**
 * The `-o` keys a restore reads: `snapshot.verify` (all: every RAM block's
 * checksum before the guest reads it; state: only the state file) and
 * `snapshot.ram` (lazy, the default: the guest starts at once and each RAM
 * block is read and checked when first touched, the rest in the background;
 * copy: read and check all RAM into fresh memory first; map: map the RAM
 * file copy-on-write, checked up front). Anything else is an error, not a default.
 */
export const parseRestoreOptions = (options: Readonly<Record<string, string>>): Either.Either<RestoreOptions, string> =>
  Either.all({
    verify: choice<Verify>(options, "snapshot.verify", ["all", "state"], "all"),
    ram: choice<RamRestoreMode>(options, "snapshot.ram", ["lazy", "copy", "map"], "lazy")
  })
