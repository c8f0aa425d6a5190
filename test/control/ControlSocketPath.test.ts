import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "@effect/vitest"
import { chmodSync, chownSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  controlPathEnvironment,
  controlSocketCandidates,
  locateControlSocket,
  prepareControlSocketPath,
  validateVmName
} from "../../src/control/ControlSocketPath.js"
import { tempEnvironment } from "./helpers.js"

const isRoot = process.getuid?.() === 0

const failure = <A, E extends { readonly message: string }>(effect: Effect.Effect<A, E>) =>
  Effect.flip(effect).pipe(Effect.map((e) => e.message))

describe("control socket paths", () => {
  it("are searched in bhyve's order: /var/run/bhyve, then $XDG_RUNTIME_DIR/bhyve, then /tmp/bhyve-<uid>", () => {
    const env = controlPathEnvironment({ XDG_RUNTIME_DIR: "/run/user/1000" })
    expect(env.systemDir).toBe("/var/run/bhyve")
    expect(controlSocketCandidates("vm1", { ...env, uid: 1000 })).toEqual([
      "/var/run/bhyve/vm1",
      "/run/user/1000/bhyve/vm1",
      "/tmp/bhyve-1000/vm1"
    ])
    // An unset or relative XDG_RUNTIME_DIR is skipped.
    expect(controlSocketCandidates("vm1", { ...controlPathEnvironment({ XDG_RUNTIME_DIR: "rel" }), uid: 7 }))
      .toEqual(["/var/run/bhyve/vm1", "/tmp/bhyve-7/vm1"])
  })

  it("refuse names that are not a single path component", () => {
    expect(Either.isRight(validateVmName("vm-1.test_x"))).toBe(true)
    for (const bad of ["", ".", "..", "a/b", "a\0b"]) expect(Either.isLeft(validateVmName(bad))).toBe(true)
  })

  it.scoped("use the system directory when it can be created, making it 0700", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment({ xdg: true })
      const path = yield* prepareControlSocketPath({ name: "vm1" }, env)
      expect(path).toBe(join(env.systemDir, "vm1"))
      expect(statSync(env.systemDir).mode & 0o777).toBe(0o700)
    }))

  it.scoped("fall back to $XDG_RUNTIME_DIR/bhyve, then /tmp/bhyve-<uid>, when the system directory is unusable", () =>
    Effect.gen(function*() {
      const { root, env } = yield* tempEnvironment({ xdg: true })
      // A file where the parent directory should be: mkdir fails as it would on a read-only /var/run.
      writeFileSync(join(root, "notadir"), "")
      const blocked = { ...env, systemDir: join(root, "notadir", "bhyve") }
      const viaXdg = yield* prepareControlSocketPath({ name: "vm1" }, blocked)
      expect(viaXdg).toBe(join(env.runtimeDir ?? "", "bhyve", "vm1"))
      expect(statSync(join(env.runtimeDir ?? "", "bhyve")).mode & 0o777).toBe(0o700)

      const viaTmp = yield* prepareControlSocketPath({ name: "vm1" }, { ...blocked, runtimeDir: undefined })
      expect(viaTmp).toBe(join(env.tmpDir, `bhyve-${env.uid}`, "vm1"))
      expect(statSync(join(env.tmpDir, `bhyve-${env.uid}`)).mode & 0o777).toBe(0o700)
    }))

  it.scoped("accept an existing directory of ours that only we can write", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      mkdirSync(env.systemDir, { mode: 0o755 })
      chmodSync(env.systemDir, 0o755)
      expect(yield* prepareControlSocketPath({ name: "vm1" }, env)).toBe(join(env.systemDir, "vm1"))
    }))

  it.scoped("refuse a directory others can write, rather than falling back past it", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      mkdirSync(env.systemDir)
      chmodSync(env.systemDir, 0o777)
      expect(yield* failure(prepareControlSocketPath({ name: "vm1" }, env))).toMatch(
        /refusing .*sys: it is writable by group or others \(mode 0777\); make it 0700/
      )
    }))

  it.scoped("refuse a per-user directory that is a symlink", () =>
    Effect.gen(function*() {
      const { root, env } = yield* tempEnvironment()
      writeFileSync(join(root, "f"), "")
      const blocked = { ...env, systemDir: join(root, "f", "bhyve") }
      mkdirSync(join(root, "elsewhere"), { mode: 0o700 })
      symlinkSync(join(root, "elsewhere"), join(env.tmpDir, `bhyve-${env.uid}`))
      expect(yield* failure(prepareControlSocketPath({ name: "vm1" }, blocked))).toMatch(/not a directory/)
    }))

  it.scoped.skipIf(!isRoot)("skip a system directory owned by someone else, but refuse such a per-user one", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      mkdirSync(env.systemDir, { mode: 0o700 })
      chownSync(env.systemDir, 4242, 4242)
      expect(yield* prepareControlSocketPath({ name: "vm1" }, env)).toBe(join(env.tmpDir, `bhyve-${env.uid}`, "vm1"))

      const planted = join(env.tmpDir, `bhyve-${env.uid}`)
      chownSync(planted, 4242, 4242)
      expect(yield* failure(prepareControlSocketPath({ name: "vm1" }, env))).toMatch(
        new RegExp(`refusing .*bhyve-${env.uid} belongs to uid 4242, not to this user \\(uid ${env.uid}\\)`)
      )
    }))

  it.scoped("take an explicit path as given, if its directory exists", () =>
    Effect.gen(function*() {
      const { root, env } = yield* tempEnvironment()
      const explicit = join(root, "my.sock")
      expect(yield* prepareControlSocketPath({ name: "vm1", path: explicit }, env)).toBe(explicit)
      expect(yield* failure(prepareControlSocketPath({ name: "vm1", path: join(root, "nope", "s") }, env))).toMatch(/does not exist/)
      expect(yield* failure(prepareControlSocketPath({ name: "vm1", path: "rel.sock" }, env))).toMatch(/must be absolute/)
    }))

  it.scoped("refuse a socket path too long for a UNIX socket address", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment()
      expect(yield* failure(prepareControlSocketPath({ name: "v".repeat(120) }, env))).toMatch(/longer than the 107 bytes/)
    }))

  it.scoped("are found by clients at the first candidate that exists", () =>
    Effect.gen(function*() {
      const { env } = yield* tempEnvironment({ xdg: true })
      const none = yield* locateControlSocket({ name: "vm1" }, env)
      expect(none).toEqual({ found: undefined, searched: controlSocketCandidates("vm1", env) })
      const xdgDir = join(env.runtimeDir ?? "", "bhyve")
      mkdirSync(xdgDir)
      writeFileSync(join(xdgDir, "vm1"), "")
      expect((yield* locateControlSocket({ name: "vm1" }, env)).found).toBe(join(xdgDir, "vm1"))
      expect(yield* locateControlSocket({ name: "vm1", path: "/nonexistent/s" }, env)).toEqual({
        found: undefined,
        searched: ["/nonexistent/s"]
      })
      expect(yield* failure(locateControlSocket({ name: "../etc" }, env))).toMatch(/cannot be a VM name/)
    }))
})
