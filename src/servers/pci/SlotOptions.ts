import * as Either from "effect/Either"

export interface SlotOptions {
  /** The leading option without '=' (a disk path, say), if any. */
  readonly positional: string | undefined
  readonly values: { readonly [key: string]: string | undefined }
  readonly flags: ReadonlySet<string>
}

/**
 * A `-s` option string, bhyve style: comma-separated `key=value` pairs and
 * bare flags, the first item optionally positional (when `allowPositional`).
 * Keys and flags outside the given lists are refused by name.
 */
export const splitOptions = (
  text: string,
  keys: ReadonlyArray<string>,
  flags: ReadonlyArray<string>,
  allowPositional = false
): Either.Either<SlotOptions, string> => {
  const values: { [key: string]: string } = {}
  const set = new Set<string>()
  let positional: string | undefined
  const items = text === "" ? [] : text.split(",")
  for (const [i, item] of items.entries()) {
    const eq = item.indexOf("=")
    if (eq >= 0) {
      const key = item.slice(0, eq)
      if (!keys.includes(key)) return Either.left(`unknown option '${key}'`)
      if (key in values) return Either.left(`option '${key}' given twice`)
      values[key] = item.slice(eq + 1)
    } else if (flags.includes(item)) {
      set.add(item)
    } else if (i === 0 && allowPositional && item !== "") {
      positional = item
    } else {
      return Either.left(item === "" ? "empty option" : `unknown option '${item}'`)
    }
  }
  return Either.right({ positional, values, flags: set })
}
