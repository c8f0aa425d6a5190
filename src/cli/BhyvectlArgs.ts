/**
 * bhyvectl's command line: the control subset of FreeBSD bhyvectl(8)
 * (--vm, --checkpoint, --suspend, --destroy) plus --pause, --resume,
 * --status [--json] and --socket. Options are long, getopt_long style:
 * "--opt=value" or "--opt value"; "--" ends them. (Getopt.ts is bhyve's
 * single-letter getopt and has no "--opt=value", hence this small parser.)
 * Unlike getopt_long, abbreviations ("--check") are not accepted: a typo
 * should not silently pick an action.
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import { resolve } from "node:path"
import type { ControlRequest } from "../control/ControlRequest.js"
import { validateVmName } from "../control/ControlSocketPath.js"

export const bhyvectlUsage = `usage: bhyvectl --vm=<name> <action> [--socket=<path>]

Control a running bhyve virtual machine through its control socket.

Actions (exactly one):
  --checkpoint=<file>  save the VM to <file> and keep it running
  --suspend=<file>     save the VM to <file>, then stop it
  --destroy            stop the VM without saving it
  --pause              stop running the VM's vCPUs
  --resume             run the vCPUs again after --pause
  --status [--json]    show what the VM is doing (--json: the reply as JSON)

Options:
  --vm=<name>          the VM, as named on bhyve's command line (required)
  --socket=<path>      talk to this control socket instead of looking the VM
                       up in /var/run/bhyve/<name>, $XDG_RUNTIME_DIR/bhyve/<name>
                       and /tmp/bhyve-<uid>/<name>, in that order
  -h, --help           show this help and exit

A relative <file> or <path> is taken from the current directory. bhyvectl
exits 0 when bhyve reports success (for --checkpoint and --suspend: once the
snapshot is on disk) and 1 otherwise, saying why on stderr.
`

/** The command line does not say one thing for bhyvectl to do; `message` says what is wrong. */
export class BhyvectlUsageError extends Data.TaggedError("BhyvectlUsageError")<{
  readonly message: string
}> {}

export type BhyvectlInvocation =
  | { readonly _tag: "Help"; readonly text: string }
  | {
    readonly _tag: "Control"
    readonly vm: string
    /** Explicit control socket (--socket), absolute. */
    readonly socket: string | undefined
    readonly request: ControlRequest
    /** --status --json: print the reply as JSON rather than a summary. */
    readonly json: boolean
  }

type OptionName = "vm" | "checkpoint" | "suspend" | "destroy" | "pause" | "resume" | "status" | "json" | "socket" | "help"

const takesValue: Readonly<Record<OptionName, boolean>> = {
  vm: true,
  checkpoint: true,
  suspend: true,
  socket: true,
  destroy: false,
  pause: false,
  resume: false,
  status: false,
  json: false,
  help: false
}

const isOptionName = (name: string): name is OptionName => Object.hasOwn(takesValue, name)

interface Given {
  readonly name: OptionName
  readonly value: string | undefined
}

/** Splits argv into options, in order; stops at -h/--help, which wins over everything after it. */
const scan = (argv: ReadonlyArray<string>): Either.Either<ReadonlyArray<Given>, string> => {
  const given: Array<Given> = []
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]
    if (word === "--") {
      return i + 1 < argv.length ? Either.left(`unexpected argument '${argv[i + 1]}'`) : Either.right(given)
    }
    if (word === "-h") return Either.right([...given, { name: "help", value: undefined }])
    if (!word.startsWith("--")) {
      return Either.left(word.startsWith("-") ? `unknown option ${word}` : `unexpected argument '${word}'`)
    }
    const eq = word.indexOf("=")
    const name = eq === -1 ? word.slice(2) : word.slice(2, eq)
    if (!isOptionName(name)) return Either.left(`unknown option --${name}`)
    if (name === "help") return Either.right([...given, { name, value: undefined }])
    if (!takesValue[name]) {
      if (eq !== -1) return Either.left(`option --${name} takes no value`)
      given.push({ name, value: undefined })
    } else if (eq !== -1) {
      given.push({ name, value: word.slice(eq + 1) })
    } else if (i + 1 < argv.length) {
      given.push({ name, value: argv[++i] })
    } else {
      return Either.left(`option --${name} requires a value`)
    }
  }
  return Either.right(given)
}

const actions: ReadonlyArray<OptionName> = ["checkpoint", "suspend", "destroy", "pause", "resume", "status"]

const toRequest = (action: Given, cwd: string): Either.Either<ControlRequest, string> => {
  const file = (): Either.Either<string, string> =>
    action.value === undefined || action.value === ""
      ? Either.left(`--${action.name} needs a file name`)
      : Either.right(resolve(cwd, action.value))
  switch (action.name) {
    case "checkpoint":
      return Either.map(file(), (path) => ({ _tag: "Checkpoint", path }))
    case "suspend":
      return Either.map(file(), (path) => ({ _tag: "Suspend", path }))
    case "destroy":
      return Either.right({ _tag: "Destroy" })
    case "pause":
      return Either.right({ _tag: "Pause" })
    case "resume":
      return Either.right({ _tag: "Resume" })
    default:
      return Either.right({ _tag: "Status" })
  }
}

const interpret = (given: ReadonlyArray<Given>, cwd: string): Either.Either<BhyvectlInvocation, string> => {
  if (given.some((g) => g.name === "help")) return Either.right({ _tag: "Help", text: bhyvectlUsage })
  const seen = new Map<OptionName, Given>()
  for (const g of given) {
    if (seen.has(g.name)) return Either.left(`--${g.name} given more than once`)
    seen.set(g.name, g)
  }
  const chosen = given.filter((g) => actions.includes(g.name))
  if (chosen.length > 1) return Either.left(`give only one action, not ${chosen.map((g) => `--${g.name}`).join(" and ")}`)
  const vm = seen.get("vm")?.value
  if (vm === undefined) return Either.left("--vm=<name> is required")
  const name = validateVmName(vm)
  if (Either.isLeft(name)) return Either.left(`--vm: ${name.left}`)
  if (chosen.length === 0) return Either.left(`no action given: use one of ${actions.map((a) => `--${a}`).join(", ")}`)
  const json = seen.has("json")
  if (json && chosen[0].name !== "status") return Either.left("--json goes only with --status")
  const socket = seen.get("socket")?.value
  if (socket === "") return Either.left("--socket needs a path")
  return Either.map(toRequest(chosen[0], cwd), (request) => ({
    _tag: "Control",
    vm,
    socket: socket === undefined ? undefined : resolve(cwd, socket),
    request,
    json
  }))
}

/**
 * Reads bhyvectl's arguments (without the program name). Relative file and
 * socket paths are resolved against `cwd` here, because bhyve, which opens
 * the snapshot file, runs somewhere else. Never throws.
 */
export const parseBhyvectlArgs = (
  argv: ReadonlyArray<string>,
  cwd: string
): Either.Either<BhyvectlInvocation, BhyvectlUsageError> =>
  Either.flatMap(scan(argv), (given) => interpret(given, cwd)).pipe(
    Either.mapLeft((message) => new BhyvectlUsageError({ message }))
  )
