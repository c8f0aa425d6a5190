import { execFileSync } from "node:child_process"

/** Builds the test guests once per run (they are C and asm sources in the repo). */
export default function setup() {
  execFileSync("make", ["-s", "-C", "test/guests"], { stdio: "inherit" })
}
