/**
 * When the machine thread's code has run far enough to be worth caching
 * (V8 caches the functions compiled so far; src/cli/CachedBundle.ts): the
 * machine worker says so once the guest runs, and the thread's entry,
 * which loaded the machine's bundle, writes the code cache then.
 *
 * The entry and the machine's bundle are separate builds with a copy of this
 * module each, so they meet on a global symbol rather than a module variable.
 */
const KEY = Symbol.for("bhyve-ts.machine.codeWarm")

type Holder = { [KEY]?: () => void }

/** `action` runs (once, after the current turn) when the machine says its code is warm. */
export const onceCodeWarm = (action: () => void): void => {
  ;(globalThis as Holder)[KEY] = action
}

/** The guest is running: the code a start needs has been compiled. */
export const codeIsWarm = (): void => {
  const holder = globalThis as Holder
  const action = holder[KEY]
  if (action === undefined) return
  delete holder[KEY]
  // Not within the start itself: the first slice of the guest goes first.
  setImmediate(action)
}
