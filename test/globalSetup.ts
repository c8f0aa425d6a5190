import { execFileSync } from "node:child_process"

/**
 * Builds the test guests (C and asm sources in the repo) and the compiled
 * CLI that the process-level tests spawn, once per run.
 */
export default function setup() {
  execFileSync("make", ["-s", "-C", "test/guests"], { stdio: "inherit" })
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" })
}
