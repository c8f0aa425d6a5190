import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

export const bhyveBin = fileURLToPath(new URL("../../dist/cli/bhyve-main.js", import.meta.url))

/** Runs the compiled `bhyve` as a user would, stdin closed; never waits more than `timeoutMs`. */
export const runBhyve = (args: ReadonlyArray<string>, timeoutMs = 30_000) => {
  const result = spawnSync(process.execPath, [bhyveBin, ...args], { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] })
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr }
}
