import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))
const example = readFileSync(`${root}/examples/compose-machine.ts`, "utf8")

describe("the README's composing example", () => {
  it("is the very file examples/compose-machine.ts", () => {
    const readme = readFileSync(`${root}/README.md`, "utf8")
    expect(readme).toContain("```ts\n" + example + "```")
  })

  it("compiles and boots its guest when run as the README says", () => {
    const output = execFileSync("npm", ["run", "-s", "example"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 })
    expect(output).toBe("hello: composed in code\nbye\nguest powered off (via pm)\n")
  })
})
