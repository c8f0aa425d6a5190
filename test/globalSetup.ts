import { execFileSync } from "node:child_process"

/**
 * Builds the test guests (C and asm sources in the repo) and the CLI that the
 * process-level tests spawn (tsc's dist/, then the bundles in dist/bundle/),
 * once per run.
 */
export default function setup() {
  execFileSync("make", ["-s", "-C", "test/guests"], { stdio: "inherit" })
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" })
  execFileSync(process.execPath, ["scripts/build-bundles.mjs"], { stdio: "inherit" })
}
