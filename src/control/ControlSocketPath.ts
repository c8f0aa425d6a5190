/**
 * Where a VM's control socket lives. bhyve(8) uses /var/run/bhyve/<vmname>;
 * an unprivileged bhyve cannot create that directory, so it falls back to
 * $XDG_RUNTIME_DIR/bhyve/<vmname> and then /tmp/bhyve-<uid>/<vmname>. An
 * explicit path (bhyve's `-o control.socket=PATH`, bhyvectl's `--socket`)
 * replaces the search.
 *
 * The directory is what keeps other users away from the socket (see
 * ControlServer's authorizePeer), so the server creates it 0700 and refuses
 * one that someone else could have planted: owned by another user (for the
 * per-user directories; a root-owned /var/run/bhyve just means "not for us",
 * and the search moves on) or writable by group or others.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { accessSync, chmodSync, constants, lstatSync, mkdirSync } from "node:fs"
import { dirname, join } from "node:path"

/** Everything the search depends on, so tests can point it at temporary directories. */
export interface ControlPathEnvironment {
  /** bhyve's own directory, "/var/run/bhyve". */
  readonly systemDir: string
  /** $XDG_RUNTIME_DIR, if set to an absolute path. */
  readonly runtimeDir: string | undefined
  /** Where the last-resort "bhyve-<uid>" directory goes, "/tmp". */
  readonly tmpDir: string
  readonly uid: number
}

export const controlPathEnvironment = (env: NodeJS.ProcessEnv = process.env): ControlPathEnvironment => {
  const xdg = env.XDG_RUNTIME_DIR
  return {
    systemDir: "/var/run/bhyve",
    runtimeDir: xdg !== undefined && xdg.startsWith("/") ? xdg : undefined,
    tmpDir: "/tmp",
    uid: process.getuid?.() ?? 0
  }
}

/** A VM by name, optionally with an explicit socket path that overrides the search. */
export interface ControlSocketTarget {
  readonly name: string
  readonly path?: string | undefined
}

/** The control socket path cannot be worked out or its directory cannot be trusted. */
export class ControlPathError extends Data.TaggedError("ControlPathError")<{
  readonly reason: string
}> {
  override get message(): string {
    return this.reason
  }
}

interface CandidateDir {
  readonly dir: string
  /** Named for this user: if someone else owns it, that is an attack, not a reason to look elsewhere. */
  readonly perUser: boolean
}

const candidateDirs = (env: ControlPathEnvironment): ReadonlyArray<CandidateDir> => [
  { dir: env.systemDir, perUser: false },
  ...(env.runtimeDir === undefined ? [] : [{ dir: join(env.runtimeDir, "bhyve"), perUser: true }]),
  { dir: join(env.tmpDir, `bhyve-${env.uid}`), perUser: true }
]

/** Linux's sockaddr_un.sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107

export const validateVmName = (name: string): Either.Either<string, string> => {
  if (name === "") return Either.left("the VM name is empty")
  if (name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    return Either.left(`'${name}' cannot be a VM name: it must not be "." or ".." or contain '/' or NUL`)
  }
  return Either.right(name)
}

const checkLength = (path: string): Either.Either<string, string> =>
  Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES
    ? Either.right(path)
    : Either.left(
      `control socket path ${path} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a UNIX socket address holds; ` +
        `use a shorter VM name or an explicit, shorter control socket path`
    )

/** The socket paths a VM named `name` may have, in the order they are tried. */
export const controlSocketCandidates = (name: string, env: ControlPathEnvironment): ReadonlyArray<string> =>
  candidateDirs(env).map(({ dir }) => join(dir, name))

type Verdict =
  | { readonly _tag: "Usable" }
  /** Not ours to use; try the next directory. */
  | { readonly _tag: "Unusable"; readonly reason: string }
  /** Possibly planted by someone else; stop rather than fall back past it. */
  | { readonly _tag: "Unsafe"; readonly reason: string }

const errorCode = (e: unknown): string =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : String(e)

/** lstat that answers "nothing usable there" for any error (ENOENT, ENOTDIR, EACCES). */
const statOrUndefined = (path: string) => {
  try {
    return lstatSync(path, { throwIfNoEntry: false })
  } catch {
    return undefined
  }
}

