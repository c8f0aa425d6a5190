import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseConfigFile } from "../../src/cli/ConfigOptions.js"
import { boot, usageError } from "./helpers.js"

describe("-k config files: their syntax", () => {
  it("var=value lines become settings named by file and line", () => {
    expect(parseConfigFile("cpus=2\nmemory.size=1G\n", "vm.conf")).toEqual(
      Either.right([
        { _tag: "Set", key: "cpus", value: "2", origin: "vm.conf line 1" },
        { _tag: "Set", key: "memory.size", value: "1G", origin: "vm.conf line 2" }
      ])
    )
  })

  it("comment lines and blank lines are skipped", () => {
    expect(parseConfigFile("# a machine\n\n   \n  # indented comment\ncpus=2\n", "f")).toEqual(
      Either.right([{ _tag: "Set", key: "cpus", value: "2", origin: "f line 5" }])
    )
  })

  it("CRLF line ends are tolerated", () => {
    expect(parseConfigFile("cpus=2\r\n", "f")).toEqual(Either.right([{ _tag: "Set", key: "cpus", value: "2", origin: "f line 1" }]))
  })

  it("the value is the rest of the line after the first '=', spaces and all", () => {
    expect(parseConfigFile("boot.cmdline=console=ttyS0 quiet \n", "f")).toEqual(
      Either.right([{ _tag: "Set", key: "boot.cmdline", value: "console=ttyS0 quiet ", origin: "f line 1" }])
    )
  })

  it("a line without '=' is an error naming file and line", () => {
    expect(parseConfigFile("cpus=2\noops\n", "vm.conf")).toEqual(Either.left("vm.conf line 2: expected var=value, got 'oops'"))
  })

  it("a line with an empty name is an error", () => {
    expect(parseConfigFile("=2\n", "vm.conf")).toEqual(Either.left("vm.conf line 1: empty variable name"))
  })
})

describe("-k config files: on the command line", () => {
  let dir = ""
  const file = (name: string, text: string) => {
    const path = join(dir, name)
    writeFileSync(path, text)
    return path
  }
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "bhyve-ts-cli-"))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it.effect("a config file can describe the whole machine", () => {
    const path = file(
      "whole.conf",
      "name=fromfile\nboot.kernel=/k.elf\nboot.cmdline=a=b c\ncpus=2\nmemory.size=512M\nlpc.com1.path=stdio\npci.0.31.0.device=lpc\n"
    )
    return Effect.map(boot("-k", path), (c) =>
      expect(c).toEqual({
        name: "fromfile",
        cpus: 2,
        memoryBytes: 512 * 1024 * 1024,
        boot: { kernel: "/k.elf", cmdline: "a=b c" },
        serial: [{ port: "com1", backend: { _tag: "stdio" } }],
        slots: [{ bus: 0, slot: 31, function: 0, emulation: "lpc", options: "" }],
        strictBus: false,
        options: {}
      }))
  })

  it.effect("-o after -k overrides the file", () => {
    const path = file("over1.conf", "boot.kernel=/k.elf\ncpus=2\n")
    return Effect.map(boot("-k", path, "-o", "cpus=3", "vm"), (c) => expect(c.cpus).toBe(3))
  })

  it.effect("-k after -o overrides the flag", () => {
    const path = file("over2.conf", "boot.kernel=/k.elf\ncpus=2\n")
    return Effect.map(boot("-o", "cpus=3", "-k", path, "vm"), (c) => expect(c.cpus).toBe(2))
  })

  it.effect("a bad value in the file is reported with file and line", () => {
    const path = file("bad.conf", "boot.kernel=/k.elf\n\nmemory.size=12Q\n")
    return Effect.map(usageError("-k", path, "vm"), (m) =>
      expect(m).toBe(`${path} line 3: unknown size suffix 'Q' (expected K, M, G or T)`))
  })

  it.effect("an unreadable file is a usage error", () => {
    const path = join(dir, "missing.conf")
    return Effect.map(usageError("-k", path, "vm"), (m) =>
      expect(m).toMatch(new RegExp(`^-k ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: cannot read config file: ENOENT`)))
  })

  it.effect("a directory is not a config file", () =>
    Effect.map(usageError("-k", dir, "vm"), (m) => expect(m).toContain("cannot read config file: EISDIR")))
})
