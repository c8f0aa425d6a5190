import * as Either from "effect/Either"
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { type BhyvectlInvocation, bhyvectlUsage, parseBhyvectlArgs } from "../../src/cli/BhyvectlArgs.js"

const CWD = "/home/user/vms"

const parse = (...argv: ReadonlyArray<string>): BhyvectlInvocation =>
  Either.getOrElse(parseBhyvectlArgs(argv, CWD), (e) => {
    throw new Error(`unexpected usage error: ${e.message}`)
  })

const usageError = (...argv: ReadonlyArray<string>): string => {
  const parsed = parseBhyvectlArgs(argv, CWD)
  if (Either.isRight(parsed)) throw new Error(`expected a usage error, got ${JSON.stringify(parsed.right)}`)
  expect(parsed.left._tag).toBe("BhyvectlUsageError")
  return parsed.left.message
}

describe("parseBhyvectlArgs", () => {
  it("reads each action, with --opt=value and --opt value alike", () => {
    expect(parse("--vm=vm1", "--checkpoint=/snap/a")).toEqual({
      _tag: "Control",
      vm: "vm1",
      socket: undefined,
      request: { _tag: "Checkpoint", path: "/snap/a" },
      json: false
    })
    expect(parse("--vm", "vm1", "--suspend", "/snap/b")).toMatchObject({ request: { _tag: "Suspend", path: "/snap/b" } })
    expect(parse("--destroy", "--vm=vm1")).toMatchObject({ vm: "vm1", request: { _tag: "Destroy" } })
    expect(parse("--vm=vm1", "--pause")).toMatchObject({ request: { _tag: "Pause" } })
    expect(parse("--vm=vm1", "--resume")).toMatchObject({ request: { _tag: "Resume" } })
    expect(parse("--vm=vm1", "--status")).toMatchObject({ request: { _tag: "Status" }, json: false })
    expect(parse("--vm=vm1", "--status", "--json")).toMatchObject({ request: { _tag: "Status" }, json: true })
  })

  it("resolves relative snapshot and socket paths against the current directory", () => {
    expect(parse("--vm=vm1", "--checkpoint=snap.ckp")).toMatchObject({ request: { path: "/home/user/vms/snap.ckp" } })
    expect(parse("--vm=vm1", "--suspend=../old/s")).toMatchObject({ request: { path: "/home/user/old/s" } })
    expect(parse("--vm=vm1", "--status", "--socket=run/vm1.sock")).toMatchObject({ socket: "/home/user/vms/run/vm1.sock" })
    expect(parse("--vm=vm1", "--status", "--socket", "/abs/s")).toMatchObject({ socket: "/abs/s" })
  })

  it("keeps a value that looks like an option, as getopt_long does for a required argument", () => {
    expect(parse("--vm", "--x", "--status")).toMatchObject({ vm: "--x" })
  })

  it("shows the help for -h or --help, wherever it appears", () => {
    expect(parse("-h")).toEqual({ _tag: "Help", text: bhyvectlUsage })
    expect(parse("--help")).toEqual({ _tag: "Help", text: bhyvectlUsage })
    expect(parse("--vm=vm1", "--pause", "--resume", "--help")).toEqual({ _tag: "Help", text: bhyvectlUsage })
  })

  it("refuses command lines that do not ask for exactly one thing", () => {
    expect(usageError()).toBe("--vm=<name> is required")
    expect(usageError("--pause")).toBe("--vm=<name> is required")
    expect(usageError("--vm=vm1")).toBe(
      "no action given: use one of --checkpoint, --suspend, --destroy, --pause, --resume, --status"
    )
    expect(usageError("--vm=vm1", "--pause", "--resume")).toBe("give only one action, not --pause and --resume")
    expect(usageError("--vm=vm1", "--checkpoint=a", "--suspend=b")).toBe("give only one action, not --checkpoint and --suspend")
    expect(usageError("--vm=vm1", "--vm=vm2", "--pause")).toBe("--vm given more than once")
    expect(usageError("--vm=vm1", "--pause", "--pause")).toBe("--pause given more than once")
  })

  it("refuses malformed options with a message naming them", () => {
    expect(usageError("--vm=vm1", "--get-stats")).toBe("unknown option --get-stats")
    expect(usageError("--vm=vm1", "--check=x")).toBe("unknown option --check")
    expect(usageError("-x")).toBe("unknown option -x")
    expect(usageError("--vm=vm1", "--pause", "extra")).toBe("unexpected argument 'extra'")
    expect(usageError("--vm=vm1", "--pause", "--", "extra")).toBe("unexpected argument 'extra'")
    expect(usageError("--vm=vm1", "--destroy=yes")).toBe("option --destroy takes no value")
    expect(usageError("--vm=vm1", "--checkpoint")).toBe("option --checkpoint requires a value")
    expect(usageError("--vm=vm1", "--checkpoint=")).toBe("--checkpoint needs a file name")
    expect(usageError("--vm=vm1", "--pause", "--json")).toBe("--json goes only with --status")
    expect(usageError("--vm=vm1", "--status", "--socket=")).toBe("--socket needs a path")
    expect(usageError("--vm=", "--pause")).toBe("--vm: the VM name is empty")
    expect(usageError("--vm=../etc", "--pause")).toMatch(/^--vm: '..\/etc' cannot be a VM name/)
  })

  it.prop("never throws on arbitrary command lines", [
    fc.array(fc.oneof(
      fc.constantFrom("--vm", "--vm=vm1", "--checkpoint", "--checkpoint=s", "--suspend=/s", "--destroy", "--pause",
        "--resume", "--status", "--json", "--socket", "--socket=x", "-h", "--help", "--", "-", "--=", "--vm=a/b", "="),
      fc.string()
    ), { maxLength: 8 })
  ], ([argv]) => {
    const parsed = parseBhyvectlArgs(argv, CWD)
    if (Either.isLeft(parsed)) expect(parsed.left.message.length).toBeGreaterThan(0)
    else if (parsed.right._tag === "Control" && "path" in parsed.right.request) {
      expect(parsed.right.request.path.startsWith("/")).toBe(true)
    }
  }, { fastCheck: { seed: 42, numRuns: 2000 } })
})