const judgeDirectory = ({ dir, perUser }: CandidateDir, uid: number): Verdict => {
  try {
    mkdirSync(dir, { mode: 0o700 })
    // mkdir's mode passes through the umask; make it exactly 0700.
    chmodSync(dir, 0o700)
  } catch (e) {
    if (errorCode(e) !== "EEXIST") return { _tag: "Unusable", reason: `cannot create ${dir} (${errorCode(e)})` }
  }
  const st = statOrUndefined(dir)
  if (st === undefined) return { _tag: "Unusable", reason: `cannot examine ${dir}` }
  if (st.uid !== uid) {
    const reason = `${dir} belongs to uid ${st.uid}, not to this user (uid ${uid})`
    return perUser ? { _tag: "Unsafe", reason: `refusing ${reason}` } : { _tag: "Unusable", reason }
  }
  if (!st.isDirectory()) return { _tag: "Unsafe", reason: `refusing ${dir}: it is not a directory` }
  if ((st.mode & 0o022) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, "0")
    return { _tag: "Unsafe", reason: `refusing ${dir}: it is writable by group or others (mode ${mode}); make it 0700` }
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK)
  } catch (e) {
    return { _tag: "Unusable", reason: `cannot write in ${dir} (${errorCode(e)})` }
  }
  return { _tag: "Usable" }
}

const explicitPath = (path: string): Either.Either<string, string> => {
  if (!path.startsWith("/")) return Either.left(`control socket path ${path} must be absolute`)
  // An explicit path is the user's choice of directory: it must exist, but its mode is theirs to decide.
  const dir = statOrUndefined(dirname(path))
  if (dir === undefined || !dir.isDirectory()) {
    return Either.left(`directory ${dirname(path)} for control socket ${path} does not exist`)
  }
  return checkLength(path)
}

/**
 * For the server: the path to listen on, creating (or vetting) its
 * directory. Fails with the reasons each directory was passed over when
 * none will do, or with the reason one was refused.
 */
export const prepareControlSocketPath = (
  target: ControlSocketTarget,
  env: ControlPathEnvironment = controlPathEnvironment()
): Effect.Effect<string, ControlPathError> =>
  Effect.suspend(() => {
    const fail = (reason: string) => Effect.fail(new ControlPathError({ reason }))
    if (target.path !== undefined) return Either.match(explicitPath(target.path), { onLeft: fail, onRight: Effect.succeed })
    const name = validateVmName(target.name)
    if (Either.isLeft(name)) return fail(name.left)
    const passedOver: Array<string> = []
    for (const candidate of candidateDirs(env)) {
      const verdict = judgeDirectory(candidate, env.uid)
      if (verdict._tag === "Unsafe") return fail(verdict.reason)
      if (verdict._tag === "Unusable") {
        passedOver.push(verdict.reason)
        continue
      }
      return Either.match(checkLength(join(candidate.dir, target.name)), { onLeft: fail, onRight: Effect.succeed })
    }
    return fail(`no usable directory for the control socket of '${target.name}': ${passedOver.join("; ")}`)
  })

/** Where a client looked for a VM's socket, and the first that exists. */
export interface LocatedSocket {
  readonly found: string | undefined
  readonly searched: ReadonlyArray<string>
}

/**
 * For a client: the VM's socket. The server took the first usable directory
 * in the same order, so the first candidate that exists is the live one (a
 * leftover socket there is stale and connecting to it says so).
 */
export const locateControlSocket = (
  target: ControlSocketTarget,
  env: ControlPathEnvironment = controlPathEnvironment()
): Effect.Effect<LocatedSocket, ControlPathError> =>
  Effect.suspend(() => {
    if (target.path === undefined) {
      const name = validateVmName(target.name)
      if (Either.isLeft(name)) return Effect.fail(new ControlPathError({ reason: name.left }))
    }
    const searched = target.path === undefined ? controlSocketCandidates(target.name, env) : [target.path]
    const found = searched.find((p) => statOrUndefined(p) !== undefined)
    return Effect.succeed({ found, searched })
  })
