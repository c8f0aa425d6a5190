/**
 * POSIX/BSD getopt(3) over an argv array, as bhyve(8) calls it: single
 * letters, clustering ("-AHP"), an option's argument either attached ("-c2")
 * or in the next word ("-c 2", even when that word starts with '-'), "--"
 * ends the options, and the first word that is not an option ends them too
 * (no GNU-style permutation: `bhyve vm -c 2` leaves "-c" and "2" as
 * operands). A few whole-word long aliases ("--help") are recognised.
 *
 * Tokens are produced in order, and a syntax error stops the scan but keeps
 * the tokens before it, so a caller that stops at "-h" behaves like bhyve,
 * which prints its usage as soon as it reaches "-h".
 */

export interface OptionToken {
  readonly letter: string
  /** The option's argument; undefined for flags that take none. */
  readonly argument: string | undefined
}

export interface GetoptResult {
  readonly options: ReadonlyArray<OptionToken>
  readonly operands: ReadonlyArray<string>
  /** Why scanning stopped early ("unknown option -Z"); operands are empty then. */
  readonly error: string | undefined
}

/** Parses getopt's option string ("ab:c") into letter → takes an argument. */
export const parseOptstring = (optstring: string): ReadonlyMap<string, boolean> => {
  const letters = new Map<string, boolean>()
  for (let i = 0; i < optstring.length; i++) {
    if (optstring[i] === ":") continue
    letters.set(optstring[i], optstring[i + 1] === ":")
  }
  return letters
}

export const getopt = (
  argv: ReadonlyArray<string>,
  optstring: string,
  longAliases: Readonly<Record<string, string>> = {}
): GetoptResult => {
  const letters = parseOptstring(optstring)
  const options: Array<OptionToken> = []
  const stop = (error: string): GetoptResult => ({ options, operands: [], error })
  let i = 0
  while (i < argv.length) {
    const word = argv[i]
    if (word === "--") {
      i++
      break
    }
    if (word.startsWith("--")) {
      const name = word.slice(2)
      const letter = Object.hasOwn(longAliases, name) ? longAliases[name] : undefined
      if (letter === undefined) return stop(`unknown option ${word}`)
      options.push({ letter, argument: undefined })
      i++
      continue
    }
    if (word === "-" || !word.startsWith("-")) break
    i++
    for (let j = 1; j < word.length; j++) {
      const codePoint = word.codePointAt(j) ?? 0
      const letter = String.fromCodePoint(codePoint)
      const takesArgument = letters.get(letter)
      if (takesArgument === undefined) return stop(`unknown option -${letter}`)
      if (!takesArgument) {
        options.push({ letter, argument: undefined })
        continue
      }
      if (j + 1 < word.length) {
        options.push({ letter, argument: word.slice(j + 1) })
      } else if (i < argv.length) {
        options.push({ letter, argument: argv[i] })
        i++
      } else {
        return stop(`option -${letter} requires an argument`)
      }
      break
    }
  }
  return { options, operands: argv.slice(i), error: undefined }
}
